// A fixed set of threads with a bounded queue: submit() refuses a job when the queue is full,
// so the caller can answer 503 instead of piling work up. shutdown() discards the queued jobs
// (destroying them: their captured responders answer) and joins the running ones.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sam::server {

struct PoolStats {
    int64_t queued = 0;    // waiting now
    int64_t running = 0;   // running now
    int64_t rejected = 0;  // refused so far (queue full or shutting down)
};

class WorkerPool {
public:
    WorkerPool(std::string name, int threads, size_t capacity);
    ~WorkerPool();  // shutdown()
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // false when every thread is busy and `capacity` jobs already wait, or when shutting down.
    bool submit(std::function<void()> job);
    void shutdown();
    PoolStats stats() const;
    int threads() const { return static_cast<int>(threads_.size()); }
    size_t capacity() const { return capacity_; }

private:
    void worker();

    std::string name_;
    size_t capacity_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> queue_;
    bool stopping_ = false;
    int64_t running_ = 0, rejected_ = 0;
    std::vector<std::thread> threads_;
};

}  // namespace sam::server
