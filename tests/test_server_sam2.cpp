// SAM 2.1 through the server paths the other models take (issue 14): the real binary with
// SAM_CHOICE=SAM2 on the golden checkpoint, one encoding of the photo for everything (a SAM 2
// encode costs seconds): prewarm, then every click a cache hit of the embedding's full size;
// every output tag agreeing with the brush answer; refinement with the previous mask. And, in
// process on the reference's own maps, what the refinement path feeds the decoder: the previous
// answer's logits, as the reference feeds its (clamped) low-res output back.
// Fixtures' brush masks: test_server_e2e.cpp; two replicas through Redis: test_server_replicas.cpp.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include "io/checkpoint.hpp"
#include "models/sam2_decoder.hpp"
#include "server/http_server.hpp"
#include "support/answers.hpp"
#include "support/golden.hpp"
#include "support/server_process.hpp"
#include "support/wait.hpp"

using nlohmann::json;

namespace {

const std::string kCheckpoint = "checkpoints/sam2.1_hiera_tiny_random.pt";
// Values of a SAM 2 embedding: the 64x64 map and the two high-resolution maps.
constexpr double kEmbeddingValues = 256 * 64 * 64 + 32 * 256 * 256 + 64 * 128 * 128;

class Sam2Server : public ::testing::Test {
protected:
    void SetUp() override {
        if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
        fixtures_ = samtest::load_json(samtest::golden("labelstudio/fixtures.json"));
        server_ = std::make_unique<samtest::ServerProcess>(samtest::ServerProcess::Env{
            {"SAM_CHOICE", "SAM2"},
            {"SAM2_CHECKPOINT", samtest::golden(kCheckpoint)},
            {"LOCAL_FILES_DOCUMENT_ROOT", samtest::golden("")},
            {"LOG_LEVEL", "debug"}});
        ASSERT_TRUE(server_->wait_ready(60)) << server_->log();
        client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
        client_->set_read_timeout(120);
    }
    json predict(const json& request) { return samtest::post_predict(*client_, request); }
    double metric(const std::string& name) { return samtest::metric(client_->Get("/metrics")->body, name); }

    json fixtures_;
    std::unique_ptr<samtest::ServerProcess> server_;
    std::unique_ptr<httplib::Client> client_;
};

TEST_F(Sam2Server, PrewarmThenEveryOutputTagAndRefinementOnOneEncoding) {
    std::vector<json> photo;  // the photo's click fixtures
    for (const json& fx : fixtures_["predict_sam2"])
        if (fx["request"]["tasks"][0]["data"]["image"].get<std::string>().ends_with("photo.jpg")) photo.push_back(fx);
    ASSERT_EQ(photo.size(), 4u);

    // Prewarm: acknowledged at once, embedded in the background, then a cache entry of the
    // SAM 2 embedding's full size (what CACHE_MAX_MB counts).
    json prewarm = photo[0]["request"];
    prewarm["params"]["context"] = {{"event", "prewarm"}};
    json ack = predict(prewarm)["results"][0]["result"][0];
    EXPECT_EQ(ack["type"], "prewarm_ack");
    EXPECT_EQ(ack["value"], json({{"status", "ok"}, {"cached", json::array()}, {"pending", {0}}}));
    ASSERT_TRUE(samtest::eventually([&] { return metric("sam_embeddings_computed_total") == 1; }, 120)) << server_->log();
    EXPECT_EQ(metric("sam_embedding_cache_bytes"), kEmbeddingValues * 4);

    // Every prompt mix of the photo, answered into each output tag: all cache hits.
    int checked = 0, clicks = 0;
    auto counted = [&](const json& r) {
        clicks++;
        return predict(r);
    };
    for (const json& fx : photo) checked += samtest::expect_output_tags_agree(fx["request"], counted, fx["name"]);
    EXPECT_EQ(checked, 4 * 4);
    EXPECT_EQ(metric("sam_embedding_cache_hits_total"), clicks);
    EXPECT_EQ(metric("sam_embedding_cache_misses_total"), 1);  // the prewarm's own
    EXPECT_EQ(metric("sam_embeddings_computed_total"), 1);

    // A second click extending the first is refined with the first answer's logits; the same
    // two clicks on a task without a previous answer are not, and give another mask.
    const json first = photo[0]["request"], second = samtest::two_clicks(first);
    json elsewhere = second;
    elsewhere["tasks"][0]["id"] = 999;
    predict(first);
    const json refined = samtest::without_ids(predict(second));
    ASSERT_NE(server_->log().find("refining the previous answer"), std::string::npos) << server_->log();
    const json fresh = samtest::without_ids(predict(elsewhere));
    ASSERT_EQ(refined["results"][0]["result"].size(), 1u) << refined.dump().substr(0, 300);
    EXPECT_NE(refined["results"][0]["result"][0]["value"]["rle"], fresh["results"][0]["result"][0]["value"]["rle"]);
    EXPECT_NE(refined["results"][0]["score"], fresh["results"][0]["score"]);
    // The same prompt again does not extend the previous one: fresh, as on the other task.
    EXPECT_EQ(samtest::without_ids(predict(second))["results"][0]["result"], fresh["results"][0]["result"]);
}

// Sam2Decoder on the reference's maps of the photo (the embedding this segmenter "computes"),
// recording every prompt it is given and every prediction it answers.
class RecordingSam2 : public sam::Segmenter {
public:
    RecordingSam2()
        : ckpt_(sam::io::Checkpoint::open(samtest::golden(kCheckpoint))), decoder_(sam::Sam2Decoder::load(ckpt_)) {
        const std::string dir = "cases/sam2.1_hiera_tiny/photo/";
        embedding_.features = samtest::load_npy(samtest::golden(dir + "embedding.npy")).reshaped({256, 64, 64});
        embedding_.high_res_0 = samtest::load_npy(samtest::golden(dir + "high_res_0.npy")).reshaped({32, 256, 256});
        embedding_.high_res_1 = samtest::load_npy(samtest::golden(dir + "high_res_1.npy")).reshaped({64, 128, 128});
        embedding_.orig_w = 769, embedding_.orig_h = 770;
        embedding_.input_w = embedding_.input_h = 1024;
    }
    sam::ImageEmbedding embed(const sam::RgbImage& image) const override {
        EXPECT_EQ(image.width, 769);
        return embedding_;
    }
    sam::Prediction predict(const sam::ImageEmbedding& e, const sam::Prompt& p) const override {
        sam::Prediction r = decoder_.predict(e, p);
        std::lock_guard lock(mutex_);
        sam::Prompt copy = p;
        if (p.mask_input.defined()) copy.mask_input = p.mask_input.clone();
        prompts.push_back(copy);
        predictions.push_back(r);
        return r;
    }
    std::string description() const override { return "SAM 2.1 decoder on the reference's photo maps"; }

    const sam::Sam2Decoder& decoder() const { return decoder_; }
    const sam::ImageEmbedding& embedding() const { return embedding_; }
    mutable std::vector<sam::Prompt> prompts;
    mutable std::vector<sam::Prediction> predictions;

private:
    sam::io::Checkpoint ckpt_;
    sam::Sam2Decoder decoder_;
    sam::ImageEmbedding embedding_;
    mutable std::mutex mutex_;
};

json region(const std::string& type, const json& value) {
    static int regions = 0;
    json r = {{"id", "r" + std::to_string(++regions)}, {"type", type}, {"to_name", "image"},
              {"from_name", type == "rectanglelabels" ? "tag3" : "tag2"}, {"original_width", 769},
              {"original_height", 770}, {"value", value}};
    r["value"][type] = {"Banana"};
    return r;
}
json keypoint(double x, double y, bool positive) {
    json r = region("keypointlabels", {{"x", x * 100 / 769}, {"y", y * 100 / 770}, {"width", 0.5}});
    r["is_positive"] = positive;
    return r;
}

// The reference feeds its previous answer's returned low-res logits (clamped to [-32, 32]) back
// as mask_input; the server remembers the unclamped logits (Prediction::lowres, from which SAM 2
// makes its masks) and Sam2Decoder clamps what comes in. The refined answer must be what the
// decoder answers to the clamped logits, on a first answer whose logits pass 32.
TEST(Sam2Refinement, TheServerFeedsThePreviousAnswerAsTheReferenceDoes) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    auto model = std::make_shared<RecordingSam2>();
    sam::server::ServerConfig config;
    config.host = "127.0.0.1";
    config.port = 0;
    config.document_root = samtest::golden("");
    sam::server::HttpServer server(config, model);
    server.start();
    httplib::Client client("127.0.0.1", server.port());
    client.set_read_timeout(60);
    const std::string label_config = samtest::load_json(samtest::golden("labelstudio/fixtures.json"))["predict_sam2"][0]
                                                       ["request"]["label_config"];
    auto click = [&](const json& regions) {
        const json request = {{"tasks", {{{"id", 5}, {"data", {{"image", "/data/local-files/?d=images/photo.jpg"}}}}}},
                              {"label_config", label_config},
                              {"params", {{"context", {{"result", regions}}}}}};
        auto res = client.Post("/predict", request.dump(), "application/json");
        ASSERT_TRUE(res);
        ASSERT_EQ(res->status, 200) << res->body;
    };
    // The golden case box_and_points (a box, a positive and a negative point: single mask), then
    // one positive point more.
    const json box = region("rectanglelabels", {{"x", 20.35 * 100 / 769}, {"y", 86.63 * 100 / 770},
                                                {"width", (310.28 - 20.35) * 100 / 769},
                                                {"height", (608.28 - 86.63) * 100 / 770}, {"rotation", 0}});
    const json first = {box, keypoint(492.59, 280.07, true), keypoint(228.0, 47.62, false)};
    json second = first;
    second.push_back(keypoint(333.56, 698.28, true));
    click(first);
    click(second);

    ASSERT_EQ(model->prompts.size(), 2u);
    const sam::Prediction& previous = model->predictions[0];
    ASSERT_EQ(previous.iou.size(), 1u);
    EXPECT_FALSE(model->prompts[0].mask_input.defined());
    float absmax = 0;
    for (int64_t i = 0; i < previous.lowres.numel(); ++i) absmax = std::max(absmax, std::fabs(previous.lowres.data[i]));
    std::printf("first answer's low-res logits reach %.2f\n", absmax);
    ASSERT_GT(absmax, 32.0f) << "the clamp would not matter here";

    const sam::Prompt& refined = model->prompts[1];
    ASSERT_TRUE(refined.mask_input.defined());
    EXPECT_FALSE(refined.multimask);
    ASSERT_EQ(refined.mask_input.shape, (sam::Shape{1, 256, 256}));
    EXPECT_EQ(std::memcmp(refined.mask_input.data, previous.lowres.data, sizeof(float) * 65536), 0);

    sam::Prompt reference = refined;
    reference.mask_input = previous.lowres.clone();
    for (int64_t i = 0; i < reference.mask_input.numel(); ++i)
        reference.mask_input.data[i] = std::clamp(reference.mask_input.data[i], -32.0f, 32.0f);
    const sam::Prediction expected = model->decoder().predict(model->embedding(), reference);
    const sam::Prediction& got = model->predictions[1];
    ASSERT_EQ(got.lowres.shape, expected.lowres.shape);
    EXPECT_EQ(std::memcmp(got.lowres.data, expected.lowres.data, sizeof(float) * size_t(got.lowres.numel())), 0);
    EXPECT_EQ(got.iou, expected.iou);
    // ...and the previous answer changed it: the same prompt without mask input answers otherwise.
    sam::Prompt without = refined;
    without.mask_input = sam::Tensor();
    EXPECT_NE(model->decoder().predict(model->embedding(), without).iou, got.iou);
}

}  // namespace
