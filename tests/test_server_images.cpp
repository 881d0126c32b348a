// Odd and hostile images through the real server: an image thousands of times longer than wide
// gives a one-pixel-wide encoder input and a mask, not a 500; an image whose decode needs more
// than DECODE_BUDGET_MB is refused from its header, and the server keeps answering.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>

#include "io/png_writer.hpp"
#include "labelstudio/brush_rle.hpp"
#include "support/golden.hpp"
#include "support/server_process.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* kConfig =
    "<View><Image name=\"image\" value=\"$image\"/><BrushLabels name=\"tag\" toName=\"image\">"
    "<Label value=\"Object\"/></BrushLabels><KeyPointLabels name=\"kp\" toName=\"image\" smart=\"true\">"
    "<Label value=\"Object\"/></KeyPointLabels></View>";

// A /predict click at the image centre, as Label Studio sends it.
std::string click(const std::string& file, int w, int h) {
    json region = {{"id", "k1"},
                   {"type", "keypointlabels"},
                   {"from_name", "kp"},
                   {"to_name", "image"},
                   {"original_width", w},
                   {"original_height", h},
                   {"image_rotation", 0},
                   {"is_positive", true},
                   {"value", {{"x", 50.0}, {"y", 50.0}, {"width", 1.0}, {"keypointlabels", {"Object"}}}}};
    json req = {{"tasks", {{{"id", 1}, {"data", {{"image", "/data/local-files/?d=" + file}}}}}},
                {"label_config", kConfig},
                {"params", {{"context", {{"result", {region}}}}}}};
    return req.dump();
}

class ServerImages : public ::testing::Test {
protected:
    fs::path root;
    void SetUp() override {
        if (!samtest::golden_available()) GTEST_SKIP() << "golden data not found";
        root = fs::temp_directory_path() / ("sam_server_images_" + std::to_string(getpid()));
        fs::create_directories(root);
    }
    void TearDown() override { fs::remove_all(root); }
    void gray_png(const std::string& name, int w, int h) {
        std::vector<uint8_t> px(size_t(w) * h);
        for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 31);
        sam::write_png_gray((root / name).string(), w, h, px.data());
    }
    samtest::ServerProcess::Env env(const std::string& budget_mb = "") {
        samtest::ServerProcess::Env e = {{"MOBILESAM_CHECKPOINT", samtest::golden("checkpoints/mobile_sam_random.pt")},
                                         {"LOCAL_FILES_DOCUMENT_ROOT", root.string()}};
        if (!budget_mb.empty()) e.push_back({"DECODE_BUDGET_MB", budget_mb});
        return e;
    }
};

TEST_F(ServerImages, ImagesThousandsOfTimesLongerThanWideGetAMask) {
    gray_png("tall.png", 1, 3000);
    gray_png("wide.png", 5000, 2);
    samtest::ServerProcess server(env());
    ASSERT_TRUE(server.wait_ready(60)) << server.log();
    httplib::Client client("127.0.0.1", server.port());
    client.set_read_timeout(120);
    for (auto [file, w, h] : {std::tuple{"tall.png", 1, 3000}, std::tuple{"wide.png", 5000, 2}}) {
        auto res = client.Post("/predict", click(file, w, h), "application/json");
        ASSERT_TRUE(res) << file;
        ASSERT_EQ(res->status, 200) << file << ": " << res->body;
        const json answer = json::parse(res->body)["results"][0];
        ASSERT_TRUE(answer["score"].is_number()) << res->body;
        ASSERT_TRUE(answer["result"].is_array()) << res->body;
        // An empty mask answers no region (random weights may give one at this size).
        for (const json& region : answer["result"]) {
            EXPECT_EQ(region["original_width"], w);
            EXPECT_EQ(region["original_height"], h);
            const auto mask = sam::ls::decode_brush_rle(region["value"]["rle"].get<std::vector<uint8_t>>(), w, h);
            EXPECT_EQ(mask.size(), size_t(w) * h);
        }
    }
}

TEST_F(ServerImages, DecodeBudgetRefusesFromTheHeaderAndTheServerCarriesOn) {
    gray_png("big.png", 6000, 6000);  // 103 MiB as RGB: over a 64 MiB budget
    gray_png("small.png", 64, 48);
    samtest::ServerProcess server(env("64"));
    ASSERT_TRUE(server.wait_ready(60)) << server.log();
    httplib::Client client("127.0.0.1", server.port());
    client.set_read_timeout(120);
    auto res = client.Post("/predict", click("big.png", 6000, 6000), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 422) << res->body;
    EXPECT_NE(res->body.find("DECODE_BUDGET_MB"), std::string::npos) << res->body;
    res = client.Post("/predict", click("small.png", 64, 48), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(client.Get("/health")->status, 200);
}

}  // namespace
