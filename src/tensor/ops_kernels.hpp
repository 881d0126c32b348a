// The element-wise kernels behind ops.hpp, compiled once per ISA level (tensor/isa.hpp).
// Internal to src/tensor: call the ops:: functions instead.
#pragma once

#include <cstdint>

#include "tensor/isa.hpp"

namespace sam {

struct OpsKernels {
    void (*layer_norm)(const float* x, int64_t rows, int64_t C, const float* gamma, const float* beta, float eps,
                       float* y);
    void (*layer_norm_gelu)(const float* x, int64_t rows, int64_t C, const float* gamma, const float* beta, float eps,
                            float* y);
    void (*layer_norm_bf16)(const float* x, int64_t rows, int64_t C, const float* gamma, const float* beta, float eps,
                            uint16_t* y);
    void (*to_bf16)(const float* x, uint16_t* y, int64_t n);
    void (*softmax_rows)(float* x, int64_t rows, int64_t cols, float scale, const float* bias, int64_t bias_rows);
    void (*relu)(float* x, int64_t n);
    void (*add)(const float* a, const float* b, float* y, int64_t n);
    void (*transpose)(const float* x, int64_t rows, int64_t cols, float* y);
};

SAM_ISA_DECLARE_TABLES(OpsKernels, ops_kernels)

}  // namespace sam
