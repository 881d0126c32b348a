// Compiled once per ISA level (SAM_ISA_NS is isa_v2, isa_v3 or isa_v4): see tensor/isa.hpp.
#include "models/mask_decoder_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/fast_math.hpp"

namespace sam::SAM_ISA_NS {
namespace {

constexpr int64_t kDim = 256;
constexpr int64_t kSide = 64, kLowres = 256, kUp = 32, kUp0 = 64;
constexpr int64_t kTokens = kSide * kSide;

// y[r, o0:o0+B] for rows r0..r0+R: the weight block ([in, B], contiguous in the packed layout)
// is streamed once for R rows, with the R x B accumulators in registers.
template <int R, int B>
void token_block(const float* x, int64_t r0, int64_t o0, const float* wt, const float* b, int64_t out, int64_t in,
                 float* y, bool relu, const float* residual) {
    float acc[R][B];
    for (int r = 0; r < R; ++r)
#pragma omp simd
        for (int j = 0; j < B; ++j) acc[r][j] = b[o0 + j];
    for (int64_t i = 0; i < in; ++i) {
        const float* w = wt + o0 * in + i * B;
        for (int r = 0; r < R; ++r) {
            const float xv = x[(r0 + r) * in + i];
#pragma omp simd
            for (int j = 0; j < B; ++j) acc[r][j] += xv * w[j];
        }
    }
    for (int r = 0; r < R; ++r) {
        float* yr = y + (r0 + r) * out + o0;
        const float* res = residual ? residual + (r0 + r) * out + o0 : nullptr;
#pragma omp simd
        for (int j = 0; j < B; ++j) {
            float v = acc[r][j];
            if (relu) v = v > 0 ? v : 0;
            yr[j] = res ? v + res[j] : v;
        }
    }
}

// Outputs o0..out (fewer than a block) of every row; their weights are [in, out - o0] after the blocks.
void token_tail(const float* x, int64_t rows, int64_t o0, const float* wt, const float* b, int64_t out, int64_t in,
                float* y, bool relu, const float* residual) {
    const int64_t o1 = out, t = out - o0;
    const float* tail = wt + o0 * in;
    for (int64_t r = 0; r < rows; ++r) {
        float* yr = y + r * out;
        for (int64_t o = o0; o < o1; ++o) yr[o] = b[o];
        for (int64_t i = 0; i < in; ++i) {
            const float xv = x[r * in + i];
            for (int64_t o = o0; o < o1; ++o) yr[o] += xv * tail[i * t + o - o0];
        }
        for (int64_t o = o0; o < o1; ++o) {
            if (relu && yr[o] < 0) yr[o] = 0;
            if (residual) yr[o] += residual[r * out + o];
        }
    }
}

// Up to kTokenRows rows per pass over the weights: the weights (2 MB for an MLP layer) are what
// this streams, so a click's 7 tokens read them once, not once per leftover row.
#if defined(__AVX512F__)
constexpr int kTokenRows = 8;
#else
constexpr int kTokenRows = 4;
#endif

template <int B>
void token_rows(const float* x, int64_t r0, int64_t n, int64_t o0, const float* wt, const float* b, int64_t out,
                int64_t in, float* y, bool relu, const float* residual) {
    switch (n) {
        case 1: return token_block<1, B>(x, r0, o0, wt, b, out, in, y, relu, residual);
        case 2: return token_block<2, B>(x, r0, o0, wt, b, out, in, y, relu, residual);
        case 3: return token_block<3, B>(x, r0, o0, wt, b, out, in, y, relu, residual);
        case 4: return token_block<4, B>(x, r0, o0, wt, b, out, in, y, relu, residual);
#if defined(__AVX512F__)
        case 5: return token_block<5, B>(x, r0, o0, wt, b, out, in, y, relu, residual);
        case 6: return token_block<6, B>(x, r0, o0, wt, b, out, in, y, relu, residual);
        case 7: return token_block<7, B>(x, r0, o0, wt, b, out, in, y, relu, residual);
        case 8: return token_block<8, B>(x, r0, o0, wt, b, out, in, y, relu, residual);
#endif
    }
}

void token_linear(const float* x, int64_t rows, const float* wt, const float* b, int64_t out, int64_t in, float* y,
                  bool relu, const float* residual) {
    constexpr int B = kTokenBlock;
    const int64_t full_out = out / B * B;
#pragma omp parallel for schedule(static) if (out * in * rows > (int64_t(1) << 20))
    for (int64_t o0 = 0; o0 < full_out; o0 += B)
        for (int64_t r0 = 0; r0 < rows; r0 += kTokenRows)
            token_rows<B>(x, r0, std::min<int64_t>(kTokenRows, rows - r0), o0, wt, b, out, in, y, relu, residual);
    if (full_out < out) token_tail(x, rows, full_out, wt, b, out, in, y, relu, residual);
}

void fold_queries(const float* q, int64_t n, int64_t D, int64_t heads, const float* wk, float scale, float* qk) {
    const int64_t dh = D / heads;
    for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < n; ++i) {
            float* dst = qk + (h * n + i) * kDim;
            std::memset(dst, 0, kDim * sizeof(float));
            for (int64_t d = 0; d < dh; ++d) {
                const float c = scale * q[i * D + h * dh + d];
                const float* wr = wk + (h * dh + d) * kDim;
#pragma omp simd
                for (int64_t x = 0; x < kDim; ++x) dst[x] += c * wr[x];
            }
        }
}

void unfold_values(const float* z, int64_t n, int64_t D, int64_t heads, const float* wv, const float* bv, float* o) {
    const int64_t dh = D / heads;
    for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < n; ++i) {
            const float* zi = z + (h * n + i) * kDim;
            for (int64_t d = 0; d < dh; ++d) {
                const float* wr = wv + (h * dh + d) * kDim;
                float dot = 0;
#pragma omp simd reduction(+ : dot)
                for (int64_t x = 0; x < kDim; ++x) dot += zi[x] * wr[x];
                o[i * D + h * dh + d] = dot + bv[h * dh + d];
            }
        }
}

void fold_keys_values(const float* k, const float* v, int64_t n, int64_t D, int64_t heads, const float* wq,
                      const float* bq, const float* wout_t, float* qa, float* qb, float* vo) {
    const int64_t dh = D / heads;
    for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < n; ++i) {
            const int64_t col = h * n + i;
            float* a = qa + col * kDim;
            float* c = vo + col * kDim;
            std::memset(a, 0, kDim * sizeof(float));
            std::memset(c, 0, kDim * sizeof(float));
            float b = 0;
            for (int64_t d = 0; d < dh; ++d) {
                const float kd = k[i * D + h * dh + d], vd = v[i * D + h * dh + d];
                const float* wr = wq + (h * dh + d) * kDim;
                const float* ur = wout_t + (h * dh + d) * kDim;
#pragma omp simd
                for (int64_t x = 0; x < kDim; ++x) {
                    a[x] += kd * wr[x];
                    c[x] += vd * ur[x];
                }
                b += bq[h * dh + d] * kd;
            }
            qb[col] = b;
        }
}

void norm_image_tokens(float* x, const float* residual, const float* w, const float* b, const float* pos, float* kpe,
                       float* mean, float* rstd) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < kTokens; ++r) {
        float* xr = x + r * kDim;
        const float* res = residual + r * kDim;
#pragma omp simd
        for (int64_t c = 0; c < kDim; ++c) xr[c] += res[c];
        float mu, inv;
        mean_rstd(xr, kDim, 1e-5f, mu, inv);
        mean[r] = mu;
        rstd[r] = inv;
        float* kr = kpe + r * kDim;
        const float* pr = pos + r * kDim;
#pragma omp simd
        for (int64_t c = 0; c < kDim; ++c) {
            xr[c] = (xr[c] - mu) * inv * w[c] + b[c];
            kr[c] = xr[c] + pr[c];
        }
    }
}

void join_scores(const float* s0, const float* s1, int64_t cols, const float* b, float* out) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < kTokens; ++r) {
        float* o = out + r * 2 * cols;
        const float br = b[r];
        std::memcpy(o, s0 + r * cols, cols * sizeof(float));
#pragma omp simd
        for (int64_t c = 0; c < cols; ++c) o[cols + c] = br * s1[r * cols + c];
    }
}

void upscaling_input(const float* y, const float* a, const float* b, const float* mu1, const float* mu2,
                     const UpscalingFold& fold, const float* hr, const float* ln_w, const float* ln_b, float* up0) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < kTokens; ++r) {
        const float ar = a[r], br = b[r], am = ar * mu1[r], bm = br * mu2[r];
        for (int64_t g = 0; g < kDim / kUp0; ++g) {
            const int64_t o = r * kDim + g * kUp0;
            float v[kUp0];
#pragma omp simd
            for (int64_t c = 0; c < kUp0; ++c) {
                const int64_t j = g * kUp0 + c;
                v[c] = ar * (y[o + c] + fold.d0[j]) - am * fold.c0[j] + br * fold.e1[j] - bm * fold.c1[j] + fold.f[j];
            }
            if (hr) {  // a separate loop: see upscaled_block
#pragma omp simd
                for (int64_t c = 0; c < kUp0; ++c) v[c] += hr[o + c];
            }
            float mu, inv;
            mean_rstd(v, kUp0, 1e-6f, mu, inv);
            float* out = up0 + o;
#pragma omp simd
            for (int64_t c = 0; c < kUp0; ++c) out[c] = fast_gelu((v[c] - mu) * inv * ln_w[c] + ln_b[c]);
        }
    }
}

// Register blocking of upscaled_masks: kRows up0 rows times 32 outputs in vectors of kLanes,
// as many accumulators as the level has vector registers to spare.
#if defined(__AVX512F__)
constexpr int kLanes = 16, kRows = 8;
#elif defined(__AVX2__)
constexpr int kLanes = 8, kRows = 3;
#else
constexpr int kLanes = 4, kRows = 3;
#endif
constexpr int kVecs = kUp / kLanes;
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

// R rows of up0 from r0, each up0 row being 2x2 blocks (ey, ex) of 32 up1 channels.
template <int R>
void upscaled_block(const float* up0, int64_t r0, const float* w1, const float* b1, const float* s0,
                    const float* hyper, int64_t count, float* masks) {
    for (int e = 0; e < 4; ++e) {
        Vec acc[R][kVecs];
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
            for (int v = 0; v < kVecs; ++v) std::memcpy(&acc[r][v], b1 + e * kUp + v * kLanes, sizeof(Vec));
        for (int64_t k = 0; k < kUp0; ++k) {
            Vec w[kVecs];
#pragma GCC unroll 8
            for (int v = 0; v < kVecs; ++v) std::memcpy(&w[v], w1 + k * 4 * kUp + e * kUp + v * kLanes, sizeof(Vec));
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) {
                const float x = up0[(r0 + r) * kUp0 + k];
#pragma GCC unroll 8
                for (int v = 0; v < kVecs; ++v) acc[r][v] += x * w[v];
            }
        }
        for (int r = 0; r < R; ++r) {
            const int64_t blk = r0 + r;
            alignas(64) float g[kUp];
            std::memcpy(g, acc[r], sizeof g);
            // Two loops, not one with a select: a masked load from the null pointer costs a
            // fault-suppression assist on every row.
            if (s0) {
                const float* add = s0 + (blk * 4 + e) * kUp;
#pragma omp simd
                for (int k = 0; k < kUp; ++k) g[k] = fast_gelu(g[k] + add[k]);
            } else {
#pragma omp simd
                for (int k = 0; k < kUp; ++k) g[k] = fast_gelu(g[k]);
            }
            const int64_t y = blk / 4 / kSide, x = blk / 4 % kSide, dy = blk % 4 / 2, dx = blk % 2;
            const int64_t row = 4 * y + 2 * dy + e / 2, col = 4 * x + 2 * dx + e % 2;
            for (int64_t c = 0; c < count; ++c) {
                const float* h = hyper + c * kUp;
                float dot = 0;
#pragma omp simd reduction(+ : dot)
                for (int k = 0; k < kUp; ++k) dot += h[k] * g[k];
                masks[(c * kLowres + row) * kLowres + col] = dot;
            }
        }
    }
}

void upscaled_masks(const float* up0, const float* w1, const float* b1, const float* s0, const float* hyper,
                    int64_t count, float* masks) {
    constexpr int64_t rows = kTokens * 4, blocks = (rows + kRows - 1) / kRows;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < blocks; ++i) {
        const int64_t r0 = i * kRows;
        if (r0 + kRows <= rows) {
            upscaled_block<kRows>(up0, r0, w1, b1, s0, hyper, count, masks);
        } else {
            for (int64_t r = r0; r < rows; ++r) upscaled_block<1>(up0, r, w1, b1, s0, hyper, count, masks);
        }
    }
}

}  // namespace

extern const MaskDecoderKernels mask_decoder_kernels = {
    token_linear, fold_queries, unfold_values, fold_keys_values, norm_image_tokens, join_scores, upscaling_input,
    upscaled_masks};

}  // namespace sam::SAM_ISA_NS
