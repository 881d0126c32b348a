// The mask decoder's own loops (token projections, the attention folds, the mask products),
// compiled once per ISA level (tensor/isa.hpp). Image features and tokens have 256 channels;
// a projected head h of a token i occupies columns [h * dh, (h + 1) * dh) of its D-wide row.
#pragma once

#include <cstdint>

#include "tensor/isa.hpp"

namespace sam {

struct MaskDecoderKernels {
    // y[r] = W x[r] + b (+ residual[r]), ReLU first when relu, for a few token rows; the weight is
    // given transposed, wt = W^T [in, out].
    void (*token_linear)(const float* x, int64_t rows, const float* wt, const float* b, int64_t out, int64_t in,
                         float* y, bool relu, const float* residual);
    // Queries folded into the key projection: qk[h * n + i] = scale * sum_d q[i, h*dh + d] * wk[h*dh + d]
    // (wk [D, 256]); qk [heads * n, 256].
    void (*fold_queries)(const float* q, int64_t n, int64_t D, int64_t heads, const float* wk, float scale,
                         float* qk);
    // Values unfolded from the per-head mixes of image features z [heads * n, 256]:
    // o[i, h*dh + d] = wv[h*dh + d] . z[h * n + i] + bv[h*dh + d]; o [n, D].
    void (*unfold_values)(const float* z, int64_t n, int64_t D, int64_t heads, const float* wv, const float* bv,
                          float* o);
    // Keys and values of the image-to-token attention folded into the image side:
    // qa[h * n + i] = sum_d k[i, h*dh + d] * wq[h*dh + d] (wq [D, 256]), qb[h * n + i] = bq_h . k_ih,
    // vo[h * n + i] = sum_d v[i, h*dh + d] * wout_t[h*dh + d] (wout_t [D, 256], out_proj transposed).
    void (*fold_keys_values)(const float* k, const float* v, int64_t n, int64_t D, int64_t heads, const float* wq,
                             const float* bq, const float* wout_t, float* qa, float* qb, float* vo);
    // masks[c] = hyper[c] . up1 per low-res pixel: up1 holds 32 channels per pixel in the order
    // (y, x, dy, dx, ey, ex) of the two 2x upscalings of the 64x64 grid; masks [count, 256, 256].
    void (*hyper_masks)(const float* up1, const float* hyper, int64_t count, float* masks);
};

SAM_ISA_DECLARE_TABLES(MaskDecoderKernels, mask_decoder_kernels)

}  // namespace sam
