// SAM's image preprocessing: resize the long side to 1024 (PIL bilinear), normalise with the
// ImageNet pixel mean/std SAM uses, zero-pad to 1024x1024. Channels-last for our encoders.
#pragma once

#include "io/image.hpp"
#include "tensor/tensor.hpp"

namespace sam {

constexpr int kEncoderInputSize = 1024;

// Returns [1024, 1024, 3]; input_w/input_h receive the resized (unpadded) size.
Tensor preprocess_image(const RgbImage& image, int* input_w, int* input_h);

}  // namespace sam
