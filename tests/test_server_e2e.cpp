// End to end: the real sam-ml-backend process with the random-weight MobileSAM checkpoint,
// a document root holding the golden images and a fake Label Studio serving the uploads with
// the token. Every fixture of golden/labelstudio/fixtures.json answers with its names, label,
// size, score and mask; no context answers []; later clicks on an image are cache hits.
#include <gtest/gtest.h>
#include <httplib.h>

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

TEST(ServerE2E, MissingCheckpointIsAClearMessage) {
    samtest::ServerProcess server(samtest::ServerProcess::Env{{"MOBILESAM_CHECKPOINT", "/nonexistent/mobile_sam.pt"}});
    int code = server.wait_exit(20);
    EXPECT_NE(code, 0) << server.log();
    EXPECT_NE(code, -1) << "still running:\n" << server.log();
    EXPECT_NE(server.log().find("download_models.sh"), std::string::npos) << server.log();
}

TEST(ServerE2E, EveryFixture) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    json fixtures = samtest::load_json(samtest::golden("labelstudio/fixtures.json"));
    std::string token = fixtures["setup_request"]["access_token"];
    samtest::FakeLabelStudio ls(token);
    ls.add_file("/data/upload/3/5d1e0a2b-exif_rotated.jpg", samtest::golden("images/exif_rotated.jpg"));

    samtest::ServerProcess server(samtest::ServerProcess::Env{{"MOBILESAM_CHECKPOINT", samtest::golden("checkpoints/mobile_sam_random.pt")},
                                   {"LOCAL_FILES_DOCUMENT_ROOT", samtest::golden("")},
                                   {"LABEL_STUDIO_URL", ls.url()},
                                   {"LABEL_STUDIO_API_KEY", token}});
    ASSERT_TRUE(server.wait_ready(60)) << server.log();
    httplib::Client client("127.0.0.1", server.port());
    client.set_read_timeout(120);

    std::string setup = fixtures["setup_request"].dump();
    setup.replace(setup.find("PORT"), 4, std::to_string(ls.port()));
    auto res = client.Post("/setup", setup, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;

    int clicks = 0;
    for (const json& fx : fixtures["predict"]) {
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
        int w = want["original_width"], h = want["original_height"];
        EXPECT_EQ(region["original_width"], w) << name;
        EXPECT_EQ(region["original_height"], h) << name;
        EXPECT_NEAR(answer["results"][0]["score"].get<double>(), want["score"].get<double>(), 5e-3) << name;

        auto mask = sam::ls::decode_brush_rle(region["value"]["rle"].get<std::vector<uint8_t>>(), w, h);
        samtest::GrayImage ref = samtest::load_png_gray(samtest::golden("labelstudio/" + want["mask_file"].get<std::string>()));
        ASSERT_EQ(ref.width, w);
        ASSERT_EQ(ref.height, h);
        // Random weights leave many pixels near the threshold: demand agreement on nearly all.
        size_t differ = 0;
        for (size_t i = 0; i < mask.size(); ++i) differ += mask[i] != (ref.pixels[i] > 127);
        EXPECT_LE(differ, mask.size() / 100) << name << ": " << differ << " of " << mask.size() << " pixels differ";
    }
    // Two images: each embedded once, every later click a cache hit.
    std::string m = client.Get("/metrics")->body;
    EXPECT_EQ(metric(m, "sam_embeddings_computed_total"), 2) << m;
    EXPECT_EQ(metric(m, "sam_embedding_cache_hits_total"), clicks - 2) << m;
}

}  // namespace
