#include "server/prefetcher.hpp"

#include <spdlog/spdlog.h>

#include "labelstudio/request_json.hpp"

namespace sam::server {

Prefetcher::Prefetcher(size_t capacity) : capacity_(capacity), thread_([this] { worker(); }) {}

Prefetcher::~Prefetcher() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        queue_.clear();
    }
    wake_.notify_all();
    thread_.join();
}

bool Prefetcher::submit(const std::string& key, std::function<void()> job) {
    {
        std::lock_guard lock(mutex_);
        bool waiting = false;
        for (const Job& j : queue_) waiting = waiting || j.key == key;
        if (stopping_ || waiting || queue_.size() >= capacity_) {
            dropped_++;
            return false;
        }
        queue_.push_back({key, std::move(job)});
        queued_++;
    }
    wake_.notify_one();
    return true;
}

bool Prefetcher::waiting(const std::string& key) const {
    std::lock_guard lock(mutex_);
    for (const Job& j : queue_)
        if (j.key == key) return true;
    return false;
}

int64_t Prefetcher::queued() const {
    std::lock_guard lock(mutex_);
    return queued_;
}

int64_t Prefetcher::dropped() const {
    std::lock_guard lock(mutex_);
    return dropped_;
}

void Prefetcher::worker() {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;
            job = std::move(queue_.front());
            queue_.pop_front();
        }
        try {
            job.run();
        } catch (const std::exception& e) {
            spdlog::warn("prefetch {}: {}", ls::printable(job.key), ls::printable(e.what(), 1000));
        }
    }
}

}  // namespace sam::server
