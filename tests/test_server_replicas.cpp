// Several real sam-ml-backend processes sharing embeddings through a real redis-server, as
// replicas behind a load balancer: a click on B after a prefetch on A is a Redis hit with A's
// mask; 30 concurrent first clicks over three replicas encode once; Redis killed and restarted
// under load never fails a predict and is used again; a corrupt value is replaced; replicas of
// two different checkpoints never read each other's entries.
#include <gtest/gtest.h>
#include <httplib.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "io/zip_archive.hpp"
#include "support/answers.hpp"
#include "support/golden.hpp"
#include "support/redis_process.hpp"
#include "support/wait.hpp"
#include "support/server_process.hpp"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Image {
    std::string name;
    int width, height;
};
const Image kPhoto{"photo.jpg", 769, 770}, kRotated{"exif_rotated.jpg", 480, 640}, kRgba{"rgba_odd.png", 333, 517},
    kGray{"gray_wide.png", 800, 200}, kTiny{"tiny.png", 17, 9};

// A Label Studio request for a task showing `image` (from the golden images folder, the
// document root): with a click in its middle, or none (the task was opened: prefetch).
json request_for(const Image& image, bool click) {
    static const json fixture = samtest::load_json(samtest::golden("labelstudio/fixtures.json"))["predict"][0]["request"];
    json r = fixture;
    r["tasks"][0]["data"]["image"] = "/data/local-files/?d=images/" + image.name;
    if (!click) {
        r.erase("params");
        return r;
    }
    json& region = r["params"]["context"]["result"][0];
    region["original_width"] = image.width;
    region["original_height"] = image.height;
    region["value"]["x"] = 50.0;
    region["value"]["y"] = 50.0;
    return r;
}

using samtest::metric;

using samtest::eventually;

samtest::ServerProcess::Env mobile_sam(const std::string& checkpoint = samtest::golden("checkpoints/mobile_sam_random.pt")) {
    return {{"MOBILESAM_CHECKPOINT", checkpoint}};
}

class Replica {
public:
    // `model`: the model's variables (MobileSAM on the golden checkpoint by default).
    explicit Replica(const samtest::RedisProcess& redis, samtest::ServerProcess::Env model = mobile_sam())
        : process_(with_store(std::move(model), redis)) {
        if (!process_.wait_ready(60)) throw std::runtime_error("replica did not start:\n" + process_.log());
    }
    // The brush RLE of the answer, or the status and body when it is not a 200 with a region.
    std::string predict(const json& request) const {
        httplib::Client client("127.0.0.1", process_.port());
        client.set_read_timeout(120);
        auto res = client.Post("/predict", request.dump(), "application/json");
        if (!res) return "no answer";
        if (res->status != 200) return "HTTP " + std::to_string(res->status) + ": " + res->body;
        json body = json::parse(res->body);
        if (body["results"].empty()) return "[]";
        return body["results"][0]["result"][0]["value"]["rle"].dump();
    }
    double metric(const std::string& name) const {
        httplib::Client client("127.0.0.1", process_.port());
        auto res = client.Get("/metrics");
        return res && res->status == 200 ? samtest::metric(res->body, name) : -1;
    }
    std::string log() const { return process_.log(); }

private:
    static samtest::ServerProcess::Env with_store(samtest::ServerProcess::Env env, const samtest::RedisProcess& redis) {
        env.insert(env.end(), {{"LOCAL_FILES_DOCUMENT_ROOT", samtest::golden("")},
                               {"EMBEDDING_STORE", redis.url()},
                               // Generous: this test is about sharing, not about a loaded machine's hiccups.
                               {"EMBEDDING_STORE_TIMEOUT_MS", "2000"}});
        return env;
    }
    samtest::ServerProcess process_;
};

bool is_mask(const std::string& answer) { return answer.starts_with("["); }

TEST(Replicas, AClickOnBAfterAPrefetchOnAIsARedisHitWithTheSameMask) {
    samtest::RedisProcess redis;
    Replica a(redis), b(redis);
    EXPECT_EQ(a.predict(request_for(kPhoto, false)), "[]");  // task opened on A: A encodes in the background
    ASSERT_TRUE(eventually([&] { return a.metric("sam_embedding_store_writes_total") == 1; })) << a.log();
    EXPECT_EQ(a.metric("sam_embeddings_computed_total"), 1);

    const std::string on_b = b.predict(request_for(kPhoto, true));
    ASSERT_TRUE(is_mask(on_b)) << on_b;
    EXPECT_EQ(b.metric("sam_embeddings_computed_total"), 0) << b.log();
    EXPECT_EQ(b.metric("sam_embedding_store_hits_total"), 1);
    EXPECT_EQ(b.metric("sam_embedding_store_up"), 1);
    EXPECT_EQ(on_b, a.predict(request_for(kPhoto, true)));  // A answers from memory: the same mask
    EXPECT_EQ(a.metric("sam_embedding_cache_hits_total"), 1);
    EXPECT_GT(a.metric("sam_embedding_store_bytes_written_total"), 2'000'000);  // float16: 2 MB, not 4
    EXPECT_LT(a.metric("sam_embedding_store_bytes_written_total"), 2'200'000);
}

// The same with SAM 2.1: its embedding (the 64x64 map and both high-resolution maps) goes
// through Redis in float32 (sam::storage_precision), so B's mask is A's exactly.
TEST(Replicas, Sam2AClickOnBAfterAPrefetchOnAIsARedisHitWithTheSameMask) {
    samtest::RedisProcess redis;
    const samtest::ServerProcess::Env sam2 = {{"SAM_CHOICE", "SAM2"},
                                              {"SAM2_CHECKPOINT", samtest::golden("checkpoints/sam2.1_hiera_tiny_random.pt")}};
    Replica a(redis, sam2), b(redis, sam2);
    EXPECT_EQ(a.predict(request_for(kPhoto, false)), "[]");
    ASSERT_TRUE(eventually([&] { return a.metric("sam_embedding_store_writes_total") == 1; }, 120)) << a.log();
    const double values = 256 * 64 * 64 + 32 * 256 * 256 + 64 * 128 * 128;
    EXPECT_GT(a.metric("sam_embedding_store_bytes_written_total"), values * 4);
    EXPECT_LT(a.metric("sam_embedding_store_bytes_written_total"), values * 4 + 1000);
    EXPECT_NE(redis.cli({"KEYS", "sam:emb:v1:sam2.1_hiera_tiny:*"}), "\n");

    const std::string on_b = b.predict(request_for(kPhoto, true));
    ASSERT_TRUE(is_mask(on_b)) << on_b;
    EXPECT_EQ(b.metric("sam_embeddings_computed_total"), 0) << b.log();
    EXPECT_EQ(b.metric("sam_embedding_store_hits_total"), 1);
    EXPECT_EQ(b.metric("sam_embedding_cache_bytes"), values * 4);  // what CACHE_MAX_MB counts
    EXPECT_EQ(on_b, a.predict(request_for(kPhoto, true)));
    EXPECT_EQ(a.metric("sam_embedding_cache_hits_total"), 1);
}

TEST(Replicas, ThirtyConcurrentFirstClicksOnThreeReplicasEncodeOnce) {
    samtest::RedisProcess redis;
    std::vector<std::unique_ptr<Replica>> replicas;
    for (int i = 0; i < 3; ++i) replicas.push_back(std::make_unique<Replica>(redis));
    std::vector<std::future<std::string>> clicks;
    for (int i = 0; i < 30; ++i)
        clicks.push_back(std::async(std::launch::async, [&, i] { return replicas[i % 3]->predict(request_for(kRotated, true)); }));
    std::map<std::string, std::vector<int>> answers;  // mask -> clicks that got it
    for (size_t i = 0; i < clicks.size(); ++i) {
        const std::string answer = clicks[i].get();
        ASSERT_TRUE(is_mask(answer)) << answer;
        answers[answer].push_back(static_cast<int>(i));
    }
    for (const auto& [mask, who] : answers) {
        std::string list;
        for (int i : who) list += " " + std::to_string(i) + "@" + std::to_string(i % 3);
        std::printf("mask %zu bytes, %zu clicks:%s\n", mask.size(), who.size(), list.c_str());
    }
    EXPECT_EQ(answers.size(), 1u);
    double encoded = 0, from_redis = 0;
    for (auto& r : replicas) {
        encoded += r->metric("sam_embeddings_computed_total");
        from_redis += r->metric("sam_embedding_store_hits_total");
    }
    EXPECT_EQ(encoded, 1);
    EXPECT_EQ(from_redis, 2);  // each other replica loaded it once; its own clicks waited in memory
}

TEST(Replicas, RedisKilledUnderLoadNeverFailsAPredictAndIsUsedAgainWhenBack) {
    samtest::RedisProcess redis;
    Replica a(redis), b(redis);
    ASSERT_TRUE(is_mask(a.predict(request_for(kPhoto, true))));

    // Clicks on both replicas all along.
    std::atomic<bool> stop{false};
    std::atomic<int> answered{0};
    std::vector<std::string> failures;
    std::thread load([&] {
        for (int i = 0; !stop; ++i) {
            const std::string answer = (i % 2 ? a : b).predict(request_for(kPhoto, true));
            if (!is_mask(answer)) failures.push_back(answer);
            answered++;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));  // an annotator, not a benchmark
        }
    });
    ASSERT_TRUE(eventually([&] { return answered >= 4; }));
    redis.kill();
    // A new image needs the store: both replicas find it gone, encode, and answer.
    for (const Replica* r : {&a, &b}) {
        const std::string answer = r->predict(request_for(kRgba, true));
        EXPECT_TRUE(is_mask(answer)) << answer;
        EXPECT_EQ(r->metric("sam_embedding_store_up"), 0);
    }
    const int before = answered;
    ASSERT_TRUE(eventually([&] { return answered >= before + 4; }));
    redis.start();  // empty: nothing was persisted
    ASSERT_TRUE(eventually([&] { return a.metric("sam_embedding_store_up") == 1 && b.metric("sam_embedding_store_up") == 1; }))
        << a.log() << b.log();
    stop = true;
    load.join();
    EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
    EXPECT_GE(a.metric("sam_embedding_store_outages_total"), 1);

    // Shared again: a new image encoded on A is a Redis hit on B.
    ASSERT_TRUE(is_mask(a.predict(request_for(kTiny, true))));
    ASSERT_TRUE(eventually([&] { return std::stoi(redis.cli({"DBSIZE"})) >= 1; }));
    const double hits = b.metric("sam_embedding_store_hits_total"), encoded = b.metric("sam_embeddings_computed_total");
    ASSERT_TRUE(is_mask(b.predict(request_for(kTiny, true))));
    EXPECT_EQ(b.metric("sam_embedding_store_hits_total"), hits + 1);
    EXPECT_EQ(b.metric("sam_embeddings_computed_total"), encoded);
    // Exactly one warning per outage in each log.
    std::string log = a.log();
    size_t warnings = 0;
    for (size_t at = log.find("unavailable:"); at != std::string::npos; at = log.find("unavailable:", at + 1)) warnings++;
    EXPECT_EQ(warnings, static_cast<size_t>(a.metric("sam_embedding_store_outages_total"))) << log;
}

std::string only_value_key(const samtest::RedisProcess& redis) {
    std::string keys = redis.cli({"KEYS", "sam:emb:v1:*"});
    if (keys.find('\n') != keys.size() - 1) throw std::runtime_error("expected one key, got: " + keys);
    return keys.substr(0, keys.size() - 1);
}

TEST(Replicas, ACorruptValueIsDetectedAndReplaced) {
    samtest::RedisProcess redis;
    Replica a(redis);
    ASSERT_TRUE(is_mask(a.predict(request_for(kGray, true))));
    ASSERT_TRUE(eventually([&] { return a.metric("sam_embedding_store_writes_total") == 1; }));
    const std::string key = only_value_key(redis);
    redis.cli({"SETRANGE", key, "100000", "garbage"});

    Replica b(redis);
    const std::string answer = b.predict(request_for(kGray, true));
    ASSERT_TRUE(is_mask(answer)) << answer;
    EXPECT_EQ(b.metric("sam_embedding_store_corrupt_total"), 1);
    EXPECT_EQ(b.metric("sam_embedding_store_hits_total"), 0);
    EXPECT_EQ(b.metric("sam_embeddings_computed_total"), 1);
    ASSERT_TRUE(eventually([&] { return b.metric("sam_embedding_store_writes_total") == 1; }));

    Replica c(redis);
    EXPECT_EQ(c.predict(request_for(kGray, true)), answer);
    EXPECT_EQ(c.metric("sam_embedding_store_hits_total"), 1);
    EXPECT_EQ(c.metric("sam_embedding_store_corrupt_total"), 0);
}

// A copy of the MobileSAM checkpoint with the lowest bit of one weight flipped, its CRC-32 in the
// central directory fixed up: the same architecture and file layout, other weights.
std::string checkpoint_with_other_weights(const std::string& dir) {
    const std::string src = samtest::golden("checkpoints/mobile_sam_random.pt");
    std::string bytes = samtest::read_file(src);
    const sam::io::ZipArchive zip = sam::io::ZipArchive::open(src);
    const sam::io::ZipArchive::Entry* entry = nullptr;
    for (const auto& e : zip.entries())
        if (e.name.find("/data/") != std::string::npos && e.size >= 4096) {
            entry = &e;
            break;
        }
    if (!entry) throw std::runtime_error("no tensor storage in " + src);
    bytes[entry->data_offset + 1024] ^= 1;
    const uint32_t crc = static_cast<uint32_t>(
        crc32_z(0, reinterpret_cast<const Bytef*>(bytes.data() + entry->data_offset), entry->size));
    // Its central directory header: the CRC at offset 16, the name at 46.
    const size_t header = bytes.rfind(entry->name) - 46;
    if (std::memcmp(bytes.data() + header, "PK\x01\x02", 4) != 0) throw std::runtime_error("central header not found");
    std::memcpy(&bytes[header + 16], &crc, 4);
    const std::string path = dir + "/mobile_sam_other.pt";
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path;
}

TEST(Replicas, TwoCheckpointsNeverReadEachOthersEntries) {
    samtest::RedisProcess redis;
    Replica a(redis), other(redis, mobile_sam(checkpoint_with_other_weights(redis.dir())));
    ASSERT_TRUE(is_mask(a.predict(request_for(kPhoto, true))));
    ASSERT_TRUE(eventually([&] { return a.metric("sam_embedding_store_writes_total") == 1; }));
    ASSERT_TRUE(is_mask(other.predict(request_for(kPhoto, true))));
    EXPECT_EQ(other.metric("sam_embedding_store_hits_total"), 0);
    EXPECT_EQ(other.metric("sam_embeddings_computed_total"), 1);
    ASSERT_TRUE(eventually([&] { return other.metric("sam_embedding_store_writes_total") == 1; }));
    // Two entries for one image, under two model keys of the same architecture.
    std::string keys = redis.cli({"KEYS", "sam:emb:v1:*"});
    EXPECT_EQ(std::count(keys.begin(), keys.end(), '\n'), 2) << keys;
    EXPECT_EQ(std::count(keys.begin(), keys.end(), 't'), std::count(keys.begin(), keys.end(), 't')) << keys;
    EXPECT_NE(keys.find("sam:emb:v1:mobile_sam:"), std::string::npos) << keys;
}

TEST(Replicas, NoIdentityOrBadUrlSaySo) {
    samtest::ServerProcess bad({{"MOBILESAM_CHECKPOINT", samtest::golden("checkpoints/mobile_sam_random.pt")},
                                {"EMBEDDING_STORE", "http://127.0.0.1:6379"}});
    EXPECT_NE(bad.wait_exit(30), 0);
    EXPECT_NE(bad.log().find("redis://"), std::string::npos) << bad.log();
}

}  // namespace
