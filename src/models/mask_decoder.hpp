// SAM's mask decoder (segment_anything/modeling/mask_decoder.py and transformer.py): a two-way
// transformer between prompt tokens and the 64x64 image embedding, then transposed-convolution
// upscaling to 256x256 and hypernetwork MLPs that turn mask tokens into per-pixel weights.
// Shared by MobileSAM, SAM ViT and SAM 2 (whose decoder adds an object-score token, a sigmoid on
// the IoU head and high-resolution features in the upscaling). Token-major layouts throughout:
// image tokens are [4096, 256].
#pragma once

#include <vector>

#include "io/checkpoint.hpp"
#include "tensor/tensor.hpp"

namespace sam {

// A linear layer applied to a few token rows, its weight packed so that one sequential pass over
// it serves every row (the layout MaskDecoderKernels::token_linear reads).
struct TokenLinear {
    Tensor packed, b;  // [in * out], [out]
    int64_t in = 0, out = 0;
};

// q/k/v projections to an internal dim (256, or 128 for the downsampled cross attentions),
// 8 heads, output projection back to 256. The cross attentions fold some projections into the
// image side, which reads the weights as loaded ([out, in]); the token rows use packed copies.
struct DecoderAttention {
    Tensor q_w, q_b, k_w, k_b, v_w, v_b, out_w, out_b;
    Tensor out_wt;  // out_w transposed, [internal_dim, 256]: image_to_token folds it into the values
    TokenLinear q, k, v, out;
    int64_t internal_dim = 0;
};

struct TwoWayBlock {
    DecoderAttention self_attn, token_to_image, image_to_token;
    Tensor norm_w[4], norm_b[4];  // norm1..norm4
    TokenLinear mlp1, mlp2;
    bool skip_first_layer_pe = false;
};

// Three linear layers with ReLU between them.
struct Mlp3 {
    TokenLinear layer[3];
};

// SAM 2's high-resolution features, in the order the upscaling produces its rows (see run()):
// s1 [(y, x, dy, dx) of the 64x64 grid, 64 channels] = conv_s1 map at (2y + dy, 2x + dx);
// s0 [(y, x, dy, dx, ey, ex), 32 channels] = conv_s0 map at (4y + 2dy + ey, 4x + 2dx + ex).
struct HighResFeatures {
    const float* s1 = nullptr;
    const float* s0 = nullptr;
};

// Which checkpoint layout the decoder reads.
enum class DecoderKind {
    Sam,   // "mask_decoder.", transformer MLPs as mlp.lin1 / mlp.lin2
    Sam2,  // "sam_mask_decoder.", mlp.layers.0 / .1, obj_score_token, sigmoid IoU
};

// The image-only inputs of run() that stay the same for every click on an image without a mask
// input, so a caller can keep them per image (each [4096, 256], or null: run() works them out).
struct DecoderImageTerms {
    const float* src_pe = nullptr;  // src + pos
    const float* src_up = nullptr;  // src times the first upscaling folded back (MaskDecoder::run)
};

// An image's src and its DecoderImageTerms, owned: what a decoder keeps for the image clicked last.
struct DecoderImageSide {
    Tensor src, src_pe, src_up;
    DecoderImageTerms terms() const { return {src_pe.data, src_up.data}; }
};

struct DecoderOutput {
    Tensor masks;            // [C, 256, 256] low-res logits
    std::vector<float> iou;  // C predicted IoUs
};

struct MaskDecoder {
    std::vector<TwoWayBlock> layers;
    DecoderAttention final_attn;
    Tensor norm_final_w, norm_final_b;
    Tensor output_tokens;  // [5, 256]: the IoU token, then the 4 mask tokens (SAM 2: [6, 256], the object-score token first)
    int iou_token = 0;     // row of the IoU token in output_tokens
    bool iou_sigmoid = false;
    // output_upscaling as matrices: ConvTranspose2d k2 s2 maps a pixel to a 2x2 block, so
    // up0_w is [256, (dy, dx, 64)] and up1_w [64, (dy, dx, 32)], biases repeated per block position.
    Tensor up0_w, up0_b, up_norm_w, up_norm_b, up1_w, up1_b;
    // The first upscaling folded back through the last two image-token LayerNorms (see run()):
    // up_w_src = diag(g0 g1) up0_w, up_w_mid = diag(g1) up0_w, and the [256] constants of
    // UpscalingFold (g0, g1: the two norm4 weights).
    Tensor up_w_src, up_w_mid, up_d0, up_c0, up_e1, up_c1, up_f;
    Mlp3 hyper[4];
    Mlp3 iou_head;

    // Reads every mask_decoder.* tensor; CheckpointError names a missing or misshapen key.
    static MaskDecoder load(const io::Checkpoint& ckpt, DecoderKind kind = DecoderKind::Sam);

    // src: image embedding + dense prompt embedding [4096, 256]; pos: dense positional encoding
    // [4096, 256]; sparse: prompt tokens [n, 256]. multimask: the masks of tokens 1..3, else token 0.
    // image: terms of src the caller keeps per image (DecoderImageTerms), or none.
    DecoderOutput run(const float* src, const float* pos, const Tensor& sparse, bool multimask,
                      const DecoderImageTerms& image = {}) const;
    // The masks of mask tokens [first, first + count) (0..3), with the high-resolution features
    // added in the upscaling when given (SAM 2).
    DecoderOutput run(const float* src, const float* pos, const Tensor& sparse, int first, int count,
                      const HighResFeatures* high_res, const DecoderImageTerms& image = {}) const;
    // src's DecoderImageTerms (src_up: src · up_w_src [4096, 256], the image's own share of the
    // first upscaling's input), src itself moved in.
    DecoderImageSide image_side(Tensor src, const float* pos) const;
};

}  // namespace sam
