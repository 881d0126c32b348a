// MobileSAM's image encoder: TinyViT-5M at 1024x1024 (vit_t in MobileSAM), with its neck to
// 256 channels. Activations are channels-last ([H, W, C] == tokens [H*W, C]) throughout, so
// 1x1 convolutions are plain matrix products and attention windows are gathers of rows.
// Every BatchNorm is folded into its convolution at load time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/checkpoint.hpp"
#include "models/image_encoder.hpp"
#include "tensor/ops.hpp"
#include "tensor/precision.hpp"

namespace sam {

// A convolution with its BatchNorm folded in (Conv2d_BN in TinyViT).
struct ConvBN {
    Tensor weight, bias;  // weight [out, in / groups, k, k]
    int64_t in = 0, out = 0, k = 1, stride = 1, pad = 0, groups = 1;
    ops::LinearWeights linear;  // 1x1 convolutions: the same as a linear layer over pixels
};

struct TinyVitMBConv {
    ConvBN conv1, conv2, conv3;  // 1x1 expand, 3x3 depthwise, 1x1 project
};

struct TinyVitPatchMerging {
    ConvBN conv1, conv2, conv3;  // 1x1, 3x3 depthwise (stride 2, or 1 into 320 channels), 1x1
};

struct TinyVitBlock {
    int64_t dim = 0, heads = 0, window = 0;
    Tensor attn_norm_w, attn_norm_b;
    ops::LinearWeights qkv, proj;
    Tensor attn_bias;  // [heads, N, N] expanded once from attention_biases [heads, window^2]
    Tensor pad_qkv;    // [3 * dim]: q, k, v of a zero padding token
    ConvBN local_conv;  // 3x3 depthwise
    Tensor mlp_norm_w, mlp_norm_b;
    ops::LinearWeights fc1, fc2;
};

struct TinyVitStage {
    int64_t dim = 0, resolution = 0;  // tokens per side entering the stage
    std::vector<TinyVitMBConv> conv_blocks;  // stage 0
    std::vector<TinyVitBlock> blocks;        // stages 1..3
    bool has_downsample = false;
    TinyVitPatchMerging downsample;
};

class TinyVitEncoder : public ImageEncoder {
public:
    // Reads and validates every image_encoder.* tensor the encoder uses; prepares the weights for
    // products at `precision` (require_precision() first).
    static std::unique_ptr<TinyVitEncoder> load(const io::Checkpoint& ckpt, Precision precision = Precision::f32);
    static bool looks_like_tiny_vit(const io::Checkpoint& ckpt);

    Tensor encode(const Tensor& input) const override;
    std::string name() const override { return "TinyViT-5M (MobileSAM)"; }

private:
    Precision precision_ = Precision::f32;
    ConvBN embed1_, embed2_;
    std::vector<TinyVitStage> stages_;
    ops::LinearWeights neck_conv1_;
    Tensor neck_norm1_w_, neck_norm1_b_, neck_conv2_, neck_norm2_w_, neck_norm2_b_;
};

}  // namespace sam
