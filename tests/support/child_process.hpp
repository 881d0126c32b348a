// Runs the real sam-ml-backend binary to completion as a child process, with an optional
// address-space limit (as `ulimit -v`; not in sanitizer builds, whose shadow memory needs
// terabytes of it), and reports how it ended and its peak memory.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace samtest {

struct ChildResult {
    int status = -1;       // exit code; 128 + signal when killed; -1 when it ran past the timeout
    std::string output;    // stdout and stderr together
    int64_t max_rss_kb = 0;
};

ChildResult run_binary(const std::vector<std::string>& args, const std::vector<std::pair<std::string, std::string>>& env,
                       uint64_t address_space_bytes, double timeout_seconds);

}  // namespace samtest
