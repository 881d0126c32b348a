// What the annotator clicked: Label Studio's params.context.result -> a SAM prompt.
//
// Rules (fixed by golden/labelstudio/fixtures.json and the golden README):
// - Only keypointlabels and rectanglelabels regions count; other types are skipped unchecked.
// - Percent to pixels as floats: x * original_width / 100, y * original_height / 100.
// - Every keypoint counts. Its sign: `is_positive` (the classic editor; false for Alt-click),
//   else `value.positive` (newer editors); true -> label 1; false, null or neither -> label 0
//   (negative, as the Python example). When both are present, is_positive wins.
// - A rectangle is [x, y, x + width, y + height]; a rotated one (value.rotation, degrees
//   clockwise around its top-left corner, as Label Studio draws it) becomes its axis-aligned
//   bounding box. The newest (last) rectangle wins.
// - One point alone or one box alone is ambiguous: multimask = true (the server returns the
//   best of three). Any other mix: multimask = false.
// - Label: the newest region that carries one (value.keypointlabels / rectanglelabels /
//   labels, first entry) wins, as in the Python example; output_label then fits it to the
//   output tag.
// - Image: the regions' to_name (the Image tag they were drawn on); all must agree.
// - Points and boxes outside the image pass through unchanged (SAM's prompt encoder accepts
//   them; the Python example does the same).
// - All usable regions must carry the same positive integer original_width/height.
// - At most kMaxPromptPoints keypoints (422 beyond): Label Studio sends a few dozen at most,
//   and the decoder's cost grows with every point.
// Errors: RequestError 400 for a malformed region (message names the region id and field),
// 422 when no usable region is left.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "labelstudio/label_config.hpp"
#include "models/segmenter.hpp"

namespace sam::ls {

constexpr size_t kMaxPromptPoints = 64;

struct ContextPrompt {
    sam::Prompt prompt;                // points, box, multimask; coordinates in original-image pixels
    std::optional<std::string> label;  // the prompting regions' label, if any carries one
    std::string image;                 // the Image tag they point at ("" when they do not say)
    int original_width = 0, original_height = 0;
};

// `result` is params.context.result (a JSON array of regions).
ContextPrompt prompt_from_context(const nlohmann::json& result);

struct OutputLabel {
    std::string label;
    bool substituted = false;  // the prompt's label is not one of the output tag's: log a warning
};

// The label of the answer's regions: the prompt's label when the output tag has it (or has no
// Label list at all); otherwise the output tag's first label, marked `substituted` (a region
// whose label the tag lacks is not shown by Label Studio). Throws RequestError(422) when
// neither the prompt nor the tag has a label.
OutputLabel output_label(const std::optional<std::string>& prompt_label, const OutputTarget& target);

// params.context.result of a /predict body, or nullptr when there is nothing to predict:
// no params, no context (or null), no result (or null), or an empty result array. Those
// requests answer {"results": []}. Throws RequestError(400) when params or context is
// present but not an object.
const nlohmann::json* find_context_result(const nlohmann::json& predict_request);

// params.context.event, as Label Studio's newest interactive SAM backend reads it:
// "capabilities" (what this backend prompts with and answers into), "prewarm" (embed the image
// now, answer at once); absent, "predict" or any other name: a plain predict, so a newer editor
// sending an event this backend does not know still gets its mask. Throws RequestError(400)
// when params, context or event has the wrong type.
enum class ContextEvent { Predict, Capabilities, Prewarm };
ContextEvent context_event(const nlohmann::json& predict_request);

}  // namespace sam::ls
