// The mask decoder's own loops (token projections, the attention folds, the mask products),
// compiled once per ISA level (tensor/isa.hpp). Image features and tokens have 256 channels;
// a projected head h of a token i occupies columns [h * dh, (h + 1) * dh) of its D-wide row.
#pragma once

#include <cstdint>

#include "tensor/isa.hpp"

namespace sam {

// Output columns per weight block of token_linear's packed weights.
constexpr int kTokenBlock = 32;

// Constants of the folded first upscaling (MaskDecoder::run): each [256], in up0's column order.
struct UpscalingFold {
    const float *d0, *c0, *e1, *c1, *f;
};

struct MaskDecoderKernels {
    // y[r] = W x[r] + b (+ residual[r]), ReLU first when relu, for a few token rows. W ([out, in])
    // comes packed: for each block of kTokenBlock outputs its [in, kTokenBlock] columns of W^T,
    // contiguous, then the last out % kTokenBlock outputs' [in, out % kTokenBlock].
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
    // x += residual, then LayerNorm over 256 channels of the 4096 image tokens, in place, eps 1e-5;
    // also kpe = x + pos and each row's mean and 1 / std (of x + residual).
    void (*norm_image_tokens)(float* x, const float* residual, const float* w, const float* b, const float* pos,
                              float* kpe, float* mean, float* rstd);
    // out[r] = [s0[r], b[r] * s1[r]] for the 4096 rows of two [4096, cols] score matrices.
    void (*join_scores)(const float* s0, const float* s1, int64_t cols, const float* b, float* out);
    // up0[r, g] = GELU(LayerNorm2d over 64 channels of
    //   a[r] (y[r] + d0 - mu1[r] c0) + b[r] (e1 - mu2[r] c1) + f (+ hr[r]))
    // for the 4096 rows r and their 4 positions g; up0 [16384, 64], eps 1e-6.
    void (*upscaling_input)(const float* y, const float* a, const float* b, const float* mu1, const float* mu2,
                            const UpscalingFold& fold, const float* hr, const float* ln_w, const float* ln_b,
                            float* up0);
    // The second upscaling and the mask products in one pass, without storing its output:
    // up1 = GELU(up0 w1 + b1 (+ s0)) for each up0 row ((y, x, dy, dx) of the 64x64 grid; w1
    // [64, (ey, ex, 32)]) and masks[c] = hyper[c] . up1 per low-res pixel; masks [count, 256, 256].
    void (*upscaled_masks)(const float* up0, const float* w1, const float* b1, const float* s0, const float* hyper,
                           int64_t count, float* masks);
};

SAM_ISA_DECLARE_TABLES(MaskDecoderKernels, mask_decoder_kernels)

}  // namespace sam
