// Reading the server's answers in end-to-end tests: /predict's JSON, /metrics samples, the mask of a result region
// of any output type, and the check that one click answered into every output tag agrees with
// its brush answer (issue 13), for any model behind the server.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace samtest {

// POST /predict: the answer's JSON, with a gtest failure (and null) unless it is a 200.
nlohmann::json post_predict(httplib::Client& client, const nlohmann::json& request);

// The value of a Prometheus sample line `name` (exact, labels included), or -1.
double metric(const std::string& metrics_text, const std::string& name);

// A 0/1 mask of original_width x original_height pixels from a result region, whatever its type:
// brush RLE, bitmask PNG, polygon (filled at boundary pixel centres), rectangle.
std::vector<uint8_t> region_mask(const nlohmann::json& region);
double iou(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b);
// The mask with its holes filled (polygon regions have none).
std::vector<uint8_t> without_holes(std::vector<uint8_t> mask, int w, int h);
// The bounding box [x0, y0, x1, y1] (inclusive) of a 0/1 mask; x1 = -1 when it is empty.
std::array<int, 4> bounding_box(const std::vector<uint8_t>& mask, int w, int h);

// A /predict answer without its region ids (they differ between two answers of the same mask).
nlohmann::json without_ids(nlohmann::json answer);
// A label config with its BrushLabels tag turned into another output tag (e.g. "PolygonLabels").
std::string with_output_tag(const std::string& brush_config, const std::string& tag);
// A one-click request with a second click of the same kind, 8% left and 5% up of the first:
// it extends the first prompt (refinement).
nlohmann::json two_clicks(const nlohmann::json& one_click_request);

// Asks `predict` the brush `request` and the same request with its config's BrushLabels turned
// into BitmaskLabels, PolygonLabels, VectorLabels and RectangleLabels, and checks (gtest
// expectations) each answer against the brush one: names, sizes, label and score equal; the
// bitmask PNG exactly the brush mask; the polygons rasterised back at IoU >= 0.97 with the
// mask's holes filled; the rectangle the mask's bounding box. Returns the tags checked (4).
int expect_output_tags_agree(const nlohmann::json& request,
                             const std::function<nlohmann::json(const nlohmann::json&)>& predict,
                             const std::string& name);

}  // namespace samtest
