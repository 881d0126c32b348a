#include "server/embedding_cache.hpp"

#include <condition_variable>
#include <exception>

namespace sam::server {

// One computation in progress; waiters block on `done`.
struct EmbeddingCache::Flight {
    bool finished = false;
    EmbeddingPtr result;
    std::exception_ptr error;
    std::condition_variable done;
};

EmbeddingCache::EmbeddingCache(size_t max_entries, size_t max_bytes)
    : max_entries_(max_entries < 1 ? 1 : max_entries), max_bytes_(max_bytes) {}

CacheLookup EmbeddingCache::get_or_compute(const std::string& key,
                                           const std::function<ImageEmbedding()>& compute) {
    std::unique_lock lock(mutex_);
    if (auto it = index_.find(key); it != index_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        stats_.hits++;
        return {it->second->embedding, true};
    }
    stats_.misses++;
    if (auto it = in_flight_.find(key); it != in_flight_.end()) {
        std::shared_ptr<Flight> flight = it->second;
        flight->done.wait(lock, [&] { return flight->finished; });
        if (flight->error) std::rethrow_exception(flight->error);
        return {flight->result, false};
    }
    auto flight = std::make_shared<Flight>();
    in_flight_[key] = flight;
    lock.unlock();

    EmbeddingPtr result;
    std::exception_ptr error;
    try {
        result = std::make_shared<const ImageEmbedding>(compute());
    } catch (...) {
        error = std::current_exception();
    }

    lock.lock();
    in_flight_.erase(key);
    flight->finished = true;
    flight->result = result;
    flight->error = error;
    if (error) {
        stats_.failed++;
    } else {
        stats_.computed++;
        insert_locked(key, result);
    }
    flight->done.notify_all();
    lock.unlock();
    if (error) std::rethrow_exception(error);
    return {result, false};
}

void EmbeddingCache::insert_locked(const std::string& key, EmbeddingPtr embedding) {
    bytes_ += embedding->bytes();
    lru_.push_front({key, std::move(embedding)});
    index_[key] = lru_.begin();
    // Evict least recently used entries; the newest one stays even if it alone is over the limit.
    while (lru_.size() > 1 && (lru_.size() > max_entries_ || bytes_ > max_bytes_)) {
        const Entry& old = lru_.back();
        bytes_ -= old.embedding->bytes();
        index_.erase(old.key);
        lru_.pop_back();
        stats_.evicted++;
    }
}

bool EmbeddingCache::cached_or_computing(const std::string& key) const {
    std::lock_guard lock(mutex_);
    return index_.count(key) != 0 || in_flight_.count(key) != 0;
}

bool EmbeddingCache::cached(const std::string& key) const {
    std::lock_guard lock(mutex_);
    return index_.count(key) != 0;
}

CacheStats EmbeddingCache::stats() const {
    std::lock_guard lock(mutex_);
    CacheStats s = stats_;
    s.entries = static_cast<int64_t>(lru_.size());
    s.bytes = static_cast<int64_t>(bytes_);
    return s;
}

}  // namespace sam::server
