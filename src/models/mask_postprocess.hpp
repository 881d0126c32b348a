// From a prediction to a binary mask at the original image size: low-res logits upscaled to
// the 1024 frame (bilinear, align_corners false), cropped to the resized image, upscaled to the
// original size, thresholded at 0 (the reference's postprocess_masks + `> 0`).
#pragma once

#include <cstdint>
#include <vector>

#include "models/segmenter.hpp"

namespace sam {

// 0/1 bytes, orig_h * orig_w, row-major. Uses `prediction.full` when the backend gave it.
std::vector<uint8_t> binary_mask(const Prediction& prediction, int index);

}  // namespace sam
