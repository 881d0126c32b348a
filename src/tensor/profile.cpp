#include "tensor/profile.hpp"

#include <mutex>

namespace sam::profile {
namespace {
std::atomic<bool> g_enabled{false};
std::mutex g_mutex;
std::map<std::string, double> g_totals;
}  // namespace

void enable(bool on) { g_enabled.store(on, std::memory_order_relaxed); }
bool enabled() { return g_enabled.load(std::memory_order_relaxed); }

void add(const char* stage, double seconds) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_totals[stage] += seconds;
}

std::map<std::string, double> totals() {
    std::lock_guard<std::mutex> lock(g_mutex);
    return g_totals;
}

void reset() {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_totals.clear();
}

}  // namespace sam::profile
