#include "labelstudio/brush_rle.hpp"

#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include "labelstudio/errors.hpp"
#include "models/mask_postprocess.hpp"

namespace sam::ls {

namespace {

constexpr uint64_t kOnes = 0x0101010101010101ull;
constexpr uint64_t kHighs = 0x8080808080808080ull;

// End of the run of equal insideness starting at i (< n), 8 bytes at a time where possible.
int64_t run_end(const uint8_t* m, int64_t i, int64_t n) {
    const bool inside = m[i] != 0;
    int64_t k = i + 1;
    for (; k + 8 <= n; k += 8) {
        uint64_t v;
        std::memcpy(&v, m + k, 8);
        // outside: all 8 bytes zero; inside: no byte zero (the classic has-zero-byte test)
        const bool same = inside ? ((v - kOnes) & ~v & kHighs) == 0 : v == 0;
        if (!same) break;
    }
    while (k < n && (m[k] != 0) == inside) k++;
    return k;
}

void check_size(int width, int height) {
    if (width <= 0 || height <= 0)
        throw std::invalid_argument("encode_brush_rle: empty mask " + std::to_string(width) + "x" +
                                    std::to_string(height));
    if (4 * int64_t(width) * height > int64_t(0xFFFFFFFF))
        throw std::invalid_argument("encode_brush_rle: mask " + std::to_string(width) + "x" +
                                    std::to_string(height) + " is too large for the 32-bit RLE count");
}

}  // namespace

BrushRleWriter::BrushRleWriter(int width, int height) : width_(width), height_(height) {
    check_size(width, height);
    out_.reserve(64);
    put(uint64_t(4) * width * height, 32);
    put(8 - 1, 5);  // word size 8
    put(uint64_t((3 - 1) << 12 | (4 - 1) << 8 | (8 - 1) << 4 | (16 - 1)), 16);
}

// MSB first through a 64-bit accumulator: whole records go in with one call.
void BrushRleWriter::put(uint64_t value, int n) {  // n <= 32
    acc_ = (acc_ << n) | (value & ((uint64_t(1) << n) - 1));
    nbits_ += n;
    while (nbits_ >= 8) {
        nbits_ -= 8;
        out_.push_back(static_cast<uint8_t>(acc_ >> nbits_));
    }
    acc_ &= (uint64_t(1) << nbits_) - 1;
}

// One run of `count` equal values, as label_studio_converter.brush.encode_rle writes it:
// the smallest of the 3/4/8/16-bit length fields, runs over 65536 split into 65536-chunks.
void BrushRleWriter::put_run(int64_t count, uint8_t value) {
    if (count <= 8) {
        put((uint64_t(0b100) << 3 | uint64_t(count - 1)) << 8 | value, 1 + 2 + 3 + 8);
    } else if (count <= 16) {
        put((uint64_t(0b101) << 4 | uint64_t(count - 1)) << 8 | value, 1 + 2 + 4 + 8);
    } else if (count <= 256) {
        put((uint64_t(0b110) << 8 | uint64_t(count - 1)) << 8 | value, 1 + 2 + 8 + 8);
    } else {
        for (; count > 65536; count -= 65536) put((uint64_t(0b111) << 16 | 0xFFFF) << 8 | value, 27);
        put((uint64_t(0b111) << 16 | uint64_t(count - 1)) << 8 | value, 27);
    }
}

void BrushRleWriter::add_row(const uint8_t* row) {
    if (rows_ == height_)
        throw std::logic_error("BrushRleWriter: row " + std::to_string(rows_ + 1) + " added to a mask of " +
                               std::to_string(height_) + " rows");
    ++rows_;
    for (int64_t i = 0; i < width_;) {
        const int64_t end = run_end(row, i, width_);
        const bool inside = row[i] != 0;
        if (run_ > 0 && inside != inside_) {
            put_run(4 * run_, inside_ ? 255 : 0);  // RGBA: each pixel value 4 times
            run_ = 0;
        }
        inside_ = inside;
        run_ += end - i;
        i = end;
    }
}

std::vector<uint8_t> BrushRleWriter::finish() {
    if (rows_ != height_)
        throw std::logic_error("BrushRleWriter: finished after " + std::to_string(rows_) + " of " +
                               std::to_string(height_) + " rows");
    put_run(4 * run_, inside_ ? 255 : 0);
    run_ = 0;
    // The converter always pads with 8 - len % 8 zero bits: a whole zero byte when aligned.
    put(0, 8 - nbits_);
    return std::move(out_);
}

std::vector<uint8_t> encode_brush_rle(const uint8_t* mask, int width, int height) {
    BrushRleWriter w(width, height);
    for (int y = 0; y < height; ++y) w.add_row(mask + int64_t(y) * width);
    return w.finish();
}

std::vector<uint8_t> brush_rle_from_prediction(const Prediction& prediction, int index, int64_t* area) {
    BrushRleWriter w(prediction.orig_w, prediction.orig_h);
    int64_t inside = 0;
    for_each_mask_row(prediction, index, [&](const uint8_t* row) {
        w.add_row(row);
        if (!area) return;
        const int width = prediction.orig_w;  // locals, so that the loop vectorises
        int64_t row_inside = 0;
        for (int x = 0; x < width; ++x) row_inside += row[x] != 0;
        inside += row_inside;
    });
    if (area) *area = inside;
    return w.finish();
}

namespace {

struct BitReader {
    std::span<const uint8_t> data;
    uint64_t pos = 0;  // in bits

    uint32_t read(int n) {  // n <= 32
        if (pos + n > data.size() * 8)
            throw RequestError(400, "brush RLE is truncated: needs " + std::to_string(n) + " more bits at bit " +
                                        std::to_string(pos) + " of " + std::to_string(data.size() * 8));
        uint64_t v = 0;
        const size_t byte = pos >> 3;
        const size_t avail = std::min<size_t>(8, data.size() - byte);
        for (size_t b = 0; b < 8; b++) v = v << 8 | (b < avail ? data[byte + b] : 0);
        v <<= pos & 7;
        pos += n;
        return static_cast<uint32_t>(v >> (64 - n));
    }
};

}  // namespace

std::vector<uint8_t> decode_brush_rle(std::span<const uint8_t> rle, int width, int height) {
    if (width <= 0 || height <= 0)
        throw RequestError(400, "brush RLE: image size " + std::to_string(width) + "x" + std::to_string(height) +
                                    " is not positive");
    const uint64_t pixels = uint64_t(width) * uint64_t(height);
    BitReader in{rle};
    const uint64_t num = in.read(32);
    if (num != 4 * pixels)
        throw RequestError(400, "brush RLE holds " + std::to_string(num) + " values, expected 4*" +
                                    std::to_string(width) + "*" + std::to_string(height) + " = " +
                                    std::to_string(4 * pixels));
    const int word = static_cast<int>(in.read(5)) + 1;
    int sizes[4];
    for (int& s : sizes) s = static_cast<int>(in.read(4)) + 1;

    std::vector<uint8_t> mask(pixels, 0);
    for (uint64_t i = 0; i < num;) {
        const bool repeat = in.read(1) != 0;
        const int field = sizes[in.read(2)];
        const uint64_t j = i + 1 + in.read(field);
        if (j > num)
            throw RequestError(400, "brush RLE run at value " + std::to_string(i) + " ends at " + std::to_string(j) +
                                        ", past the " + std::to_string(num) + " values");
        if (repeat) {
            // pixels whose alpha (value 4p+3) lies in [i, j)
            if (in.read(word) != 0)
                for (uint64_t p = i / 4; p < j / 4; p++) mask[p] = 1;
        } else {
            for (uint64_t k = i; k < j; k++) {
                const uint32_t v = in.read(word);
                if (k % 4 == 3) mask[k / 4] = v != 0;
            }
        }
        i = j;
    }
    return mask;
}

}  // namespace sam::ls
