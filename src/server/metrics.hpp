// Request counters and latency histograms, rendered in the Prometheus text format together
// with the cache and prefetch figures the caller passes in.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "server/embedding_cache.hpp"
#include "server/http_transport.hpp"
#include "server/worker_pool.hpp"
#include "server/embedding_store.hpp"

namespace sam::server {

struct PrefetchStats {
    int64_t queued = 0, dropped = 0;
};

class Metrics {
public:
    static constexpr std::array<double, 11> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                        0.5,   1.0,  2.5,   5.0,  10.0};

    void observe(const std::string& route, int status, double seconds);
    // store: the shared store's figures, or nullptr when there is none.
    std::string render(const CacheStats& cache, const PrefetchStats& prefetch, const StoreStats* store = nullptr) const;
    // Connections, what the timeouts closed, and the worker pools' queues.
    static std::string render_load(const TransportStats& transport, const PoolStats& requests, const PoolStats& images);

private:
    struct Histogram {
        std::array<int64_t, kBuckets.size()> counts{};  // per bucket, not cumulative
        int64_t count = 0;
        double sum = 0;
    };
    mutable std::mutex mutex_;
    std::map<std::pair<std::string, int>, int64_t> requests_;
    std::map<std::string, Histogram> latency_;
};

}  // namespace sam::server
