// Compiled once per ISA level (SAM_ISA_NS is isa_v2, isa_v3 or isa_v4): see tensor/isa.hpp.
#include "models/hiera_kernels.hpp"

#include <cmath>
#include <cstring>

#include "tensor/fast_math.hpp"

namespace sam::SAM_ISA_NS {
namespace {

[[gnu::always_inline]] inline float widen(float x) { return x; }
[[gnu::always_inline]] inline float widen(uint16_t x) { return float_of_bf16(x); }
// Rounding to bfloat16 is monotonic, so the max of rounded values is the rounded max.
template <class T>
[[gnu::always_inline]] inline T max4(T a, T b, T c, T d) {
    const T ab = widen(a) > widen(b) ? a : b, cd = widen(c) > widen(d) ? c : d;
    return widen(ab) > widen(cd) ? ab : cd;
}

void exp_rows(float* x, int64_t rows, int64_t cols, float scale, float* inv_sum, uint16_t* y16) {
#pragma omp parallel for schedule(static) if (rows * cols > 32768)
    for (int64_t r = 0; r < rows; ++r) {
        float* xr = x + r * cols;
        float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
        for (int64_t c = 0; c < cols; ++c) mx = mx > xr[c] ? mx : xr[c];
        const float shift = mx * scale;
        float sum = 0;
        if (y16) {
            uint16_t* yr = y16 + r * cols;
#pragma omp simd reduction(+ : sum)
            for (int64_t c = 0; c < cols; ++c) {
                const uint16_t e = bf16_of(fast_exp(xr[c] * scale - shift));
                yr[c] = e;
                sum += float_of_bf16(e);  // the sum of what the product with V multiplies
            }
        } else {
#pragma omp simd reduction(+ : sum)
            for (int64_t c = 0; c < cols; ++c) {
                xr[c] = fast_exp(xr[c] * scale - shift);
                sum += xr[c];
            }
        }
        inv_sum[r] = 1.0f / sum;
    }
}

// Tokens of the zero padding have qkv = bias: the reference pads after norm1 and attends unmasked.
template <class T>
void partition_impl(const HieraPartitionArgs& a, const T* qkv, const T* pad, T* q, T* k, T* v) {
    const int64_t H = a.H, S = a.S, nW = a.windows, C = a.dim, nH = a.heads, hd = C / nH;
    const int64_t N = S * S, Sq = a.pool ? S / 2 : S, Nq = Sq * Sq, y0 = a.first_row * S;
    auto token = [&](int64_t y, int64_t x) { return y < H && x < H ? qkv + ((y - y0) * H + x) * 3 * C : pad; };
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < a.rows * nW * S; ++r) {  // one row of one window
        const int64_t w = r / S, iy = r % S, y = y0 + (w / nW) * S + iy, xw = (w % nW) * S;
        for (int64_t ix = 0; ix < S; ++ix) {
            const T* t = token(y, xw + ix);
            for (int64_t h = 0; h < nH; ++h) {
                const int64_t dst = ((w * nH + h) * N + iy * S + ix) * hd;
                std::memcpy(k + dst, t + C + h * hd, sizeof(T) * hd);
                std::memcpy(v + dst, t + 2 * C + h * hd, sizeof(T) * hd);
                if (!a.pool) std::memcpy(q + dst, t + h * hd, sizeof(T) * hd);
            }
        }
        if (!a.pool || iy % 2) continue;
        for (int64_t px = 0; px < Sq; ++px) {  // q max-pooled 2x2 inside the window
            const T* t0 = token(y, xw + 2 * px);
            const T* t1 = token(y, xw + 2 * px + 1);
            const T* t2 = token(y + 1, xw + 2 * px);
            const T* t3 = token(y + 1, xw + 2 * px + 1);
            for (int64_t h = 0; h < nH; ++h) {
                T* d = q + ((w * nH + h) * Nq + (iy / 2) * Sq + px) * hd;
                const int64_t o = h * hd;
#pragma omp simd
                for (int64_t c = 0; c < hd; ++c) d[c] = max4(t0[o + c], t1[o + c], t2[o + c], t3[o + c]);
            }
        }
    }
}

void partition(const HieraPartitionArgs& a) {
    if (a.qkv16) partition_impl(a, a.qkv16, a.pad16, a.q16, a.k16, a.v16);
    else partition_impl(a, a.qkv, a.pad, a.q, a.k, a.v);
}

template <class T>
[[gnu::always_inline]] inline void store(T* y, float v) {
    if constexpr (sizeof(T) == 2) *y = bf16_of(v);
    else *y = v;
}

template <class T>
void merge_impl(const HieraMergeArgs& a, T* out) {
    const int64_t Ho = a.Ho, Sq = a.Sq, nW = a.windows, C = a.dim, nH = a.heads, hd = C / nH, Nq = Sq * Sq;
    const int64_t oy0 = a.first_row * Sq;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < a.out_rows * Ho; ++t) {
        const int64_t oy = oy0 + t / Ho, ox = t % Ho;
        const int64_t w = (oy / Sq - a.first_row) * nW + ox / Sq, n = (oy % Sq) * Sq + ox % Sq;
        for (int64_t h = 0; h < nH; ++h) {
            const int64_t item = w * nH + h;
            const float* src = a.heads_out + (item * Nq + n) * hd;
            const float f = a.inv_sum[item * Nq + n];
            T* dst = out + t * C + h * hd;
#pragma omp simd
            for (int64_t d = 0; d < hd; ++d) store(dst + d, src[d] * f);
        }
    }
}

void merge(const HieraMergeArgs& a) {
    if (a.out16) merge_impl(a, a.out16);
    else merge_impl(a, a.out);
}

void max_pool_2x2(const float* x, int64_t rows, int64_t H, int64_t C, float* y) {
    const int64_t Ho = H / 2;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < rows / 2 * Ho; ++t) {
        const float* a = x + ((2 * (t / Ho)) * H + 2 * (t % Ho)) * C;
        const float* c = a + H * C;
        float* d = y + t * C;
#pragma omp simd
        for (int64_t k = 0; k < C; ++k) d[k] = max4(a[k], a[C + k], c[k], c[C + k]);
    }
}

void add_upsampled_2x(const float* x, int64_t S, int64_t C, float* y) {
    const int64_t up = 2 * S;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < up * up; ++t) {
        const float* src = x + ((t / up / 2) * S + (t % up) / 2) * C;
        float* dst = y + t * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) dst[c] += src[c];
    }
}

}  // namespace

extern const HieraKernels hiera_kernels = {exp_rows, partition, merge, max_pool_2x2, add_upsampled_2x};

}  // namespace sam::SAM_ISA_NS
