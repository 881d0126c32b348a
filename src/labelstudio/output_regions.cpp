#include "labelstudio/output_regions.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <random>
#include <stdexcept>

#include "io/png_writer.hpp"
#include "labelstudio/brush_rle.hpp"
#include "labelstudio/base64.hpp"
#include "models/mask_postprocess.hpp"

namespace sam::ls {

using nlohmann::json;

namespace {

std::string png_data_url(const std::vector<uint8_t>& png) {
    return "data:image/png;base64," + base64_encode(std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
}

json percent_points(const Polygon& polygon, int width, int height) {
    json points = json::array();
    for (const PolygonVertex& v : polygon) points.push_back({v.x * 100.0 / width, v.y * 100.0 / height});
    return points;
}

struct PixelBox {
    int x0 = INT_MAX, y0 = INT_MAX, x1 = -1, y1 = -1;  // inclusive pixel indices
    bool empty() const { return x1 < 0; }
};

PixelBox mask_box(const Prediction& prediction, int index) {
    PixelBox box;
    int y = 0;
    const int w = prediction.orig_w;
    for_each_mask_row(prediction, index, [&](const uint8_t* row) {
        const uint8_t* end = row + w;
        const uint8_t* first = std::find_if(row, end, [](uint8_t v) { return v != 0; });
        if (first != end) {
            int last = w - 1;
            while (!row[last]) --last;
            box.x0 = std::min(box.x0, static_cast<int>(first - row));
            box.x1 = std::max(box.x1, last);
            box.y0 = std::min(box.y0, y);
            box.y1 = y;
        }
        ++y;
    });
    return box;
}

}  // namespace

json make_region(const OutputTarget& target, const std::string& label, int width, int height, float score,
                 const std::string& id, json value) {
    if (width <= 0 || height <= 0)
        throw std::invalid_argument("make_region: size " + std::to_string(width) + "x" + std::to_string(height) +
                                    " is not positive");
    if (!std::isfinite(score)) throw std::invalid_argument("make_region: score is not finite");
    value[result_type(target.kind)] = json::array({label});
    return {
        {"id", id},
        {"from_name", target.from_name},
        {"to_name", target.to_name},
        {"original_width", width},
        {"original_height", height},
        {"image_rotation", 0},
        {"value", std::move(value)},
        {"score", score},
        {"type", result_type(target.kind)},
        {"readonly", false},
    };
}

json output_regions(const Prediction& prediction, int index, const OutputTarget& target, const std::string& label,
                    float score, const OutputOptions& options) {
    const int w = prediction.orig_w, h = prediction.orig_h;
    json regions = json::array();
    auto add = [&](json value) {
        regions.push_back(make_region(target, label, w, h, score, new_region_id(), std::move(value)));
    };
    switch (target.kind) {
        case OutputKind::Brush: {
            int64_t area = 0;
            // Upscaled rows go straight into the encoder: no full-size mask (12 MB at 4000x3000).
            std::vector<uint8_t> rle = brush_rle_from_prediction(prediction, index, &area);
            if (area > 0) add({{"format", "rle"}, {"rle", std::move(rle)}});
            break;
        }
        case OutputKind::Bitmask: {
            // Rows go straight into the PNG encoder, as into the RLE: no full-size mask.
            PngGrayWriter png(w, h);
            std::vector<uint8_t> buffer(static_cast<size_t>(w));
            uint8_t any = 0;
            for_each_mask_row(prediction, index, [&](const uint8_t* row) {
                // Locals only: a byte store may alias anything captured, and the compiler would
                // reload it every pixel instead of vectorising (5x slower).
                uint8_t* gray = buffer.data();
                const int width = w;
                uint8_t row_any = 0;
                for (int x = 0; x < width; ++x) {
                    gray[x] = row[x] ? 255 : 0;
                    row_any |= row[x];
                }
                any |= row_any;
                png.add_row(gray);
            });
            if (any) add({{"imageDataURL", png_data_url(png.finish())}, {"width", w}, {"height", h}});
            break;
        }
        case OutputKind::Polygon:
        case OutputKind::Vector: {
            const std::vector<uint8_t> mask = binary_mask(prediction, index);
            for (const Polygon& polygon : mask_polygons(mask.data(), w, h, options.polygon))
                add({{"points", percent_points(polygon, w, h)}, {"closed", true}});
            break;
        }
        case OutputKind::Rectangle: {
            const PixelBox b = mask_box(prediction, index);
            if (!b.empty())
                add({{"x", b.x0 * 100.0 / w},
                     {"y", b.y0 * 100.0 / h},
                     {"width", (b.x1 - b.x0 + 1) * 100.0 / w},
                     {"height", (b.y1 - b.y0 + 1) * 100.0 / h},
                     {"rotation", 0}});
            break;
        }
    }
    return regions;
}

std::string new_region_id() {
    static const char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    thread_local std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int> pick(0, sizeof(digits) - 2);
    std::string id(10, ' ');
    for (char& c : id) c = digits[pick(rng)];
    return id;
}

}  // namespace sam::ls
