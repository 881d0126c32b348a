#include "support/fake_label_studio.hpp"

#include <httplib.h>

#include <chrono>
#include <stdexcept>

#include "support/golden.hpp"

namespace samtest {

FakeLabelStudio::FakeLabelStudio(std::string token) : token_(std::move(token)), http_(std::make_unique<httplib::Server>()) {
    http_->Get(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
        requests_++;
        if (int ms = delay_ms_) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        if (req.get_header_value("Authorization") != "Token " + token_) {
            unauthorized_++;
            res.status = 401;
            res.set_content(R"({"detail": "Authentication credentials were not provided."})", "application/json");
            return;
        }
        std::lock_guard lock(mutex_);
        auto it = files_.find(req.path);
        if (it == files_.end()) {
            res.status = 404;
            res.set_content(R"({"detail": "Not found."})", "application/json");
            return;
        }
        res.set_content(it->second, "application/octet-stream");
    });
    port_ = http_->bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("fake Label Studio: cannot bind 127.0.0.1");
    thread_ = std::thread([this] { http_->listen_after_bind(); });
}

FakeLabelStudio::~FakeLabelStudio() {
    http_->stop();
    thread_.join();
}

void FakeLabelStudio::add(const std::string& path, std::vector<uint8_t> bytes) {
    std::lock_guard lock(mutex_);
    files_[path] = std::string(bytes.begin(), bytes.end());
}

void FakeLabelStudio::add_file(const std::string& path, const std::string& file) {
    std::string bytes = read_file(file);
    std::lock_guard lock(mutex_);
    files_[path] = bytes;
}

}  // namespace samtest
