// The encoders' image preprocessing, channels-last. SAM: resize the long side to 1024 (PIL
// bilinear), normalise with the ImageNet pixel mean/std, zero-pad to 1024x1024. SAM 2: resize to
// exactly 1024x1024 (aspect ratio not kept) on float values, normalise.
#pragma once

#include "io/image.hpp"
#include "tensor/tensor.hpp"

namespace sam {

constexpr int kEncoderInputSize = 1024;

// Returns [1024, 1024, 3]; input_w/input_h receive the resized (unpadded) size.
Tensor preprocess_image(const RgbImage& image, int* input_w, int* input_h);

// SAM2Transforms: x / 255 in float32, resized to 1024x1024 (PyTorch's antialiased bilinear on
// floats), then (x - mean) / std with mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225].
// Returns [1024, 1024, 3].
Tensor preprocess_image_square(const RgbImage& image);

}  // namespace sam
