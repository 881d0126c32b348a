// The Hiera encoder's own loops (window partition and merge, q pooling, the attention's
// exponentials, the neck's upsampling), compiled once per ISA level (tensor/isa.hpp). Tokens are
// channels-last rows; a bfloat16 operand (uint16_t, the upper half of a float32) replaces its
// float32 counterpart where given (PRECISION=bf16).
#pragma once

#include <cstdint>

#include "tensor/isa.hpp"

namespace sam {

// One band of whole window rows of an H x H grid cut into (window, head) items: q [items, Nq, hd],
// k and v [items, N, hd] with N = S*S and Nq = N (or (S/2)^2 when pool: q max-pooled 2x2 inside
// each window). Grid positions past H (the zero padding to whole windows) read `pad`.
struct HieraPartitionArgs {
    const float* qkv = nullptr;     // the band's real rows [(rows of the band) * H, 3 * dim]: q | k | v
    const uint16_t* qkv16 = nullptr;
    const float* pad = nullptr;     // [3 * dim]: a padding token's qkv (the bias)
    const uint16_t* pad16 = nullptr;
    float *q = nullptr, *k = nullptr, *v = nullptr;
    uint16_t *q16 = nullptr, *k16 = nullptr, *v16 = nullptr;
    int64_t H = 0, S = 0, windows = 0;  // side, window side, windows per side
    int64_t dim = 0, heads = 0;         // hd = dim / heads
    int64_t first_row = 0, rows = 0;    // the band's window rows
    bool pool = false;
};

// Attention outputs [items, Nq, hd], each row scaled by its 1 / softmax sum, merged back into the
// band's output tokens [(out rows) * Ho, dim], heads side by side, the padding dropped.
struct HieraMergeArgs {
    const float* heads_out = nullptr;
    const float* inv_sum = nullptr;  // [items, Nq]
    float* out = nullptr;
    uint16_t* out16 = nullptr;
    int64_t Ho = 0, Sq = 0, windows = 0;  // output side, output window side, windows per side
    int64_t dim = 0, heads = 0;
    int64_t first_row = 0, out_rows = 0;  // the band's first window row; its output grid rows
};

struct HieraKernels {
    // exp(scale * x - row max) over each row of attention scores and 1 / the row's sum (the
    // softmax without its division, which goes to the much smaller product with V). In place,
    // or into y16 when given.
    void (*exp_rows)(float* x, int64_t rows, int64_t cols, float scale, float* inv_sum, uint16_t* y16);
    void (*partition)(const HieraPartitionArgs& args);
    void (*merge)(const HieraMergeArgs& args);
    // y [(rows / 2) * (H / 2), C] = 2x2 max-pool of x [rows * H, C] (rows even).
    void (*max_pool_2x2)(const float* x, int64_t rows, int64_t H, int64_t C, float* y);
    // y [2S * 2S, C] += nearest 2x upsampling of x [S * S, C].
    void (*add_upsampled_2x)(const float* x, int64_t S, int64_t C, float* y);
};

SAM_ISA_DECLARE_TABLES(HieraKernels, hiera_kernels)

}  // namespace sam
