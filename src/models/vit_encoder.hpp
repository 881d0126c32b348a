// SAM's original image encoder (ImageEncoderViT of segment_anything, used by ViT-B, ViT-L and
// ViT-H): 16x16 patch embedding plus an absolute position embedding, transformer blocks with
// windowed (14x14, zero-padded to a multiple of the window) or global attention and decomposed
// relative position embeddings, then the neck (1x1 conv, LayerNorm2d, 3x3 conv, LayerNorm2d).
// Activations stay channels-last ([H, W, C] == tokens [H*W, C]); the weights stay the
// checkpoint's memory-mapped views (ViT-H is 2.4 GB: no second copy; bf16 adds a half-size
// bfloat16 copy of the linear layers).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/checkpoint.hpp"
#include "models/image_encoder.hpp"
#include "models/tensor_map.hpp"
#include "tensor/ops.hpp"
#include "tensor/precision.hpp"

namespace sam {

struct VitConfig {
    int embed_dim = 0, depth = 0, heads = 0, window = 14, patch = 16, img_size = 1024, out_chans = 256;
    std::vector<int> global_blocks;  // indices of the blocks with global attention
};

// Infers the architecture from tensor names and shapes, never from the file name: embed dim and
// patch size from patch_embed.proj.weight, depth from the highest blocks.N, heads from the
// rel-pos tables' head dim, global blocks from the rel-pos tables' rows (2*64-1 global,
// 2*14-1 windowed). Throws io::CheckpointError when the tensors are not a SAM ViT encoder.
VitConfig infer_vit_config(const io::Checkpoint& ckpt);
VitConfig infer_vit_config(const TensorMap& tensors);
bool looks_like_vit(const io::Checkpoint& ckpt);

// get_rel_pos's table resize: linear interpolation along the rows (F.interpolate, mode "linear",
// align_corners false) of a [rows, C] table to [new_rows, C].
Tensor resize_rel_pos(const Tensor& table, int64_t new_rows);

struct VitWeightSource;  // checkpoint or TensorMap, behind one interface (vit_encoder.cpp)

struct VitBlock {
    bool global = false;
    int64_t size = 0;  // attention side in tokens: the window, or the whole grid when global
    Tensor norm1_w, norm1_b, norm2_w, norm2_b;
    ops::LinearWeights qkv, proj, lin1, lin2;
    Tensor rel_pos;  // [2 * (2*size-1), head_dim]: rel_pos_h rows then rel_pos_w rows, resized to size
};

class VitEncoder : public ImageEncoder {
public:
    // Validates every image_encoder.* tensor's shape against the inferred config; prepares the
    // weights for products at `precision` (bf16 keeps a bfloat16 copy of the linear layers).
    static std::unique_ptr<VitEncoder> load(const io::Checkpoint& ckpt, Precision precision = Precision::f32);
    static std::unique_ptr<VitEncoder> load(const TensorMap& tensors, Precision precision = Precision::f32);

    Tensor encode(const Tensor& input) const override;
    // "SAM ViT-B", "SAM ViT-L", "SAM ViT-H" for those configs, else
    // "SAM ViT (256 dim, 4 blocks, 4 heads)".
    std::string name() const override;
    const VitConfig& config() const { return cfg_; }

private:
    struct Scratch;
    void init(const VitWeightSource& src);
    void attention(const VitBlock& b, Scratch& s) const;

    VitConfig cfg_;
    Precision precision_ = Precision::f32;
    int64_t grid_ = 0;  // tokens per side: img_size / patch
    Tensor patch_w_, patch_b_, pos_embed_;
    std::vector<VitBlock> blocks_;
    ops::LinearWeights neck_conv1_;
    Tensor neck_norm1_w_, neck_norm1_b_, neck_conv2_, neck_norm2_w_, neck_norm2_b_;
};

}  // namespace sam
