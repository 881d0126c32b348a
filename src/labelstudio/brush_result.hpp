// The brush region the backend answers with (DESIGN.md, "The brush region").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "labelstudio/label_config.hpp"

namespace sam::ls {

// {"id", "from_name", "to_name", "original_width", "original_height", "image_rotation": 0,
//  "value": {"format": "rle", "rle": [bytes...], "brushlabels": [label]}, "score",
//  "type": "brushlabels", "readonly": false}. The RLE bytes go in as a JSON array of numbers.
// Throws std::invalid_argument for a non-positive size or a non-finite score (JSON has no NaN).
nlohmann::json make_brush_region(const BrushTarget& target, const std::string& label, int width, int height,
                                 const std::vector<uint8_t>& rle, float score, const std::string& id);

}  // namespace sam::ls
