#include "server/embedding_store.hpp"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <random>
#include <stdexcept>

#include "io/file_identity.hpp"
#include "models/embedding_codec.hpp"

namespace sam::server {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kKeyPrefix = "sam:emb:v1:";
// Deletes the lock only if it is still ours (it may have expired and been taken by another).
constexpr const char* kReleaseLock =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

std::string random_token() {
    thread_local std::mt19937_64 rng(std::random_device{}());
    static const char* kHex = "0123456789abcdef";
    std::string out;
    for (int i = 0; i < 2; ++i) {
        uint64_t v = rng();
        for (int j = 0; j < 16; ++j, v >>= 4) out += kHex[v & 15];
    }
    return out;
}

// Before the client connects: without a model identity nothing may be shared.
std::string non_empty_key(std::string key) {
    if (key.empty()) throw std::invalid_argument("the embedding store needs a model key");
    return key;
}

}  // namespace

EmbeddingStore::EmbeddingStore(EmbeddingStoreOptions options, std::string model_key)
    : options_(std::move(options)),
      model_key_(non_empty_key(std::move(model_key))),
      client_(options_.redis),
      writer_([this] { writer(); }) {}

EmbeddingStore::~EmbeddingStore() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    writer_.join();
}

std::string EmbeddingStore::key_for(const std::vector<uint8_t>& image_bytes) const {
    return kKeyPrefix + model_key_ + ":" + io::sha256_hex(image_bytes.data(), image_bytes.size());
}

void EmbeddingStore::count_error_reply(const char* command, const std::string& message) {
    error_replies_++;
    std::lock_guard lock(mutex_);
    if (message == last_error_reply_) return;  // a full or read-only Redis would say it on every call
    last_error_reply_ = message;
    spdlog::warn("embedding store {}: {} answered: {}", client_.endpoint().redacted(), command, message);
}

EmbeddingStore::Lookup EmbeddingStore::round_trip(const std::vector<RedisCommand>& commands, size_t value_at,
                                                  int flag_at, bool* flag, EmbeddingPtr& out, bool& corrupt_seen) {
    auto replies = client_.run(commands);
    if (!replies) return Lookup::Unavailable;
    for (size_t i = 0; i < replies->size(); ++i) {
        const redisReply* r = (*replies)[i].get();
        if (r->type == REDIS_REPLY_ERROR) {
            count_error_reply(std::string(commands[i][0]).c_str(), r->str);
            return Lookup::Unavailable;
        }
    }
    if (flag_at >= 0) {
        const redisReply* f = (*replies)[static_cast<size_t>(flag_at)].get();
        *flag = f->type == REDIS_REPLY_STATUS || (f->type == REDIS_REPLY_INTEGER && f->integer != 0);
    }
    const redisReply* v = (*replies)[value_at].get();
    if (v->type != REDIS_REPLY_STRING) return Lookup::Miss;
    try {
        out = std::make_shared<const ImageEmbedding>(decode_embedding(std::string_view(v->str, v->len), model_key_));
        return Lookup::Hit;
    } catch (const EmbeddingCodecError& e) {
        if (!corrupt_seen) {
            corrupt_seen = true;
            corrupt_++;
            spdlog::warn("embedding store: refused the value of {}: {}; it will be replaced",
                         std::string(commands[value_at][1]), e.what());
        }
        return Lookup::Miss;
    }
}

ComputedEmbedding EmbeddingStore::get_or_encode(const std::vector<uint8_t>& image_bytes,
                                                const std::function<ImageEmbedding()>& encode) {
    if (!client_.up()) return encode_and_store("", "", "", encode);
    const std::string key = key_for(image_bytes), lock_key = key + ":lock";
    EmbeddingPtr found;
    bool corrupt_seen = false;
    Lookup got = round_trip({{"GET", key}}, 0, -1, nullptr, found, corrupt_seen);
    if (got == Lookup::Hit) {
        hits_++;
        return {found, true};
    }
    if (got == Lookup::Unavailable) return encode_and_store(key, "", "", encode);
    misses_++;

    const std::string token = random_token(), lock_ms = std::to_string(options_.lock_wait.count());
    const auto deadline = Clock::now() + options_.lock_wait;
    bool waited = false;
    for (;;) {
        // Take the lock, and look again: the value may have come since the GET.
        bool locked = false;
        got = round_trip({{"SET", lock_key, token, "NX", "PX", lock_ms}, {"GET", key}}, 1, 0, &locked, found,
                         corrupt_seen);
        if (got == Lookup::Hit) {
            if (locked) release_lock(lock_key, token);
            hits_++;
            waited_ += waited;
            return {found, true};
        }
        if (got == Lookup::Unavailable) return encode_and_store(key, "", "", encode);
        if (locked) return encode_and_store(key, lock_key, token, encode);

        // Another replica is encoding this image: wait for its value while its lock lasts.
        waited = true;
        auto pause = milliseconds(10);
        for (bool held = true; held;) {
            const auto now = Clock::now();
            if (now >= deadline) {
                wait_timeouts_++;
                spdlog::info("embedding store: waited {} ms for another replica's embedding of {}; encoding it here",
                             options_.lock_wait.count(), key);
                return encode_and_store(key, "", "", encode);
            }
            std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - now));
            pause = std::min(pause * 3 / 2, milliseconds(100));
            // The lock first: a replica writes the value before it lets the lock go.
            got = round_trip({{"EXISTS", lock_key}, {"GET", key}}, 1, 0, &held, found, corrupt_seen);
            if (got == Lookup::Hit) {
                hits_++;
                waited_++;
                return {found, true};
            }
            if (got == Lookup::Unavailable) return encode_and_store(key, "", "", encode);
        }
        // The lock went without a value: that replica failed or gave up. Try to take it.
    }
}

ComputedEmbedding EmbeddingStore::encode_and_store(const std::string& key, const std::string& lock_key,
                                                   const std::string& token,
                                                   const std::function<ImageEmbedding()>& encode) {
    ImageEmbedding e;
    try {
        e = encode();
    } catch (...) {
        if (!token.empty()) release_lock(lock_key, token);  // the waiting replicas try themselves
        throw;
    }
    // Answer with the values every other replica will read, so a click gives the same mask
    // whichever replica it lands on.
    round_embedding(e, storage_precision(e));
    EmbeddingPtr embedding = std::make_shared<const ImageEmbedding>(std::move(e));
    if (!key.empty()) {
        std::lock_guard lock(mutex_);
        if (queue_.size() < options_.write_queue) {
            queue_.push_back({key, lock_key, token, embedding});
            wake_.notify_one();
            return {embedding, false};
        }
    }
    writes_dropped_++;
    if (!token.empty()) release_lock(lock_key, token);
    return {embedding, false};
}

void EmbeddingStore::release_lock(const std::string& lock_key, const std::string& token) {
    auto replies = client_.run({{"EVAL", kReleaseLock, "1", lock_key, token}});
    if (replies && (*replies)[0]->type == REDIS_REPLY_ERROR) count_error_reply("EVAL", (*replies)[0]->str);
}

void EmbeddingStore::writer() {
    const std::string ttl_ms = std::to_string(std::chrono::duration_cast<milliseconds>(options_.ttl).count());
    for (;;) {
        Write w;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, and everything queued is written
            w = std::move(queue_.front());
            queue_.pop_front();
        }
        const std::string value = encode_embedding(*w.embedding, model_key_, storage_precision(*w.embedding));
        w.embedding.reset();
        std::vector<RedisCommand> commands = {{"SET", w.key, value, "PX", ttl_ms}};
        if (!w.lock_token.empty()) commands.push_back({"EVAL", kReleaseLock, "1", w.lock_key, w.lock_token});
        auto replies = client_.run(commands);
        if (!replies) {
            writes_dropped_++;
        } else if ((*replies)[0]->type == REDIS_REPLY_ERROR) {
            count_error_reply("SET", (*replies)[0]->str);
        } else {
            writes_++;
            bytes_written_ += static_cast<int64_t>(value.size());
        }
    }
}

std::unique_ptr<EmbeddingStore> open_embedding_store(const ServerConfig& config, const std::string& model_key) {
    if (config.embedding_store.empty()) return nullptr;
    EmbeddingStoreOptions o;
    o.redis.endpoint = parse_redis_url(config.embedding_store);
    if (model_key.empty()) {
        spdlog::warn("embedding store {} not used: this model has no identity to key its embeddings by",
                     o.redis.endpoint.redacted());
        return nullptr;
    }
    o.redis.tls = {config.embedding_store_tls_ca, config.embedding_store_tls_cert, config.embedding_store_tls_key};
    o.redis.timeout = milliseconds(config.embedding_store_timeout_ms);
    o.ttl = std::chrono::seconds(config.embedding_ttl);
    o.lock_wait = milliseconds(static_cast<int64_t>(config.embedding_store_wait * 1000));
    return std::make_unique<EmbeddingStore>(std::move(o), model_key);
}

StoreStats EmbeddingStore::stats() const {
    StoreStats s;
    s.up = client_.up();
    s.hits = hits_;
    s.misses = misses_;
    s.waited = waited_;
    s.wait_timeouts = wait_timeouts_;
    s.corrupt = corrupt_;
    s.errors = client_.errors() + error_replies_;
    s.outages = client_.outages();
    s.writes = writes_;
    s.bytes_written = bytes_written_;
    s.writes_dropped = writes_dropped_;
    return s;
}

}  // namespace sam::server
