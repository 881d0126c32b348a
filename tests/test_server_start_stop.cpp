// Servers started and destroyed at once never hang: cpp-httplib's stop() does nothing before
// its accept loop runs, so a start that returned early left the loop running and the join in
// the destructor waiting forever (a test hung until ctest's timeout, one fresh run in three).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <thread>
#include <unistd.h>

#include "server/http_server.hpp"
#include "support/fake_label_studio.hpp"

namespace {

// Runs `body`; a hang ends the test process with a failure instead of blocking ctest.
void without_hanging(const char* what, const std::function<void()>& body) {
    std::packaged_task<void()> task(body);
    std::future<void> done = task.get_future();
    std::thread runner(std::move(task));
    if (done.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
        std::fprintf(stderr, "%s hung (a server was stopped before its loop ran)\n", what);
        std::fflush(stderr);
        _exit(1);  // the hung thread cannot be joined
    }
    runner.join();
    done.get();
}

class IdleSegmenter : public sam::Segmenter {
public:
    sam::ImageEmbedding embed(const sam::RgbImage&) const override { return {}; }
    sam::Prediction predict(const sam::ImageEmbedding&, const sam::Prompt&) const override { return {}; }
    std::string description() const override { return "idle"; }
};

TEST(StartStop, FakeLabelStudioDestroyedRightAfterConstruction) {
    without_hanging("FakeLabelStudio", [] {
        for (int i = 0; i < 200; ++i) samtest::FakeLabelStudio ls("token");
    });
}

TEST(StartStop, HttpServerStoppedRightAfterStart) {
    sam::server::ServerConfig config;
    config.host = "127.0.0.1";
    config.port = 0;
    config.threads = 2;
    auto model = std::make_shared<IdleSegmenter>();
    without_hanging("HttpServer", [&] {
        for (int i = 0; i < 100; ++i) {
            sam::server::HttpServer server(config, model);
            server.start();
        }
    });
}

}  // namespace
