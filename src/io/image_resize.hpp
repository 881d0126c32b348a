// Resizing of RGB images for the encoders' preprocessing: PIL-compatible on 8-bit values (SAM),
// PyTorch-compatible on float values (SAM 2).
#pragma once

#include "io/image.hpp"
#include "tensor/tensor.hpp"

namespace sam {

// Exactly PIL's Image.resize((out_w, out_h), Image.BILINEAR) for an RGB uint8 image: separable
// triangle filter whose support grows with the downscale factor (antialiasing), 22-bit fixed-point
// coefficients, horizontal pass first, then vertical. Throws ImageError on empty or bad sizes.
RgbImage resize_bilinear_antialias(const RgbImage& src, int out_w, int out_h);

// The image as float32 x / 255, resized as PyTorch's interpolate(mode="bilinear",
// align_corners=False, antialias=True) does on a float tensor (torchvision's Resize on a tensor):
// the same triangle filter as PIL, but weights and sums in float32, in PyTorch's order (width
// first, then height; a side that keeps its size is not resampled). Returns [out_h, out_w, 3],
// channels-last. Throws ImageError on empty or bad sizes.
Tensor resize_bilinear_antialias_float(const RgbImage& src, int out_w, int out_h);

// Size with the longest side scaled to `target`, as SAM's ResizeLongestSide computes it:
// scale = target / long_side; side = int(side * scale + 0.5), but at least 1.
void longest_side_size(int w, int h, int target, int& out_w, int& out_h);

}  // namespace sam
