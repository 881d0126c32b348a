// A stand-in for Label Studio's file serving, inside a test: a cpp-httplib server on
// 127.0.0.1 (a free port) that serves registered paths (e.g. /data/upload/3/x.jpg) only with
// the right `Authorization: Token <key>` (401 otherwise, 404 for unknown paths) and can be told
// to answer slowly.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace samtest {

class FakeLabelStudio {
public:
    explicit FakeLabelStudio(std::string token);
    ~FakeLabelStudio();

    void add(const std::string& path, std::vector<uint8_t> bytes);
    void add_file(const std::string& path, const std::string& file);  // serves a file's bytes
    void set_delay_ms(int ms) { delay_ms_ = ms; }

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    int port() const { return port_; }
    int requests() const { return requests_; }       // every request, any answer
    int unauthorized() const { return unauthorized_; }  // answered 401

private:
    std::string token_;
    std::unique_ptr<httplib::Server> http_;
    std::mutex mutex_;
    std::map<std::string, std::string> files_;
    std::atomic<int> delay_ms_{0}, requests_{0}, unauthorized_{0};
    int port_ = 0;
    std::thread thread_;
};

}  // namespace samtest
