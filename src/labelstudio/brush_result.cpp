#include "labelstudio/brush_result.hpp"

#include <cmath>
#include <stdexcept>

namespace sam::ls {

nlohmann::json make_brush_region(const BrushTarget& target, const std::string& label, int width, int height,
                                 const std::vector<uint8_t>& rle, float score, const std::string& id) {
    if (width <= 0 || height <= 0)
        throw std::invalid_argument("make_brush_region: size " + std::to_string(width) + "x" + std::to_string(height) +
                                    " is not positive");
    if (!std::isfinite(score)) throw std::invalid_argument("make_brush_region: score is not finite");
    return {
        {"id", id},
        {"from_name", target.from_name},
        {"to_name", target.to_name},
        {"original_width", width},
        {"original_height", height},
        {"image_rotation", 0},
        {"value", {{"format", "rle"}, {"rle", rle}, {"brushlabels", nlohmann::json::array({label})}}},
        {"score", score},
        {"type", "brushlabels"},
        {"readonly", false},
    };
}

}  // namespace sam::ls
