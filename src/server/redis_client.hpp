// A Redis client for a cache that must never slow the server down: a pool of connections
// (server/redis_connection.hpp), and an up/down state. Any failure marks the store down (one
// warning in the log per outage); while down, calls return at once without touching the
// network, and a background thread reconnects with exponential backoff (one line when back).
// While up, that thread PINGs now and then, so an idle process notices an outage too.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/redis_connection.hpp"

namespace sam::server {

struct RedisClientOptions {
    RedisEndpoint endpoint;
    RedisTlsFiles tls;
    std::chrono::milliseconds timeout{20};  // longest wait without progress
    size_t max_reply_bytes = size_t{256} << 20;
    std::chrono::milliseconds backoff_min{100}, backoff_max{5000};
    std::chrono::milliseconds ping_interval{5000};  // while up
    size_t max_idle_connections = 16;
};

class RedisClient {
public:
    // Connects once before returning (a store that is down is logged, not an error). Throws
    // std::invalid_argument for TLS files that cannot be used.
    explicit RedisClient(RedisClientOptions options);
    ~RedisClient();
    RedisClient(const RedisClient&) = delete;
    RedisClient& operator=(const RedisClient&) = delete;

    // One round trip: the commands pipelined, one reply each (Redis error replies included).
    // nullopt when the store is down or this call failed (which starts an outage).
    std::optional<std::vector<RedisReplyPtr>> run(const std::vector<RedisCommand>& commands);

    bool up() const { return up_.load(); }
    int64_t errors() const { return errors_.load(); }    // failed calls
    int64_t outages() const { return outages_.load(); }  // up -> down transitions (a down start counts)
    const RedisEndpoint& endpoint() const { return options_.endpoint; }

private:
    std::unique_ptr<RedisConnection> connect();
    void mark_down(const std::string& why);
    void reconnect_loop();

    RedisClientOptions options_;
    std::unique_ptr<RedisTlsContext> tls_;
    std::atomic<bool> up_{false};
    std::atomic<int64_t> errors_{0}, outages_{0};

    std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<std::unique_ptr<RedisConnection>> idle_;
    uint64_t generation_ = 0;  // bumped per outage: connections from before it are not pooled again
    bool stopping_ = false;
    std::thread reconnector_;
};

}  // namespace sam::server
