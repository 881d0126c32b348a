// LRU cache of image embeddings keyed by the resolved image identity, bounded by entry count
// and bytes. Thread-safe. Single flight: concurrent misses on one key run `compute` once and
// every caller gets its result (or its exception).
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "models/segmenter.hpp"

namespace sam::server {

using EmbeddingPtr = std::shared_ptr<const ImageEmbedding>;

struct CacheLookup {
    EmbeddingPtr embedding;
    bool hit = false;  // false when this call computed it or waited for another call computing it
};

struct CacheStats {
    int64_t hits = 0, misses = 0, computed = 0, failed = 0, evicted = 0;
    int64_t entries = 0, bytes = 0;
};

class EmbeddingCache {
public:
    EmbeddingCache(size_t max_entries, size_t max_bytes);

    CacheLookup get_or_compute(const std::string& key, const std::function<ImageEmbedding()>& compute);
    // Cached, or being computed right now (a prefetch then has nothing to do).
    bool cached_or_computing(const std::string& key) const;
    // Cached: a click on it now is a hit.
    bool cached(const std::string& key) const;
    CacheStats stats() const;

private:
    struct Flight;
    struct Entry {
        std::string key;
        EmbeddingPtr embedding;
    };

    void insert_locked(const std::string& key, EmbeddingPtr embedding);

    size_t max_entries_, max_bytes_;
    mutable std::mutex mutex_;
    std::list<Entry> lru_;  // most recent first
    std::unordered_map<std::string, std::list<Entry>::iterator> index_;
    std::unordered_map<std::string, std::shared_ptr<Flight>> in_flight_;
    size_t bytes_ = 0;
    CacheStats stats_;
};

}  // namespace sam::server
