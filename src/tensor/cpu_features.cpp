#include "tensor/cpu_features.hpp"

#include <cpuid.h>

#include <cstdint>

namespace sam {
namespace {

uint64_t xgetbv0() {
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t(hi) << 32) | lo;
}

CpuFeatures detect() {
    CpuFeatures f;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    f.ssse3 = c & bit_SSSE3;
    f.sse42 = c & bit_SSE4_2;
    f.popcnt = c & bit_POPCNT;
    f.movbe = c & bit_MOVBE;
    const bool osxsave = c & bit_OSXSAVE;
    const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    const bool os_avx = (xcr0 & 0x6) == 0x6;          // XMM and YMM state
    const bool os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;  // opmask, ZMM0-15 upper halves, ZMM16-31
    f.avx = os_avx && (c & bit_AVX);
    f.fma = f.avx && (c & bit_FMA);
    f.f16c = f.avx && (c & bit_F16C);
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        f.bmi1 = b & bit_BMI;
        f.bmi2 = b & bit_BMI2;
        f.avx2 = f.avx && (b & bit_AVX2);
        f.avx512f = os_avx512 && (b & bit_AVX512F);
        f.avx512bw = f.avx512f && (b & bit_AVX512BW);
        f.avx512cd = f.avx512f && (b & bit_AVX512CD);
        f.avx512dq = f.avx512f && (b & bit_AVX512DQ);
        f.avx512vl = f.avx512f && (b & bit_AVX512VL);
    }
    if (__get_cpuid(0x80000001, &a, &b, &c, &d)) f.lzcnt = c & bit_LZCNT;
    return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
    static const CpuFeatures features = detect();
    return features;
}

}  // namespace sam
