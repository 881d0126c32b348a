// What this x86-64 CPU and its operating system support, read once with CPUID and XGETBV:
// the same answer from GCC and clang builds (clang 14's __builtin_cpu_supports knows neither
// "f16c" nor the "x86-64-vN" levels).
#pragma once

namespace sam {

struct CpuFeatures {
    bool sse42 = false, popcnt = false, ssse3 = false;
    bool avx = false, avx2 = false, fma = false, f16c = false;
    bool bmi1 = false, bmi2 = false, lzcnt = false, movbe = false;
    bool avx512f = false, avx512bw = false, avx512cd = false, avx512dq = false, avx512vl = false;

    bool x86_64_v3() const { return avx && avx2 && fma && f16c && bmi1 && bmi2 && lzcnt && movbe; }
    bool x86_64_v4() const { return x86_64_v3() && avx512f && avx512bw && avx512cd && avx512dq && avx512vl; }
};

// AVX and AVX-512 features count only when the OS saves their registers (XCR0).
const CpuFeatures& cpu_features();

}  // namespace sam
