#include "support/child_process.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace samtest {

namespace {

// AddressSanitizer reserves terabytes of address space for its shadow memory: an
// address-space limit would stop a sanitizer build before main.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

}  // namespace

ChildResult run_binary(const std::vector<std::string>& args, const std::vector<std::pair<std::string, std::string>>& env,
                       uint64_t address_space_bytes, double timeout_seconds) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("run_binary: pipe failed");
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("run_binary: fork failed");
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        if (address_space_bytes && !kSanitized) {
            rlimit lim{address_space_bytes, address_space_bytes};
            setrlimit(RLIMIT_AS, &lim);
        }
        for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
        std::string binary = SAM_BINARY;
        std::vector<std::string> copy = args;
        std::vector<char*> argv{binary.data()};
        for (auto& a : copy) argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(binary.c_str(), argv.data());
        std::fprintf(stderr, "cannot exec %s\n", binary.c_str());
        _exit(127);
    }
    close(fds[1]);
    ChildResult r;
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
    char buf[4096];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        const ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0) break;  // the child closed its output: it has exited
        r.output.append(buf, static_cast<size_t>(n));
    }
    close(fds[0]);
    int status = 0;
    rusage usage{};
    wait4(pid, &status, 0, &usage);
    const bool timed_out = std::chrono::steady_clock::now() >= end;
    r.status = timed_out ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.max_rss_kb = usage.ru_maxrss;
    return r;
}

}  // namespace samtest
