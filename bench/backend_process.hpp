// The real sam-ml-backend binary as a child process of a benchmark, and what benchmarks do with
// it: start it with environment variables on a free port, wait for /health, click on a
// 1920x1080 local-storage image, read its /proc status.
#pragma once

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "io/png_writer.hpp"

extern char** environ;

namespace sambench {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

inline std::string backend_binary() {
    if (const char* env = std::getenv("SAM_BACKEND_BIN")) return env;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe").parent_path();
    for (const std::filesystem::path& p : {self.parent_path() / "sam-ml-backend", self / "sam-ml-backend"})
        if (std::filesystem::exists(p)) return p.string();
    throw std::runtime_error("sam-ml-backend not found next to " + self.string() + " (set SAM_BACKEND_BIN)");
}

inline int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        throw std::runtime_error(std::string("no free TCP port on 127.0.0.1: ") + std::strerror(errno));
    close(fd);  // the server binds it right after
    return ntohs(a.sin_port);
}

// One server process with its own environment and log file.
struct Server {
    pid_t pid = -1;
    int port = 0;
    std::string log;

    Server(const std::map<std::string, std::string>& vars, const std::string& log_path) : log(log_path) {
        port = free_port();
        std::map<std::string, std::string> env;
        for (char** e = environ; *e; ++e) {
            const char* eq = std::strchr(*e, '=');
            if (eq) env[std::string(*e, size_t(eq - *e))] = eq + 1;
        }
        env["HOST"] = "127.0.0.1";
        env["PORT"] = std::to_string(port);
        env["LOG_LEVEL"] = "warning";
        for (const auto& [k, v] : vars) env[k] = v;
        std::vector<std::string> strings;
        for (const auto& [k, v] : env) strings.push_back(k + "=" + v);
        std::vector<char*> envp;
        for (auto& s : strings) envp.push_back(s.data());
        envp.push_back(nullptr);
        const std::string bin = backend_binary();

        pid = fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        if (pid == 0) {
            FILE* f = std::fopen(log_path.c_str(), "w");
            if (f) dup2(fileno(f), 1), dup2(fileno(f), 2);
            char* argv[] = {const_cast<char*>(bin.c_str()), const_cast<char*>("serve"), nullptr};
            execve(bin.c_str(), argv, envp.data());
            std::perror("execve");
            _exit(127);
        }
    }
    ~Server() { stop(); }

    // Polls /health until 200; throws with the server's log if it exits or takes over `limit_s`.
    void wait_healthy(double limit_s) {
        const auto t0 = Clock::now();
        httplib::Client c("127.0.0.1", port);
        c.set_connection_timeout(0, 200000);
        for (;;) {
            auto res = c.Get("/health");
            if (res && res->status == 200) return;
            int status = 0;
            if (waitpid(pid, &status, WNOHANG) == pid) {
                pid = -1;
                throw std::runtime_error("server exited before /health answered; log:\n" + read_log());
            }
            if (std::chrono::duration<double>(Clock::now() - t0).count() > limit_s)
                throw std::runtime_error("no /health 200 within " + std::to_string(limit_s) + " s; log:\n" + read_log());
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }

    void stop() {
        if (pid <= 0) return;
        kill(pid, SIGTERM);
        int status = 0;
        waitpid(pid, &status, 0);
        pid = -1;
    }

    std::string read_log() const {
        std::ifstream f(log);
        return std::string(std::istreambuf_iterator<char>(f), {});
    }

    // kB fields of /proc/<pid>/status (VmRSS, VmHWM, RssAnon, RssFile, Threads, ...).
    std::map<std::string, double> status() const {
        std::ifstream f("/proc/" + std::to_string(pid) + "/status");
        std::map<std::string, double> out;
        std::string line;
        while (std::getline(f, line)) {
            const size_t colon = line.find(':');
            if (colon != std::string::npos) out[line.substr(0, colon)] = std::atof(line.c_str() + colon + 1);
        }
        return out;
    }
};

inline const char* kConfig = R"(<View><Image name="image" value="$image"/>
<BrushLabels name="tag" toName="image"><Label value="Object"/></BrushLabels>
<KeyPointLabels name="kp" toName="image" smart="true"><Label value="Object"/></KeyPointLabels></View>)";

// One positive keypoint on a local-storage image: embeds it unless cached.
inline void click(int port, const std::string& file, double limit_s) {
    json kp = {{"original_width", 1920}, {"original_height", 1080}, {"image_rotation", 0},
               {"value", {{"x", 50.0}, {"y", 50.0}, {"width", 0.3}, {"keypointlabels", {"Object"}}}},
               {"id", "k"}, {"from_name", "kp"}, {"to_name", "image"}, {"type", "keypointlabels"}, {"is_positive", true}};
    json body = {{"tasks", json::array({{{"id", 1}, {"data", {{"image", "/data/local-files/?d=" + file}}}}})},
                 {"label_config", kConfig},
                 {"params", {{"context", {{"result", json::array({kp})}}}}}};
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(std::chrono::milliseconds(int64_t(limit_s * 1000)));
    auto res = c.Post("/predict", body.dump(), "application/json");
    if (!res || res->status != 200)
        throw std::runtime_error("predict on " + file + " failed: " + (res ? res->body : "no answer"));
    if (json::parse(res->body)["results"].empty()) throw std::runtime_error("predict on " + file + ": no result");
}

// A 1920x1080 gray gradient with a bright disk, different per seed.
inline void write_image(const std::string& path, int seed) {
    std::vector<uint8_t> px(1920 * 1080);
    for (int y = 0; y < 1080; ++y)
        for (int x = 0; x < 1920; ++x) {
            const int dx = x - 960 - seed * 60, dy = y - 540 + seed * 20;
            px[y * 1920 + x] = dx * dx + dy * dy < 200 * 200 ? 230 : uint8_t((x + 2 * y + seed * 37) / 12);
        }
    sam::write_png_gray(path, 1920, 1080, px.data());
}

}  // namespace sambench
