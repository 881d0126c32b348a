#include "server/worker_pool.hpp"

#include <spdlog/spdlog.h>

#include "labelstudio/request_json.hpp"

namespace sam::server {

WorkerPool::WorkerPool(std::string name, int threads, size_t capacity) : name_(std::move(name)), capacity_(capacity) {
    for (int i = 0; i < std::max(threads, 1); ++i) threads_.emplace_back([this] { worker(); });
}

WorkerPool::~WorkerPool() { shutdown(); }

bool WorkerPool::submit(std::function<void()> job) {
    {
        std::lock_guard lock(mutex_);
        // Jobs in the pool (waiting or running), so a burst is not refused before workers wake.
        if (stopping_ || queue_.size() + static_cast<size_t>(running_) >= threads_.size() + capacity_) {
            rejected_++;
            return false;
        }
        queue_.push_back(std::move(job));
    }
    wake_.notify_one();
    return true;
}

void WorkerPool::shutdown() {
    std::deque<std::function<void()>> dropped;
    {
        std::lock_guard lock(mutex_);
        if (stopping_ && threads_.empty()) return;
        stopping_ = true;
        dropped.swap(queue_);
    }
    wake_.notify_all();
    dropped.clear();  // outside the lock: destroying a job may answer its request
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    std::lock_guard lock(mutex_);
    threads_.clear();
}

PoolStats WorkerPool::stats() const {
    std::lock_guard lock(mutex_);
    return {static_cast<int64_t>(queue_.size()), running_, rejected_};
}

void WorkerPool::worker() {
    for (;;) {
        std::function<void()> job;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, nothing left
            job = std::move(queue_.front());
            queue_.pop_front();
            running_++;
        }
        try {
            job();
        } catch (const std::exception& e) {
            spdlog::error("{} worker: {}", name_, ls::printable(e.what(), 1000));  // jobs answer their own errors
        }
        job = nullptr;  // destroyed before the job counts as done
        std::lock_guard lock(mutex_);
        running_--;
    }
}

}  // namespace sam::server
