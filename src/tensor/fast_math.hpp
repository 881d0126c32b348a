// Inline math for hot loops that must vectorise (libm calls would not). Always inlined: the
// per-ISA kernel objects (tensor/isa.hpp) must not leave an out-of-line copy that the linker
// could hand to code built for a lower level.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace sam {

// exp(x) for softmax: float32 range reduction and a degree-6 polynomial, about 1 ulp.
[[gnu::always_inline]] inline float fast_exp(float x) {
    x = x < -87.0f ? -87.0f : x;
    // Round to nearest by the 1.5 * 2^23 trick: GCC does not vectorise std::floor without
    // -fno-trapping-math, and one scalar call in the loop keeps the whole loop scalar.
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    const float r = x - n * 0.693147180559945309f;  // reduced in x, not in x / ln 2: no error growth
    float p = 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

// x[j] = exp(x[j] - mx) for a row whose maximum is mx (a softmax's numerators); returns the sum.
[[gnu::always_inline]] inline float exp_shifted(float* x, int64_t n, float mx) {
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < n; ++j) {
        x[j] = fast_exp(x[j] - mx);
        sum += x[j];
    }
    return sum;
}

// erf(x) by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7), on fast_exp.
[[gnu::always_inline]] inline float fast_erf(float x) {
    const float a = x < 0 ? -x : x;
    const float t = 1.0f / (1.0f + 0.3275911f * a);
    float p = 1.061405429f;
    p = p * t - 1.453152027f;
    p = p * t + 1.421413741f;
    p = p * t - 0.284496736f;
    p = p * t + 0.254829592f;
    const float e = 1.0f - p * t * fast_exp(-a * a);
    return x < 0 ? -e : e;
}

// The exact (erf) GELU of torch.nn.GELU(), to float32 noise.
[[gnu::always_inline]] inline float fast_gelu(float x) { return 0.5f * x * (1.0f + fast_erf(x * 0.70710678118654752f)); }

// Mean and 1 / sqrt(variance + eps) of x[0..n), in two passes (the mean, then the centred
// squares), as nn.LayerNorm computes them.
[[gnu::always_inline]] inline void mean_rstd(const float* x, int64_t n, float eps, float& mean, float& rstd) {
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < n; ++c) sum += x[c];
    const float mu = sum / n;
    float sq = 0;
#pragma omp simd reduction(+ : sq)
    for (int64_t c = 0; c < n; ++c) sq += (x[c] - mu) * (x[c] - mu);
    mean = mu;
    rstd = 1.0f / std::sqrt(sq / n + eps);
}

// float32 to bfloat16 bits, rounding to nearest even; inputs are finite.
[[gnu::always_inline]] inline uint16_t bf16_of(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    return uint16_t((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

// bfloat16 bits to float32 (exact).
[[gnu::always_inline]] inline float float_of_bf16(uint16_t v) {
    const uint32_t bits = uint32_t(v) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

}  // namespace sam
