// Compiled once per ISA level (SAM_ISA_NS is isa_v2, isa_v3 or isa_v4): see tensor/isa.hpp.
#include "models/mask_decoder_kernels.hpp"

#include <cstring>

namespace sam::SAM_ISA_NS {
namespace {

constexpr int64_t kDim = 256;
constexpr int64_t kSide = 64, kLowres = 256, kUp = 32;

// Each weight row is read once for all the token rows: the weights (2 MB for the MLP) are the
// traffic, the few token rows stay in L1.
void token_linear(const float* x, int64_t rows, const float* w, const float* b, int64_t out, int64_t in, float* y,
                  bool relu, const float* residual) {
#pragma omp parallel for schedule(static) if (out * in * rows > (int64_t(1) << 20))
    for (int64_t o = 0; o < out; ++o) {
        const float* wo = w + o * in;
        for (int64_t r = 0; r < rows; ++r) {
            const float* xr = x + r * in;
            float acc = 0;
#pragma omp simd reduction(+ : acc)
            for (int64_t i = 0; i < in; ++i) acc += xr[i] * wo[i];
            float v = acc + b[o];
            if (relu && v < 0) v = 0;
            y[r * out + o] = residual ? v + residual[r * out + o] : v;
        }
    }
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
