// Background work with a bounded queue and one worker: jobs beyond the capacity are dropped
// (a prefetch is only a hint), and a key already waiting is not queued twice.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace sam::server {

class Prefetcher {
public:
    explicit Prefetcher(size_t capacity);
    ~Prefetcher();  // waits for the running job; pending ones are dropped
    Prefetcher(const Prefetcher&) = delete;
    Prefetcher& operator=(const Prefetcher&) = delete;

    // false when the job was dropped (queue full) or the key is already queued.
    bool submit(const std::string& key, std::function<void()> job);
    // A job for `key` is queued and has not started.
    bool waiting(const std::string& key) const;

    int64_t queued() const;   // accepted so far
    int64_t dropped() const;  // refused so far

private:
    struct Job {
        std::string key;
        std::function<void()> run;
    };
    void worker();

    size_t capacity_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job> queue_;
    bool stopping_ = false;
    int64_t queued_ = 0, dropped_ = 0;
    std::thread thread_;
};

}  // namespace sam::server
