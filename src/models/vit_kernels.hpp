// The SAM ViT encoder's attention loops, compiled once per ISA level (tensor/isa.hpp).
#pragma once

#include <cstdint>

#include "tensor/isa.hpp"

namespace sam {

struct VitKernels {
    // qkv rows [rows, 3, heads, hd] -> [3][items = rows / N * heads][N][hd]: one contiguous
    // matrix per (window, head) for each of q, k and v.
    void (*split_heads)(const float* qkv, int64_t rows, int64_t N, int64_t heads, int64_t hd, float* out);
    // Softmax over the keys of `rows` query rows of S*S-token attention, after adding the decomposed
    // relative position bias (add_decomposed_rel_pos): score[q, (kh, kw)] += rel_h[q, kh] + rel_w[q, kw],
    // where rel_h[q, kh] = rel[q][qh - kh + S-1] and rel_w[q, kw] = rel[q][2S-1 + qw - kw + S-1]
    // (rel = q · [table_h; table_w]^T). The rows are left unnormalised (exp(x - max)); inv_sum gets
    // 1 / sum per row, applied to the much smaller product with V.
    void (*softmax_rel_pos)(float* x, const float* rel, float* inv_sum, int64_t rows, int64_t first_query, int64_t S);
    // [windows, heads, N, hd] (scaled per row by inv_sum) -> tokens [G*G, heads * hd], dropping the
    // padding of windows of S*S tokens over a G x G grid.
    void (*merge_heads)(const float* heads_out, const float* inv_sum, int64_t G, int64_t S, int64_t heads, int64_t hd,
                        float* out);
};

SAM_ISA_DECLARE_TABLES(VitKernels, vit_kernels)

}  // namespace sam
