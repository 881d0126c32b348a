// The real sam-ml-backend binary as benchmarks start it (tests/support/server_process.hpp on its
// own port, logging warnings only), clicks on local-storage images, and the test images.
// SAM_BACKEND_BIN overrides the binary (default: the one of this build).
#pragma once

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/png_writer.hpp"
#include "support/server_process.hpp"

namespace sambench {

// A started server whose /health answers; throws with its log if it exits or takes over
// `limit_s`. `vars` go on top of this process's environment.
inline std::unique_ptr<samtest::ServerProcess> start_server(const std::map<std::string, std::string>& vars,
                                                            double limit_s) {
    samtest::ServerProcess::Env env = {{"PORT", std::to_string(samtest::free_port())}, {"LOG_LEVEL", "warning"}};
    env.insert(env.end(), vars.begin(), vars.end());
    auto server = std::make_unique<samtest::ServerProcess>(env);
    if (!server->wait_ready(limit_s))
        throw std::runtime_error("no /health answer within " + std::to_string(limit_s) + " s; log:\n" + server->log());
    return server;
}

inline const char* kConfig = R"(<View><Image name="image" value="$image"/>
<BrushLabels name="tag" toName="image"><Label value="Object"/></BrushLabels>
<KeyPointLabels name="kp" toName="image" smart="true"><Label value="Object"/></KeyPointLabels></View>)";

// A /predict body: one positive keypoint (percent) on a width x height image at `url`.
inline nlohmann::json click_body(const std::string& url, double xp = 50, double yp = 50, int width = 1920,
                                 int height = 1080, const std::string& config = kConfig) {
    using nlohmann::json;
    json kp = {{"original_width", width}, {"original_height", height}, {"image_rotation", 0},
               {"value", {{"x", xp}, {"y", yp}, {"width", 0.3}, {"keypointlabels", {"Object"}}}},
               {"id", "k"}, {"from_name", "kp"}, {"to_name", "image"}, {"type", "keypointlabels"}, {"is_positive", true}};
    return {{"tasks", json::array({{{"id", 1}, {"data", {{"image", url}}}}})},
            {"label_config", config},
            {"params", {{"context", {{"result", json::array({kp})}}}}}};
}

// One positive keypoint on a local-storage 1920x1080 image: embeds it unless cached.
inline void click(int port, const std::string& file, double limit_s) {
    using nlohmann::json;
    json body = click_body("/data/local-files/?d=" + file);
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(std::chrono::milliseconds(int64_t(limit_s * 1000)));
    auto res = c.Post("/predict", body.dump(), "application/json");
    if (!res || res->status != 200)
        throw std::runtime_error("predict on " + file + " failed: " + (res ? res->body : "no answer"));
    if (json::parse(res->body)["results"].empty()) throw std::runtime_error("predict on " + file + ": no result");
}

// A w x h gray gradient with a bright disk, different per seed (each seed a new image to encode).
inline void write_image(const std::string& path, int seed, int w = 1920, int h = 1080) {
    std::vector<uint8_t> px(static_cast<size_t>(w) * h);
    const int r = h / 5;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const int dx = x - w / 2 - seed * 60, dy = y - h / 2 + seed * 20;
            px[static_cast<size_t>(y) * w + x] = dx * dx + dy * dy < r * r ? 230 : uint8_t((x + 2 * y + seed * 37) / 12);
        }
    sam::write_png_gray(path, w, h, px.data());
}

}  // namespace sambench
