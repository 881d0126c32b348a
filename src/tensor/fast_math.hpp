// Inline math for hot loops that must vectorise (libm calls would not).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace sam {

// exp(x) for softmax: float32 range reduction and a degree-6 polynomial, about 1 ulp.
inline float fast_exp(float x) {
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

}  // namespace sam
