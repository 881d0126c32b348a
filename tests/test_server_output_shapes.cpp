// The HTTP server in-process with a fake Segmenter that paints known masks (a disk per positive
// point, the box) and records every prompt it is given: empty masks, a mask of separate parts,
// POLYGON_MAX_POINTS and POLYGON_MIN_AREA, OUTPUT_TAG, and refinement with the previous mask
// (which logits reach the model as mask input, and when none do).
#include <gtest/gtest.h>
#include <httplib.h>

#include <opencv2/imgproc.hpp>

#include <cmath>
#include <mutex>

#include "server/http_server.hpp"
#include "support/answers.hpp"
#include "support/golden.hpp"

using nlohmann::json;
using sam::server::HttpServer;
using sam::server::ServerConfig;

namespace {

// Disk radii of the first, second, third... positive point.
constexpr int kRadius[] = {60, 30, 2};

std::vector<uint8_t> painted_mask(int w, int h, const sam::Prompt& p) {
    std::vector<uint8_t> m(static_cast<size_t>(w) * h, 0);
    cv::Mat image(h, w, CV_8UC1, m.data());
    int k = 0;
    for (const sam::PromptPoint& q : p.points)
        if (q.label == 1 && k < 3) cv::circle(image, cv::Point(int(q.x), int(q.y)), kRadius[k++], cv::Scalar(1), cv::FILLED);
    if (p.box)
        cv::rectangle(image, cv::Point(int(p.box->x0), int(p.box->y0)), cv::Point(int(p.box->x1), int(p.box->y1)),
                      cv::Scalar(1), cv::FILLED);
    return m;
}

// Answers the painted mask (the second of three for an ambiguous prompt) and low-res logits
// that say which call and mask they come from: every value of call n's mask k is n * 10 + k.
class RecordingSegmenter : public sam::Segmenter {
public:
    struct Call {
        sam::Prompt prompt;  // mask_input copied
    };
    mutable std::mutex mutex;
    mutable std::vector<Call> calls;

    sam::ImageEmbedding embed(const sam::RgbImage& image) const override {
        sam::ImageEmbedding e;
        e.features = sam::Tensor::zeros({16, 8, 8});
        e.orig_w = image.width, e.orig_h = image.height;
        const float s = 1024.0f / std::max(image.width, image.height);
        e.input_w = int(image.width * s + 0.5f), e.input_h = int(image.height * s + 0.5f);
        return e;
    }
    sam::Prediction predict(const sam::ImageEmbedding& e, const sam::Prompt& p) const override {
        int n;
        {
            std::lock_guard lock(mutex);
            Call call{p};
            if (p.mask_input.defined()) call.prompt.mask_input = p.mask_input.clone();
            calls.push_back(call);
            n = static_cast<int>(calls.size());
        }
        const int c = p.multimask ? 3 : 1, good = p.multimask ? 1 : 0;
        sam::Prediction r;
        r.iou = p.multimask ? std::vector<float>{0.25f, 0.875f, 0.5f} : std::vector<float>{0.625f};
        r.orig_w = e.orig_w, r.orig_h = e.orig_h, r.input_w = e.input_w, r.input_h = e.input_h;
        const std::vector<uint8_t> m = painted_mask(e.orig_w, e.orig_h, p);
        r.full = sam::Tensor::empty({c, e.orig_h, e.orig_w});
        r.lowres = sam::Tensor::empty({c, 256, 256});
        for (int k = 0; k < c; ++k) {
            for (size_t i = 0; i < m.size(); ++i) r.full.data[k * m.size() + i] = (k == good && m[i]) ? 1.0f : -1.0f;
            std::fill_n(r.lowres.data + k * 256 * 256, 256 * 256, float(n * 10 + k));
        }
        return r;
    }
    std::string description() const override { return "recording segmenter"; }
};

const int kW = 769, kH = 770;  // photo.jpg

std::string config_with(const std::string& output) {
    return R"(<View><Image name="image" value="$image"/>)" + output +
           R"(<KeyPointLabels name="kp" toName="image" smart="true"><Label value="Banana"/><Label value="Orange"/></KeyPointLabels>
<RectangleLabels name="box" toName="image" smart="true"><Label value="Banana"/><Label value="Orange"/></RectangleLabels></View>)";
}
std::string output_tag(const std::string& tag, const std::string& name = "out") {
    return "<" + tag + " name=\"" + name + R"(" toName="image"><Label value="Banana"/><Label value="Orange"/></)" + tag + ">";
}

std::vector<uint8_t> disk(int x, int y, int radius) {
    std::vector<uint8_t> m(static_cast<size_t>(kW) * kH, 0);
    cv::Mat image(kH, kW, CV_8UC1, m.data());
    cv::circle(image, cv::Point(x, y), radius, cv::Scalar(1), cv::FILLED);
    return m;
}

json keypoint(const std::string& id, double x_px, double y_px, bool positive, const std::string& label = "Banana") {
    return {{"id", id}, {"type", "keypointlabels"}, {"from_name", "kp"}, {"to_name", "image"},
            {"original_width", kW}, {"original_height", kH}, {"is_positive", positive},
            {"value", {{"x", x_px * 100 / kW}, {"y", y_px * 100 / kH}, {"keypointlabels", {label}}}}};
}

json request(const json& regions, const std::string& config, int task = 7) {
    return {{"tasks", {{{"id", task}, {"data", {{"image", "/data/local-files/?d=images/photo.jpg"}}}}}},
            {"label_config", config},
            {"params", {{"context", {{"result", regions}}}}}};
}

// Pixels of a polygon region (vertices at boundary pixel centres).
std::vector<uint8_t> rasterise(const json& region) {
    std::vector<uint8_t> m(static_cast<size_t>(kW) * kH, 0);
    cv::Mat image(kH, kW, CV_8UC1, m.data());
    std::vector<cv::Point> points;
    for (const json& p : region["value"]["points"])
        points.emplace_back(int(std::lround(p[0].get<double>() * kW / 100 - 0.5)),
                            int(std::lround(p[1].get<double>() * kH / 100 - 0.5)));
    cv::fillPoly(image, std::vector<std::vector<cv::Point>>{points}, cv::Scalar(1));
    return m;
}

using samtest::iou;

class OutputShapes : public ::testing::Test {
protected:
    void SetUp() override {
        if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
        config_.host = "127.0.0.1";
        config_.port = 0;
        config_.document_root = samtest::golden("");
    }
    void start() {
        server_ = std::make_unique<HttpServer>(config_, model_);
        server_->start();
        client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
        client_->set_read_timeout(20);
    }
    json predict(const json& request) { return samtest::post_predict(*client_, request); }
    // The mask input the model got on call `n` (1-based): -1 when none, else its one value.
    float mask_input_of(size_t n) {
        std::lock_guard lock(model_->mutex);
        EXPECT_GE(model_->calls.size(), n);
        if (model_->calls.size() < n) return -2;
        const sam::Tensor& t = model_->calls[n - 1].prompt.mask_input;
        if (!t.defined()) return -1;
        EXPECT_EQ(t.shape, (sam::Shape{1, 256, 256}));
        for (int64_t i = 1; i < t.numel(); ++i)
            if (t.data[i] != t.data[0]) return -3;
        return t.data[0];
    }
    bool multimask_of(size_t n) {
        std::lock_guard lock(model_->mutex);
        return model_->calls.at(n - 1).prompt.multimask;
    }

    ServerConfig config_;
    std::shared_ptr<RecordingSegmenter> model_ = std::make_shared<RecordingSegmenter>();
    std::unique_ptr<HttpServer> server_;
    std::unique_ptr<httplib::Client> client_;
};

TEST_F(OutputShapes, EmptyMaskAnswersAnEmptyResultForEveryOutputTag) {
    start();
    for (const char* tag : {"BrushLabels", "BitmaskLabels", "PolygonLabels", "VectorLabels", "RectangleLabels"}) {
        const json answer = predict(request(json{keypoint("n", 300, 300, false)}, config_with(output_tag(tag))));
        ASSERT_EQ(answer["results"].size(), 1u) << tag;
        EXPECT_EQ(answer["results"][0]["result"], json::array()) << tag << ": " << answer.dump();
        EXPECT_EQ(answer["results"][0]["model_version"], "SamMLBackend-v0.0.1");
        EXPECT_FLOAT_EQ(answer["results"][0]["score"].get<float>(), 0.875f);
    }
}

TEST_F(OutputShapes, SeparatePartsGiveOnePolygonEachLargestFirstAboveTheMinimumArea) {
    start();
    // Disks of radius 60, 30 and 2 (area about 13 < POLYGON_MIN_AREA 16): two regions.
    const json points = {keypoint("a", 500, 500, true), keypoint("b", 150, 150, true), keypoint("c", 700, 100, true)};
    for (const char* tag : {"PolygonLabels", "VectorLabels"}) {
        const json regions = predict(request(points, config_with(output_tag(tag))))["results"][0]["result"];
        ASSERT_EQ(regions.size(), 2u) << tag << ": " << regions.dump();
        EXPECT_NE(regions[0]["id"], regions[1]["id"]);
        EXPECT_GE(iou(rasterise(regions[0]), disk(500, 500, kRadius[0])), 0.95) << tag;
        EXPECT_GE(iou(rasterise(regions[1]), disk(150, 150, kRadius[1])), 0.9) << tag;
    }
    // POLYGON_MIN_AREA 0 keeps the speck too
    server_.reset();
    config_.polygon_min_area = 0;
    start();
    EXPECT_EQ(predict(request(points, config_with(output_tag("PolygonLabels"))))["results"][0]["result"].size(), 3u);
}

TEST_F(OutputShapes, PolygonMaxPointsRaisesTheTolerance) {
    start();
    const json click = json{keypoint("a", 400, 400, true)};
    const json fine = predict(request(click, config_with(output_tag("PolygonLabels"))))["results"][0]["result"];
    ASSERT_EQ(fine.size(), 1u);
    const size_t vertices = fine[0]["value"]["points"].size();
    EXPECT_GT(vertices, 8u);  // a disk of radius 60 at 1.5 px tolerance

    server_.reset();
    config_.polygon_max_points = 8;
    start();
    const json coarse = predict(request(click, config_with(output_tag("PolygonLabels"))))["results"][0]["result"];
    ASSERT_EQ(coarse.size(), 1u);
    EXPECT_LE(coarse[0]["value"]["points"].size(), 8u);
    EXPECT_GE(coarse[0]["value"]["points"].size(), 3u);
    EXPECT_GE(iou(rasterise(coarse[0]), disk(400, 400, kRadius[0])), 0.8);  // still the disk, coarser
}

TEST_F(OutputShapes, OutputTagOverride) {
    const std::string config = config_with(output_tag("BrushLabels") +
                                           R"(<PolygonLabels name="poly" toName="image"><Label value="Banana"/></PolygonLabels>)");
    const json click = json{keypoint("a", 400, 400, true)};
    start();
    EXPECT_EQ(predict(request(click, config))["results"][0]["result"][0]["type"], "brushlabels");
    server_.reset();
    config_.output_tag = "poly";
    start();
    EXPECT_EQ(predict(request(click, config))["results"][0]["result"][0]["from_name"], "poly");
    server_.reset();
    config_.output_tag = "box";  // the smart rectangle itself: boxes of the masks
    start();
    const json region = predict(request(click, config))["results"][0]["result"][0];
    EXPECT_EQ(region["type"], "rectanglelabels");
    EXPECT_NEAR(region["value"]["x"].get<double>(), (400 - 60) * 100.0 / kW, 1e-9);
    EXPECT_NEAR(region["value"]["width"].get<double>(), 121 * 100.0 / kW, 1e-9);
}

// A prewarm answers per task, so it takes as many tasks as a click (16), not a body's worth.
TEST_F(OutputShapes, PrewarmTakesAtMostAClicksTasks) {
    start();
    json tasks = json::array();
    for (int i = 0; i < 16; ++i) tasks.push_back({{"id", i}, {"data", {{"image", "/data/local-files/?d=images/photo.jpg"}}}});
    json prewarm = {{"tasks", tasks},
                    {"label_config", config_with(output_tag("BrushLabels"))},
                    {"params", {{"context", {{"event", "prewarm"}}}}}};
    const json answer = predict(prewarm);
    EXPECT_EQ(answer["results"].size(), 16u);
    EXPECT_EQ(answer["results"][15]["result"][0]["type"], "prewarm_ack");
    prewarm["tasks"].push_back(tasks[0]);
    auto res = client_->Post("/predict", prewarm.dump(), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << res->body;
    EXPECT_NE(res->body.find("at most 16 tasks"), std::string::npos) << res->body;
}

TEST_F(OutputShapes, SecondClickRefinesTheFirstAnswer) {
    start();
    const std::string config = config_with(output_tag("BrushLabels"));
    const json a = keypoint("a", 300, 300, true), b = keypoint("b", 400, 420, true), c = keypoint("c", 200, 500, false);
    predict(request(json{a}, config));  // call 1: ambiguous, mask 1 of 3 chosen
    EXPECT_EQ(mask_input_of(1), -1);
    predict(request(json{a, b}, config));  // call 2: a added click
    EXPECT_EQ(mask_input_of(2), 11);        // call 1's chosen mask
    EXPECT_FALSE(multimask_of(2));
    predict(request(json{b, c, a}, config));  // call 3: one more, in another order
    EXPECT_EQ(mask_input_of(3), 20);
    // Not an extension: fresh.
    predict(request(json{b, c, a}, config));  // the same prompt again (no point added)
    EXPECT_EQ(mask_input_of(4), -1);
    json moved = a;
    moved["value"]["x"] = 310 * 100.0 / kW;
    predict(request(json{a}, config));  // call 5
    predict(request(json{moved, b}, config));  // call 6: the first point moved
    EXPECT_EQ(mask_input_of(6), -1);
    json flipped = a;
    flipped["is_positive"] = false;
    predict(request(json{a}, config));  // call 7
    predict(request(json{flipped, b}, config));  // call 8: the first point's sign changed
    EXPECT_EQ(mask_input_of(8), -1);
    // Memory is per task, output tag and label.
    predict(request(json{a}, config, 8));  // call 9, another task
    predict(request(json{a, b}, config, 9));  // call 10: task 9 has no memory
    EXPECT_EQ(mask_input_of(10), -1);
    predict(request(json{a, b}, config, 8));  // call 11: task 8's
    EXPECT_EQ(mask_input_of(11), 91);
    predict(request(json{a}, config));  // call 12
    predict(request(json{keypoint("a", 300, 300, true, "Orange"), keypoint("b", 400, 420, true, "Orange")}, config));
    EXPECT_EQ(mask_input_of(13), -1);  // another label
    predict(request(json{a, b}, config_with(output_tag("PolygonLabels", "poly"))));  // call 14: another output tag
    EXPECT_EQ(mask_input_of(14), -1);
    // A box and points: the box must stay the same.
    json box = {{"id", "r"}, {"type", "rectanglelabels"}, {"from_name", "box"}, {"to_name", "image"},
                {"original_width", kW}, {"original_height", kH},
                {"value", {{"x", 10}, {"y", 10}, {"width", 50}, {"height", 50}, {"rectanglelabels", {"Banana"}}}}};
    predict(request(json{box}, config));  // call 15
    predict(request(json{box, a}, config));  // call 16: a click added to the box
    EXPECT_EQ(mask_input_of(16), 151);
    json bigger = box;
    bigger["value"]["width"] = 60;
    predict(request(json{bigger, a, b}, config));  // call 17: the box changed
    EXPECT_EQ(mask_input_of(17), -1);
}

TEST_F(OutputShapes, RefinementOffOrOutOfMemory) {
    config_.refine_with_previous_mask = false;
    start();
    const std::string config = config_with(output_tag("BrushLabels"));
    const json a = keypoint("a", 300, 300, true), b = keypoint("b", 400, 420, true);
    predict(request(json{a}, config));
    predict(request(json{a, b}, config));
    EXPECT_EQ(mask_input_of(2), -1);

    // REFINE_MEMORY=1: a second task's click pushes the first task's answer out.
    server_.reset();
    config_.refine_with_previous_mask = true;
    config_.refine_memory = 1;
    start();
    predict(request(json{a}, config, 1));     // call 3
    predict(request(json{a}, config, 2));     // call 4
    predict(request(json{a, b}, config, 1));  // call 5: task 1 forgotten
    EXPECT_EQ(mask_input_of(5), -1);
    predict(request(json{a}, config, 2));     // call 6
    predict(request(json{a, b}, config, 2));  // call 7
    EXPECT_EQ(mask_input_of(7), 61);
}

}  // namespace
