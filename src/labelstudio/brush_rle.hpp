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

#include "models/segmenter.hpp"

namespace sam::ls {

// The encoder fed row by row (top to bottom), so a mask streamed from the model never exists
// whole. Runs continue across rows, as in the flat mask; the output is that of encode_brush_rle.
class BrushRleWriter {
public:
    // Throws std::invalid_argument like encode_brush_rle.
    BrushRleWriter(int width, int height);
    // width bytes, nonzero = inside.
    void add_row(const uint8_t* row);
    // The stream; throws std::logic_error when fewer or more than height rows were added.
    std::vector<uint8_t> finish();

private:
    void put(uint64_t value, int n);
    void put_run(int64_t count, uint8_t value);

    int width_, height_, rows_ = 0;
    std::vector<uint8_t> out_;
    uint64_t acc_ = 0;
    int nbits_ = 0;      // bits waiting in acc_ (< 8 between calls)
    int64_t run_ = 0;    // pixels of the open run
    bool inside_ = false;
};

// Byte-identical to label_studio_converter.brush.mask2rle(mask * 255) for a 0/1 mask
// (nonzero = inside), row-major width*height. Throws std::invalid_argument for an empty
// mask or one whose 4*width*height does not fit the 32-bit count.
std::vector<uint8_t> encode_brush_rle(const uint8_t* mask, int width, int height);

// encode_brush_rle(binary_mask(prediction, index)) without the full-size mask: rows streamed
// from the upscaling straight into the encoder. `area`, when given, receives the number of
// pixels inside. Throws what for_each_mask_row and encode_brush_rle throw.
std::vector<uint8_t> brush_rle_from_prediction(const Prediction& prediction, int index, int64_t* area = nullptr);

// The inverse (what Label Studio's frontend does), reading the alpha channel: a 0/1 mask of
// width*height. Accepts any word size and run-length field sizes the header declares.
// Throws RequestError(400) for a truncated stream, a count that is not 4*width*height, or
// runs past the end.
std::vector<uint8_t> decode_brush_rle(std::span<const uint8_t> rle, int width, int height);

}  // namespace sam::ls
