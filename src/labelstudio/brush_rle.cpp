#include "labelstudio/brush_rle.hpp"

#include <cstring>
#include <stdexcept>
#include <string>

#include "labelstudio/errors.hpp"

namespace sam::ls {

namespace {

// MSB-first bit writer with a 64-bit accumulator: whole records go in with one call.
struct BitWriter {
    std::vector<uint8_t>& out;
    uint64_t acc = 0;
    int nbits = 0;  // bits waiting in acc (< 8 between calls)

    void put(uint64_t value, int n) {  // n <= 32
        acc = (acc << n) | (value & ((uint64_t(1) << n) - 1));
        nbits += n;
        while (nbits >= 8) {
            nbits -= 8;
            out.push_back(static_cast<uint8_t>(acc >> nbits));
        }
        acc &= (uint64_t(1) << nbits) - 1;
    }
};

constexpr uint64_t kOnes = 0x0101010101010101ull;
constexpr uint64_t kHighs = 0x8080808080808080ull;

// Length of the run of equal insideness starting at i, 8 bytes at a time where possible.
int64_t run_length(const uint8_t* m, int64_t i, int64_t n) {
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
    return k - i;
}

// One run of `count` equal values, as label_studio_converter.brush.encode_rle writes it:
// the smallest of the 3/4/8/16-bit length fields, runs over 65536 split into 65536-chunks.
void put_run(BitWriter& w, int64_t count, uint8_t value) {
    if (count <= 8) {
        w.put((uint64_t(0b100) << 3 | uint64_t(count - 1)) << 8 | value, 1 + 2 + 3 + 8);
    } else if (count <= 16) {
        w.put((uint64_t(0b101) << 4 | uint64_t(count - 1)) << 8 | value, 1 + 2 + 4 + 8);
    } else if (count <= 256) {
        w.put((uint64_t(0b110) << 8 | uint64_t(count - 1)) << 8 | value, 1 + 2 + 8 + 8);
    } else {
        for (; count > 65536; count -= 65536) w.put((uint64_t(0b111) << 16 | 0xFFFF) << 8 | value, 27);
        w.put((uint64_t(0b111) << 16 | uint64_t(count - 1)) << 8 | value, 27);
    }
}

}  // namespace

std::vector<uint8_t> encode_brush_rle(const uint8_t* mask, int width, int height) {
    if (width <= 0 || height <= 0)
        throw std::invalid_argument("encode_brush_rle: empty mask " + std::to_string(width) + "x" +
                                    std::to_string(height));
    const int64_t n = int64_t(width) * height;
    if (4 * n > int64_t(0xFFFFFFFF))
        throw std::invalid_argument("encode_brush_rle: mask " + std::to_string(width) + "x" +
                                    std::to_string(height) + " is too large for the 32-bit RLE count");
    std::vector<uint8_t> out;
    out.reserve(64);
    BitWriter w{out};
    w.put(uint64_t(4 * n), 32);
    w.put(8 - 1, 5);  // word size 8
    w.put(uint64_t((3 - 1) << 12 | (4 - 1) << 8 | (8 - 1) << 4 | (16 - 1)), 16);
    for (int64_t i = 0; i < n;) {
        const int64_t len = run_length(mask, i, n);
        put_run(w, 4 * len, mask[i] ? 255 : 0);  // RGBA: each pixel value 4 times
        i += len;
    }
    // The converter always pads with 8 - len % 8 zero bits: a whole zero byte when aligned.
    w.put(0, 8 - w.nbits);
    return out;
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
