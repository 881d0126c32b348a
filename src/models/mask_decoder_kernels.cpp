// Compiled once per ISA level (SAM_ISA_NS is isa_v2, isa_v3 or isa_v4): see tensor/isa.hpp.
#include "models/mask_decoder_kernels.hpp"

#include <cstring>

namespace sam::SAM_ISA_NS {
namespace {

constexpr int64_t kDim = 256;
constexpr int64_t kSide = 64, kLowres = 256, kUp = 32;

// y[r, o0:o0+B] for rows r0..r0+R: the weight block is streamed once for R rows, with the
// R x B accumulators in registers. W is transposed ([in, out]): a vector runs along outputs.
template <int R, int B>
void token_block(const float* x, int64_t r0, int64_t o0, const float* wt, const float* b, int64_t out, int64_t in,
                 float* y, bool relu, const float* residual) {
    float acc[R][B];
    for (int r = 0; r < R; ++r)
#pragma omp simd
        for (int j = 0; j < B; ++j) acc[r][j] = b[o0 + j];
    for (int64_t i = 0; i < in; ++i) {
        const float* w = wt + i * out + o0;
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

// Outputs o0..o1 (fewer than a block) of every row.
void token_tail(const float* x, int64_t rows, int64_t o0, int64_t o1, const float* wt, const float* b, int64_t out,
                int64_t in, float* y, bool relu, const float* residual) {
    for (int64_t r = 0; r < rows; ++r) {
        float* yr = y + r * out;
        for (int64_t o = o0; o < o1; ++o) yr[o] = b[o];
        for (int64_t i = 0; i < in; ++i) {
            const float xv = x[r * in + i];
            for (int64_t o = o0; o < o1; ++o) yr[o] += xv * wt[i * out + o];
        }
        for (int64_t o = o0; o < o1; ++o) {
            if (relu && yr[o] < 0) yr[o] = 0;
            if (residual) yr[o] += residual[r * out + o];
        }
    }
}

void token_linear(const float* x, int64_t rows, const float* wt, const float* b, int64_t out, int64_t in, float* y,
                  bool relu, const float* residual) {
    constexpr int R = 4, B = 64;
    const int64_t full_out = out / B * B;
#pragma omp parallel for schedule(static) if (out * in * rows > (int64_t(1) << 20))
    for (int64_t o0 = 0; o0 < full_out; o0 += B) {
        int64_t r0 = 0;
        for (; r0 + R <= rows; r0 += R) token_block<R, B>(x, r0, o0, wt, b, out, in, y, relu, residual);
        for (; r0 < rows; ++r0) token_block<1, B>(x, r0, o0, wt, b, out, in, y, relu, residual);
    }
    token_tail(x, rows, full_out, out, wt, b, out, in, y, relu, residual);
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

void hyper_masks(const float* up1, const float* hyper, int64_t count, float* masks) {
#pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < kSide * kSide * 4; ++blk) {
        const int64_t y = blk / 4 / kSide, x = blk / 4 % kSide, dy = blk % 4 / 2, dx = blk % 2;
        for (int e = 0; e < 4; ++e) {
            const float* u = up1 + (blk * 4 + e) * kUp;
            const int64_t row = 4 * y + 2 * dy + e / 2, col = 4 * x + 2 * dx + e % 2;
            for (int64_t c = 0; c < count; ++c) {
                const float* h = hyper + c * kUp;
                float dot = 0;
#pragma omp simd reduction(+ : dot)
                for (int k = 0; k < kUp; ++k) dot += h[k] * u[k];
                masks[(c * kLowres + row) * kLowres + col] = dot;
            }
        }
    }
}

}  // namespace

extern const MaskDecoderKernels mask_decoder_kernels = {token_linear, fold_queries, unfold_values, fold_keys_values,
                                                        hyper_masks};

}  // namespace sam::SAM_ISA_NS
