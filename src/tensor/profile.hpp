// Opt-in per-stage timing for benchmarks (`bench_* --profile`): a scope adds its wall time to
// a named total. Disabled, a scope costs one relaxed atomic load.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <string>

namespace sam::profile {

void enable(bool on);
bool enabled();
void add(const char* stage, double seconds);
std::map<std::string, double> totals();  // seconds per stage since the last reset
void reset();

class Scope {
public:
    explicit Scope(const char* stage) : stage_(enabled() ? stage : nullptr) {
        if (stage_) start_ = std::chrono::steady_clock::now();
    }
    ~Scope() {
        if (stage_) add(stage_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

private:
    const char* stage_;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace sam::profile
