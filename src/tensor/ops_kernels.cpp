// Compiled once per ISA level (SAM_ISA_NS is isa_v2, isa_v3 or isa_v4): see tensor/isa.hpp.
// Nothing here may define a symbol outside that namespace (tests/isa_objects.sh checks).
#include "tensor/ops_kernels.hpp"

#include <cmath>
#include <cstring>

#include "tensor/fast_math.hpp"

namespace sam::SAM_ISA_NS {
namespace {

[[gnu::always_inline]] inline void store(float* y, float v) { *y = v; }
[[gnu::always_inline]] inline void store(uint16_t* y, float v) { *y = bf16_of(v); }

template <bool Gelu, class Out>
void layer_norm_impl(const float* x, int64_t rows, int64_t C, const float* gamma, const float* beta, float eps,
                     Out* y) {
#pragma omp parallel for schedule(static) if (rows * C > 32768)
    for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * C;
        Out* yr = y + r * C;
        float mean, inv;
        mean_rstd(xr, C, eps, mean, inv);
        if (Gelu) {
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) store(yr + c, fast_gelu((xr[c] - mean) * inv * gamma[c] + beta[c]));
        } else {
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) store(yr + c, (xr[c] - mean) * inv * gamma[c] + beta[c]);
        }
    }
}

void layer_norm(const float* x, int64_t rows, int64_t C, const float* gamma, const float* beta, float eps, float* y) {
    layer_norm_impl<false>(x, rows, C, gamma, beta, eps, y);
}

void layer_norm_gelu(const float* x, int64_t rows, int64_t C, const float* gamma, const float* beta, float eps,
                     float* y) {
    layer_norm_impl<true>(x, rows, C, gamma, beta, eps, y);
}

void layer_norm_bf16(const float* x, int64_t rows, int64_t C, const float* gamma, const float* beta, float eps,
                     uint16_t* y) {
    layer_norm_impl<false>(x, rows, C, gamma, beta, eps, y);
}

void to_bf16(const float* x, uint16_t* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) y[i] = bf16_of(x[i]);
}

// Rows shorter than a vector (SAM's image-to-token attention: 7 keys per row): each block of 16
// rows is turned so that a vector lane holds one row, instead of one mostly masked vector per row.
void softmax_short_rows(float* x, int64_t rows, int64_t cols, float scale, const float* bias, int64_t bias_rows) {
    constexpr int64_t L = 16;
#pragma omp parallel for schedule(static) if (rows * cols > 32768)
    for (int64_t r0 = 0; r0 < rows; r0 += L) {
        const int64_t m = rows - r0 < L ? rows - r0 : L;
        float* xb = x + r0 * cols;
        alignas(64) float t[L][L];  // t[column][row]
        alignas(64) float mx[L], sum[L];
        for (int64_t r = 0; r < L; ++r) {
            const float* br = bias ? bias + ((r0 + r) % bias_rows) * cols : nullptr;
            for (int64_t k = 0; k < cols; ++k)
                t[k][r] = r < m ? xb[r * cols + k] * scale + (br ? br[k] : 0.0f) : 0.0f;
        }
#pragma omp simd
        for (int64_t r = 0; r < L; ++r) {
            mx[r] = t[0][r];
            sum[r] = 0.0f;
        }
        for (int64_t k = 1; k < cols; ++k)
#pragma omp simd
            for (int64_t r = 0; r < L; ++r) mx[r] = mx[r] > t[k][r] ? mx[r] : t[k][r];
        for (int64_t k = 0; k < cols; ++k)
#pragma omp simd
            for (int64_t r = 0; r < L; ++r) {
                t[k][r] = fast_exp(t[k][r] - mx[r]);
                sum[r] += t[k][r];
            }
#pragma omp simd
        for (int64_t r = 0; r < L; ++r) sum[r] = 1.0f / sum[r];
        for (int64_t r = 0; r < m; ++r)
            for (int64_t k = 0; k < cols; ++k) xb[r * cols + k] = t[k][r] * sum[r];
    }
}

void softmax_rows(float* x, int64_t rows, int64_t cols, float scale, const float* bias, int64_t bias_rows) {
    if (cols <= 16) return softmax_short_rows(x, rows, cols, scale, bias, bias_rows);
#pragma omp parallel for schedule(static) if (rows * cols > 32768)
    for (int64_t r = 0; r < rows; ++r) {
        float* xr = x + r * cols;
        const float* br = bias ? bias + (r % bias_rows) * cols : nullptr;
        float mx = -INFINITY;
        if (br) {
#pragma omp simd reduction(max : mx)
            for (int64_t c = 0; c < cols; ++c) {
                const float v = xr[c] * scale + br[c];
                xr[c] = v;
                mx = mx > v ? mx : v;  // std::max on the stored value keeps GCC 12 from vectorising
            }
        } else {
#pragma omp simd reduction(max : mx)
            for (int64_t c = 0; c < cols; ++c) {
                const float v = xr[c] * scale;
                xr[c] = v;
                mx = mx > v ? mx : v;
            }
        }
        const float inv = 1.0f / exp_shifted(xr, cols, mx);
#pragma omp simd
        for (int64_t c = 0; c < cols; ++c) xr[c] *= inv;
    }
}

void relu(float* x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0 ? x[i] : 0;
}

void add(const float* a, const float* b, float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void transpose(const float* x, int64_t rows, int64_t cols, float* y) {
    constexpr int64_t B = 32;
#pragma omp parallel for collapse(2) schedule(static) if (rows * cols > 65536)
    for (int64_t r0 = 0; r0 < rows; r0 += B)
        for (int64_t c0 = 0; c0 < cols; c0 += B) {
            const int64_t r1 = r0 + B < rows ? r0 + B : rows, c1 = c0 + B < cols ? c0 + B : cols;
            for (int64_t r = r0; r < r1; ++r)
                for (int64_t c = c0; c < c1; ++c) y[c * rows + r] = x[r * cols + c];
        }
}

}  // namespace

extern const OpsKernels ops_kernels = {layer_norm, layer_norm_gelu, layer_norm_bf16, to_bf16, softmax_rows,
                                       relu,       add,             transpose};

}  // namespace sam::SAM_ISA_NS
