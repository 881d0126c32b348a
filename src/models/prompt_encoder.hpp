// SAM's prompt encoder (segment_anything/modeling/prompt_encoder.py): points and box corners to
// sparse token embeddings, a low-res mask to a dense embedding, and the dense positional
// encoding of the 64x64 image-embedding grid. Shared by MobileSAM, SAM ViT and SAM 2.
#pragma once

#include <string>
#include <vector>

#include "io/checkpoint.hpp"
#include "models/prompt_points.hpp"
#include "tensor/tensor.hpp"

namespace sam {

constexpr int kPromptDim = 256;      // embedding channels
constexpr int kEmbedSide = 64;       // image embedding grid side
constexpr int kEmbedTokens = kEmbedSide * kEmbedSide;
constexpr int kInputSide = 1024;     // encoder input frame
constexpr int kMaskInputSide = 256;  // low-res mask side

struct PromptEncoder {
    Tensor pe_gaussian;        // [2, 128] random Fourier feature matrix
    Tensor point_embed[4];     // [1, 256] added per label 0..3
    Tensor not_a_point_embed;  // [1, 256] for padding points
    Tensor no_mask_embed;      // [1, 256] dense embedding when no mask is given
    // mask_downscaling: conv 2x2 s2 (1->4), LayerNorm2d, GELU, conv 2x2 s2 (4->16), LayerNorm2d, GELU, conv 1x1.
    Tensor down0_w, down0_b, norm0_w, norm0_b;  // [4, 1, 2, 2], [4], [4], [4]
    Tensor down1_w, down1_b, norm1_w, norm1_b;  // [16, 4, 2, 2], [16], [16], [16]
    Tensor down2_w, down2_b;                    // [256, 16] (1x1 conv as a matrix), [256]

    // Reads every prompt_encoder.* tensor ("sam_prompt_encoder." in SAM 2 files, same layout);
    // CheckpointError names a missing or misshapen key.
    static PromptEncoder load(const io::Checkpoint& ckpt, const std::string& prefix = "prompt_encoder.");

    // Positional encoding of the 64x64 grid (get_dense_pe), token-major: [4096, 256].
    Tensor dense_pe() const;
    // Sparse embeddings [n, 256] of points given in the 1024 input frame (x, y pairs) with
    // PointLabel labels; padding points ignore their coordinates.
    Tensor embed_points(const std::vector<float>& xy, const std::vector<int>& labels) const;
    // Dense embedding, token-major [4096, 256]: the downscaled mask [256 x 256 logits], or
    // no_mask_embed everywhere when mask is null.
    Tensor embed_mask(const float* mask) const;
    // The decoder's image input: the image embedding features [256, 64, 64] token-major, plus
    // embed_mask(mask): [4096, 256].
    Tensor decoder_src(const Tensor& features, const float* mask) const;

private:
    // Random Fourier features of n points normalised to [0, 1]: [sin(2 pi f), cos(2 pi f)].
    void encode(const float* xy01, int n, float* out) const;
};

}  // namespace sam
