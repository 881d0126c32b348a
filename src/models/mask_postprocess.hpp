// From a prediction to a binary mask at the original image size, thresholded at 0, as the
// reference post-processes: SAM upscales the low-res logits to the 1024 frame (bilinear,
// align_corners false), crops the resized image and upscales that to the original size; SAM 2
// (Prediction::square_resize) upscales them straight to the original size.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "models/segmenter.hpp"

namespace sam {

// Receives one output row: orig_w 0/1 bytes, valid only during the call.
using MaskRowSink = std::function<void(const uint8_t* row)>;

// Streams the mask row by row, top to bottom, without a full-size mask or float image in
// memory (a click on a 4000x3000 image needs only a few rows). Uses `prediction.full` when the
// backend gave it. Throws std::invalid_argument for bad sizes or logits shapes and
// std::out_of_range for a mask index the prediction does not have.
void for_each_mask_row(const Prediction& prediction, int index, const MaskRowSink& sink);

// The whole mask in one pass: orig_h * orig_w bytes, row-major (the rows of for_each_mask_row),
// `inside` where the mask is set (1, or 255 for an 8-bit image), 0 elsewhere.
std::vector<uint8_t> binary_mask(const Prediction& prediction, int index, uint8_t inside = 1);

}  // namespace sam
