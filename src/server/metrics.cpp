#include "server/metrics.hpp"

#include <cstdio>

namespace sam::server {

void Metrics::observe(const std::string& route, int status, double seconds) {
    std::lock_guard lock(mutex_);
    requests_[{route, status}]++;
    Histogram& h = latency_[route];
    for (size_t i = 0; i < kBuckets.size(); ++i) {
        if (seconds <= kBuckets[i]) {
            h.counts[i]++;
            break;
        }
    }
    h.count++;
    h.sum += seconds;
}

namespace {

std::string num(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

void counter(std::string& out, const char* name, const char* help, int64_t value, const char* type = "counter") {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    out += std::string(name) + " " + std::to_string(value) + "\n";
}

}  // namespace

std::string Metrics::render(const CacheStats& cache, const PrefetchStats& prefetch, const StoreStats* store) const {
    std::string out;
    std::lock_guard lock(mutex_);
    out += "# HELP sam_requests_total HTTP requests by route and status\n# TYPE sam_requests_total counter\n";
    for (const auto& [key, n] : requests_)
        out += "sam_requests_total{route=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"} " +
               std::to_string(n) + "\n";
    out += "# HELP sam_request_duration_seconds HTTP request latency by route\n"
           "# TYPE sam_request_duration_seconds histogram\n";
    for (const auto& [route, h] : latency_) {
        int64_t cumulative = 0;
        for (size_t i = 0; i < kBuckets.size(); ++i) {
            cumulative += h.counts[i];
            out += "sam_request_duration_seconds_bucket{route=\"" + route + "\",le=\"" + num(kBuckets[i]) + "\"} " +
                   std::to_string(cumulative) + "\n";
        }
        out += "sam_request_duration_seconds_bucket{route=\"" + route + "\",le=\"+Inf\"} " + std::to_string(h.count) + "\n";
        out += "sam_request_duration_seconds_sum{route=\"" + route + "\"} " + num(h.sum) + "\n";
        out += "sam_request_duration_seconds_count{route=\"" + route + "\"} " + std::to_string(h.count) + "\n";
    }
    counter(out, "sam_embedding_cache_hits_total", "embedding cache hits", cache.hits);
    counter(out, "sam_embedding_cache_misses_total", "embedding cache misses", cache.misses);
    counter(out, "sam_embeddings_computed_total", "image embeddings computed (encoded in this process)",
            cache.computed);
    counter(out, "sam_embedding_failures_total", "images that could not be fetched, decoded or embedded", cache.failed);
    counter(out, "sam_embedding_cache_evictions_total", "embeddings evicted from the cache", cache.evicted);
    counter(out, "sam_embedding_cache_entries", "embeddings in the cache", cache.entries, "gauge");
    counter(out, "sam_embedding_cache_bytes", "bytes of embeddings in the cache", cache.bytes, "gauge");
    counter(out, "sam_prefetch_queued_total", "background embeddings queued", prefetch.queued);
    counter(out, "sam_prefetch_dropped_total", "background embeddings dropped (queue full or already queued)",
            prefetch.dropped);
    out += "# HELP sam_embedding_hits_total embeddings found without encoding, by cache level\n"
           "# TYPE sam_embedding_hits_total counter\n"
           "sam_embedding_hits_total{level=\"memory\"} " + std::to_string(cache.hits) + "\n";
    if (!store) return out;
    out += "sam_embedding_hits_total{level=\"redis\"} " + std::to_string(store->hits) + "\n";
    counter(out, "sam_embedding_store_up", "1 while the shared embedding store (Redis) answers", store->up, "gauge");
    counter(out, "sam_embedding_store_hits_total", "embeddings taken from the shared store", store->hits);
    counter(out, "sam_embedding_store_misses_total", "lookups the shared store could not answer at first",
            store->misses);
    counter(out, "sam_embedding_store_waits_total", "hits that waited for another replica's encoding", store->waited);
    counter(out, "sam_embedding_store_wait_timeouts_total", "waits for another replica that ran out",
            store->wait_timeouts);
    counter(out, "sam_embedding_store_corrupt_total", "stored values refused (header or checksum) and replaced",
            store->corrupt);
    counter(out, "sam_embedding_store_errors_total", "failed store round trips and error replies", store->errors);
    counter(out, "sam_embedding_store_outages_total", "times the store became unavailable", store->outages);
    counter(out, "sam_embedding_store_writes_total", "embeddings written to the store", store->writes);
    counter(out, "sam_embedding_store_bytes_written_total", "bytes of embeddings written to the store",
            store->bytes_written);
    counter(out, "sam_embedding_store_writes_dropped_total", "embeddings not written (store down or queue full)",
            store->writes_dropped);
    return out;
}

std::string Metrics::render_load(const TransportStats& t, const PoolStats& requests, const PoolStats& images) {
    std::string out;
    counter(out, "sam_http_connections", "open HTTP connections", t.connections, "gauge");
    counter(out, "sam_http_header_timeouts_total", "connections closed: request head not complete in HEADER_TIMEOUT",
            t.header_timeouts);
    counter(out, "sam_http_body_timeouts_total", "connections closed: body not complete in BODY_TIMEOUT",
            t.body_timeouts);
    counter(out, "sam_http_idle_timeouts_total", "kept-alive connections closed after IDLE_TIMEOUT", t.idle_timeouts);
    counter(out, "sam_http_bodies_too_large_total", "request bodies over MAX_BODY_MB", t.bodies_too_large);
    counter(out, "sam_http_bodies_refused_total", "request bodies refused: bodies in memory at their limit",
            t.bodies_refused);
    counter(out, "sam_request_queue", "requests waiting for a request worker", requests.queued, "gauge");
    counter(out, "sam_image_queue", "predictions waiting for an image worker", images.queued, "gauge");
    counter(out, "sam_image_workers_busy", "image workers fetching or encoding", images.running, "gauge");
    counter(out, "sam_image_queue_rejected_total", "predictions refused with 503: image queue full", images.rejected);
    return out;
}

}  // namespace sam::server
