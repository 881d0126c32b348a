// The real sam-ml-backend binary as a child process of a test or benchmark: started with extra
// environment variables (PORT=0 unless given: the port is then read from its "listening on"
// log line), stdout and stderr captured to a file, killed (SIGTERM, then SIGKILL) when the
// object goes away. SAM_BACKEND_BIN (in the environment, or among the extra variables) runs
// another build of the binary (e.g. an older one, to see a test fail or to compare).
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace samtest {

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port();

class ServerProcess {
public:
    using Env = std::vector<std::pair<std::string, std::string>>;
    ServerProcess(const Env& env, const std::vector<std::string>& args = {"serve"});
    ~ServerProcess();
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    // Waits until it logs its port and /health answers (200, or 401 behind basic auth); false
    // if it exits or time runs out.
    bool wait_ready(double seconds);
    // Waits for the process to exit by itself; its exit status, or -1 if it still runs.
    int wait_exit(double seconds);
    // SIGTERM, then waits: the exit status, or -1 if it still runs after `seconds`.
    int terminate(double seconds);
    bool alive() { return wait_exit(0) < 0; }

    int port() const { return port_; }
    pid_t pid() const { return pid_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::string log() const;  // everything it printed so far

private:
    pid_t pid_ = -1;
    int port_ = 0;
    int exit_status_ = -1;
    std::string log_path_;
};

}  // namespace samtest
