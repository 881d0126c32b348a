// A click through HTTP on the in-process server with the real model: on a cached 1080p image
// (RLE included; DESIGN.md target 30 ms median), on a cached 4000x3000 one (target 120 ms) and
// the first click on an uncached 1080p one; then the cached 1080p click answered into each
// output tag (brush, bitmask, polygons, rectangle) in interleaved rounds, with each one's
// difference to the brush answer (issue 13: conversion adds under 3 ms).
// MOBILESAM_CHECKPOINT picks the checkpoint (default: the golden random-weight MobileSAM).
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "bench_util.hpp"
#include "models/model_loader.hpp"
#include "server/http_server.hpp"
#include "server_process.hpp"
#include "support/answers.hpp"

using nlohmann::json;

namespace {

// A click at (xp, yp) percent on a local-storage file.
json click(const std::string& file, double xp, double yp, int width = 1920, int height = 1080,
           const std::string& config = sambench::kConfig) {
    return sambench::click_body("/data/local-files/?d=" + file, xp, yp, width, height, config);
}

}  // namespace

int main(int, char** argv) {
    sambench::setup(argv);
    namespace fs = std::filesystem;
    const char* env = std::getenv("MOBILESAM_CHECKPOINT");
    sam::ModelChoice choice;
    choice.mobilesam_checkpoint = env ? std::string(env) : sambench::golden_dir() + "checkpoints/mobile_sam_random.pt";
    std::shared_ptr<const sam::Segmenter> model = sam::load_segmenter(choice);

    fs::path root = fs::temp_directory_path() / ("sam-bench-server-" + std::to_string(::getpid()));
    fs::create_directories(root);
    for (int i = 0; i < 4; ++i) sambench::write_image((root / ("img" + std::to_string(i) + ".png")).string(), i);
    sambench::write_image((root / "big.png").string(), 0, 4000, 3000);

    sam::server::ServerConfig config;
    config.host = "127.0.0.1";
    config.port = 0;
    config.document_root = root.string();
    spdlog::set_level(spdlog::level::warn);
    sam::server::HttpServer server(config, model);
    server.start();
    httplib::Client client("127.0.0.1", server.port());
    client.set_read_timeout(120);
    client.set_keep_alive(true);  // Label Studio's browser keeps its connection too
    client.set_tcp_nodelay(true);

    auto post = [&](const json& body) {
        auto res = client.Post("/predict", body.dump(), "application/json");
        if (!res || res->status != 200) {
            std::fprintf(stderr, "bench_server: predict failed: %s\n", res ? res->body.c_str() : "no answer");
            std::exit(1);
        }
    };
    int n = 0;
    auto first = sambench::time_runs(3, [&] { ++n; post(click("img" + std::to_string(n) + ".png", 50, 50)); });
    sambench::print_json("server_first_click_uncached_1080p", first, "\"image\": \"1920x1080\"");
    post(click("img0.png", 50, 50));  // embed it
    int k = 0;
    auto cached = sambench::time_runs(50, [&] { ++k; post(click("img0.png", 10 + k % 80, 10 + (k * 7) % 80)); });
    sambench::print_json("server_click_cached_1080p", cached, "\"image\": \"1920x1080\", \"target_median\": 0.030");
    post(click("big.png", 50, 50, 4000, 3000));  // embed it
    auto big = sambench::time_runs(30, [&] { ++k; post(click("big.png", 10 + k % 80, 10 + (k * 7) % 80, 4000, 3000)); });
    sambench::print_json("server_click_cached_4000x3000", big, "\"image\": \"4000x3000\", \"target_median\": 0.120");

    const char* tags[] = {"BrushLabels", "BitmaskLabels", "PolygonLabels", "RectangleLabels"};
    std::vector<std::vector<double>> times(4);
    for (int round = 0; round < 40; ++round) {
        ++k;
        for (int t = 0; t < 4; ++t) {
            const json body = click("img0.png", 10 + k % 80, 10 + (k * 7) % 80, 1920, 1080,
                                    samtest::with_output_tag(sambench::kConfig, tags[t]));
            times[t].push_back(sambench::time_runs(1, [&] { post(body); }).median);
        }
    }
    const double brush = sambench::figures(times[0]).median;
    for (int t = 0; t < 4; ++t) {
        const sambench::Figures f = sambench::figures(times[t]);
        char extra[160];
        std::snprintf(extra, sizeof extra, "\"image\": \"1920x1080\", \"output\": \"%s\", \"added_to_brush_ms\": %.3f, "
                      "\"ratio_to_brush\": %.3f", tags[t], (f.median - brush) * 1e3, f.median / brush);
        sambench::print_json(std::string("server_click_cached_1080p_") + tags[t], f, extra);
    }
    server.stop();
    fs::remove_all(root);
    return 0;
}
