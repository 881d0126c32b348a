// PIL-compatible resizing of RGB images (the resize step of SAM's preprocessing).
#pragma once

#include "io/image.hpp"

namespace sam {

// Exactly PIL's Image.resize((out_w, out_h), Image.BILINEAR) for an RGB uint8 image: separable
// triangle filter whose support grows with the downscale factor (antialiasing), 22-bit fixed-point
// coefficients, horizontal pass first, then vertical. Throws ImageError on empty or bad sizes.
RgbImage resize_bilinear_antialias(const RgbImage& src, int out_w, int out_h);

// Size with the longest side scaled to `target`, as SAM's ResizeLongestSide computes it:
// scale = target / long_side; side = int(side * scale + 0.5), but at least 1.
void longest_side_size(int w, int h, int target, int& out_w, int& out_h);

}  // namespace sam
