// The regions a click answers with, in the form the output tag takes (DESIGN.md, "The output
// region follows the label config"):
// - BrushLabels: {"format": "rle", "rle": [bytes...]} (Label Studio's brush RLE);
// - BitmaskLabels: {"imageDataURL": "data:image/png;base64,...", "width", "height"}, an 8-bit
//   gray PNG at the original size, 255 inside;
// - PolygonLabels / VectorLabels: {"points": [[x%, y%], ...], "closed": true}, one region per
//   separate part of the mask, largest first (mask_polygons);
// - RectangleLabels: the mask's bounding box {x, y, width, height, rotation: 0} in percent,
//   pixel edges included (a mask of pixel columns 10..19 gives x = 10 and width = 10 pixels).
// Every region: id, from_name, to_name, original_width/height, image_rotation 0, value with
// "<type>": [label], score, type, readonly false.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "labelstudio/label_config.hpp"
#include "labelstudio/mask_polygons.hpp"
#include "models/segmenter.hpp"

namespace sam::ls {

struct OutputOptions {
    PolygonOptions polygon;
};

// The regions for mask `index` of `prediction` (an empty array when the mask is empty). Masks
// come from the upscaled logits in one pass; the brush, bitmask and rectangle paths stream rows
// into the RLE, the PNG and the bounding box, so only polygons (contours) need a full-size mask.
// Throws what mask post-processing throws, std::invalid_argument for a non-finite score.
nlohmann::json output_regions(const Prediction& prediction, int index, const OutputTarget& target,
                              const std::string& label, float score, const OutputOptions& options);

// One region: the common fields around `value`, to which "<type>": [label] is added.
// Throws std::invalid_argument for a non-positive size or a non-finite score (JSON has no NaN).
nlohmann::json make_region(const OutputTarget& target, const std::string& label, int width, int height, float score,
                           const std::string& id, nlohmann::json value);

// A short random region id; unique within a task is all Label Studio needs (its own ids are 10 characters).
std::string new_region_id();

}  // namespace sam::ls
