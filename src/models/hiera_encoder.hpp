// SAM 2's image encoder (sam2/modeling/backbones: hieradet.Hiera + image_encoder.FpnNeck) with
// what the image predictor adds on top: the FPN level 2 plus no_mem_embed is the image
// embedding, levels 0 and 1 go through the mask decoder's conv_s0 / conv_s1 into the decoder's
// high-resolution maps. The trunk: 7x7 stride-4 patch embedding, a position embedding
// (bicubic-resized background plus a tiled window embedding), four stages of blocks with
// windowed or global attention; a stage's first block max-pools its queries and its shortcut
// 2x2 and doubles the width. Activations are channels-last ([H, W, C] == tokens [H*W, C]).
// Weights stored as float32 are used in place from the mapped checkpoint.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/checkpoint.hpp"
#include "models/tensor_map.hpp"

namespace sam {

// What the file does not say comes from the published configurations (configs/sam2.1/*.yaml);
// the file tells them apart by patch-embed width and blocks per stage.
struct HieraConfig {
    std::string name;                // "tiny", "small", "base_plus", "large"
    int embed_dim = 0, heads = 0;    // stage 1; both double at every later stage
    std::array<int, 4> stages{};     // blocks per stage
    std::array<int, 4> windows{};    // window side per stage (a stage's first block keeps the previous one's)
    std::vector<int> global_blocks;  // blocks attending over the whole grid
    int blocks() const { return stages[0] + stages[1] + stages[2] + stages[3]; }
};

// tiny, small, base_plus, large.
const std::vector<HieraConfig>& published_hiera_configs();

// From tensor names and shapes: width from image_encoder.trunk.patch_embed.proj.weight, blocks
// per stage from the blocks that change width (blocks.N.proj). Throws io::CheckpointError naming
// what it found when that matches none of the published sizes. `what` prefixes messages.
HieraConfig infer_hiera_config(const TensorMap& tensors, const std::string& what);
bool looks_like_sam2(const io::Checkpoint& ckpt);

struct HieraBlock {
    int64_t dim_in = 0, dim_out = 0, heads = 0;
    int64_t side = 0;    // tokens per side entering the block
    int64_t window = 0;  // attention window side (the whole grid for global attention)
    bool pool = false;   // first block of stages 2-4
    Tensor norm1_w, norm1_b, qkv_w, qkv_b, attn_proj_w, attn_proj_b;
    Tensor norm2_w, norm2_b, mlp0_w, mlp0_b, mlp1_w, mlp1_b;
    Tensor proj_w, proj_b;  // pool blocks: the shortcut's width change
};

// The three maps the SAM 2 decoder reads, channels first as the reference's.
struct HieraFeatures {
    Tensor image_embed;  // [256, 64, 64]: FPN level 2 + no_mem_embed
    Tensor high_res_0;   // [32, 256, 256]: conv_s0(FPN level 0)
    Tensor high_res_1;   // [64, 128, 128]: conv_s1(FPN level 1)
};

// Sees intermediate activations (tests compare them with the reference's layer stats):
// name ("patch_embed", "patch_embed + pos_embed", "blocks.N"), channels-last data [H, W, C].
using HieraObserver = std::function<void(const std::string& name, const float* hwc, int64_t H, int64_t W, int64_t C)>;

class HieraEncoder {
public:
    // Reads image_encoder.*, no_mem_embed and sam_mask_decoder.conv_s0/conv_s1, validating every
    // shape against the inferred configuration (io::CheckpointError names the tensor).
    static std::unique_ptr<HieraEncoder> load(const io::Checkpoint& ckpt);
    static std::unique_ptr<HieraEncoder> load(const TensorMap& tensors, const std::string& what = "tensors in memory");

    // input: [1024, 1024, 3] channels-last, normalised (preprocess_image_square).
    HieraFeatures encode(const Tensor& input, const HieraObserver& observer = nullptr) const;

    const HieraConfig& config() const { return cfg_; }
    const std::vector<HieraBlock>& blocks() const { return blocks_; }
    // "SAM 2.1 Hiera-T" (tiny), "-S", "-B+", "-L"; "SAM 2" for the first release's files.
    std::string name() const;
    // The files' naming: "sam2.1_hiera_tiny", ... ("sam2_hiera_*" for the first release).
    std::string file_stem() const { return (sam21_ ? "sam2.1_hiera_" : "sam2_hiera_") + cfg_.name; }

private:
    struct Scratch;
    void init(const TensorMap& tensors, const std::string& what);
    void run_block(const HieraBlock& b, const float* x, float* out, Scratch& s) const;

    HieraConfig cfg_;
    bool sam21_ = true;
    Tensor patch_w_, patch_b_;
    Tensor pos_embed_;  // [256, 256, E]: resized background + tiled window embedding
    std::vector<HieraBlock> blocks_;
    // Neck: level 3 = conv0(stage 4); image_embed = conv1(stage 3) + up2(level 3) + no_mem_embed.
    // Levels 0 and 1 only feed conv_s0 / conv_s1, so each pair is one folded 1x1 convolution.
    Tensor l3_w_, l3_b_, l2_w_, l2_b_, hr1_w_, hr1_b_, hr0_w_, hr0_b_;  // [out, in] matrices
};

}  // namespace sam
