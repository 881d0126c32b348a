#include "tensor/half.hpp"

#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "tensor/cpu_features.hpp"

namespace sam {

float half_to_float(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float f;
    if (exp == 0) {
        f = std::ldexp(static_cast<float>(mant), -24);
        return sign ? -f : f;
    }
    uint32_t bits = sign | (exp == 31 ? 0x7f800000u | (mant << 13) : ((exp + 112) << 23) | (mant << 13));
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t float_to_half(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
    const uint32_t abs = x & 0x7fffffffu;
    if (abs >= 0x7f800000u) return sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 : 0);  // inf, NaN (quiet)
    if (abs >= 0x477ff000u) return sign | 0x7c00;  // rounds to above 65504: infinity
    if (abs < 0x38800000u) {
        // Below the smallest normal half (2^-14): a subnormal, i.e. a multiple of 2^-24, rounded
        // to nearest even by the float addition itself.
        float a;
        std::memcpy(&a, &abs, 4);
        const float scaled = a + 0.5f;  // 0.5 = 2^-1: its ulp is 2^-24, the subnormal step
        uint32_t s;
        std::memcpy(&s, &scaled, 4);
        return sign | static_cast<uint16_t>(s - 0x3f000000u);
    }
    // Normal: rebias the exponent, round the 13 dropped mantissa bits to nearest even.
    const uint32_t mant_odd = (abs >> 13) & 1;
    const uint32_t rounded = abs + 0xfffu + mant_odd;
    return sign | static_cast<uint16_t>((rounded - 0x38000000u) >> 13);
}

namespace {

__attribute__((target("avx,f16c"))) void halves_to_floats_f16c(const uint16_t* in, float* out, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
    for (; i < n; ++i) out[i] = half_to_float(in[i]);
}

__attribute__((target("avx,f16c"))) void floats_to_halves_f16c(const float* in, uint16_t* out, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; ++i) out[i] = float_to_half(in[i]);
}

bool has_f16c() {
    return cpu_features().f16c;
}

}  // namespace

void halves_to_floats(const uint16_t* in, float* out, size_t n) {
    if (has_f16c()) return halves_to_floats_f16c(in, out, n);
    for (size_t i = 0; i < n; ++i) out[i] = half_to_float(in[i]);
}

void floats_to_halves(const float* in, uint16_t* out, size_t n) {
    if (has_f16c()) return floats_to_halves_f16c(in, out, n);
    for (size_t i = 0; i < n; ++i) out[i] = float_to_half(in[i]);
}

}  // namespace sam
