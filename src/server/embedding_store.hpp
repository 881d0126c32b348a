// The shared level under the in-process cache: embeddings in Redis, so replicas behind a load
// balancer encode each image once between them.
//
// Key: "sam:emb:v1:" + Segmenter::model_key() + ":" + SHA-256 of the image bytes as fetched, so
// two models never mix and a changed image is a new key. Value: models/embedding_codec.hpp in
// the embedding's storage_precision (float16 for SAM 1, float32 for SAM 2), SET with a TTL.
// Single flight across replicas: the replica that misses takes "<key>:lock" (SET NX PX) and
// encodes; the others poll for the value (bounded), and encode themselves when it does not come.
// Redis problems never fail a request: the store is skipped while down (server/redis_client.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/config.hpp"
#include "server/embedding_cache.hpp"
#include "server/redis_client.hpp"

namespace sam::server {

struct EmbeddingStoreOptions {
    RedisClientOptions redis;
    std::chrono::seconds ttl{86400};
    // Longest wait for another replica's encoding of the same image; also the lock's lifetime.
    std::chrono::milliseconds lock_wait{30000};
    size_t write_queue = 4;  // embeddings waiting to be written; more are not stored
};

struct StoreStats {
    bool up = false;
    int64_t hits = 0, misses = 0;
    int64_t waited = 0;         // hits that came from waiting for another replica's encoding
    int64_t wait_timeouts = 0;  // waits that ran out (then encoded here)
    int64_t corrupt = 0;        // values refused by the codec (ignored, then overwritten)
    int64_t errors = 0;         // failed round trips and Redis error replies
    int64_t outages = 0;
    int64_t writes = 0, bytes_written = 0, writes_dropped = 0;
};

class EmbeddingStore {
public:
    // Throws std::invalid_argument for an empty model key or unusable TLS files.
    EmbeddingStore(EmbeddingStoreOptions options, std::string model_key);
    ~EmbeddingStore();  // writes what is queued (bounded by the timeouts), then stops
    EmbeddingStore(const EmbeddingStore&) = delete;
    EmbeddingStore& operator=(const EmbeddingStore&) = delete;

    // The embedding of these image bytes: from Redis, or from `encode` (then queued for Redis).
    // Exceptions come only from `encode`.
    ComputedEmbedding get_or_encode(const std::vector<uint8_t>& image_bytes,
                                    const std::function<ImageEmbedding()>& encode);

    std::string key_for(const std::vector<uint8_t>& image_bytes) const;
    StoreStats stats() const;

private:
    struct Write {
        std::string key, lock_key, lock_token;
        EmbeddingPtr embedding;
    };
    enum class Lookup { Hit, Miss, Unavailable };

    // One round trip; the reply at value_at is the value (GET), the one at flag_at (if >= 0) a
    // yes/no: "OK" or a non-zero integer (SET NX, EXISTS). A corrupt value counts once per call.
    Lookup round_trip(const std::vector<RedisCommand>& commands, size_t value_at, int flag_at, bool* flag,
                      EmbeddingPtr& out, bool& corrupt_seen);
    ComputedEmbedding encode_and_store(const std::string& key, const std::string& lock_key,
                                       const std::string& token, const std::function<ImageEmbedding()>& encode);
    void release_lock(const std::string& lock_key, const std::string& token);
    void count_error_reply(const char* command, const std::string& message);
    void writer();

    EmbeddingStoreOptions options_;
    std::string model_key_;
    RedisClient client_;
    std::atomic<int64_t> hits_{0}, misses_{0}, waited_{0}, wait_timeouts_{0}, corrupt_{0}, error_replies_{0};
    std::atomic<int64_t> writes_{0}, bytes_written_{0}, writes_dropped_{0};

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Write> queue_;
    bool stopping_ = false;
    std::string last_error_reply_;
    std::thread writer_;
};

// The store the configuration asks for: nullptr without EMBEDDING_STORE, or (with a warning)
// when the model has no identity. Throws std::invalid_argument for a bad URL or TLS files.
std::unique_ptr<EmbeddingStore> open_embedding_store(const ServerConfig& config, const std::string& model_key);

}  // namespace sam::server
