#include "tensor/precision.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "tensor/isa.hpp"

namespace sam {

Precision parse_precision(const std::string& text) {
    std::string t = text;
    std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
    if (t == "fp32" || t == "f32" || t == "float32") return Precision::f32;
    if (t == "bf16" || t == "bfloat16") return Precision::bf16;
    throw std::invalid_argument("precision '" + text + "' is not fp32 or bf16");
}

const char* precision_name(Precision precision) { return precision == Precision::bf16 ? "bf16" : "fp32"; }

void require_precision(Precision precision) {
    if (precision == Precision::bf16 && !isa::cpu_has_bf16())
        throw std::runtime_error(
            "precision bf16 needs a CPU with AVX512-BF16 or AMX-BF16 (Intel Cooper Lake, Sapphire Rapids or "
            "later; AMD Zen 4 or later); this one has neither (or SAM_ISA limits it): use PRECISION=fp32");
}

}  // namespace sam
