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

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <thread>

#include "io/image.hpp"
#include "labelstudio/brush_rle.hpp"
#include "support/fake_label_studio.hpp"
#include "support/golden.hpp"
#include "support/server_process.hpp"

using nlohmann::json;

namespace {

double metric(const std::string& text, const std::string& name) {
    auto at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::atof(text.c_str() + at + name.size() + 2);
}

std::vector<uint8_t> base64_decode(const std::string& in) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    std::vector<uint8_t> out;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        if (c == '=') break;
        const int v = value(c);
        if (v < 0) throw std::runtime_error("not standard base64");
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<uint8_t>(acc >> bits));
        }
    }
    return out;
}

// A 0/1 mask of a region, whatever its type (brush RLE, bitmask PNG, polygon, rectangle).
std::vector<uint8_t> region_mask(const json& region) {
    const int w = region["original_width"], h = region["original_height"];
    const std::string type = region["type"];
    const json& v = region["value"];
    std::vector<uint8_t> mask(static_cast<size_t>(w) * h, 0);
    if (type == "brushlabels") return sam::ls::decode_brush_rle(v["rle"].get<std::vector<uint8_t>>(), w, h);
    if (type == "bitmasklabels") {
        const std::string url = v["imageDataURL"];
        const std::string prefix = "data:image/png;base64,";
        EXPECT_EQ(url.rfind(prefix, 0), 0u);
        const sam::RgbImage png = sam::decode_image(base64_decode(url.substr(prefix.size())));
        EXPECT_EQ(png.width, w);
        EXPECT_EQ(png.height, h);
        for (size_t i = 0; i < mask.size(); ++i) {
            const uint8_t gray = png.pixels[3 * i];
            EXPECT_TRUE(gray == 0 || gray == 255) << int(gray);
            mask[i] = gray == 255;
        }
        return mask;
    }
    cv::Mat image(h, w, CV_8UC1, mask.data());
    if (type == "polygonlabels" || type == "vectorlabels") {
        EXPECT_EQ(v["closed"], true);
        // Vertices are boundary pixel centres: percent -> pixels, minus half a pixel, is the index.
        std::vector<cv::Point> points;
        for (const json& p : v["points"])
            points.emplace_back(static_cast<int>(std::lround(p[0].get<double>() * w / 100 - 0.5)),
                                static_cast<int>(std::lround(p[1].get<double>() * h / 100 - 0.5)));
        cv::fillPoly(image, std::vector<std::vector<cv::Point>>{points}, cv::Scalar(1));
        return mask;
    }
    EXPECT_EQ(type, "rectanglelabels");
    EXPECT_EQ(v["rotation"], 0);
    const int x0 = static_cast<int>(std::lround(v["x"].get<double>() * w / 100));
    const int y0 = static_cast<int>(std::lround(v["y"].get<double>() * h / 100));
    const int x1 = static_cast<int>(std::lround((v["x"].get<double>() + v["width"].get<double>()) * w / 100));
    const int y1 = static_cast<int>(std::lround((v["y"].get<double>() + v["height"].get<double>()) * h / 100));
    cv::rectangle(image, cv::Rect(x0, y0, x1 - x0, y1 - y0), cv::Scalar(1), cv::FILLED);
    return mask;
}

double iou(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    size_t both = 0, any = 0;
    for (size_t i = 0; i < a.size(); ++i) both += a[i] && b[i], any += a[i] || b[i];
    return any ? double(both) / double(any) : 1.0;
}

std::vector<uint8_t> without_holes(std::vector<uint8_t> mask, int w, int h) {
    cv::Mat image(h, w, CV_8UC1, mask.data());
    std::vector<std::vector<cv::Point>> outlines;
    cv::findContours(image, outlines, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE);
    cv::drawContours(image, outlines, -1, cv::Scalar(1), cv::FILLED);
    return mask;
}

// The bounding box [x0, y0, x1, y1] (inclusive) of a 0/1 mask.
std::array<int, 4> bounding_box(const std::vector<uint8_t>& m, int w, int h) {
    std::array<int, 4> b = {w, h, -1, -1};
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            if (m[static_cast<size_t>(y) * w + x])
                b = {std::min(b[0], x), std::min(b[1], y), std::max(b[2], x), std::max(b[3], y)};
    return b;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
    return s;
}

// Region ids differ between answers; everything else must be equal for "the same answer".
json without_ids(json answer) {
    for (json& task : answer["results"])
        for (json& region : task["result"]) region.erase("id");
    return answer;
}

json two_clicks(const json& one_click_request) {
    json request = one_click_request;
    json second = request["params"]["context"]["result"][0];
    second["id"] = "k2";
    second["value"]["x"] = second["value"]["x"].get<double>() - 8;
    second["value"]["y"] = second["value"]["y"].get<double>() - 5;
    request["params"]["context"]["result"].push_back(second);
    return request;
}

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
    json predict(const json& request) {
        auto res = client_->Post("/predict", request.dump(), "application/json");
        EXPECT_TRUE(res);
        if (!res) return json();
        EXPECT_EQ(res->status, 200) << res->body;
        return json::parse(res->body);
    }
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
    for (const json& fx : fixtures_["predict"]) {
        if (!fx["expected"].contains("mask_file")) continue;
        const std::string name = fx["name"];
        const json brush_answer = predict(fx["request"]);
        const json& brush = brush_answer["results"][0]["result"][0];
        const int w = brush["original_width"], h = brush["original_height"];
        const std::vector<uint8_t> mask = region_mask(brush);
        const std::array<int, 4> box = bounding_box(mask, w, h);
        ASSERT_GE(box[2], 0) << name << ": the fixture's mask is empty";

        for (const char* tag : {"BitmaskLabels", "PolygonLabels", "VectorLabels", "RectangleLabels"}) {
            SCOPED_TRACE(name + " as " + tag);
            json request = fx["request"];
            std::string config = request["label_config"];
            config = replace_all(replace_all(config, "<BrushLabels", std::string("<") + tag), "</BrushLabels>",
                                 std::string("</") + tag + ">");
            request["label_config"] = config;
            const json answer = predict(request);
            const json& regions = answer["results"][0]["result"];
            ASSERT_GE(regions.size(), 1u) << answer.dump();
            EXPECT_EQ(answer["results"][0]["score"], brush_answer["results"][0]["score"]);
            std::string type = tag;
            std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
            std::vector<uint8_t> back(mask.size(), 0);
            for (const json& region : regions) {
                for (const char* key : {"from_name", "to_name", "original_width", "original_height", "image_rotation",
                                        "score", "readonly"})
                    EXPECT_EQ(region[key], brush[key]) << key;
                EXPECT_EQ(region["type"], type);
                EXPECT_EQ(region["value"][type], brush["value"]["brushlabels"]);
                EXPECT_TRUE(region["id"].is_string() && !region["id"].get<std::string>().empty());
                const std::vector<uint8_t> part = region_mask(region);
                for (size_t i = 0; i < back.size(); ++i) back[i] |= part[i];
            }
            if (type == "bitmasklabels") {
                ASSERT_EQ(regions.size(), 1u);
                EXPECT_EQ(regions[0]["value"]["width"], w);
                EXPECT_EQ(regions[0]["value"]["height"], h);
                EXPECT_EQ(back, mask);
            } else if (type == "rectanglelabels") {
                ASSERT_EQ(regions.size(), 1u);
                const json& v = regions[0]["value"];
                EXPECT_NEAR(v["x"].get<double>(), box[0] * 100.0 / w, 1e-9);
                EXPECT_NEAR(v["y"].get<double>(), box[1] * 100.0 / h, 1e-9);
                EXPECT_NEAR(v["width"].get<double>(), (box[2] - box[0] + 1) * 100.0 / w, 1e-9);
                EXPECT_NEAR(v["height"].get<double>(), (box[3] - box[1] + 1) * 100.0 / h, 1e-9);
            } else {
                // Polygon regions drop holes (documented): compare with the mask's holes filled.
                const double agreement = iou(back, without_holes(mask, w, h));
                std::printf("%s as %s: %zu polygons, IoU %.4f (%.4f with the holes)\n", name.c_str(), tag,
                            regions.size(), agreement, iou(back, mask));
                EXPECT_GE(agreement, 0.97);
            }
            checked++;
        }
    }
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
