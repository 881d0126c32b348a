// Run-time choice of the instruction set of our own kernels (norms, softmax, attention, decoder
// and mask loops). Every `*_kernels.cpp` is compiled three times, for x86-64-v2 (SSE4.2),
// x86-64-v3 (AVX2, FMA) and x86-64-v4 (AVX-512), into the namespaces isa_v2, isa_v3 and isa_v4;
// each defines a table of function pointers, and callers go through the table of the active
// level. The rest of the program is built for x86-64-v2; oneDNN dispatches on its own.
//
// The active level is the best the CPU supports, or SAM_ISA (v2|v3|v4, or sse4|avx2|avx512)
// when set: a level the CPU lacks is refused with a message naming what it lacks.
#pragma once

#include <string>

namespace sam::isa {

enum class Level { v2 = 2, v3 = 3, v4 = 4 };

const char* name(Level level);  // "x86-64-v2 (SSE4.2)", ...
Level cpu_level();              // the best level this CPU and OS support
Level active();                 // the level the kernels use now
bool cpu_has_bf16();            // AVX512-BF16 (or AMX-BF16): native bfloat16 products

// "v2", "x86-64-v3", "avx512", ... Throws std::invalid_argument naming the accepted values.
Level parse(const std::string& text);

// Throws std::runtime_error naming what a CPU of level `cpu` lacks to run `wanted`.
void check_supported(Level wanted, Level cpu);

// Makes `level` the active one; throws std::runtime_error when the CPU lacks it. For tests and
// for configure_from_env().
void force(Level level);

// Applies SAM_ISA, if set, to our kernels and caps oneDNN's own dispatch at the same level (so
// SAM_ISA=v3 behaves like a CPU without AVX-512). Call once at startup, before any model is
// loaded; throws std::invalid_argument / std::runtime_error with a message for the user on a bad
// or unsupported value.
void configure_from_env();

// One line for the log: "kernels x86-64-v4 (AVX-512); CPU x86-64-v4 (AVX-512), bfloat16".
std::string describe();

// The table of the active level: pick(isa_v2::t, isa_v3::t, isa_v4::t).
template <class Table>
const Table& pick(const Table& v2, const Table& v3, const Table& v4) {
    switch (active()) {
        case Level::v4: return v4;
        case Level::v3: return v3;
        default: return v2;
    }
}

}  // namespace sam::isa

// Declares the three per-level instances of a kernel table (defined in a `*_kernels.cpp`).
#define SAM_ISA_DECLARE_TABLES(Type, name)  \
    namespace isa_v2 { extern const Type name; } \
    namespace isa_v3 { extern const Type name; } \
    namespace isa_v4 { extern const Type name; }
