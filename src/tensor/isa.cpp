#include "tensor/isa.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <stdexcept>

#include <oneapi/dnnl/dnnl.hpp>

#include "tensor/cpu_features.hpp"

namespace sam::isa {
namespace {

std::atomic<int> g_active{0};  // 0: not chosen yet
std::once_flag g_init;

const char* missing_features(Level level) {
    switch (level) {
        case Level::v4: return "AVX-512 (F, BW, CD, DQ, VL)";
        case Level::v3: return "AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE";
        default: return "SSE4.2, POPCNT, SSSE3";
    }
}

bool g_forced_by_env = false;

// SAM_ISA for our kernels only: oneDNN's cap is configure_from_env()'s business.
void init_from_env() {
    Level level = cpu_level();
    if (const char* v = std::getenv("SAM_ISA"); v && *v) {
        level = parse(v);
        try {
            check_supported(level, cpu_level());
        } catch (const std::runtime_error& e) {
            throw std::runtime_error(std::string("SAM_ISA=") + v + ": " + e.what());
        }
        g_forced_by_env = true;
    }
    g_active.store(int(level));
}

}  // namespace

const char* name(Level level) {
    switch (level) {
        case Level::v4: return "x86-64-v4 (AVX-512)";
        case Level::v3: return "x86-64-v3 (AVX2, FMA)";
        default: return "x86-64-v2 (SSE4.2)";
    }
}

Level cpu_level() {
    const CpuFeatures& f = cpu_features();
    if (f.x86_64_v4()) return Level::v4;
    if (f.x86_64_v3()) return Level::v3;
    return Level::v2;
}

Level active() {
    int level = g_active.load(std::memory_order_relaxed);
    if (level == 0) {
        std::call_once(g_init, [] {
            if (g_active.load() == 0) init_from_env();
        });
        level = g_active.load(std::memory_order_relaxed);
    }
    return Level(level);
}

bool cpu_has_bf16() {
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
    return (isa & bf16) == bf16;  // oneDNN's ISA values are sets of feature bits
}

Level parse(const std::string& text) {
    std::string t = text;
    std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
    if (t.rfind("x86-64-", 0) == 0) t = t.substr(7);
    if (t == "v2" || t == "sse4" || t == "sse4.2") return Level::v2;
    if (t == "v3" || t == "avx2") return Level::v3;
    if (t == "v4" || t == "avx512") return Level::v4;
    throw std::invalid_argument("SAM_ISA: '" + text +
                                "' is not an instruction set level: use v2 (SSE4.2), v3 (AVX2) or v4 (AVX-512)");
}

void check_supported(Level wanted, Level cpu) {
    if (int(wanted) > int(cpu))
        throw std::runtime_error(std::string("cannot use ") + name(wanted) + ": this CPU lacks " +
                                 missing_features(wanted) + "; the best it runs is " + name(cpu));
}

void force(Level level) {
    check_supported(level, cpu_level());
    std::call_once(g_init, [] {});  // a later active() must not re-read SAM_ISA over this choice
    g_active.store(int(level));
}

void configure_from_env() {
    std::call_once(g_init, [] { init_from_env(); });
    const Level level = active();
    if (g_forced_by_env && level != Level::v4) {
        // oneDNN then stays within the same level: a stand-in for a CPU without AVX-512 / AVX2.
        const auto cap = level == Level::v3 ? dnnl::cpu_isa::avx2 : dnnl::cpu_isa::sse41;
        try {
            dnnl::set_max_cpu_isa(cap);
        } catch (const dnnl::error&) {
            throw std::runtime_error("SAM_ISA must be applied before the first oneDNN primitive is created");
        }
    }
}

std::string describe() {
    return std::string("kernels ") + name(active()) + (g_forced_by_env ? " (SAM_ISA)" : "") + "; CPU " +
           name(cpu_level()) + (cpu_has_bf16() ? ", bfloat16" : "");
}

}  // namespace sam::isa
