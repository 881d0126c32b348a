#include "tensor/profile.hpp"

#include <time.h>

#include <mutex>

namespace sam::profile {
namespace {
std::atomic<bool> g_enabled{false};
std::mutex g_mutex;
std::map<std::string, double> g_totals, g_cpu_totals;
}  // namespace

void enable(bool on) { g_enabled.store(on, std::memory_order_relaxed); }
bool enabled() { return g_enabled.load(std::memory_order_relaxed); }

void add(const char* stage, double seconds) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_totals[stage] += seconds;
}

void add(const char* stage, double seconds, double cpu_seconds) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_totals[stage] += seconds;
    g_cpu_totals[stage] += cpu_seconds;
}

std::map<std::string, double> totals() {
    std::lock_guard<std::mutex> lock(g_mutex);
    return g_totals;
}

std::map<std::string, double> cpu_totals() {
    std::lock_guard<std::mutex> lock(g_mutex);
    return g_cpu_totals;
}

void reset() {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_totals.clear();
    g_cpu_totals.clear();
}

double process_cpu_seconds() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

}  // namespace sam::profile
