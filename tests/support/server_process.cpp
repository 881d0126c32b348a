#include "support/server_process.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace samtest {

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    const bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
    if (fd >= 0) ::close(fd);  // the caller's server binds it right after
    if (!ok) throw std::runtime_error(std::string("no free TCP port on 127.0.0.1: ") + std::strerror(errno));
    return ntohs(a.sin_port);
}

ServerProcess::ServerProcess(const Env& env, const std::vector<std::string>& args) {
    char tmpl[] = "/tmp/sam-server-log-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) throw std::runtime_error("server process: cannot create a log file in /tmp");
    log_path_ = tmpl;
    bool has_port = false;
    for (const auto& [k, v] : env)
        if (k == "PORT") has_port = true, port_ = std::atoi(v.c_str());  // 0: read from the log

    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("server process: fork failed");
    if (pid_ == 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
        if (!has_port) setenv("PORT", "0", 1);
        setenv("HOST", "127.0.0.1", 1);
        for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
        std::vector<char*> argv;
        const char* other = std::getenv("SAM_BACKEND_BIN");
        std::string binary = other && *other ? other : SAM_BINARY;
        argv.push_back(binary.data());
        std::vector<std::string> copy = args;
        for (auto& a : copy) argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(binary.c_str(), argv.data());
        std::fprintf(stderr, "cannot exec %s\n", binary.c_str());
        _exit(127);
    }
    close(fd);
}

ServerProcess::~ServerProcess() {
    if (pid_ > 0 && exit_status_ < 0) {
        kill(pid_, SIGTERM);
        if (wait_exit(5) < 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
    }
    std::filesystem::remove(log_path_);
}

std::string ServerProcess::log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

int ServerProcess::wait_exit(double seconds) {
    if (exit_status_ >= 0) return exit_status_;
    double end = now() + seconds;
    for (;;) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            return exit_status_;
        }
        if (now() > end) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

int ServerProcess::terminate(double seconds) {
    if (exit_status_ < 0) kill(pid_, SIGTERM);
    return wait_exit(seconds);
}

bool ServerProcess::wait_ready(double seconds) {
    double end = now() + seconds;
    while (now() < end) {
        if (wait_exit(0) >= 0) return false;
        if (port_ == 0) {
            std::string text = log();
            auto at = text.find("listening on ");
            if (at != std::string::npos) {
                auto colon = text.find(':', at + 13);
                if (colon != std::string::npos) port_ = std::atoi(text.c_str() + colon + 1);
            }
        }
        if (port_ > 0) {
            httplib::Client client("127.0.0.1", port_);
            auto res = client.Get("/health");
            if (res && (res->status == 200 || res->status == 401)) return true;  // 401: it answers, behind basic auth
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // start-up times are measured this way too
    }
    return false;
}

}  // namespace samtest
