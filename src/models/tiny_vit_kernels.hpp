// TinyViT's windowed attention, compiled once per ISA level (tensor/isa.hpp).
#pragma once

#include <cstdint>

#include "tensor/isa.hpp"

namespace sam {

// Attention inside windows of window x window tokens over a [H, W] grid of tokens (the grid is
// zero-padded to whole windows; a padded token's q, k, v is the constant row pad_qkv).
struct WindowAttentionArgs {
    const float* qkv = nullptr;      // [H*W, heads, 3, head_dim]: each head's q, k, v side by side
    const float* pad_qkv = nullptr;  // [heads, 3, head_dim]
    const float* bias = nullptr;     // [heads, N, N], N = window^2: added to the scaled scores
    float* out = nullptr;            // [H*W, heads * head_dim]: the heads' outputs, concatenated
    int64_t H = 0, W = 0, heads = 0, window = 0;  // head_dim is 32; window 7 or 14
};

struct TinyVitKernels {
    void (*window_attention)(const WindowAttentionArgs& args);
};

SAM_ISA_DECLARE_TABLES(TinyVitKernels, tiny_vit_kernels)

}  // namespace sam
