// The arithmetic precision of a model's matrix products and convolutions. float32 is the
// default and matches the reference to float noise; bfloat16 (opt-in: PRECISION=bf16,
// --precision bf16) multiplies bfloat16 operands with float32 accumulation, about twice the
// product rate on CPUs with AVX512-BF16 or AMX, and keeps norms, softmax and the residual stream
// in float32. An encoder opts in by preparing its weights with ops::prepare_linear and passing
// the precision to ops::conv2d (tensor/ops.hpp).
#pragma once

#include <cstdint>
#include <string>

namespace sam {

enum class Precision { f32, bf16 };

// "fp32" / "f32" / "float32" or "bf16" / "bfloat16" (any case); throws std::invalid_argument.
Precision parse_precision(const std::string& text);
const char* precision_name(Precision precision);  // "fp32", "bf16"

// Throws std::runtime_error with a message for the user when this CPU cannot run `precision`
// at speed (bf16 needs AVX512-BF16 or AMX-BF16; without them oneDNN would emulate it, slower
// than float32).
void require_precision(Precision precision);

using bf16_t = uint16_t;  // the upper half of a float32

}  // namespace sam
