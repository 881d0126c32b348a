// What the annotator clicked: Label Studio's params.context.result -> a SAM prompt.
//
// Rules (fixed by golden/labelstudio/fixtures.json and the golden README):
// - Only keypointlabels and rectanglelabels regions count; other types are skipped unchecked.
// - Percent to pixels as floats: x * original_width / 100, y * original_height / 100.
// - Every keypoint counts: is_positive true -> label 1; false, null or missing -> label 0.
// - A rectangle is [x, y, x + width, y + height]; a rotated one (value.rotation, degrees
//   clockwise around its top-left corner, as Label Studio draws it) becomes its axis-aligned
//   bounding box. The newest (last) rectangle wins.
// - One point alone or one box alone is ambiguous: multimask = true (the server returns the
//   best of three). Any other mix: multimask = false.
// - Label: the newest region that carries one (value.keypointlabels / rectanglelabels /
//   labels, first entry) wins, as in the Python example. A label missing from the
//   BrushLabels list passes through unchanged; when no region has a label, the first
//   BrushLabels label is used.
// - Points and boxes outside the image pass through unchanged (SAM's prompt encoder accepts
//   them; the Python example does the same).
// - All usable regions must carry the same positive integer original_width/height.
// - At most kMaxPromptPoints keypoints (422 beyond): Label Studio sends a few dozen at most,
//   and the decoder's cost grows with every point.
// Errors: RequestError 400 for a malformed region (message names the region id and field),
// 422 when no usable region is left or no label can be chosen.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "labelstudio/label_config.hpp"
#include "models/segmenter.hpp"

namespace sam::ls {

constexpr size_t kMaxPromptPoints = 64;

struct ContextPrompt {
    sam::Prompt prompt;  // points, box, multimask; coordinates in original-image pixels
    std::string label;   // the label to put on the brush region
    int original_width = 0, original_height = 0;
};

// `result` is params.context.result (a JSON array of regions).
ContextPrompt prompt_from_context(const nlohmann::json& result, const BrushTarget& target);

// params.context.result of a /predict body, or nullptr when there is nothing to predict:
// no params, no context (or null), no result (or null), or an empty result array. Those
// requests answer {"results": []}. Throws RequestError(400) when params or context is
// present but not an object.
const nlohmann::json* find_context_result(const nlohmann::json& predict_request);

}  // namespace sam::ls
