// End to end: the real sam-ml-backend process with the random-weight MobileSAM checkpoint,
// a document root holding the golden images and a fake Label Studio serving the uploads with
// the token. Every fixture of golden/labelstudio/fixtures.json answers with its names, label,
// size, score and mask; no context answers []; later clicks on an image are cache hits. The
// same for ONNX mode, for SAM 2.1 (its own fixtures) and, on golden cases, for SAM ViT; the
// shipped templates work as they are.
#include <gtest/gtest.h>
#include <httplib.h>

#include "labelstudio/brush_rle.hpp"
#include "labelstudio/label_config.hpp"
#include "support/answers.hpp"
#include "support/fake_label_studio.hpp"
#include "support/golden.hpp"
#include "support/server_process.hpp"

using nlohmann::json;

namespace {

using samtest::metric;

TEST(ServerE2E, MissingCheckpointIsAClearMessage) {
    samtest::ServerProcess server(samtest::ServerProcess::Env{{"MOBILESAM_CHECKPOINT", "/nonexistent/mobile_sam.pt"}});
    int code = server.wait_exit(20);
    EXPECT_NE(code, 0) << server.log();
    EXPECT_NE(code, -1) << "still running:\n" << server.log();
    EXPECT_NE(server.log().find("download_models.sh"), std::string::npos) << server.log();
}

samtest::ServerProcess::Env mobile_sam_env() {
    return {{"MOBILESAM_CHECKPOINT", samtest::golden("checkpoints/mobile_sam_random.pt")}};
}

// Pixels where a decoded brush mask differs from a reference mask PNG.
size_t differing_pixels(const json& region, const std::string& reference_png) {
    int w = region["original_width"], h = region["original_height"];
    auto mask = sam::ls::decode_brush_rle(region["value"]["rle"].get<std::vector<uint8_t>>(), w, h);
    samtest::GrayImage ref = samtest::load_png_gray(reference_png);
    if (ref.width != w || ref.height != h) return mask.size();
    size_t differ = 0;
    for (size_t i = 0; i < mask.size(); ++i) differ += mask[i] != (ref.pixels[i] > 127);
    return differ;
}

// Every fixture through the real server with the given model configuration. The MobileSAM
// encoder and decoder (native or the ONNX export of the same checkpoint) must reproduce the
// fixtures' masks; random weights leave many pixels near the threshold, where float rounding may
// flip a pixel, so agreement is demanded on all but 0.1% of the pixels (the counts are printed:
// 0 to a dozen).
void check_every_fixture(const samtest::ServerProcess::Env& model_env, const std::string& key = "predict") {
    json fixtures = samtest::load_json(samtest::golden("labelstudio/fixtures.json"));
    std::string token = fixtures["setup_request"]["access_token"];
    samtest::FakeLabelStudio ls(token);
    ls.add_file("/data/upload/3/5d1e0a2b-exif_rotated.jpg", samtest::golden("images/exif_rotated.jpg"));

    samtest::ServerProcess::Env env = model_env;
    env.insert(env.end(), {{"LOCAL_FILES_DOCUMENT_ROOT", samtest::golden("")},
                           {"LABEL_STUDIO_URL", ls.url()},
                           {"LABEL_STUDIO_API_KEY", token}});
    samtest::ServerProcess server(env);
    ASSERT_TRUE(server.wait_ready(60)) << server.log();
    httplib::Client client("127.0.0.1", server.port());
    client.set_read_timeout(120);

    std::string setup = fixtures["setup_request"].dump();
    setup.replace(setup.find("PORT"), 4, std::to_string(ls.port()));
    auto res = client.Post("/setup", setup, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;

    int clicks = 0;
    for (const json& fx : fixtures[key]) {
        const std::string name = fx["name"];
        res = client.Post("/predict", fx["request"].dump(), "application/json");
        ASSERT_TRUE(res) << name;
        ASSERT_EQ(res->status, 200) << name << ": " << res->body;
        json answer = json::parse(res->body);
        const json& want = fx["expected"];
        if (want.contains("results")) {
            EXPECT_EQ(answer, want) << name;
            continue;
        }
        clicks++;
        ASSERT_EQ(answer["results"].size(), 1u) << name;
        const json& region = answer["results"][0]["result"][0];
        EXPECT_EQ(region["from_name"], want["from_name"]) << name;
        EXPECT_EQ(region["to_name"], want["to_name"]) << name;
        EXPECT_EQ(region["type"], "brushlabels") << name;
        EXPECT_EQ(region["value"]["brushlabels"], json({want["label"]})) << name;
        EXPECT_EQ(region["original_width"], want["original_width"]) << name;
        EXPECT_EQ(region["original_height"], want["original_height"]) << name;
        EXPECT_NEAR(answer["results"][0]["score"].get<double>(), want["score"].get<double>(), 5e-3) << name;
        const size_t total = want["original_width"].get<size_t>() * want["original_height"].get<size_t>();
        size_t differ = differing_pixels(region, samtest::golden("labelstudio/" + want["mask_file"].get<std::string>()));
        std::printf("%s: %zu of %zu pixels differ\n", name.c_str(), differ, total);
        EXPECT_LE(differ, total / 1000) << name;
    }
    // Two images: each embedded once, every later click a cache hit.
    std::string m = client.Get("/metrics")->body;
    EXPECT_EQ(metric(m, "sam_embeddings_computed_total"), 2) << m;
    EXPECT_EQ(metric(m, "sam_embedding_cache_hits_total"), clicks - 2) << m;
}

TEST(ServerE2E, EveryFixtureMobileSam) { check_every_fixture(mobile_sam_env()); }

// SAM 2.1 (the predict_sam2 fixtures: the same requests answered by SAM2ImagePredictor).
TEST(ServerE2E, EveryFixtureSam2) {
    const json fixtures = samtest::load_json(samtest::golden("labelstudio/fixtures.json"));
    check_every_fixture({{"SAM_CHOICE", "SAM2"},
                         {"SAM2_CHECKPOINT", samtest::golden(fixtures["predict_sam2_model"]["checkpoint"])}},
                        "predict_sam2");
}

// ONNX mode: the official single-mask export of the same checkpoint decodes; it applies the
// ambiguous-prompt rule itself (best of three for one point or one box), so the fixtures hold.
TEST(ServerE2E, EveryFixtureOnnx) {
    check_every_fixture({{"SAM_CHOICE", "ONNX"},
                         {"ONNX_CHECKPOINT", samtest::golden("onnx/mobile_sam_decoder_single.onnx")},
                         {"VITH_CHECKPOINT", samtest::golden("checkpoints/mobile_sam_random.pt")}});
}

// SAM_CHOICE=SAM with the mini ViT: clicks built from the golden cases whose prompt the server
// treats the same way (one point alone -> best of three; several prompts -> single mask) must
// give the reference mask.
TEST(ServerE2E, SamVitMatchesGoldenCases) {
    samtest::ServerProcess server({{"SAM_CHOICE", "SAM"},
                                   {"VITH_CHECKPOINT", samtest::golden("checkpoints/sam_vit_mini_random.pth")},
                                   {"LOCAL_FILES_DOCUMENT_ROOT", samtest::golden("")}});
    ASSERT_TRUE(server.wait_ready(60)) << server.log();
    httplib::Client client("127.0.0.1", server.port());
    client.set_read_timeout(120);
    auto health = json::parse(client.Get("/health")->body);
    EXPECT_NE(health.dump().find("ViT"), std::string::npos) << health.dump();

    const json fixtures = samtest::load_json(samtest::golden("labelstudio/fixtures.json"));
    const std::string config = fixtures["predict"][0]["request"]["label_config"];
    int checked = 0;
    for (const char* image : {"photo", "exif_rotated"}) {
        const std::string dir = std::string("cases/sam_vit_mini/") + image + "/";
        const json cs = samtest::load_json(samtest::golden(dir + "case.json"));
        const int h = cs["original_size_hw"][0], w = cs["original_size_hw"][1];
        for (const json& c : cs["cases"]) {
            const size_t n_points = c["points"].is_null() ? 0 : c["points"].size();
            const bool ambiguous = (n_points == 1 && c["box"].is_null()) || (n_points == 0 && !c["box"].is_null());
            if (c.contains("mask_input_from") && !c["mask_input_from"].is_null()) continue;
            if (ambiguous != c["multimask"].get<bool>()) continue;
            json regions = json::array();
            for (size_t i = 0; i < n_points; ++i)
                regions.push_back({{"id", "k" + std::to_string(i)}, {"type", "keypointlabels"}, {"from_name", "tag2"},
                                   {"to_name", "image"}, {"original_width", w}, {"original_height", h},
                                   {"is_positive", c["labels"][i] == 1},
                                   {"value", {{"x", c["points"][i][0].get<double>() * 100 / w},
                                              {"y", c["points"][i][1].get<double>() * 100 / h},
                                              {"keypointlabels", {"Banana"}}}}});
            if (!c["box"].is_null()) {
                const json& b = c["box"];
                regions.push_back({{"id", "r"}, {"type", "rectanglelabels"}, {"from_name", "tag3"}, {"to_name", "image"},
                                   {"original_width", w}, {"original_height", h},
                                   {"value", {{"x", b[0].get<double>() * 100 / w}, {"y", b[1].get<double>() * 100 / h},
                                              {"width", (b[2].get<double>() - b[0].get<double>()) * 100 / w},
                                              {"height", (b[3].get<double>() - b[1].get<double>()) * 100 / h},
                                              {"rectanglelabels", {"Banana"}}}}});
            }
            json request = {{"tasks", {{{"id", 7}, {"data", {{"image", "/data/local-files/?d=images/" + cs["image"].get<std::string>()}}}}}},
                            {"label_config", config},
                            {"params", {{"context", {{"result", regions}}}}}};
            auto res = client.Post("/predict", request.dump(), "application/json");
            ASSERT_TRUE(res);
            ASSERT_EQ(res->status, 200) << res->body;
            const json answer = json::parse(res->body);
            const std::vector<float> iou = c["iou_predictions"];
            const size_t best = std::max_element(iou.begin(), iou.end()) - iou.begin();
            EXPECT_NEAR(answer["results"][0]["score"].get<double>(), iou[best], 1e-3) << image << " " << c["name"];
            const size_t differ = differing_pixels(answer["results"][0]["result"][0],
                                                   samtest::golden(dir + c["mask_files"][best].get<std::string>()));
            std::printf("%s %s: %zu of %d pixels differ\n", image, c["name"].get<std::string>().c_str(), differ, w * h);
            EXPECT_LE(differ, size_t(w) * h / 1000) << image << " " << c["name"];
            checked++;
        }
    }
    EXPECT_EQ(checked, 6);
}

// The labeling templates shipped in examples/ work as they are: a smart keypoint under each
// template's names (on the photo, where the fixtures' first click gives a mask) comes back as
// regions of its output tag.
TEST(ServerE2E, ShippedTemplatesWork) {
    samtest::ServerProcess server(samtest::ServerProcess::Env{
        {"MOBILESAM_CHECKPOINT", samtest::golden("checkpoints/mobile_sam_random.pt")},
        {"LOCAL_FILES_DOCUMENT_ROOT", samtest::golden("")}});
    ASSERT_TRUE(server.wait_ready(60)) << server.log();
    httplib::Client client("127.0.0.1", server.port());
    client.set_read_timeout(120);
    for (const char* file : {"advanced_sam.xml", "onnx_sam.xml", "bitmask_sam.xml", "polygon_sam.xml", "rectangle_sam.xml"}) {
        const std::string xml = samtest::read_file(std::string(SAM_SOURCE_DIR) + "/examples/" + file);
        const sam::ls::LabelConfig config = sam::ls::parse_label_config(xml);
        const sam::ls::OutputTarget& t = config.output_for("");
        json point = {{"id", "p"}, {"type", "keypointlabels"}, {"from_name", "kp"}, {"to_name", t.to_name},
                      {"original_width", 769}, {"original_height", 770}, {"is_positive", true},
                      {"value", {{"x", 60.007637328373356}, {"y", 81.77710407756605}, {"keypointlabels", {t.labels.at(0)}}}}};
        json request = {{"tasks", {{{"id", 1}, {"data", {{t.data_key, "/data/local-files/?d=images/photo.jpg"}}}}}},
                        {"label_config", xml},
                        {"params", {{"context", {{"result", {point}}}}}}};
        auto res = client.Post("/predict", request.dump(), "application/json");
        ASSERT_TRUE(res) << file;
        ASSERT_EQ(res->status, 200) << file << ": " << res->body;
        const json regions = json::parse(res->body)["results"][0]["result"];
        ASSERT_GE(regions.size(), 1u) << file << ": " << res->body;
        for (const json& region : regions) {
            EXPECT_EQ(region["from_name"], t.from_name) << file;
            EXPECT_EQ(region["to_name"], t.to_name) << file;
            EXPECT_EQ(region["type"], sam::ls::result_type(t.kind)) << file;
            EXPECT_EQ(region["value"][sam::ls::result_type(t.kind)], json({t.labels.at(0)})) << file;
            EXPECT_EQ(region["original_width"], 769) << file;
        }
    }
}

}  // namespace
