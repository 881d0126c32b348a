// The server's building blocks without HTTP: embedding cache (LRU by count and bytes, errors,
// single flight), prefetcher (bounded, drops), configuration from the environment, metrics text.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <thread>

#include "server/config.hpp"
#include "server/embedding_cache.hpp"
#include "server/metrics.hpp"
#include "server/prefetcher.hpp"

using namespace sam::server;

namespace {

// An embedding of `floats` floats whose size records which image it was.
sam::ImageEmbedding fake(int64_t floats, int tag) {
    sam::ImageEmbedding e;
    e.features = sam::Tensor::zeros({floats});
    e.orig_w = tag;
    return e;
}

TEST(EmbeddingCache, EvictsLeastRecentlyUsedByCount) {
    EmbeddingCache cache(2, 1 << 20);
    int computed = 0;
    auto get = [&](const std::string& k, int tag) {
        return cache.get_or_compute(k, [&] { computed++; return fake(4, tag); });
    };
    EXPECT_FALSE(get("a", 1).hit);
    EXPECT_FALSE(get("b", 2).hit);
    EXPECT_TRUE(get("a", 0).hit);  // a is now the most recent
    EXPECT_FALSE(get("c", 3).hit); // evicts b
    EXPECT_TRUE(get("a", 0).hit);
    EXPECT_EQ(get("a", 0).embedding->orig_w, 1);
    EXPECT_FALSE(get("b", 2).hit);
    EXPECT_EQ(computed, 4);
    CacheStats s = cache.stats();
    EXPECT_EQ(s.entries, 2);
    EXPECT_EQ(s.evicted, 2);
    EXPECT_EQ(s.hits, 3);
    EXPECT_EQ(s.misses, 4);
    EXPECT_EQ(s.computed, 4);
    EXPECT_EQ(s.bytes, 2 * 4 * 4);
}

TEST(EmbeddingCache, EvictsByBytesButKeepsTheNewest) {
    EmbeddingCache cache(10, 100);  // 100 bytes: two 40-byte embeddings fit, three do not
    for (const char* k : {"a", "b", "c"}) cache.get_or_compute(k, [] { return fake(10, 0); });
    EXPECT_EQ(cache.stats().entries, 2);
    EXPECT_FALSE(cache.cached_or_computing("a"));
    EXPECT_TRUE(cache.cached_or_computing("c"));
    cache.get_or_compute("big", [] { return fake(1000, 0); });  // alone over the limit: kept alone
    EXPECT_EQ(cache.stats().entries, 1);
    EXPECT_EQ(cache.stats().bytes, 4000);
}

// A SAM 2 embedding is the 64x64 map and the two high-resolution maps: 16 MiB, all of it counted.
TEST(EmbeddingCache, CountsSam2HighResolutionMaps) {
    auto sam2 = [] {
        sam::ImageEmbedding e;
        e.features = sam::Tensor::zeros({256, 64, 64});
        e.high_res_0 = sam::Tensor::zeros({32, 256, 256});
        e.high_res_1 = sam::Tensor::zeros({64, 128, 128});
        return e;
    };
    EXPECT_EQ(sam2().bytes(), size_t(16) << 20);
    EmbeddingCache cache(10, size_t(40) << 20);  // CACHE_MAX_MB=40: two fit, not three
    for (const char* k : {"a", "b", "c"}) cache.get_or_compute(k, sam2);
    EXPECT_EQ(cache.stats().entries, 2);
    EXPECT_EQ(cache.stats().bytes, int64_t(32) << 20);
    EXPECT_FALSE(cache.cached_or_computing("a"));
}

TEST(EmbeddingCache, ErrorsReachEveryWaiterAndAreNotCached) {
    EmbeddingCache cache(4, 1 << 20);
    std::atomic<int> calls{0};
    auto failing = [&] {
        calls++;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        throw std::runtime_error("cannot decode");
        return fake(1, 0);
    };
    std::vector<std::future<std::string>> f;
    for (int i = 0; i < 4; ++i)
        f.push_back(std::async(std::launch::async, [&] {
            try {
                cache.get_or_compute("x", failing);
            } catch (const std::runtime_error& e) {
                return std::string(e.what());
            }
            return std::string("no error");
        }));
    for (auto& x : f) EXPECT_EQ(x.get(), "cannot decode");
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(cache.stats().failed, 1);
    EXPECT_FALSE(cache.get_or_compute("x", [] { return fake(1, 5); }).hit);  // retried, not cached
}

TEST(EmbeddingCache, SingleFlight) {
    EmbeddingCache cache(4, 1 << 20);
    std::atomic<int> calls{0};
    std::vector<std::future<int>> f;
    for (int i = 0; i < 8; ++i)
        f.push_back(std::async(std::launch::async, [&] {
            return cache.get_or_compute("img", [&] {
                calls++;
                std::this_thread::sleep_for(std::chrono::milliseconds(150));
                return fake(8, 42);
            }).embedding->orig_w;
        }));
    for (auto& x : f) EXPECT_EQ(x.get(), 42);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(cache.stats().computed, 1);
}

TEST(Prefetcher, RunsJobsAndDropsWhenFull) {
    Prefetcher p(2);
    std::promise<void> started, release;
    std::shared_future<void> gate = release.get_future().share();
    std::atomic<int> ran{0};
    ASSERT_TRUE(p.submit("busy", [&] { started.set_value(); gate.wait(); ran++; }));
    started.get_future().wait();  // the worker holds "busy": the queue is empty again
    EXPECT_TRUE(p.submit("b", [&] { ran++; }));
    EXPECT_FALSE(p.submit("b", [&] { ran++; }));  // already waiting
    EXPECT_TRUE(p.submit("c", [&] { ran++; }));
    EXPECT_FALSE(p.submit("d", [&] { ran++; }));  // full
    EXPECT_EQ(p.queued(), 3);
    EXPECT_EQ(p.dropped(), 2);
    release.set_value();
    for (int i = 0; i < 400 && ran < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(ran, 3);
}

TEST(ServerConfig, ReadsEnvironmentAndRefusesBadValues) {
    setenv("PORT", "9191", 1);
    setenv("LABEL_STUDIO_HOST", "http://old:8080", 1);
    setenv("LABEL_STUDIO_URL", "http://ls:8080", 1);
    setenv("LABEL_STUDIO_ACCESS_TOKEN", "tok", 1);
    setenv("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", "/data", 1);
    setenv("VERIFY_SSL", "false", 1);
    setenv("CACHE_SIZE", "3", 1);
    setenv("MODEL_DIR", "/m", 1);
    ServerConfig c = config_from_env();
    apply_model_defaults(c);
    EXPECT_EQ(c.port, 9191);
    EXPECT_EQ(c.label_studio_url, "http://ls:8080");  // LABEL_STUDIO_URL wins over the older name
    EXPECT_EQ(c.label_studio_api_key, "tok");
    EXPECT_EQ(c.document_root, "/data");
    EXPECT_FALSE(c.verify_ssl);
    EXPECT_EQ(c.cache_size, 3);
    EXPECT_EQ(c.model.mobilesam_checkpoint, "/m/mobile_sam.pt");
    EXPECT_EQ(c.model.vith_checkpoint, "/m/sam_vit_h_4b8939.pth");
    setenv("CACHE_SIZE", "many", 1);
    try {
        config_from_env();
        ADD_FAILURE() << "CACHE_SIZE=many accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("CACHE_SIZE"), std::string::npos) << e.what();
    }
    setenv("CACHE_SIZE", "3", 1);
    setenv("VERIFY_SSL", "maybe", 1);
    EXPECT_THROW(config_from_env(), std::invalid_argument);
    for (const char* k : {"PORT", "LABEL_STUDIO_HOST", "LABEL_STUDIO_URL", "LABEL_STUDIO_ACCESS_TOKEN",
                          "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", "VERIFY_SSL", "CACHE_SIZE", "MODEL_DIR"})
        unsetenv(k);
}

// SAM 2: SAM2_CHECKPOINT, or Label Studio's SAM 2 backend's MODEL_CHECKPOINT (a file name under
// MODEL_DIR or a path; alone it selects SAM 2) and MODEL_CONFIG (kept for the size check).
TEST(ServerConfig, Sam2Variables) {
    setenv("MODEL_DIR", "/m", 1);
    ServerConfig c = config_from_env();
    apply_model_defaults(c);
    EXPECT_EQ(c.model.sam_choice, "MobileSAM");
    EXPECT_EQ(c.model.sam2_checkpoint, "/m/sam2.1_hiera_tiny.pt");

    setenv("MODEL_CHECKPOINT", "sam2.1_hiera_small.pt", 1);
    setenv("MODEL_CONFIG", "configs/sam2.1/sam2.1_hiera_s.yaml", 1);
    c = config_from_env();
    apply_model_defaults(c);
    EXPECT_EQ(c.model.sam_choice, "SAM2");
    EXPECT_EQ(c.model.sam2_checkpoint, "/m/sam2.1_hiera_small.pt");
    EXPECT_EQ(c.model.sam2_config, "configs/sam2.1/sam2.1_hiera_s.yaml");

    setenv("MODEL_CHECKPOINT", "/ckpt/sam2.1_hiera_large.pt", 1);
    c = config_from_env();
    apply_model_defaults(c);
    EXPECT_EQ(c.model.sam2_checkpoint, "/ckpt/sam2.1_hiera_large.pt");

    setenv("SAM2_CHECKPOINT", "/x/base.pt", 1);  // our own name wins
    setenv("SAM_CHOICE", "MobileSAM", 1);        // and an explicit choice stays
    c = config_from_env();
    apply_model_defaults(c);
    EXPECT_EQ(c.model.sam2_checkpoint, "/x/base.pt");
    EXPECT_EQ(c.model.sam_choice, "MobileSAM");
    for (const char* k : {"MODEL_DIR", "MODEL_CHECKPOINT", "MODEL_CONFIG", "SAM2_CHECKPOINT", "SAM_CHOICE"}) unsetenv(k);

    EXPECT_EQ(sam::sam2_config_size("configs/sam2.1/sam2.1_hiera_l.yaml"), "large");
    EXPECT_EQ(sam::sam2_config_size("sam2_hiera_t.yaml"), "tiny");
    EXPECT_EQ(sam::sam2_config_size("configs/sam2.1/sam2.1_hiera_b+.yaml"), "base_plus");
    EXPECT_EQ(sam::sam2_config_size("sam2.1_hiera_s"), "small");
    EXPECT_EQ(sam::sam2_config_size("my_model.yaml"), "");
}

TEST(Metrics, PrometheusText) {
    Metrics m;
    m.observe("/predict", 200, 0.004);
    m.observe("/predict", 200, 0.3);
    m.observe("/predict", 422, 0.02);
    CacheStats cs;
    cs.hits = 5, cs.misses = 2, cs.computed = 2, cs.entries = 2, cs.bytes = 8 << 20;
    std::string t = m.render(cs, PrefetchStats{3, 1});
    for (const char* line : {
             "sam_requests_total{route=\"/predict\",status=\"200\"} 2\n",
             "sam_requests_total{route=\"/predict\",status=\"422\"} 1\n",
             "sam_request_duration_seconds_bucket{route=\"/predict\",le=\"0.005\"} 1\n",
             "sam_request_duration_seconds_bucket{route=\"/predict\",le=\"0.025\"} 2\n",
             "sam_request_duration_seconds_bucket{route=\"/predict\",le=\"0.25\"} 2\n",
             "sam_request_duration_seconds_bucket{route=\"/predict\",le=\"0.5\"} 3\n",
             "sam_request_duration_seconds_bucket{route=\"/predict\",le=\"+Inf\"} 3\n",
             "sam_request_duration_seconds_count{route=\"/predict\"} 3\n",
             "sam_embedding_cache_hits_total 5\n", "sam_embedding_cache_misses_total 2\n",
             "sam_embeddings_computed_total 2\n", "sam_embedding_cache_bytes 8388608\n",
             "sam_prefetch_queued_total 3\n", "sam_prefetch_dropped_total 1\n"})
        EXPECT_NE(t.find(line), std::string::npos) << line << "\n" << t;
}

}  // namespace
