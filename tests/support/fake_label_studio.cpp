#include "support/fake_label_studio.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <stdexcept>

#include "labelstudio/base64.hpp"
#include "support/golden.hpp"

namespace samtest {

namespace {

int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string unpadded_base64url(const std::string& bytes) {
    std::string s = sam::ls::base64url_encode(bytes);
    while (!s.empty() && s.back() == '=') s.pop_back();
    return s;
}

void refuse(httplib::Response& res, const char* detail) {
    res.status = 401;
    res.set_content(nlohmann::json{{"detail", detail}}.dump(), "application/json");
}

}  // namespace

std::string make_jwt(const std::string& payload_json) {
    static std::atomic<int> serial{0};
    return unpadded_base64url(R"({"alg":"HS256","typ":"JWT"})") + "." + unpadded_base64url(payload_json) + "." +
           unpadded_base64url("signature " + std::to_string(serial++));
}

FakeLabelStudio::FakeLabelStudio(std::string token) : token_(std::move(token)), http_(std::make_unique<httplib::Server>()) {
    http_->Get(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
        requests_++;
        if (int ms = delay_ms_) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        std::lock_guard lock(mutex_);
        authorizations_.push_back(req.get_header_value("Authorization"));
        if (req.path.starts_with("/signed/")) {  // a presigned cloud URL: no Label Studio token
            size_t n = std::stoul(req.path.substr(8));
            if (n >= cloud_.size()) {
                res.status = 404;
                return;
            }
            res.set_content(cloud_[n].second, "application/octet-stream");
            return;
        }
        if (!accepts(req.get_header_value("Authorization"))) {
            unauthorized_++;
            refuse(res, "Authentication credentials were not provided.");
            return;
        }
        if (req.path.starts_with("/tasks/") && req.path.ends_with("/presign/")) {
            // The raw query: base64url's '=' padding must reach us as it was sent.
            const size_t at = req.target.find("fileuri=");
            const std::string fileuri = at == std::string::npos ? "" : req.target.substr(at + 8);
            for (size_t n = 0; n < cloud_.size(); ++n)
                if (sam::ls::base64url_encode(cloud_[n].first) == fileuri) {
                    res.status = 303;
                    res.set_header("Location", "/signed/" + std::to_string(n));
                    return;
                }
            res.status = 404;
            res.set_content(R"({"detail": "no such object"})", "application/json");
            return;
        }
        auto it = files_.find(req.path);
        if (it == files_.end()) {
            res.status = 404;
            res.set_content(R"({"detail": "Not found."})", "application/json");
            return;
        }
        res.set_content(it->second, "application/octet-stream");
    });
    http_->Post("/api/token/refresh/", [this](const httplib::Request& req, httplib::Response& res) {
        requests_++;
        if (int ms = delay_ms_) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
        std::lock_guard lock(mutex_);
        authorizations_.push_back(req.get_header_value("Authorization"));
        if (!body.is_object() || !body.contains("refresh") || !body["refresh"].is_string() ||
            !refresh_tokens_.count(body["refresh"].get<std::string>())) {
            refuse(res, "Token is invalid or expired");
            return;
        }
        const int64_t now = now_seconds(), exp = now + access_lifetime_s_;
        std::string access = make_jwt(nlohmann::json{{"token_type", "access"}, {"exp", exp}, {"iat", now},
                                                     {"jti", std::to_string(refreshes_)}, {"user_id", 1}}
                                          .dump());
        access_tokens_[access] = exp;
        refreshes_++;
        res.set_content(nlohmann::json{{"access", access}}.dump(), "application/json");
    });

    port_ = http_->bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("fake Label Studio: cannot bind 127.0.0.1");
    auto done = std::make_shared<std::atomic<bool>>(false);
    thread_ = std::thread([this, done] {
        http_->listen_after_bind();
        *done = true;
    });
    // cpp-httplib's stop() does nothing until its loop runs: return only once it does, so a
    // destructor right after the constructor cannot leave the loop running and the join waiting.
    while (!http_->is_running() && !*done) std::this_thread::sleep_for(std::chrono::microseconds(100));
}

FakeLabelStudio::~FakeLabelStudio() {
    http_->stop();
    thread_.join();
}

bool FakeLabelStudio::accepts(const std::string& authorization) {
    if (authorization == "Token " + token_) return true;
    if (!authorization.starts_with("Bearer ")) return false;
    auto it = access_tokens_.find(authorization.substr(7));  // refresh tokens are never here
    return it != access_tokens_.end() && it->second > now_seconds();
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

void FakeLabelStudio::add_cloud_file(const std::string& uri, const std::string& file) {
    std::string bytes = read_file(file);
    std::lock_guard lock(mutex_);
    cloud_.emplace_back(uri, bytes);
}

std::string FakeLabelStudio::issue_personal_token(int access_lifetime_s, int64_t refresh_exp) {
    const int64_t now = now_seconds();
    std::string refresh = make_jwt(nlohmann::json{{"token_type", "refresh"},
                                                  {"exp", refresh_exp ? refresh_exp : now + 365 * 86400},
                                                  {"iat", now}, {"jti", "pat"}, {"user_id", 1}}
                                       .dump());
    std::lock_guard lock(mutex_);
    access_lifetime_s_ = access_lifetime_s;
    refresh_tokens_.insert(refresh);
    return refresh;
}

void FakeLabelStudio::revoke_access_tokens() {
    std::lock_guard lock(mutex_);
    access_tokens_.clear();
}

void FakeLabelStudio::revoke_refresh_tokens() {
    std::lock_guard lock(mutex_);
    refresh_tokens_.clear();
}

std::vector<std::string> FakeLabelStudio::authorizations() const {
    std::lock_guard lock(mutex_);
    return authorizations_;
}

}  // namespace samtest
