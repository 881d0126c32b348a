#include "io/image_resize.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#if defined(__SSE4_1__)
#include <immintrin.h>
#endif

namespace sam {

namespace {

// PIL keeps 8-bit resampling coefficients in 22-bit fixed point: 255 * 2^22 * (sum of weights
// slightly above 1) still fits an int32 accumulator.
constexpr int kPrecisionBits = 32 - 8 - 2;

// One output pixel along one axis: the first input index and the integer weights of its taps.
struct AxisCoeffs {
    int ksize = 0;                 // taps reserved per output pixel
    std::vector<int> first;        // first input index used, per output pixel
    std::vector<int> count;        // number of taps used, per output pixel
    std::vector<int32_t> weights;  // out_size * ksize, zero past `count`
};

double triangle(double x) {
    x = std::fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

// PIL's precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter (support 1), same
// arithmetic in the same order so that the rounding of every weight matches.
AxisCoeffs axis_coeffs(int in_size, int out_size) {
    const double scale = static_cast<double>(in_size) / out_size;
    const double filterscale = std::max(scale, 1.0);
    const double support = 1.0 * filterscale;
    AxisCoeffs c;
    c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
    c.first.resize(out_size);
    c.count.resize(out_size);
    c.weights.assign(static_cast<size_t>(out_size) * c.ksize, 0);
    std::vector<double> w(c.ksize);
    for (int xx = 0; xx < out_size; ++xx) {
        const double center = (xx + 0.5) * scale;
        const double ss = 1.0 / filterscale;
        int xmin = static_cast<int>(center - support + 0.5);
        int xmax = static_cast<int>(center + support + 0.5);
        xmin = std::max(xmin, 0);
        xmax = std::min(xmax, in_size) - xmin;
        double sum = 0.0;
        for (int x = 0; x < xmax; ++x) {
            w[x] = triangle((x + xmin - center + 0.5) * ss);
            sum += w[x];
        }
        int32_t* k = &c.weights[static_cast<size_t>(xx) * c.ksize];
        for (int x = 0; x < xmax; ++x) {
            const double v = sum != 0.0 ? w[x] / sum : w[x];
            const double fixed = v * (1 << kPrecisionBits);
            k[x] = static_cast<int32_t>(v < 0 ? fixed - 0.5 : fixed + 0.5);
        }
        c.first[xx] = xmin;
        c.count[xx] = xmax;
    }
    return c;
}

inline uint8_t clip8(int32_t acc) {
    return static_cast<uint8_t>(std::clamp(acc >> kPrecisionBits, 0, 255));
}

// One row of the horizontal pass. `in` is a source row followed by zero padding, so every output
// pixel can run all K taps (weights past its window are zero). With SSE4.1 one tap is one 4-lane
// multiply-add over R, G, B and the next pixel's R, whose lane is ignored.
void horizontal_row(const uint8_t* in, const AxisCoeffs& c, uint8_t* out) {
    const int K = c.ksize;
    const int out_w = static_cast<int>(c.first.size());
    for (int xx = 0; xx < out_w; ++xx) {
        const int32_t* k = &c.weights[static_cast<size_t>(xx) * K];
        const uint8_t* p = in + static_cast<size_t>(c.first[xx]) * 3;
#if defined(__SSE4_1__)
        __m128i acc = _mm_set1_epi32(1 << (kPrecisionBits - 1));
        for (int t = 0; t < K; ++t) {
            int32_t px;
            std::memcpy(&px, p + t * 3, 4);
            const __m128i v = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(px));
            acc = _mm_add_epi32(acc, _mm_mullo_epi32(v, _mm_set1_epi32(k[t])));
        }
        alignas(16) int32_t s[4];
        _mm_store_si128(reinterpret_cast<__m128i*>(s), acc);
#else
        int32_t s[3] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1)};
        for (int t = 0; t < K; ++t)
            for (int ch = 0; ch < 3; ++ch) s[ch] += p[t * 3 + ch] * k[t];
#endif
        out[xx * 3 + 0] = clip8(s[0]);
        out[xx * 3 + 1] = clip8(s[1]);
        out[xx * 3 + 2] = clip8(s[2]);
    }
}

// Rows [row0, row0 + rows) of src, resampled horizontally to c.first.size() columns.
void resample_horizontal(const RgbImage& src, int row0, int rows, const AxisCoeffs& c, RgbImage& dst) {
    const int out_w = static_cast<int>(c.first.size());
    const size_t in_bytes = static_cast<size_t>(src.width) * 3;
    dst.width = out_w;
    dst.height = rows;
    dst.pixels.resize(static_cast<size_t>(out_w) * rows * 3);
    // Room for K taps from the last window start plus the 4th byte of a 4-byte load.
    std::vector<uint8_t> padded(in_bytes + (static_cast<size_t>(c.ksize) + 1) * 3, 0);
    for (int y = 0; y < rows; ++y) {
        std::memcpy(padded.data(), src.row(row0 + y), in_bytes);
        horizontal_row(padded.data(), c, dst.pixels.data() + static_cast<size_t>(y) * out_w * 3);
    }
}

// Vertical pass: every output row is a weighted sum of whole input rows, so the inner loop runs
// along contiguous bytes and vectorises. `row_offset` is the first source row src holds.
void resample_vertical(const RgbImage& src, int row_offset, const AxisCoeffs& c, RgbImage& dst) {
    const int out_h = static_cast<int>(c.first.size());
    const size_t n = static_cast<size_t>(src.width) * 3;
    dst.width = src.width;
    dst.height = out_h;
    dst.pixels.resize(n * out_h);
    std::vector<int32_t> acc(n);
    for (int yy = 0; yy < out_h; ++yy) {
        std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
        const int32_t* k = &c.weights[static_cast<size_t>(yy) * c.ksize];
        for (int y = 0, cnt = c.count[yy]; y < cnt; ++y) {
            const uint8_t* in = src.row(c.first[yy] - row_offset + y);
            const int32_t w = k[y];
            int32_t* a = acc.data();
            for (size_t i = 0; i < n; ++i) a[i] += in[i] * w;
        }
        uint8_t* out = dst.pixels.data() + n * yy;
        for (size_t i = 0; i < n; ++i) out[i] = clip8(acc[i]);
    }
}

}  // namespace

RgbImage resize_bilinear_antialias(const RgbImage& src, int out_w, int out_h) {
    if (src.width <= 0 || src.height <= 0 ||
        src.pixels.size() != static_cast<size_t>(src.width) * src.height * 3)
        throw ImageError("resize: source image is " + std::to_string(src.width) + "x" +
                         std::to_string(src.height) + " with " + std::to_string(src.pixels.size()) +
                         " bytes, expected width*height*3 > 0");
    if (out_w <= 0 || out_h <= 0)
        throw ImageError("resize: output size " + std::to_string(out_w) + "x" + std::to_string(out_h) +
                         " must be positive");
    const bool horizontal = out_w != src.width;
    const bool vertical = out_h != src.height;
    if (!horizontal && !vertical) return src;

    const AxisCoeffs cv = axis_coeffs(src.height, out_h);
    if (!horizontal) {
        RgbImage out;
        resample_vertical(src, 0, cv, out);
        return out;
    }
    const AxisCoeffs ch = axis_coeffs(src.width, out_w);
    // The horizontal pass only needs the source rows the vertical pass will read.
    int row0 = 0, rows = src.height;
    if (vertical) {
        row0 = cv.first.front();
        rows = cv.first.back() + cv.count.back() - row0;
    }
    RgbImage tmp;
    resample_horizontal(src, row0, rows, ch, tmp);
    if (!vertical) return tmp;
    RgbImage out;
    resample_vertical(tmp, row0, cv, out);
    return out;
}

void longest_side_size(int w, int h, int target, int& out_w, int& out_h) {
    if (w <= 0 || h <= 0 || target <= 0)
        throw ImageError("longest_side_size: sizes must be positive, got " + std::to_string(w) + "x" +
                         std::to_string(h) + " to " + std::to_string(target));
    const double scale = target * 1.0 / std::max(w, h);
    out_w = static_cast<int>(w * scale + 0.5);
    out_h = static_cast<int>(h * scale + 0.5);
}

}  // namespace sam
