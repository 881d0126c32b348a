// Two real sam-ml-backend replicas sharing embeddings through a real redis-server (started
// here on a free port, temp dir, no persistence), MobileSAM, 1920x1080 local-storage PNGs.
// For each of 20 new images, in interleaved rounds:
//   replica_click_encode      the first click, on replica A: fetch, hash, Redis miss, encode, click
//   replica_click_redis_hit   then a click on replica B: fetch, hash, GET (2 MB float16), decode, click
//   replica_click_memory_hit  then again on B: the in-memory cache
//   replica_redis_hit_extra   per image, the Redis hit minus the memory hit (target: under 10 ms)
// and the Redis level alone, in this process (no HTTP, no decoder: what a hit adds to a click):
//   store_image_hash          SHA-256 of a 1920x1080 PNG's bytes (the key)
//   store_hit                 hash + GET of a MobileSAM-sized value (2 MB float16) + decode
// Usage: bench_replicas. SAM_BACKEND_BIN and MOBILESAM_CHECKPOINT as for bench_startup.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "server/embedding_store.hpp"
#include "server/image_fetcher.hpp"
#include "server_process.hpp"
#include "support/answers.hpp"
#include "support/redis_process.hpp"

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double metric(int port, const std::string& name) {
    httplib::Client c("127.0.0.1", port);
    auto res = c.Get("/metrics");
    return res ? samtest::metric(res->body, name) : -1;
}

double timed_click(int port, const std::string& file) {
    const auto t0 = Clock::now();
    sambench::click(port, file, 120);
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

void wait_stored(int port, double writes) {
    for (int i = 0; i < 2000 && metric(port, "sam_embedding_store_writes_total") < writes; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

using sambench::figures;

}  // namespace

int main() {
    const fs::path root = fs::temp_directory_path() / ("sam_bench_replicas_" + std::to_string(getpid()));
    fs::create_directories(root);
    const int rounds = 20;
    for (int i = 0; i <= rounds; ++i) sambench::write_image((root / ("img" + std::to_string(i) + ".png")).string(), i);
    {
        samtest::RedisProcess redis;
        const char* ck = std::getenv("MOBILESAM_CHECKPOINT");
        const std::map<std::string, std::string> env = {
            {"MOBILESAM_CHECKPOINT", ck ? ck : SAM_SOURCE_DIR "/../shared/golden/checkpoints/mobile_sam_random.pt"},
            {"LOCAL_FILES_DOCUMENT_ROOT", root.string()},
            {"EMBEDDING_STORE", redis.url()},
            {"CACHE_SIZE", "32"}};
        const auto replica_a = sambench::start_server(env, 60), replica_b = sambench::start_server(env, 60);
        const int a = replica_a->port(), b = replica_b->port();
        // Warm-up: first connections, primitives created, allocator settled.
        timed_click(a, "img" + std::to_string(rounds) + ".png");
        wait_stored(a, 1);
        timed_click(b, "img" + std::to_string(rounds) + ".png");

        std::vector<double> encode, redis_hit, memory_hit, extra;
        for (int i = 0; i < rounds; ++i) {
            const std::string file = "img" + std::to_string(i) + ".png";
            encode.push_back(timed_click(a, file));
            wait_stored(a, i + 2);
            redis_hit.push_back(timed_click(b, file));
            memory_hit.push_back(timed_click(b, file));
            extra.push_back(redis_hit.back() - memory_hit.back());
        }
        if (metric(b, "sam_embeddings_computed_total") != 0 ||
            metric(b, "sam_embedding_store_hits_total") != rounds + 1)
            throw std::runtime_error("replica B encoded instead of reading Redis; log:\n" + replica_b->log());
        const std::string ctx = "\"image\": \"1920x1080 png\", \"model\": \"MobileSAM\"";
        sambench::print_json("replica_click_encode", figures(encode), ctx);
        sambench::print_json("replica_click_redis_hit", figures(redis_hit), ctx);
        sambench::print_json("replica_click_memory_hit", figures(memory_hit), ctx);
        sambench::print_json("replica_redis_hit_extra", figures(extra), ctx + ", \"target\": 0.010");

        sam::server::EmbeddingStoreOptions o;
        o.redis.endpoint = sam::server::parse_redis_url(redis.url());
        o.redis.timeout = std::chrono::milliseconds(1000);
        sam::server::EmbeddingStore writer(o, "bench:1"), reader(o, "bench:1");
        const std::vector<uint8_t> bytes = sam::server::read_local_file((root / "img0.png").string(), 1 << 30);
        auto fake_encode = [] {
            sam::ImageEmbedding e;
            e.features = sam::Tensor::empty({256, 64, 64});
            for (int64_t i = 0; i < e.features.numel(); ++i) e.features.data[i] = float(i % 977) * 0.01f - 4;
            e.orig_w = 1920, e.orig_h = 1080, e.input_w = 1024, e.input_h = 576;
            return e;
        };
        writer.get_or_encode(bytes, fake_encode);
        for (int i = 0; i < 1000 && writer.stats().writes < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        const std::string png = "\"image\": \"1920x1080 png, " + std::to_string(bytes.size()) + " bytes\"";
        sambench::print_json("store_image_hash", sambench::time_runs(rounds, [&] { reader.key_for(bytes); }), png);
        sambench::print_json("store_hit", sambench::time_runs(rounds, [&] {
                                 if (!reader.get_or_encode(bytes, fake_encode).from_store)
                                     throw std::runtime_error("store_hit: not a hit");
                             }),
                             png + ", \"value\": \"256x64x64 float16\"");
    }
    fs::remove_all(root);
    return 0;
}
