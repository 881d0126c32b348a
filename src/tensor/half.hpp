// IEEE 754 half precision (float16) <-> float32: one value exactly, and whole arrays with the
// CPU's F16C instructions when it has them (the portable build does not assume it).
#pragma once

#include <cstddef>
#include <cstdint>

namespace sam {

float half_to_float(uint16_t h);  // exact: subnormals, infinities and NaN included
uint16_t float_to_half(float f);  // round to nearest even; overflow to infinity; NaN stays NaN

void halves_to_floats(const uint16_t* in, float* out, size_t n);
void floats_to_halves(const float* in, uint16_t* out, size_t n);

}  // namespace sam
