#include "io/image_resize.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#if defined(__SSE4_1__)
#include <immintrin.h>
#endif

namespace sam {

namespace {

// PIL keeps 8-bit resampling coefficients in 22-bit fixed point: 255 * 2^22 * (sum of weights
// slightly above 1) still fits an int32 accumulator.
constexpr int kPrecisionBits = 32 - 8 - 2;

double triangle(double x) {
    x = std::fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

// One axis of the resize: PIL's precompute_coeffs parameters for the bilinear filter (support 1).
struct Axis {
    int in_size, out_size, ksize;
    double scale, filterscale, support;
};

Axis make_axis(int in_size, int out_size) {
    Axis a;
    a.in_size = in_size, a.out_size = out_size;
    a.scale = static_cast<double>(in_size) / out_size;
    a.filterscale = std::max(a.scale, 1.0);
    a.support = 1.0 * a.filterscale;
    a.ksize = static_cast<int>(std::ceil(a.support)) * 2 + 1;
    return a;
}

// PIL's precompute_coeffs + normalize_coeffs_8bpc for output pixel xx, same arithmetic in the
// same order so that the rounding of every weight matches: its first input index, its number
// of taps, and the taps' integer weights in k[0..ksize) (zero past the count). w: scratch.
void output_coeffs(const Axis& a, int xx, std::vector<double>& w, int32_t* k, int& first, int& count) {
    w.resize(a.ksize);
    const double center = (xx + 0.5) * a.scale;
    const double ss = 1.0 / a.filterscale;
    int xmin = static_cast<int>(center - a.support + 0.5);
    int xmax = static_cast<int>(center + a.support + 0.5);
    xmin = std::max(xmin, 0);
    xmax = std::min(xmax, a.in_size) - xmin;
    double sum = 0.0;
    for (int x = 0; x < xmax; ++x) {
        w[x] = triangle((x + xmin - center + 0.5) * ss);
        sum += w[x];
    }
    std::fill(k, k + a.ksize, 0);
    for (int x = 0; x < xmax; ++x) {
        const double v = sum != 0.0 ? w[x] / sum : w[x];
        const double fixed = v * (1 << kPrecisionBits);
        k[x] = static_cast<int32_t>(v < 0 ? fixed - 0.5 : fixed + 0.5);
    }
    first = xmin;
    count = xmax;
}

// The weights of every output pixel are kept in a table when it is small. An image thousands of
// times longer than wide (allowed: MAX_IMAGE_PIXELS bounds only the area) would need a table of
// about 8 bytes per input pixel of its long side; then weights are computed where they are used.
constexpr int64_t kMaxTableBytes = int64_t(64) << 20;

struct AxisCoeffs {
    Axis axis;
    std::vector<int> first;        // first input index used, per output pixel
    std::vector<int> count;        // number of taps used, per output pixel
    std::vector<int32_t> weights;  // out_size * ksize, zero past `count`; empty when too large
    int ksize() const { return axis.ksize; }
};

AxisCoeffs axis_coeffs(int in_size, int out_size) {
    AxisCoeffs c;
    c.axis = make_axis(in_size, out_size);
    c.first.resize(out_size);
    c.count.resize(out_size);
    const bool table = int64_t(out_size) * c.axis.ksize * int64_t(sizeof(int32_t)) <= kMaxTableBytes;
    if (table) c.weights.assign(static_cast<size_t>(out_size) * c.axis.ksize, 0);
    std::vector<double> w;
    std::vector<int32_t> k(table ? 0 : c.axis.ksize);
    for (int xx = 0; xx < out_size; ++xx)
        output_coeffs(c.axis, xx, w, table ? &c.weights[static_cast<size_t>(xx) * c.axis.ksize] : k.data(), c.first[xx],
                      c.count[xx]);
    return c;
}

inline uint8_t clip8(int32_t acc) {
    return static_cast<uint8_t>(std::clamp(acc >> kPrecisionBits, 0, 255));
}

// One row of the horizontal pass. `in` is a source row followed by zero padding, so every output
// pixel can run all K taps (weights past its window are zero). With SSE4.1 one tap is one 4-lane
// multiply-add over R, G, B and the next pixel's R, whose lane is ignored.
void horizontal_row(const uint8_t* in, const AxisCoeffs& c, uint8_t* out) {
    const int K = c.ksize();
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

// Without a weight table (a very wide image, hence few rows): one output column at a time,
// its weights computed once for all rows. Integer sums, so the result equals the table path's.
void resample_horizontal_by_column(const RgbImage& src, int row0, int rows, const AxisCoeffs& c, RgbImage& dst) {
    const int out_w = static_cast<int>(c.first.size());
    std::vector<double> w;
    std::vector<int32_t> k(c.ksize());
    for (int xx = 0; xx < out_w; ++xx) {
        int first, count;
        output_coeffs(c.axis, xx, w, k.data(), first, count);
        for (int y = 0; y < rows; ++y) {
            const uint8_t* p = src.row(row0 + y) + static_cast<size_t>(first) * 3;
            int32_t s[3] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1)};
            for (int t = 0; t < count; ++t)
                for (int ch = 0; ch < 3; ++ch) s[ch] += p[t * 3 + ch] * k[t];
            uint8_t* o = dst.pixels.data() + (static_cast<size_t>(y) * out_w + xx) * 3;
            for (int ch = 0; ch < 3; ++ch) o[ch] = clip8(s[ch]);
        }
    }
}

// Rows [row0, row0 + rows) of src, resampled horizontally to c.first.size() columns.
void resample_horizontal(const RgbImage& src, int row0, int rows, const AxisCoeffs& c, RgbImage& dst) {
    const int out_w = static_cast<int>(c.first.size());
    const size_t in_bytes = static_cast<size_t>(src.width) * 3;
    dst.width = out_w;
    dst.height = rows;
    dst.pixels.resize(static_cast<size_t>(out_w) * rows * 3);
    if (c.weights.empty()) return resample_horizontal_by_column(src, row0, rows, c, dst);
    // Room for K taps from the last window start plus the 4th byte of a 4-byte load.
    std::vector<uint8_t> padded(in_bytes + (static_cast<size_t>(c.ksize()) + 1) * 3, 0);
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
    std::vector<double> w;
    std::vector<int32_t> row_weights(c.weights.empty() ? c.ksize() : 0);
    for (int yy = 0; yy < out_h; ++yy) {
        std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
        const int32_t* k = row_weights.data();
        if (c.weights.empty()) {
            int first, count;
            output_coeffs(c.axis, yy, w, row_weights.data(), first, count);
        } else {
            k = &c.weights[static_cast<size_t>(yy) * c.ksize()];
        }
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

// One axis of PyTorch's antialiased resampling of float tensors (upsample_bilinear2d_aa on the
// CPU, scalar_t = float): the same expressions with the same float/double promotions, so every
// index and weight comes out as PyTorch's.
struct FloatAxis {
    int ksize = 0;
    std::vector<int> first, count;
    std::vector<float> weights;  // out_size * ksize
};

FloatAxis float_axis(int in_size, int out_size) {
    const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
    const float support = scale >= 1.0f ? scale : 1.0f;  // interp_size / 2 * scale, interp_size 2
    const float invscale = scale >= 1.0f ? static_cast<float>(1.0 / scale) : 1.0f;
    FloatAxis a;
    a.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
    a.first.resize(out_size);
    a.count.resize(out_size);
    a.weights.assign(static_cast<size_t>(out_size) * a.ksize, 0.0f);
    for (int i = 0; i < out_size; ++i) {
        const float center = static_cast<float>(scale * (i + 0.5));
        const int64_t xmin = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
        const int64_t xsize = std::clamp<int64_t>(
            std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), in_size) - xmin, 0, a.ksize);
        float* w = &a.weights[static_cast<size_t>(i) * a.ksize];
        float total = 0.0f;
        for (int64_t j = 0; j < xsize; ++j) {
            float x = static_cast<float>((static_cast<float>(j + xmin) - center + 0.5) * invscale);
            x = std::fabs(x);
            w[j] = x < 1.0f ? 1.0f - x : 0.0f;
            total += w[j];
        }
        if (total != 0.0f)
            for (int64_t j = 0; j < xsize; ++j) w[j] /= total;
        a.first[i] = static_cast<int>(xmin);
        a.count[i] = static_cast<int>(xsize);
    }
    return a;
}

// out = sum_j src[(first + j) * stride] * w[j], accumulated in PyTorch's order.
inline float taps(const float* src, int64_t stride, const float* w, int count) {
    float acc = src[0] * w[0];
    for (int j = 1; j < count; ++j) acc += src[j * stride] * w[j];
    return acc;
}

void check_resize_args(const RgbImage& src, int out_w, int out_h) {
    if (src.width <= 0 || src.height <= 0 ||
        src.pixels.size() != static_cast<size_t>(src.width) * src.height * 3)
        throw ImageError("resize: source image is " + std::to_string(src.width) + "x" +
                         std::to_string(src.height) + " with " + std::to_string(src.pixels.size()) +
                         " bytes, expected width*height*3 > 0");
    if (out_w <= 0 || out_h <= 0)
        throw ImageError("resize: output size " + std::to_string(out_w) + "x" + std::to_string(out_h) +
                         " must be positive");
}

}  // namespace

Tensor resize_bilinear_antialias_float(const RgbImage& src, int out_w, int out_h) {
    check_resize_args(src, out_w, out_h);
    const int in_w = src.width, in_h = src.height;
    const bool vertical = out_h != in_h;
    const FloatAxis cv = float_axis(in_h, out_h);
    // Rows the vertical pass reads (all of them when it does not run).
    const int row0 = vertical ? cv.first.front() : 0;
    const int rows = vertical ? cv.first.back() + cv.count.back() - row0 : in_h;

    // x / 255, then the horizontal pass when the width changes: [rows, out_w, 3].
    Tensor tmp = Tensor::empty({rows, out_w, 3});
    if (out_w == in_w) {
#pragma omp parallel for schedule(static)
        for (int y = 0; y < rows; ++y) {
            const uint8_t* in = src.row(row0 + y);
            float* out = tmp.data + static_cast<int64_t>(y) * out_w * 3;
            for (int i = 0; i < out_w * 3; ++i) out[i] = static_cast<float>(in[i]) / 255.0f;
        }
    } else {
        const FloatAxis ch = float_axis(in_w, out_w);
#pragma omp parallel
        {
            std::vector<float> line(static_cast<size_t>(in_w) * 3);
#pragma omp for schedule(static)
            for (int y = 0; y < rows; ++y) {
                const uint8_t* in = src.row(row0 + y);
                for (int i = 0; i < in_w * 3; ++i) line[i] = static_cast<float>(in[i]) / 255.0f;
                float* out = tmp.data + static_cast<int64_t>(y) * out_w * 3;
                for (int x = 0; x < out_w; ++x) {
                    const float* w = &ch.weights[static_cast<size_t>(x) * ch.ksize];
                    const float* p = line.data() + static_cast<size_t>(ch.first[x]) * 3;
                    for (int c = 0; c < 3; ++c) out[x * 3 + c] = taps(p + c, 3, w, ch.count[x]);
                }
            }
        }
    }
    if (!vertical) return tmp;

    Tensor out = Tensor::empty({out_h, out_w, 3});
    const int64_t n = static_cast<int64_t>(out_w) * 3;
#pragma omp parallel for schedule(static)
    for (int y = 0; y < out_h; ++y) {
        const float* w = &cv.weights[static_cast<size_t>(y) * cv.ksize];
        const float* in = tmp.data + (cv.first[y] - row0) * n;
        float* o = out.data + y * n;
        const int cnt = cv.count[y];
        for (int64_t i = 0; i < n; ++i) o[i] = in[i] * w[0];
        for (int j = 1; j < cnt; ++j) {
            const float* r = in + j * n;
            const float wj = w[j];
            for (int64_t i = 0; i < n; ++i) o[i] += r[i] * wj;
        }
    }
    return out;
}

RgbImage resize_bilinear_antialias(const RgbImage& src, int out_w, int out_h) {
    check_resize_args(src, out_w, out_h);
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
    // A side under half a pixel would round to 0 (an image over 2048 times longer than wide):
    // it stays 1 pixel, as PIL and torchvision keep every side of a resized image at least 1.
    out_w = std::max(1, static_cast<int>(w * scale + 0.5));
    out_h = std::max(1, static_cast<int>(h * scale + 0.5));
}

}  // namespace sam
