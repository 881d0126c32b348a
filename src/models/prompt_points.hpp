// A prompt as SAM's decoders take it: points and box corners in the resized (1024-frame)
// image, scaled like ResizeLongestSide.apply_coords, with SAM's point labels. Shared by the
// native decoder and the ONNX export so both read a prompt the same way; SAM 2 has its own order
// and scaling.
#pragma once

#include <vector>

#include "models/segmenter.hpp"

namespace sam {

enum PointLabel { kPadPoint = -1, kNegative = 0, kPositive = 1, kBoxTopLeft = 2, kBoxBottomRight = 3 };

struct DecoderPoints {
    std::vector<float> xy;   // x0, y0, x1, y1, ...
    std::vector<int> labels;
};

// Points first, then the box's two corners. Without a box a padding point (0, 0) labelled -1
// follows the points: when there are points (SamPredictor), or always when `pad_always` (the
// ONNX export needs at least one point). Throws std::invalid_argument for a point label other
// than 0 or 1 and for an embedding without image sizes.
DecoderPoints decoder_points(const ImageEmbedding& embedding, const Prompt& prompt, bool pad_always);

// SAM 2's order (SAM2ImagePredictor): the box's two corners first, then the points, then a
// padding point always. Coordinates x / orig_w * 1024 and y / orig_h * 1024 in float32 (the
// square resize scales each axis on its own). Throws like decoder_points.
DecoderPoints sam2_decoder_points(const ImageEmbedding& embedding, const Prompt& prompt);

}  // namespace sam
