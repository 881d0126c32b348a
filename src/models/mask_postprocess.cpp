#include "models/mask_postprocess.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <utility>
#include <stdexcept>
#include <string>

namespace sam {

namespace {

// Side of the square frame the low-res logits are first upscaled to (the encoder's input size).
constexpr int kFrame = 1024;

// One output coordinate of a bilinear resize (align_corners=False): the two source indices and
// their weights, computed like PyTorch's upsample_bilinear2d on CPU: the source coordinate in
// `Coord` (float for SAM's masks; SAM 2's reference masks match only with double), the weights
// in float.
struct Lerp {
    int i0, i1;
    float w0, w1;
};

template <typename Coord = float>
std::vector<Lerp> lerps(int in_size, int out_size, int count) {
    std::vector<Lerp> out(count);
    const Coord scale = static_cast<Coord>(in_size) / static_cast<Coord>(out_size);
    for (int j = 0; j < count; ++j) {
        Lerp& l = out[j];
        if (in_size == out_size) {
            l = {j, j, 1.0f, 0.0f};
            continue;
        }
        Coord src = scale * (static_cast<Coord>(j) + Coord(0.5)) - Coord(0.5);
        if (src < 0) src = 0;
        l.i0 = static_cast<int>(src);
        l.i1 = l.i0 + (l.i0 < in_size - 1 ? 1 : 0);
        l.w1 = static_cast<float>(std::clamp(src - static_cast<Coord>(l.i0), Coord(0), Coord(1)));
        l.w0 = 1.0f - l.w1;
    }
    return out;
}

void check_sizes(const Prediction& p) {
    if (p.orig_w <= 0 || p.orig_h <= 0 || p.input_w <= 0 || p.input_h <= 0 || p.input_w > kFrame ||
        p.input_h > kFrame)
        throw std::invalid_argument("mask post-processing: bad prediction sizes: original " + std::to_string(p.orig_w) + "x" +
                                    std::to_string(p.orig_h) + ", input " + std::to_string(p.input_w) + "x" +
                                    std::to_string(p.input_h) + " (input sides must be in 1..1024)");
}

void check_index(const Tensor& t, const char* what, int index) {
    if (index < 0 || index >= t.dim(0))
        throw std::out_of_range(std::string("mask post-processing: mask index ") + std::to_string(index) + " out of range for " +
                                what + " " + t.shape_string());
}

void threshold_full(const Prediction& p, int index, const MaskRowSink& sink) {
    const Tensor& f = p.full;
    if (f.rank() != 3 || f.dim(1) != p.orig_h || f.dim(2) != p.orig_w)
        throw std::invalid_argument("mask post-processing: full logits have shape " + f.shape_string() +
                                    ", expected [C, " + std::to_string(p.orig_h) + ", " + std::to_string(p.orig_w) +
                                    "]");
    check_index(f, "full logits", index);
    const size_t w = static_cast<size_t>(p.orig_w);
    const float* src = f.data + static_cast<size_t>(index) * p.orig_h * w;
    std::vector<uint8_t> row(w);
    for (int y = 0; y < p.orig_h; ++y, src += w) {
        for (size_t x = 0; x < w; ++x) row[x] = src[x] > 0.0f;
        sink(row.data());
    }
}

// Where a mask row can be set at all. A bilinear resize mixes its inputs with weights >= 0, so an
// output pixel whose inputs are all negative logits is negative in float arithmetic too: those
// pixels are 0 without computing them. Masks usually cover a small part of the image, so most
// of each row, and most rows, are skipped.
class LiveColumns {
public:
    // dep_lo[x]..dep_hi[x]: the low-res columns output column x reads (nondecreasing in x).
    LiveColumns(const float* L, int lh, int lw, std::vector<int> dep_lo, std::vector<int> dep_hi)
        : first_(lh), last_(lh), dep_lo_(std::move(dep_lo)), dep_hi_(std::move(dep_hi)) {
        for (int a = 0; a < lh; ++a) {
            const float* row = L + static_cast<size_t>(a) * lw;
            int f = 0, l = lw - 1;
            while (f < lw && row[f] < 0.0f) ++f;  // a NaN counts as live
            while (l >= f && row[l] < 0.0f) --l;
            first_[a] = f;
            last_[a] = l;
        }
    }
    // The output columns [x0, x1) that may be set when the low-res rows a0..a1 are read.
    std::pair<int, int> range(int a0, int a1) const {
        int lo = INT32_MAX, hi = -1;
        for (int a = a0; a <= a1; ++a)
            if (first_[a] <= last_[a]) lo = std::min(lo, first_[a]), hi = std::max(hi, last_[a]);
        if (hi < 0) return {0, 0};
        const int x0 = static_cast<int>(std::lower_bound(dep_hi_.begin(), dep_hi_.end(), lo) - dep_hi_.begin());
        const int x1 = static_cast<int>(std::upper_bound(dep_lo_.begin(), dep_lo_.end(), hi) - dep_lo_.begin());
        return {x0, std::max(x0, x1)};
    }

private:
    std::vector<int> first_, last_;  // live columns of each low-res row (first > last: none)
    std::vector<int> dep_lo_, dep_hi_;
};

// The vertical step both paths end with: output row y = rows[y].w0 * A[i0] + rows[y].w1 * A[i1],
// thresholded at 0, where A is an image already resized horizontally to out_w whose rows
// `make_row(r, dst, x0, x1)` writes on demand for columns [x0, x1). low_rows(r) gives the low-res
// rows A's row r reads. Output rows read A's rows in increasing order, so the two most recent are kept.
void vertical_threshold(const std::vector<Lerp>& rows, int out_w, const LiveColumns& live,
                        const std::function<std::pair<int, int>(int)>& low_rows,
                        const std::function<void(int, float*, int, int)>& make_row, const MaskRowSink& sink) {
    struct Slot {
        std::vector<float> data;
        int row = -1, x0 = 0, x1 = 0;
    };
    Slot slots[2] = {{std::vector<float>(out_w)}, {std::vector<float>(out_w)}};
    auto row_of = [&](int r, int x0, int x1) -> const float* {
        for (Slot& s : slots)
            if (s.row == r) {
                if (s.x0 > x0 || s.x1 < x1) {  // a wider part than was made: make the union
                    x0 = std::min(x0, s.x0), x1 = std::max(x1, s.x1);
                    make_row(r, s.data.data(), x0, x1);
                    s.x0 = x0, s.x1 = x1;
                }
                return s.data.data();
            }
        Slot& s = slots[0].row < slots[1].row ? slots[0] : slots[1];
        make_row(r, s.data.data(), x0, x1);
        s.row = r, s.x0 = x0, s.x1 = x1;
        return s.data.data();
    };
    std::vector<uint8_t> row(out_w);
    for (const Lerp& v : rows) {
        const auto [x0, x1] = live.range(low_rows(v.i0).first, low_rows(v.i1).second);
        std::fill(row.begin(), row.end(), uint8_t(0));
        if (x0 < x1) {
            const float* g0 = row_of(v.i0, x0, x1);
            const float* g1 = row_of(v.i1, x0, x1);
            for (int x = x0; x < x1; ++x) row[x] = (g0[x] * v.w0 + g1[x] * v.w1) > 0.0f;
        }
        sink(row.data());
    }
}

// SAM 2: one bilinear resize from the low-res logits to the original size. Source coordinates in
// double: with float ones, a golden mask pixel whose logit is 2e-5 from 0 flips (the rows' float
// coordinate is 8e-6 off, and the logit there changes by 13 per pixel).
void upscale_direct(const float* L, int lh, int lw, int out_w, int out_h, const MaskRowSink& sink) {
    const std::vector<Lerp> cols = lerps<double>(lw, out_w, out_w);
    std::vector<int> dep_lo(out_w), dep_hi(out_w);
    for (int x = 0; x < out_w; ++x) dep_lo[x] = cols[x].i0, dep_hi[x] = cols[x].i1;
    const LiveColumns live(L, lh, lw, std::move(dep_lo), std::move(dep_hi));
    vertical_threshold(lerps<double>(lh, out_h, out_h), out_w, live, [](int r) { return std::pair{r, r}; },
                       [&](int r, float* dst, int x0, int x1) {
                           const float* src = L + static_cast<size_t>(r) * lw;
                           for (int x = x0; x < x1; ++x)
                               dst[x] = src[cols[x].i0] * cols[x].w0 + src[cols[x].i1] * cols[x].w1;
                       },
                       sink);
}

}  // namespace

// SAM's reference upscales the low-res logits to a 1024x1024 float image, crops it and upscales
// again (SAM 2's goes straight: upscale_direct). Here each value of the 1024 frame is computed only where the second resize reads it,
// with the same float operations in the same order, so results match the reference.
void for_each_mask_row(const Prediction& p, int index, const MaskRowSink& sink) {
    check_sizes(p);
    if (p.full.defined()) return threshold_full(p, index, sink);
    const Tensor& lr = p.lowres;
    if (!lr.defined() || lr.rank() != 3)
        throw std::invalid_argument("mask post-processing: low-res logits have shape " + lr.shape_string() +
                                    ", expected [C, 256, 256]");
    check_index(lr, "low-res logits", index);
    const int lh = static_cast<int>(lr.dim(1)), lw = static_cast<int>(lr.dim(2));
    const float* L = lr.data + static_cast<size_t>(index) * lh * lw;
    if (p.square_resize) return upscale_direct(L, lh, lw, p.orig_w, p.orig_h, sink);
    const int in_w = p.input_w, in_h = p.input_h, out_w = p.orig_w, out_h = p.orig_h;

    const std::vector<Lerp> cols1 = lerps(lw, kFrame, in_w);  // 1024-frame column -> low-res columns
    const std::vector<Lerp> rows1 = lerps(lh, kFrame, in_h);  // 1024-frame row -> low-res rows
    const std::vector<Lerp> cols2 = lerps(in_w, out_w, out_w);  // output column -> 1024-frame columns
    const std::vector<Lerp> rows2 = lerps(in_h, out_h, out_h);  // output row -> 1024-frame rows

    // Horizontal pass of the first resize for every low-res row it uses: [rows, in_w].
    const int used_rows = rows1.back().i1 + 1;
    std::vector<float> horiz(static_cast<size_t>(used_rows) * in_w);
    for (int a = 0; a < used_rows; ++a) {
        const float* src = L + static_cast<size_t>(a) * lw;
        float* dst = horiz.data() + static_cast<size_t>(a) * in_w;
        for (int c = 0; c < in_w; ++c) dst[c] = src[cols1[c].i0] * cols1[c].w0 + src[cols1[c].i1] * cols1[c].w1;
    }

    // Rows of the 1024 frame, resized horizontally to the output width, for columns [x0, x1).
    std::vector<int> dep_lo(out_w), dep_hi(out_w);
    for (int x = 0; x < out_w; ++x) dep_lo[x] = cols1[cols2[x].i0].i0, dep_hi[x] = cols1[cols2[x].i1].i1;
    const LiveColumns live(L, lh, lw, std::move(dep_lo), std::move(dep_hi));
    std::vector<float> frame_row(in_w);
    vertical_threshold(rows2, out_w, live, [&](int r) { return std::pair{rows1[r].i0, rows1[r].i1}; },
                       [&](int r, float* dst, int x0, int x1) {
                           const Lerp& v = rows1[r];
                           const float* h0 = horiz.data() + static_cast<size_t>(v.i0) * in_w;
                           const float* h1 = horiz.data() + static_cast<size_t>(v.i1) * in_w;
                           const int c0 = cols2[x0].i0, c1 = cols2[x1 - 1].i1 + 1;  // frame columns read
                           for (int c = c0; c < c1; ++c) frame_row[c] = h0[c] * v.w0 + h1[c] * v.w1;
                           for (int x = x0; x < x1; ++x)
                               dst[x] = frame_row[cols2[x].i0] * cols2[x].w0 + frame_row[cols2[x].i1] * cols2[x].w1;
                       },
                       sink);
}

std::vector<uint8_t> binary_mask(const Prediction& p, int index, uint8_t inside) {
    std::vector<uint8_t> mask;
    size_t at = 0;
    for_each_mask_row(p, index, [&](const uint8_t* row) {
        if (mask.empty()) mask.resize(static_cast<size_t>(p.orig_h) * p.orig_w);
        uint8_t* dst = mask.data() + at;
        if (inside == 1) {
            std::memcpy(dst, row, static_cast<size_t>(p.orig_w));
        } else {
            for (int x = 0; x < p.orig_w; ++x) dst[x] = static_cast<uint8_t>(row[x] * inside);  // rows hold 0 or 1
        }
        at += static_cast<size_t>(p.orig_w);
    });
    return mask;
}

}  // namespace sam
