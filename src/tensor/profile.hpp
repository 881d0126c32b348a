// Opt-in per-stage timing for benchmarks (`bench_* --profile`): a scope adds its wall time and
// the process's CPU time to a named total. Disabled, a scope costs one relaxed atomic load.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <string>

namespace sam::profile {

void enable(bool on);
bool enabled();
void add(const char* stage, double seconds);
void add(const char* stage, double seconds, double cpu_seconds);
std::map<std::string, double> totals();      // wall seconds per stage since the last reset
std::map<std::string, double> cpu_totals();  // process CPU seconds (all threads) per stage
void reset();
double process_cpu_seconds();

class Scope {
public:
    explicit Scope(const char* stage) : stage_(enabled() ? stage : nullptr) {
        if (stage_) {
            start_ = std::chrono::steady_clock::now();
            cpu_start_ = process_cpu_seconds();
        }
    }
    ~Scope() {
        if (stage_)
            add(stage_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(),
                process_cpu_seconds() - cpu_start_);
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

private:
    const char* stage_;
    std::chrono::steady_clock::time_point start_;
    double cpu_start_ = 0;
};

}  // namespace sam::profile
