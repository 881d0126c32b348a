#include "server/redis_client.hpp"

#include <spdlog/spdlog.h>

namespace sam::server {

RedisClient::RedisClient(RedisClientOptions options) : options_(std::move(options)) {
    if (options_.endpoint.tls) tls_ = std::make_unique<RedisTlsContext>(options_.tls);
    try {
        idle_.push_back(connect());
        up_ = true;
        spdlog::info("embedding store {}: connected", options_.endpoint.redacted());
    } catch (const RedisError& e) {
        outages_++;
        spdlog::warn("embedding store {} unavailable: {}; serving from memory and by encoding until it answers",
                     options_.endpoint.redacted(), e.what());
    }
    reconnector_ = std::thread([this] { reconnect_loop(); });
}

RedisClient::~RedisClient() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    reconnector_.join();
}

std::unique_ptr<RedisConnection> RedisClient::connect() {
    // Opening may take a TLS handshake and AUTH: more room than one command's wait.
    const auto timeout = std::max(options_.timeout * 4, std::chrono::milliseconds(500));
    return RedisConnection::open(options_.endpoint, tls_.get(), timeout);
}

std::optional<std::vector<RedisReplyPtr>> RedisClient::run(const std::vector<RedisCommand>& commands) {
    if (!up_) return std::nullopt;
    std::unique_ptr<RedisConnection> conn;
    uint64_t generation;
    {
        std::lock_guard lock(mutex_);
        generation = generation_;
        if (!idle_.empty()) {
            conn = std::move(idle_.back());
            idle_.pop_back();
        }
    }
    try {
        if (!conn) conn = connect();
        std::vector<RedisReplyPtr> replies = conn->run(commands, options_.max_reply_bytes);
        std::lock_guard lock(mutex_);
        if (generation == generation_ && idle_.size() < options_.max_idle_connections)
            idle_.push_back(std::move(conn));
        return replies;
    } catch (const RedisError& e) {
        errors_++;
        mark_down(e.what());
        return std::nullopt;
    }
}

void RedisClient::mark_down(const std::string& why) {
    {
        std::lock_guard lock(mutex_);
        // A connection that failed says little about the others, but a restarted or replaced
        // server has dropped them all: start again from nothing.
        idle_.clear();
        generation_++;
        if (!up_.exchange(false)) return;  // already down: one warning per outage
        outages_++;
    }
    spdlog::warn("embedding store {} unavailable: {}; serving from memory and by encoding until it answers",
                 options_.endpoint.redacted(), why);
    wake_.notify_all();
}

void RedisClient::reconnect_loop() {
    auto backoff = options_.backoff_min;
    std::unique_lock lock(mutex_);
    for (;;) {
        // While up, a PING now and then: an idle replica notices an outage too (the gauge in
        // /metrics tells the truth), and a dead pooled connection is found off the hot path.
        if (!wake_.wait_for(lock, options_.ping_interval, [&] { return stopping_ || !up_; })) {
            lock.unlock();
            run({{"PING"}});
            lock.lock();
            continue;
        }
        if (stopping_) return;
        wake_.wait_for(lock, backoff, [&] { return stopping_; });
        if (stopping_) return;
        lock.unlock();
        std::unique_ptr<RedisConnection> conn;
        std::string why;
        try {
            conn = connect();
        } catch (const RedisError& e) {
            why = e.what();
        }
        lock.lock();
        if (!conn) {
            backoff = std::min(backoff * 2, options_.backoff_max);
            spdlog::debug("embedding store {}: still unavailable ({}), next try in {} ms",
                          options_.endpoint.redacted(), why, backoff.count());
            continue;
        }
        idle_.push_back(std::move(conn));
        up_ = true;
        backoff = options_.backoff_min;
        spdlog::info("embedding store {}: connected again", options_.endpoint.redacted());
    }
}

}  // namespace sam::server
