// Waiting in tests for something another thread or process does: polls a condition.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace samtest {

// true as soon as `condition` holds, false if it still does not after `seconds`.
inline bool eventually(const std::function<bool()>& condition, double seconds = 30) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return condition();
}

}  // namespace samtest
