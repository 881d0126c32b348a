// Every output tag end to end: the real sam-ml-backend process with the random-weight MobileSAM
// checkpoint answers each brush fixture of golden/labelstudio/fixtures.json rewritten to a
// BitmaskLabels, PolygonLabels, VectorLabels and RectangleLabels config, and the results agree
// with its own brush answer: the bitmask PNG exactly, the polygons rasterised back (OpenCV
// fillPoly) at IoU >= 0.97 with the mask's holes filled (polygon regions have none), the
// rectangle as the mask's bounding box. Also Label Studio's
// interactive events (capabilities, prewarm then a cache-hit click), value.positive, the label
// fallback, and refinement with the previous mask (native and ONNX decoders).
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <thread>

#include "support/answers.hpp"
#include "support/fake_label_studio.hpp"
#include "support/golden.hpp"
#include "support/server_process.hpp"

using nlohmann::json;

namespace {

using samtest::metric;
using samtest::two_clicks;
using samtest::without_ids;

// The real server over the golden images (local files and an upload behind a fake Label Studio).
class OutputsE2E : public ::testing::Test {
protected:
    void SetUp() override {
        if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
        fixtures_ = samtest::load_json(samtest::golden("labelstudio/fixtures.json"));
        const std::string token = fixtures_["setup_request"]["access_token"];
        ls_ = std::make_unique<samtest::FakeLabelStudio>(token);
        ls_->add_file("/data/upload/3/5d1e0a2b-exif_rotated.jpg", samtest::golden("images/exif_rotated.jpg"));
        env_ = {{"MOBILESAM_CHECKPOINT", samtest::golden("checkpoints/mobile_sam_random.pt")},
                {"LOCAL_FILES_DOCUMENT_ROOT", samtest::golden("")},
                {"LABEL_STUDIO_URL", ls_->url()},
                {"LABEL_STUDIO_API_KEY", token}};
    }
    void start(const samtest::ServerProcess::Env& extra = {}) {
        samtest::ServerProcess::Env env = env_;
        env.insert(env.end(), extra.begin(), extra.end());
        server_ = std::make_unique<samtest::ServerProcess>(env);
        ASSERT_TRUE(server_->wait_ready(60)) << server_->log();
        client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
        client_->set_read_timeout(120);
    }
    json predict(const json& request) { return samtest::post_predict(*client_, request); }
    // A second click that extends the first is answered with the first answer's logits as mask
    // input: its answer differs from the same prompt asked fresh. The same prompt again does not
    // extend it (no point added): fresh, and equal to a server without memory.
    void check_refinement(const json& first, const json& second) {
        start({{"LOG_LEVEL", "debug"}});
        predict(first);
        const json refined = without_ids(predict(second));
        const json again = without_ids(predict(second));
        EXPECT_NE(refined, again) << "the refined answer equals the fresh one";
        EXPECT_NE(server_->log().find("refining the previous answer"), std::string::npos) << server_->log();
        start({{"REFINE_WITH_PREVIOUS_MASK", "false"}});
        predict(first);
        EXPECT_EQ(without_ids(predict(second)), again);
    }
    const json& fixture(const std::string& name) {
        for (const json& fx : fixtures_["predict"])
            if (fx["name"] == name) return fx;
        throw std::runtime_error("no fixture " + name);
    }

    json fixtures_;
    samtest::ServerProcess::Env env_;
    std::unique_ptr<samtest::FakeLabelStudio> ls_;
    std::unique_ptr<samtest::ServerProcess> server_;
    std::unique_ptr<httplib::Client> client_;
};

TEST_F(OutputsE2E, EveryBrushFixtureAsEachOutputTag) {
    start();
    int checked = 0;
    for (const json& fx : fixtures_["predict"])
        if (fx["expected"].contains("mask_file"))
            checked += samtest::expect_output_tags_agree(fx["request"], [&](const json& r) { return predict(r); }, fx["name"]);
    EXPECT_EQ(checked, 14 * 4);
}

TEST_F(OutputsE2E, Capabilities) {
    start();
    // Asked once per backend, without a task or config of interest.
    for (const json& request : {json{{"tasks", json::array()}, {"params", {{"context", {{"event", "capabilities"}}}}}},
                                json{{"params", {{"context", {{"event", "capabilities"}}}}}}}) {
        const json answer = predict(request);
        ASSERT_EQ(answer["results"].size(), 1u) << answer.dump();
        const json& result = answer["results"][0]["result"];
        ASSERT_EQ(result.size(), 1u);
        EXPECT_EQ(result[0]["type"], "capabilities");
        const json& v = result[0]["value"];
        EXPECT_EQ(v["prompts"], json({"point", "box"}));
        EXPECT_EQ(v["targets"], json::parse(R"([{"tag": "BrushLabels", "output": "mask"},
            {"tag": "BitmaskLabels", "output": "mask"}, {"tag": "PolygonLabels", "output": "polygon"},
            {"tag": "VectorLabels", "output": "polygon"}, {"tag": "RectangleLabels", "output": "bbox"}])"));
        EXPECT_NE(v["model_info"]["name"].get<std::string>().find("MobileSAM"), std::string::npos) << v.dump();
        EXPECT_EQ(v["model_info"]["version"], "SamMLBackend-v0.0.1");
    }
    const std::string m = client_->Get("/metrics")->body;
    EXPECT_EQ(metric(m, "sam_embedding_cache_misses_total"), 0) << m;
}

TEST_F(OutputsE2E, PrewarmThenClickIsACacheHit) {
    start();
    const json& fx = fixture("photo_keypoint_positive");
    json prewarm = fx["request"];
    prewarm["params"]["context"] = {{"event", "prewarm"}};
    json answer = predict(prewarm);
    ASSERT_EQ(answer["results"].size(), 1u) << answer.dump();
    json ack = answer["results"][0]["result"][0];
    EXPECT_EQ(ack["type"], "prewarm_ack");
    EXPECT_EQ(ack["from_name"], "tag");
    EXPECT_EQ(ack["to_name"], "image");
    EXPECT_EQ(ack["value"], json({{"status", "ok"}, {"cached", json::array()}, {"pending", {0}}}));

    std::string m;
    for (int i = 0; i < 600 && metric(m, "sam_embeddings_computed_total") != 1; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        m = client_->Get("/metrics")->body;
    }
    ASSERT_EQ(metric(m, "sam_embeddings_computed_total"), 1) << m;
    EXPECT_EQ(metric(m, "sam_prefetch_queued_total"), 1) << m;
    answer = predict(prewarm);  // now it is there
    EXPECT_EQ(answer["results"][0]["result"][0]["value"],
              json({{"status", "ok"}, {"cached", {0}}, {"pending", json::array()}}));

    answer = predict(fx["request"]);
    EXPECT_EQ(answer["results"][0]["result"][0]["type"], "brushlabels");
    m = client_->Get("/metrics")->body;
    EXPECT_EQ(metric(m, "sam_embedding_cache_hits_total"), 1) << m;
    EXPECT_EQ(metric(m, "sam_embeddings_computed_total"), 1) << m;
}

TEST_F(OutputsE2E, ValuePositiveIsTheNewerEditorsSign) {
    start();
    const json& fx = fixture("photo_keypoints_pos_neg");
    const json classic = predict(fx["request"]);
    // The same clicks as the newer editor sends them: value.positive, no is_positive.
    json newer = fx["request"];
    bool saw_negative = false;
    for (json& region : newer["params"]["context"]["result"]) {
        if (region["type"] != "keypointlabels") continue;
        const bool positive = region.value("is_positive", false);
        saw_negative = saw_negative || !positive;
        region.erase("is_positive");
        region["value"]["positive"] = positive;
    }
    ASSERT_TRUE(saw_negative);
    EXPECT_EQ(without_ids(predict(newer)), without_ids(classic)) << "value.positive gives another answer than is_positive";
    // ...and the sign is read: every point positive answers differently.
    for (json& region : newer["params"]["context"]["result"]) region["value"]["positive"] = true;
    const json all_positive = predict(newer);
    EXPECT_NE(all_positive["results"][0]["result"][0]["value"]["rle"], classic["results"][0]["result"][0]["value"]["rle"]);
}

TEST_F(OutputsE2E, LabelMissingFromTheOutputTagFallsBackToItsFirstLabel) {
    start();
    json request = fixture("photo_keypoint_positive")["request"];
    request["params"]["context"]["result"][0]["value"]["keypointlabels"] = {"Kiwi"};
    const json answer = predict(request);
    ASSERT_EQ(answer["results"][0]["result"].size(), 1u) << answer.dump();
    EXPECT_EQ(answer["results"][0]["result"][0]["value"]["brushlabels"], json({"Banana"}));
    EXPECT_NE(server_->log().find("label 'Kiwi' is not a label of BrushLabels 'tag'"), std::string::npos)
        << server_->log();
    // The label is the request's: it reaches the log escaped, never as a line of its own.
    request["params"]["context"]["result"][0]["value"]["keypointlabels"] = {"Kiwi\n[forged] POST /setup 200"};
    EXPECT_EQ(predict(request)["results"][0]["result"][0]["value"]["brushlabels"], json({"Banana"}));
    EXPECT_NE(server_->log().find("label 'Kiwi\\n[forged] POST /setup 200' is not a label"), std::string::npos)
        << server_->log();
    EXPECT_EQ(server_->log().find("\n[forged]"), std::string::npos) << server_->log();
}

TEST_F(OutputsE2E, RefinementWithThePreviousMask) {
    const json first = fixture("photo_keypoint_positive")["request"];
    check_refinement(first, two_clicks(first));
}

TEST_F(OutputsE2E, RefinementWithThePreviousMaskOnnx) {
    env_.insert(env_.end(), {{"SAM_CHOICE", "ONNX"},
                             {"ONNX_CHECKPOINT", samtest::golden("onnx/mobile_sam_decoder_single.onnx")},
                             {"VITH_CHECKPOINT", samtest::golden("checkpoints/mobile_sam_random.pt")}});
    const json first = fixture("photo_keypoint_positive")["request"];
    check_refinement(first, two_clicks(first));
}

}  // namespace
