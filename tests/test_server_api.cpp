// The HTTP server in-process with a fake Segmenter (deterministic masks from the prompt) and a
// fake Label Studio: every route's shape, basic auth, /setup for any template, legacy and
// personal access tokens, presigned cloud keys, every bad input the issue lists, the cache (hit
// on the second click, single flight, prefetch), and 50 concurrent requests.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <future>
#include <thread>

#include "labelstudio/brush_rle.hpp"
#include "server/http_server.hpp"
#include "support/answers.hpp"
#include "support/fake_label_studio.hpp"
#include "support/golden.hpp"

using nlohmann::json;
using sam::server::HttpServer;
using sam::server::ServerConfig;

namespace {

const char* kToken = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4";

// Mask `index` the fake predicts: a disk of radius 6 around the first point, or the box.
std::vector<uint8_t> fake_mask(int w, int h, const sam::Prompt& p) {
    std::vector<uint8_t> m(static_cast<size_t>(w) * h, 0);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            float cx = x + 0.5f, cy = y + 0.5f;
            bool in = false;
            if (p.box) in = cx >= p.box->x0 && cx <= p.box->x1 && cy >= p.box->y0 && cy <= p.box->y1;
            else if (!p.points.empty()) in = std::hypot(cx - p.points[0].x, cy - p.points[0].y) <= 6;
            m[static_cast<size_t>(y) * w + x] = in;
        }
    return m;
}

class FakeSegmenter : public sam::Segmenter {
public:
    mutable std::atomic<int> embeds{0};
    std::atomic<int> embed_delay_ms{0};

    sam::ImageEmbedding embed(const sam::RgbImage& image) const override {
        embeds++;
        std::this_thread::sleep_for(std::chrono::milliseconds(embed_delay_ms.load()));
        sam::ImageEmbedding e;
        e.features = sam::Tensor::zeros({16, 8, 8});
        e.orig_w = image.width, e.orig_h = image.height;
        float s = 1024.0f / std::max(image.width, image.height);
        e.input_w = static_cast<int>(image.width * s + 0.5f), e.input_h = static_cast<int>(image.height * s + 0.5f);
        return e;
    }
    // Multimask: three masks, the good one second with the highest IoU; else one mask.
    sam::Prediction predict(const sam::ImageEmbedding& e, const sam::Prompt& p) const override {
        sam::Prediction r;
        int c = p.multimask ? 3 : 1, good = p.multimask ? 1 : 0;
        r.iou = p.multimask ? std::vector<float>{0.25f, 0.875f, 0.5f} : std::vector<float>{0.625f};
        r.orig_w = e.orig_w, r.orig_h = e.orig_h, r.input_w = e.input_w, r.input_h = e.input_h;
        r.full = sam::Tensor::empty({c, e.orig_h, e.orig_w});
        std::vector<uint8_t> m = fake_mask(e.orig_w, e.orig_h, p);
        size_t n = m.size();
        for (int k = 0; k < c; ++k)
            for (size_t i = 0; i < n; ++i) r.full.data[k * n + i] = (k == good && m[i]) ? 1.0f : -1.0f;
        return r;
    }
    std::string description() const override { return "fake segmenter"; }
};

const std::string kConfig = R"(<View>
  <Image name="image" value="$image"/>
  <BrushLabels name="tag" toName="image"><Label value="Banana"/><Label value="Orange"/></BrushLabels>
  <KeyPointLabels name="tag2" toName="image" smart="true"><Label value="Banana"/><Label value="Orange"/></KeyPointLabels>
  <RectangleLabels name="tag3" toName="image" smart="true"><Label value="Banana"/><Label value="Orange"/></RectangleLabels>
</View>)";

json keypoint(double xp, double yp, int w, int h, const std::string& label = "Banana", bool positive = true) {
    return {{"original_width", w}, {"original_height", h}, {"image_rotation", 0},
            {"value", {{"x", xp}, {"y", yp}, {"width", 0.3}, {"keypointlabels", {label}}}},
            {"id", "k1"}, {"from_name", "tag2"}, {"to_name", "image"}, {"type", "keypointlabels"},
            {"is_positive", positive}};
}

json rectangle(double xp, double yp, double wp, double hp, int w, int h, const std::string& label = "Orange") {
    return {{"original_width", w}, {"original_height", h}, {"image_rotation", 0},
            {"value", {{"x", xp}, {"y", yp}, {"width", wp}, {"height", hp}, {"rotation", 0}, {"rectanglelabels", {label}}}},
            {"id", "r1"}, {"from_name", "tag3"}, {"to_name", "image"}, {"type", "rectanglelabels"}};
}

json predict_body(const std::string& image_url, const json& regions, const std::string& config = kConfig) {
    json body = {{"tasks", {{{"id", 7}, {"data", {{"image", image_url}}}}}},
                 {"model_version", "SamMLBackend-v0.0.1"}, {"project", "3.1717"}, {"label_config", config},
                 {"params", {{"login", nullptr}, {"password", nullptr}, {"context", {{"result", regions}}}}}};
    if (regions.is_null()) body["params"]["context"] = nullptr;
    return body;
}

struct Image {
    std::string name;
    int w, h;
};
const std::vector<Image> kImages = {
    {"photo.jpg", 769, 770}, {"exif_rotated.jpg", 480, 640}, {"rgba_odd.png", 333, 517},
    {"gray_wide.png", 800, 200}, {"tiny.png", 17, 9}};

std::string local_url(const std::string& name) { return "/data/local-files/?d=images/" + name; }

using samtest::metric;

class ServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
        ls_ = std::make_unique<samtest::FakeLabelStudio>(kToken);
        ls_->add_file("/data/upload/3/5d1e0a2b-exif_rotated.jpg", samtest::golden("images/exif_rotated.jpg"));
        ls_->add("/data/upload/3/corrupt.jpg", {0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4, 5, 6, 7, 8});
        config_.host = "127.0.0.1";
        config_.port = 0;
        config_.document_root = samtest::golden("");
        config_.label_studio_url = ls_->url();
        config_.label_studio_api_key = kToken;
        config_.download_timeout = 1;
        config_.cache_size = 8;
        config_.threads = 8;
        config_.prefetch_queue = 4;
    }
    void start() {
        server_ = std::make_unique<HttpServer>(config_, model_);
        server_->start();
        client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
        client_->set_read_timeout(20);
    }
    httplib::Result post(const std::string& path, const std::string& body) {
        return client_->Post(path.c_str(), body, "application/json");
    }
    httplib::Result post(const std::string& path, const json& body) { return post(path, body.dump()); }
    // Answer status and the "error" message of a JSON error.
    std::pair<int, std::string> error_of(const httplib::Result& res) {
        if (!res) return {0, "no answer"};
        json j = json::parse(res->body);
        EXPECT_TRUE(j.contains("error")) << res->body;
        return {res->status, j.value("error", "")};
    }
    // A click answers the fake's disk mask; checks the whole region.
    void expect_click_ok(const Image& img, double xp = 50, double yp = 50) {
        auto res = post("/predict", predict_body(local_url(img.name), json::array({keypoint(xp, yp, img.w, img.h)})));
        ASSERT_TRUE(res);
        ASSERT_EQ(res->status, 200) << res->body;
        check_disk_answer(json::parse(res->body), img, xp, yp);
    }
    static void check_disk_answer(const json& j, const Image& img, double xp, double yp) {
        ASSERT_EQ(j["results"].size(), 1u) << j.dump();
        const json& r = j["results"][0];
        EXPECT_FLOAT_EQ(r["score"].get<float>(), 0.875f);  // best of three
        const json& region = r["result"][0];
        EXPECT_EQ(region["from_name"], "tag");
        EXPECT_EQ(region["to_name"], "image");
        EXPECT_EQ(region["type"], "brushlabels");
        EXPECT_EQ(region["value"]["brushlabels"], json({"Banana"}));
        EXPECT_EQ(region["original_width"], img.w);
        EXPECT_EQ(region["original_height"], img.h);
        auto rle = region["value"]["rle"].get<std::vector<uint8_t>>();
        auto mask = sam::ls::decode_brush_rle(rle, img.w, img.h);
        sam::Prompt p;
        p.points.push_back({float(xp * img.w / 100), float(yp * img.h / 100), 1});
        EXPECT_EQ(mask, fake_mask(img.w, img.h, p)) << img.name;
    }

    ServerConfig config_;
    std::shared_ptr<FakeSegmenter> model_ = std::make_shared<FakeSegmenter>();
    std::unique_ptr<samtest::FakeLabelStudio> ls_;
    std::unique_ptr<HttpServer> server_;
    std::unique_ptr<httplib::Client> client_;
};

TEST_F(ServerTest, HealthSetupVersionsWebhookShapes) {
    start();
    for (const char* path : {"/health", "/"}) {
        auto res = client_->Get(path);
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 200);
        json j = json::parse(res->body);
        EXPECT_EQ(j["status"], "UP");
        EXPECT_EQ(j["model_class"], "SamMLBackend");
    }
    json setup = samtest::load_json(samtest::golden("labelstudio/fixtures.json"))["setup_request"];
    auto res = post("/setup", setup);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(json::parse(res->body), json({{"model_version", "SamMLBackend-v0.0.1"}}));

    res = client_->Get("/versions");
    ASSERT_TRUE(res);
    EXPECT_EQ(json::parse(res->body)["versions"], json({"SamMLBackend-v0.0.1"}));

    res = post("/webhook", json{{"action", "ANNOTATION_CREATED"}, {"project", {{"id", 3}}}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(json::parse(res->body)["action"], "ANNOTATION_CREATED");
    EXPECT_EQ(error_of(post("/webhook", json{{"project", 3}})).first, 400);

    EXPECT_EQ(error_of(client_->Get("/nope")).first, 404);
    res = client_->Get("/metrics");
    ASSERT_TRUE(res);
    EXPECT_NE(res->body.find("sam_requests_total{route=\"/setup\",status=\"200\"} 1"), std::string::npos) << res->body;
    EXPECT_NE(res->body.find("sam_request_duration_seconds_count{route=\"/health\"} 1"), std::string::npos);
}

TEST_F(ServerTest, StartAcceptsAtOnceAndStopNeverHangs) {
    for (int i = 0; i < 20; ++i) {
        HttpServer server(config_, model_);
        server.start();
        if (i % 2 == 0) {  // accepting as soon as start() returns: no retry, no wait
            httplib::Client c("127.0.0.1", server.port());
            auto res = c.Get("/health");
            ASSERT_TRUE(res) << "round " << i;
            EXPECT_EQ(res->status, 200);
        }
        server.stop();  // odd rounds: right after start()
    }
    // serve() returns once another thread stops the server.
    HttpServer server(config_, model_);
    std::thread serving([&] { server.serve(); });
    for (int i = 0; i < 500 && server.port() < 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    server.stop();
    serving.join();
}

TEST_F(ServerTest, ClickKeypointAndBoxGiveTheFakeMasks) {
    start();
    expect_click_ok(kImages[0], 30, 60);
    // A box alone is ambiguous too; with a point it is single-mask (score 0.625).
    const Image& img = kImages[2];
    auto res = post("/predict", predict_body(local_url(img.name),
                                             json::array({keypoint(50, 50, img.w, img.h), rectangle(20, 30, 40, 25, img.w, img.h)})));
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    json r = json::parse(res->body)["results"][0];
    EXPECT_FLOAT_EQ(r["score"].get<float>(), 0.625f);
    EXPECT_EQ(r["result"][0]["value"]["brushlabels"], json({"Orange"}));  // the newest region's label
    sam::Prompt p;
    p.box = sam::PromptBox{float(20.0 * img.w / 100), float(30.0 * img.h / 100), float(60.0 * img.w / 100),
                           float(55.0 * img.h / 100)};
    auto rle = r["result"][0]["value"]["rle"].get<std::vector<uint8_t>>();
    EXPECT_EQ(sam::ls::decode_brush_rle(rle, img.w, img.h), fake_mask(img.w, img.h, p));
}

TEST_F(ServerTest, UploadedImageNeedsTheToken) {
    start();
    Image img{"exif_rotated.jpg", 480, 640};
    auto res = post("/predict", predict_body("/data/upload/3/5d1e0a2b-exif_rotated.jpg", json::array({keypoint(40, 70, 480, 640)})));
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    check_disk_answer(json::parse(res->body), img, 40, 70);
    EXPECT_EQ(ls_->unauthorized(), 0);
}

TEST_F(ServerTest, SetupGivesTokenWhenEnvironmentHasNone) {
    config_.label_studio_url.clear();
    config_.label_studio_api_key.clear();
    start();
    json body = predict_body("/data/upload/3/5d1e0a2b-exif_rotated.jpg", json::array({keypoint(40, 70, 480, 640)}));
    auto [status, error] = error_of(post("/predict", body));
    EXPECT_EQ(status, 400);
    EXPECT_NE(error.find("LABEL_STUDIO_URL"), std::string::npos) << error;
    ASSERT_EQ(post("/setup", json{{"project", "3.1"}, {"schema", kConfig}, {"hostname", ls_->url()},
                                  {"access_token", kToken}})->status, 200);
    auto res = post("/predict", body);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
}

TEST_F(ServerTest, WrongTokenIsRefusedByLabelStudio) {
    config_.label_studio_api_key = "wrong";
    start();
    auto [status, error] = error_of(post("/predict", predict_body("/data/upload/3/5d1e0a2b-exif_rotated.jpg",
                                                                   json::array({keypoint(40, 70, 480, 640)}))));
    EXPECT_EQ(status, 502);
    EXPECT_NE(error.find("LABEL_STUDIO_API_KEY"), std::string::npos) << error;
    EXPECT_EQ(ls_->unauthorized(), 1);
}

TEST_F(ServerTest, BasicAuth) {
    config_.basic_auth_user = "ann";
    config_.basic_auth_pass = "s3cret";
    start();
    EXPECT_EQ(error_of(client_->Get("/health")).first, 401);
    client_->set_basic_auth("ann", "wrong");
    EXPECT_EQ(error_of(client_->Get("/versions")).first, 401);
    client_->set_basic_auth("ann", "s3cret");
    auto res = client_->Get("/health");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    expect_click_ok(kImages[4]);
    // RFC 7235: the scheme name is case-insensitive.
    httplib::Client plain("127.0.0.1", server_->port());
    res = plain.Get("/health", httplib::Headers{{"Authorization", "basic YW5uOnMzY3JldA=="}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
}

TEST_F(ServerTest, BadInputsAnswerJsonErrorsAndTheServerKeepsServing) {
    config_.max_body_mb = 1;
    start();
    const Image& img = kImages[0];
    json good = predict_body(local_url(img.name), json::array({keypoint(50, 50, img.w, img.h)}));
    std::string no_output = R"(<View><Image name="image" value="$image"/><KeyPointLabels name="k" toName="image"><Label value="A"/></KeyPointLabels></View>)";
    std::string broken_output = R"(<View><Image name="image" value="$image"/><PolygonLabels name="p"/></View>)";
    json zero_box = predict_body(local_url(img.name), json::array({rectangle(20, 20, 0, 10, img.w, img.h)}));
    json outside = predict_body(local_url(img.name), json::array({keypoint(150, 50, img.w, img.h)}));
    json wrong_type = good;
    wrong_type["tasks"][0]["data"]["image"] = 42;
    json missing_data = good;
    missing_data["tasks"][0].erase("data");
    json tasks_object = good;
    tasks_object["tasks"] = json{{"id", 1}};
    json config_not_string = good;
    config_not_string["label_config"] = 5;
    json context_not_object = good;
    context_not_object["params"]["context"] = "click";

    struct Case {
        const char* what;
        std::string body;
        int status;
        const char* says;  // a piece of the error message
    };
    const std::vector<Case> cases = {
        {"malformed JSON", "{\"tasks\": [", 400, "malformed JSON"},
        {"empty body", "", 400, "empty"},
        {"not an object", "[1, 2]", 400, "object"},
        {"no tasks", json{{"label_config", kConfig}}.dump(), 400, "tasks"},
        {"tasks not an array", tasks_object.dump(), 400, "tasks"},
        {"url not a string", wrong_type.dump(), 400, "data.image"},
        {"no data", missing_data.dump(), 400, "data"},
        {"label_config not a string", config_not_string.dump(), 400, "label_config"},
        {"context not an object", context_not_object.dump(), 400, ""},
        {"config without an output tag", predict_body(local_url(img.name), json::array({keypoint(50, 50, img.w, img.h)}), no_output).dump(), 422, "no output tag"},
        {"output tag without toName", predict_body(local_url(img.name), json::array({keypoint(50, 50, img.w, img.h)}), broken_output).dump(), 422, "toName"},
        {"zero-size box", zero_box.dump(), 422, "zero size"},
        {"point outside the image", outside.dump(), 422, "outside"},
        {"local file missing", predict_body(local_url("missing.jpg"), json::array({keypoint(50, 50, 10, 10)})).dump(), 404, "image not found"},
        {"upload 404", predict_body("/data/upload/3/nothing.jpg", json::array({keypoint(50, 50, 10, 10)})).dump(), 404, "image not found"},
        {"corrupt bytes", predict_body("/data/upload/3/corrupt.jpg", json::array({keypoint(50, 50, 10, 10)})).dump(), 422, "corrupt.jpg"},
        {"path escaping the root", predict_body("/data/local-files/?d=../../etc/passwd", json::array({keypoint(50, 50, 10, 10)})).dump(), 403, ""},
    };  // bodies over MAX_BODY_MB: test_server_hostile (answered before the body, which httplib cannot read)
    for (const Case& c : cases) {
        auto [status, error] = error_of(post("/predict", c.body));
        EXPECT_EQ(status, c.status) << c.what << ": " << error;
        EXPECT_NE(error.find(c.says), std::string::npos) << c.what << ": " << error;
        expect_click_ok(img);  // still serving
    }
    // Label Studio must be able to connect: /setup says 200 and logs what /predict will refuse.
    EXPECT_EQ(post("/setup", json{{"schema", no_output}})->status, 200);
    EXPECT_EQ(post("/setup", json{{"schema", broken_output}})->status, 200);
    EXPECT_EQ(model_->embeds, 1);  // the good image was embedded once; bad ones never reached the model
}

// Label Studio calls /setup on connect and on every refresh; anything but 200 marks the model
// failed. Templates this backend cannot serve connect, and /predict says what is missing.
TEST_F(ServerTest, SetupAnswers200ForEveryParseableSchema) {
    start();
    const std::string no_output = R"(<View><Image name="image" value="$image"/><KeyPointLabels name="kp" toName="image"><Label value="Banana"/></KeyPointLabels></View>)";
    for (const std::string& schema : {std::string("<View></View>"), no_output, kConfig, std::string()}) {
        auto res = post("/setup", json{{"project", "3.1717"}, {"schema", schema}, {"hostname", "http://localhost:8080"},
                                       {"access_token", kToken}, {"extra_params", json::object()}});
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 200) << schema << ": " << res->body;
        EXPECT_EQ(json::parse(res->body), json({{"model_version", "SamMLBackend-v0.0.1"}})) << schema;
    }
    EXPECT_EQ(error_of(post("/setup", json{{"schema", "<View><Image"}})).first, 400);  // not a label config at all
    const Image& img = kImages[0];
    for (const std::string& config : {std::string("<View></View>"), no_output}) {
        auto [status, error] = error_of(post("/predict", predict_body(local_url(img.name),
                                                                       json::array({keypoint(50, 50, img.w, img.h)}), config)));
        EXPECT_EQ(status, 422) << config;
        EXPECT_NE(error.find("no output tag"), std::string::npos) << error;
    }
}

// A personal access token (JWT refresh token) is exchanged for access tokens; Label Studio
// refuses the refresh token itself. A refused access token is exchanged again once.
TEST_F(ServerTest, PersonalAccessTokenDownloadsUploads) {
    config_.label_studio_api_key = ls_->issue_personal_token(300);
    ls_->add_file("/data/upload/3/second.png", samtest::golden("images/tiny.png"));
    start();
    auto res = post("/predict", predict_body("/data/upload/3/5d1e0a2b-exif_rotated.jpg", json::array({keypoint(40, 70, 480, 640)})));
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    check_disk_answer(json::parse(res->body), {"exif_rotated.jpg", 480, 640}, 40, 70);
    EXPECT_EQ(ls_->refreshes(), 1);
    EXPECT_EQ(ls_->unauthorized(), 0);

    ls_->revoke_access_tokens();
    res = post("/predict", predict_body("/data/upload/3/second.png", json::array({keypoint(50, 50, 17, 9)})));
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    check_disk_answer(json::parse(res->body), kImages[4], 50, 50);
    EXPECT_EQ(ls_->refreshes(), 2);
    EXPECT_EQ(ls_->unauthorized(), 1);
}

// Cloud storage keys with spaces, '#', '?', '%' and Unicode are presigned through Label Studio.
TEST_F(ServerTest, CloudKeysWithAnyCharacterArePresigned) {
    const std::vector<std::string> keys = {"s3://bucket/photo 1.jpg", "gs://b/a?b#c%20d+e&f=g.jpg",
                                           "azure-blob://c/\xe5\x86\x99\xe7\x9c\x9f 2.jpg"};
    for (const std::string& key : keys) ls_->add_cloud_file(key, samtest::golden("images/exif_rotated.jpg"));
    start();
    for (const std::string& key : keys) {
        auto res = post("/predict", predict_body(key, json::array({keypoint(40, 70, 480, 640)})));
        ASSERT_TRUE(res);
        ASSERT_EQ(res->status, 200) << key << ": " << res->body;
        check_disk_answer(json::parse(res->body), {"exif_rotated.jpg", 480, 640}, 40, 70);
    }
}

TEST_F(ServerTest, SlowImageTimesOut) {
    config_.download_timeout = 0.3;
    start();
    ls_->set_delay_ms(1500);
    auto [status, error] = error_of(post("/predict", predict_body("/data/upload/3/5d1e0a2b-exif_rotated.jpg",
                                                                   json::array({keypoint(40, 70, 480, 640)}))));
    EXPECT_EQ(status, 504);
    EXPECT_NE(error.find("timed out"), std::string::npos) << error;
    expect_click_ok(kImages[4]);
}

TEST_F(ServerTest, SecondClickIsACacheHit) {
    start();
    expect_click_ok(kImages[1], 20, 20);
    expect_click_ok(kImages[1], 70, 40);
    EXPECT_EQ(model_->embeds, 1);
    std::string m = client_->Get("/metrics")->body;
    EXPECT_EQ(metric(m, "sam_embedding_cache_hits_total"), 1) << m;
    EXPECT_EQ(metric(m, "sam_embedding_cache_misses_total"), 1);
    EXPECT_EQ(metric(m, "sam_embeddings_computed_total"), 1);
}

TEST_F(ServerTest, SingleFlightOnConcurrentMisses) {
    config_.threads = 8;
    start();
    model_->embed_delay_ms = 300;  // long enough for every request to find the computation running
    const Image& img = kImages[0];
    std::vector<std::future<void>> clients;
    for (int i = 0; i < 6; ++i)
        clients.push_back(std::async(std::launch::async, [&, i] {
            httplib::Client c("127.0.0.1", server_->port());
            c.set_read_timeout(20);
            double xp = 10 + 12 * i;
            auto res = c.Post("/predict", predict_body(local_url(img.name), json::array({keypoint(xp, 50, img.w, img.h)})).dump(),
                              "application/json");
            ASSERT_TRUE(res);
            ASSERT_EQ(res->status, 200) << res->body;
            check_disk_answer(json::parse(res->body), img, xp, 50);
        }));
    for (auto& f : clients) f.get();
    EXPECT_EQ(model_->embeds, 1);
}

TEST_F(ServerTest, NoContextAnswersEmptyAndPrefetches) {
    start();
    const Image& img = kImages[3];
    for (const json& body : {predict_body(local_url(img.name), nullptr),
                             [&] { json b = predict_body(local_url(img.name), nullptr); b["params"]["context"] = json::object(); return b; }(),
                             [&] { json b = predict_body(local_url(img.name), nullptr); b.erase("params"); return b; }()}) {
        auto res = post("/predict", body);
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 200);
        EXPECT_EQ(json::parse(res->body), json({{"results", json::array()}}));
    }
    // The background embedding lands in the cache; the click then hits it.
    for (int i = 0; i < 200 && model_->embeds == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (int i = 0; i < 200; ++i) {
        std::string m = client_->Get("/metrics")->body;
        if (metric(m, "sam_embedding_cache_entries") == 1) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    expect_click_ok(img);
    EXPECT_EQ(model_->embeds, 1);
    std::string m = client_->Get("/metrics")->body;
    EXPECT_GE(metric(m, "sam_prefetch_queued_total"), 1) << m;
    EXPECT_EQ(metric(m, "sam_embedding_cache_hits_total"), 1) << m;
}

TEST_F(ServerTest, FiftyConcurrentRequestsOverFiveImages) {
    config_.threads = 8;
    start();
    std::vector<std::future<void>> clients;
    for (int i = 0; i < 50; ++i)
        clients.push_back(std::async(std::launch::async, [&, i] {
            const Image& img = kImages[i % 5];
            double xp = 20 + (i % 7) * 9, yp = 15 + (i % 11) * 7;
            httplib::Client c("127.0.0.1", server_->port());
            c.set_read_timeout(30);
            auto res = c.Post("/predict", predict_body(local_url(img.name), json::array({keypoint(xp, yp, img.w, img.h)})).dump(),
                              "application/json");
            ASSERT_TRUE(res) << httplib::to_string(res.error());
            ASSERT_EQ(res->status, 200) << res->body;
            check_disk_answer(json::parse(res->body), img, xp, yp);
        }));
    for (auto& f : clients) f.get();
    EXPECT_EQ(model_->embeds, 5);
}

}  // namespace
