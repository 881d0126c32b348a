// Compiled once per ISA level (SAM_ISA_NS is isa_v2, isa_v3 or isa_v4): see tensor/isa.hpp.
#include "models/vit_kernels.hpp"

#include <cmath>
#include <cstring>

#include "tensor/fast_math.hpp"

namespace sam::SAM_ISA_NS {
namespace {

void split_heads(const float* qkv, int64_t rows, int64_t N, int64_t heads, int64_t hd, float* out) {
    const int64_t E = heads * hd, items = rows / N * heads;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t w = r / N, n = r % N;
        for (int64_t t = 0; t < 3; ++t)
            for (int64_t h = 0; h < heads; ++h)
                std::memcpy(out + ((t * items + w * heads + h) * N + n) * hd, qkv + r * 3 * E + (t * heads + h) * hd,
                            sizeof(float) * hd);
    }
}

void softmax_rel_pos(float* x, const float* rel, float* inv_sum, int64_t rows, int64_t first_query, int64_t S) {
    const int64_t N = S * S, R = 2 * S - 1;
#pragma omp parallel
    {
        float* bias_w = new float[S];
#pragma omp for schedule(static)
        for (int64_t i = 0; i < rows; ++i) {
            const int64_t q = (first_query + i) % N, qh = q / S, qw = q % S;
            float* xr = x + i * N;
            const float* rh = rel + i * 2 * R;
            const float* rw = rh + R;
            for (int64_t kw = 0; kw < S; ++kw) bias_w[kw] = rw[qw - kw + S - 1];
            float mx = -INFINITY;
            for (int64_t kh = 0; kh < S; ++kh) {
                const float bh = rh[qh - kh + S - 1];
                float* xk = xr + kh * S;
#pragma omp simd reduction(max : mx)
                for (int64_t kw = 0; kw < S; ++kw) {
                    const float v = xk[kw] + bh + bias_w[kw];
                    xk[kw] = v;
                    mx = mx > v ? mx : v;  // std::max on the stored value keeps GCC 12 from vectorising
                }
            }
            inv_sum[i] = 1.0f / exp_shifted(xr, N, mx);
        }
        delete[] bias_w;
    }
}

void merge_heads(const float* heads_out, const float* inv_sum, int64_t G, int64_t S, int64_t heads, int64_t hd,
                 float* out) {
    const int64_t nW = (G + S - 1) / S, N = S * S, E = heads * hd;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < G * G; ++t) {
        const int64_t y = t / G, x = t % G;
        const int64_t w = (y / S) * nW + x / S, n = (y % S) * S + x % S;
        for (int64_t h = 0; h < heads; ++h) {
            const int64_t item = w * heads + h;
            const float* src = heads_out + (item * N + n) * hd;
            const float f = inv_sum[item * N + n];
            float* dst = out + t * E + h * hd;
#pragma omp simd
            for (int64_t d = 0; d < hd; ++d) dst[d] = src[d] * f;
        }
    }
}

}  // namespace

extern const VitKernels vit_kernels = {split_heads, softmax_rel_pos, merge_heads};

}  // namespace sam::SAM_ISA_NS
