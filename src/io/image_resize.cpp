#include "io/image_resize.hpp"

#include <algorithm>
#include <cmath>
#include <string>

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

// Rows [row0, row0 + rows) of src, resampled horizontally to c.first.size() columns.
void resample_horizontal(const RgbImage& src, int row0, int rows, const AxisCoeffs& c, RgbImage& dst) {
    const int out_w = static_cast<int>(c.first.size());
    dst.width = out_w;
    dst.height = rows;
    dst.pixels.resize(static_cast<size_t>(out_w) * rows * 3);
    for (int y = 0; y < rows; ++y) {
        const uint8_t* in = src.row(row0 + y);
        uint8_t* out = dst.pixels.data() + static_cast<size_t>(y) * out_w * 3;
        for (int xx = 0; xx < out_w; ++xx) {
            const int32_t* k = &c.weights[static_cast<size_t>(xx) * c.ksize];
            const uint8_t* p = in + static_cast<size_t>(c.first[xx]) * 3;
            int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
            for (int x = 0, n = c.count[xx]; x < n; ++x) {
                s0 += p[x * 3 + 0] * k[x];
                s1 += p[x * 3 + 1] * k[x];
                s2 += p[x * 3 + 2] * k[x];
            }
            out[xx * 3 + 0] = clip8(s0);
            out[xx * 3 + 1] = clip8(s1);
            out[xx * 3 + 2] = clip8(s2);
        }
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
