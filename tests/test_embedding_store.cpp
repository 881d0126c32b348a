// The shared embedding store with a real redis-server and several EmbeddingStore instances
// standing in for replicas (the processes themselves: test_server_replicas.cpp): a value one
// writes, another reads; one encoding for many concurrent misses; a failing encoder hands over;
// a stuck lock is waited out; corrupt values and other models' keys are never used; Redis down
// never fails a call.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <thread>

#include "models/embedding_codec.hpp"
#include "server/embedding_store.hpp"
#include "support/redis_process.hpp"
#include "support/wait.hpp"

namespace {

using sam::ImageEmbedding;
using sam::server::EmbeddingStore;
using sam::server::EmbeddingStoreOptions;

EmbeddingStoreOptions options_for(const samtest::RedisProcess& redis, int lock_wait_ms = 20000) {
    EmbeddingStoreOptions o;
    o.redis.endpoint = sam::server::parse_redis_url(redis.url());
    o.redis.timeout = std::chrono::milliseconds(2000);
    o.redis.backoff_min = std::chrono::milliseconds(50);
    o.redis.backoff_max = std::chrono::milliseconds(200);
    o.lock_wait = std::chrono::milliseconds(lock_wait_ms);
    return o;
}

const std::vector<uint8_t> kImage = {'J', 'P', 'E', 'G', 1, 2, 3, 4};

ImageEmbedding fake_embedding(float seed) {
    ImageEmbedding e;
    e.features = sam::Tensor::empty({4, 8, 8});
    for (int64_t i = 0; i < e.features.numel(); ++i) e.features.data[i] = seed + 0.001f * static_cast<float>(i);
    e.orig_w = 300;
    e.orig_h = 200;
    e.input_w = 1024;
    e.input_h = 683;
    return e;
}

// An encoder that counts its calls and takes its time, as a real one does.
struct CountingEncoder {
    std::atomic<int> calls{0};
    int ms = 0;
    float seed = 1;
    ImageEmbedding operator()() {
        calls++;
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        return fake_embedding(seed);
    }
    std::function<ImageEmbedding()> fn() {
        return [this] { return (*this)(); };
    }
};

using samtest::eventually;

bool same_values(const sam::Tensor& a, const sam::Tensor& b) {
    return a.shape == b.shape && std::memcmp(a.data, b.data, a.numel() * sizeof(float)) == 0;
}

TEST(EmbeddingStore, WhatOneReplicaEncodesAnotherReads) {
    samtest::RedisProcess redis;
    EmbeddingStore a(options_for(redis), "tinyvit:1"), b(options_for(redis), "tinyvit:1");
    CountingEncoder enc;
    auto first = a.get_or_encode(kImage, enc.fn());
    EXPECT_FALSE(first.from_store);
    ASSERT_TRUE(eventually([&] { return a.stats().writes == 1; }));
    EXPECT_GT(a.stats().bytes_written, 4 * 8 * 8 * 2);
    EXPECT_LT(a.stats().bytes_written, 4 * 8 * 8 * 4);  // float16

    auto second = b.get_or_encode(kImage, enc.fn());
    EXPECT_TRUE(second.from_store);
    EXPECT_EQ(enc.calls, 1);
    EXPECT_EQ(b.stats().hits, 1);
    // The encoding replica answers with the stored (rounded) values: both give the same masks.
    EXPECT_TRUE(same_values(first.embedding->features, second.embedding->features));
    EXPECT_EQ(second.embedding->orig_w, 300);
    EXPECT_EQ(second.embedding->input_h, 683);

    // The key is the model and the image bytes; a TTL is set (EMBEDDING_TTL, one day here).
    const std::string key = a.key_for(kImage);
    EXPECT_EQ(key.rfind("sam:emb:v1:tinyvit:1:", 0), 0u) << key;
    const int ttl = std::stoi(redis.cli({"TTL", key}));
    EXPECT_GT(ttl, 86000);
    EXPECT_LE(ttl, 86400);
    EXPECT_EQ(redis.cli({"EXISTS", key + ":lock"}), "0\n");  // released after the write
}

// The precision comes from the embedding (sam::storage_precision): a SAM 2 embedding (with its
// high-resolution maps) is stored in float32, and the encoding replica answers with exactly what
// the encoder gave, the value others read holding the same bits.
TEST(EmbeddingStore, Sam2EmbeddingsAreStoredInFloat32) {
    samtest::RedisProcess redis;
    EmbeddingStore a(options_for(redis), "sam2.1_hiera_tiny:1"), b(options_for(redis), "sam2.1_hiera_tiny:1");
    auto sam2 = [] {
        ImageEmbedding e = fake_embedding(1.0001f);
        e.high_res_0 = sam::Tensor::empty({2, 16, 16});
        e.high_res_1 = sam::Tensor::empty({4, 8, 8});
        for (sam::Tensor* t : {&e.high_res_0, &e.high_res_1})
            for (int64_t i = 0; i < t->numel(); ++i) t->data[i] = 0.1f + 1e-5f * static_cast<float>(i);  // not float16 values
        return e;
    };
    const ImageEmbedding encoded = sam2();
    auto first = a.get_or_encode(kImage, sam2);
    for (auto [got, want] : {std::pair{&first.embedding->features, &encoded.features},
                             {&first.embedding->high_res_0, &encoded.high_res_0}, {&first.embedding->high_res_1, &encoded.high_res_1}})
        EXPECT_TRUE(same_values(*got, *want));
    ASSERT_TRUE(eventually([&] { return a.stats().writes == 1; }));
    const int64_t values = encoded.features.numel() + encoded.high_res_0.numel() + encoded.high_res_1.numel();
    EXPECT_GT(a.stats().bytes_written, values * 4);
    EXPECT_LT(a.stats().bytes_written, values * 4 + 200);

    CountingEncoder enc;
    auto second = b.get_or_encode(kImage, enc.fn());
    ASSERT_TRUE(second.from_store);
    EXPECT_EQ(enc.calls, 0);
    EXPECT_TRUE(same_values(second.embedding->features, encoded.features));
    EXPECT_TRUE(same_values(second.embedding->high_res_0, encoded.high_res_0));
    EXPECT_TRUE(same_values(second.embedding->high_res_1, encoded.high_res_1));
}

TEST(EmbeddingStore, AnotherModelOrAnotherImageIsAnotherEntry) {
    samtest::RedisProcess redis;
    EmbeddingStore a(options_for(redis), "tinyvit:1"), other_model(options_for(redis), "tinyvit:2");
    CountingEncoder enc;
    a.get_or_encode(kImage, enc.fn());
    ASSERT_TRUE(eventually([&] { return a.stats().writes == 1; }));
    EXPECT_FALSE(other_model.get_or_encode(kImage, enc.fn()).from_store);
    std::vector<uint8_t> changed = kImage;
    changed.back() ^= 1;
    EXPECT_FALSE(a.get_or_encode(changed, enc.fn()).from_store);
    EXPECT_EQ(enc.calls, 3);
    ASSERT_TRUE(eventually([&] { return other_model.stats().writes == 1 && a.stats().writes == 2; }));
    EXPECT_EQ(redis.cli({"DBSIZE"}), "3\n");
}

TEST(EmbeddingStore, ConcurrentMissesOnThreeReplicasEncodeOnce) {
    samtest::RedisProcess redis;
    std::vector<std::unique_ptr<EmbeddingStore>> replicas;
    for (int i = 0; i < 3; ++i) replicas.push_back(std::make_unique<EmbeddingStore>(options_for(redis), "m:1"));
    CountingEncoder enc;
    enc.ms = 300;
    std::vector<std::future<sam::server::ComputedEmbedding>> calls;
    for (int i = 0; i < 30; ++i)
        calls.push_back(std::async(std::launch::async, [&, i] { return replicas[i % 3]->get_or_encode(kImage, enc.fn()); }));
    int from_store = 0;
    sam::server::EmbeddingPtr first;
    for (auto& c : calls) {
        auto got = c.get();
        from_store += got.from_store;
        if (!first) first = got.embedding;
        EXPECT_TRUE(same_values(first->features, got.embedding->features));
    }
    EXPECT_EQ(enc.calls, 1);
    EXPECT_EQ(from_store, 29);
    int64_t waited = 0;
    for (auto& r : replicas) waited += r->stats().waited;
    EXPECT_GT(waited, 0);
}

TEST(EmbeddingStore, AFailingEncoderHandsOverToAWaitingReplica) {
    samtest::RedisProcess redis;
    EmbeddingStore a(options_for(redis), "m:1"), b(options_for(redis), "m:1");
    std::atomic<bool> a_started{false};
    auto failing = [&]() -> ImageEmbedding {
        a_started = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        throw std::runtime_error("cannot decode");
    };
    auto fa = std::async(std::launch::async, [&] { return a.get_or_encode(kImage, failing); });
    ASSERT_TRUE(eventually([&] { return a_started.load(); }));
    CountingEncoder enc;
    auto got = b.get_or_encode(kImage, enc.fn());  // waits for a, which fails and lets the lock go
    EXPECT_THROW(fa.get(), std::runtime_error);
    EXPECT_FALSE(got.from_store);
    EXPECT_EQ(enc.calls, 1);
    EXPECT_EQ(b.stats().wait_timeouts, 0);
}

TEST(EmbeddingStore, AStuckLockIsWaitedOutThenEncodedHere) {
    samtest::RedisProcess redis;
    EmbeddingStore a(options_for(redis, 300), "m:1");
    // A replica that took the lock and died: the lock stays until its PX runs out.
    redis.cli({"SET", a.key_for(kImage) + ":lock", "dead-replica", "PX", "60000"});
    CountingEncoder enc;
    EXPECT_FALSE(a.get_or_encode(kImage, enc.fn()).from_store);
    EXPECT_EQ(enc.calls, 1);
    EXPECT_EQ(a.stats().wait_timeouts, 1);
    ASSERT_TRUE(eventually([&] { return a.stats().writes == 1; }));
    EXPECT_EQ(redis.cli({"GET", a.key_for(kImage) + ":lock"}), "dead-replica\n");  // not ours to delete
}

TEST(EmbeddingStore, ACorruptValueIsRefusedCountedAndReplaced) {
    samtest::RedisProcess redis;
    EmbeddingStore a(options_for(redis), "m:1");
    CountingEncoder enc;
    a.get_or_encode(kImage, enc.fn());
    ASSERT_TRUE(eventually([&] { return a.stats().writes == 1; }));
    const std::string key = a.key_for(kImage);
    // One byte of the data changed in place (SETRANGE keeps the TTL).
    redis.cli({"SETRANGE", key, "200", "X"});

    EmbeddingStore b(options_for(redis), "m:1");
    auto got = b.get_or_encode(kImage, enc.fn());
    EXPECT_FALSE(got.from_store);
    EXPECT_EQ(enc.calls, 2);
    EXPECT_EQ(b.stats().corrupt, 1);
    ASSERT_TRUE(eventually([&] { return b.stats().writes == 1; }));
    EmbeddingStore c(options_for(redis), "m:1");
    EXPECT_TRUE(c.get_or_encode(kImage, enc.fn()).from_store);  // replaced by a good value
    EXPECT_EQ(c.stats().corrupt, 0);

    // Not an embedding at all, or not a string: the same.
    redis.cli({"SET", key, "hello"});
    EmbeddingStore d(options_for(redis), "m:1");
    EXPECT_FALSE(d.get_or_encode(kImage, enc.fn()).from_store);
    EXPECT_EQ(d.stats().corrupt, 1);
}

TEST(EmbeddingStore, RedisDownNeverFailsACall) {
    samtest::RedisProcess redis;
    EmbeddingStore a(options_for(redis), "m:1");
    CountingEncoder enc;
    redis.kill();
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(a.get_or_encode(kImage, enc.fn()).from_store);
    EXPECT_EQ(enc.calls, 3);
    EXPECT_FALSE(a.stats().up);
    EXPECT_GE(a.stats().writes_dropped, 1);
    redis.start();
    ASSERT_TRUE(eventually([&] { return a.stats().up; }));
    a.get_or_encode(kImage, enc.fn());
    ASSERT_TRUE(eventually([&] { return a.stats().writes == 1; }));
    EmbeddingStore b(options_for(redis), "m:1");
    EXPECT_TRUE(b.get_or_encode(kImage, enc.fn()).from_store);
}

TEST(EmbeddingStore, QueuedWritesAreFinishedAtShutdown) {
    samtest::RedisProcess redis;
    CountingEncoder enc;
    std::vector<uint8_t> images[3] = {{1}, {2}, {3}};
    {
        EmbeddingStore a(options_for(redis), "m:1");
        for (auto& img : images) a.get_or_encode(img, enc.fn());
    }
    EXPECT_EQ(redis.cli({"DBSIZE"}), "3\n");
}

}  // namespace

namespace {

TEST(OpenEmbeddingStore, OnlyWithAUrlAndAModelIdentity) {
    sam::server::ServerConfig config;
    EXPECT_EQ(sam::server::open_embedding_store(config, "m:1"), nullptr);  // no EMBEDDING_STORE: memory only
    samtest::RedisProcess redis;
    config.embedding_store = redis.url();
    EXPECT_EQ(sam::server::open_embedding_store(config, ""), nullptr);  // nothing to key by: off, with a warning
    auto store = sam::server::open_embedding_store(config, "m:1");
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(store->stats().up);
    config.embedding_store = "redis//127.0.0.1";
    EXPECT_THROW(sam::server::open_embedding_store(config, "m:1"), std::invalid_argument);
}

}  // namespace
