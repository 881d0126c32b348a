// Label Studio brush RLE (the thi.ng rle-pack bit stream that Label Studio's frontend decodes).
//
// Layout, most significant bit first: 32 bits value count, 5 bits word size - 1 (8 bits),
// 4 x 4 bits run-length field sizes - 1 (3, 4, 8, 16), then one record per run:
// 1 bit repeat flag, 2 bits size index, `size` bits run length - 1, then the 8-bit value
// (repeat) or run length values (literal). The mask is stored as RGBA: every pixel's value
// (0 or 255) repeated 4 times, so the count is 4 * width * height.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace sam::ls {

// Byte-identical to label_studio_converter.brush.mask2rle(mask * 255) for a 0/1 mask
// (nonzero = inside), row-major width*height. Throws std::invalid_argument for an empty
// mask or one whose 4*width*height does not fit the 32-bit count.
std::vector<uint8_t> encode_brush_rle(const uint8_t* mask, int width, int height);

// The inverse (what Label Studio's frontend does), reading the alpha channel: a 0/1 mask of
// width*height. Accepts any word size and run-length field sizes the header declares.
// Throws RequestError(400) for a truncated stream, a count that is not 4*width*height, or
// runs past the end.
std::vector<uint8_t> decode_brush_rle(std::span<const uint8_t> rle, int width, int height);

}  // namespace sam::ls
