// Loading SAM 2 checkpoints: each published size recognised from a state dict of its shapes
// (built here; the weights are views of one zero block), what the file does not say taken from
// the published configurations, files of other shapes refused with a message naming what was
// found, float32 files used in place from the mapping and float16 files converted, the same
// results from both, and the model keys that name a file's content.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "support/checkpoint_writer.hpp"
#include "io/checkpoint.hpp"
#include "models/hiera_encoder.hpp"
#include "models/model_loader.hpp"
#include "models/sam2_decoder.hpp"
#include "support/golden.hpp"

namespace {

using Shapes = std::map<std::string, sam::Shape>;

// The image path's tensors of a SAM 2 checkpoint with this trunk (as sam2's build_sam2 makes them).
Shapes image_path_shapes(int64_t E, const std::vector<int>& stages, int64_t pos, int64_t window0) {
    Shapes s;
    const std::string t = "image_encoder.trunk.";
    s[t + "patch_embed.proj.weight"] = {E, 3, 7, 7};
    s[t + "patch_embed.proj.bias"] = {E};
    s[t + "pos_embed"] = {1, E, pos, pos};
    s[t + "pos_embed_window"] = {1, E, window0, window0};
    int64_t dim = E;
    int block = 0;
    for (size_t st = 0; st < stages.size(); ++st)
        for (int i = 0; i < stages[st]; ++i, ++block) {
            const std::string b = t + "blocks." + std::to_string(block) + ".";
            const int64_t in = dim, out = st > 0 && i == 0 ? 2 * dim : dim;
            s[b + "norm1.weight"] = s[b + "norm1.bias"] = {in};
            s[b + "attn.qkv.weight"] = {3 * out, in};
            s[b + "attn.qkv.bias"] = {3 * out};
            s[b + "attn.proj.weight"] = {out, out};
            s[b + "attn.proj.bias"] = s[b + "norm2.weight"] = s[b + "norm2.bias"] = {out};
            s[b + "mlp.layers.0.weight"] = {4 * out, out};
            s[b + "mlp.layers.0.bias"] = {4 * out};
            s[b + "mlp.layers.1.weight"] = {out, 4 * out};
            s[b + "mlp.layers.1.bias"] = {out};
            if (out != in) s[b + "proj.weight"] = {out, in}, s[b + "proj.bias"] = {out};
            dim = out;
        }
    for (int k = 0; k < 4; ++k) {
        const std::string c = "image_encoder.neck.convs." + std::to_string(k) + ".conv.";
        s[c + "weight"] = {256, E << (3 - k), 1, 1};
        s[c + "bias"] = {256};
    }
    s["no_mem_embed"] = {1, 1, 256};
    s["sam_mask_decoder.conv_s0.weight"] = {32, 256, 1, 1};
    s["sam_mask_decoder.conv_s0.bias"] = {32};
    s["sam_mask_decoder.conv_s1.weight"] = {64, 256, 1, 1};
    s["sam_mask_decoder.conv_s1.bias"] = {64};
    return s;
}

// Views of one zero block: a full-size state dict's shapes without its memory.
sam::TensorMap zero_views(const Shapes& shapes) {
    int64_t largest = 0;
    for (const auto& [n, s] : shapes) largest = std::max(largest, sam::shape_numel(s));
    const sam::Tensor zeros = sam::Tensor::zeros({largest});
    sam::TensorMap m;
    for (const auto& [n, s] : shapes) m[n] = sam::Tensor::wrap(zeros.data, s, zeros.owner);
    return m;
}

std::string load_error(const sam::TensorMap& m) {
    try {
        sam::HieraEncoder::load(m);
    } catch (const sam::io::CheckpointError& e) {
        return e.what();
    }
    return "(no error)";
}

struct Published {
    const char* name;
    int64_t width, pos;
    std::vector<int> stages, windows_stage3_4, global;
    const char* title;
};

TEST(Sam2Loader, EveryPublishedSizeFromItsShapes) {
    const Published sizes[] = {
        {"tiny", 96, 7, {1, 2, 7, 2}, {14, 7}, {5, 7, 9}, "SAM 2 Hiera-T"},
        {"small", 96, 7, {1, 2, 11, 2}, {14, 7}, {7, 10, 13}, "SAM 2 Hiera-S"},
        {"base_plus", 112, 14, {2, 3, 16, 3}, {14, 7}, {12, 16, 20}, "SAM 2 Hiera-B+"},
        {"large", 144, 7, {2, 6, 36, 4}, {16, 8}, {23, 33, 43}, "SAM 2 Hiera-L"},
    };
    for (const Published& p : sizes) {
        sam::TensorMap m = zero_views(image_path_shapes(p.width, p.stages, p.pos, 8));
        const auto enc = sam::HieraEncoder::load(m);
        const sam::HieraConfig& c = enc->config();
        EXPECT_EQ(c.name, p.name);
        EXPECT_EQ(enc->name(), p.title) << p.name;  // no no_obj_embed_spatial: the first release's layout
        m["no_obj_embed_spatial"] = sam::Tensor::zeros({1, 64});
        EXPECT_EQ(sam::HieraEncoder::load(m)->file_stem(), std::string("sam2.1_hiera_") + p.name);
        EXPECT_EQ(c.global_blocks, p.global) << p.name;
        // Blocks: width and heads double at each stage's first block, which keeps the previous
        // stage's window; global blocks attend over the whole 64x64 grid.
        const auto& blocks = enc->blocks();
        ASSERT_EQ(blocks.size(), size_t(p.stages[0] + p.stages[1] + p.stages[2] + p.stages[3])) << p.name;
        const int first3 = p.stages[0] + p.stages[1], first4 = first3 + p.stages[2];
        EXPECT_TRUE(blocks[first3].pool && blocks[first4].pool) << p.name;
        EXPECT_EQ(blocks[first3].window, 4) << p.name;
        EXPECT_EQ(blocks[first3 + 1].window, p.windows_stage3_4[0]) << p.name;
        EXPECT_EQ(blocks[first4].window, p.windows_stage3_4[0]) << p.name;
        EXPECT_EQ(blocks[first4 + 1].window, p.windows_stage3_4[1]) << p.name;
        EXPECT_EQ(blocks[p.global[0]].window, 64) << p.name;
        EXPECT_EQ(blocks[first4].dim_out, 8 * p.width) << p.name;
        EXPECT_EQ(blocks.back().heads, 8 * c.heads) << p.name;
        EXPECT_EQ(blocks[0].dim_out / blocks[0].heads, p.width / (p.width == 96 ? 1 : 2)) << p.name;
    }
}

TEST(Sam2Loader, OtherShapesAreRefusedNamingWhatWasFound) {
    const std::string none = "is none of the published SAM 2 sizes: tiny (width 96, blocks 1, 2, 7, 2); small (width 96, "
                             "blocks 1, 2, 11, 2); base_plus (width 112, blocks 2, 3, 16, 3); large (width 144, blocks "
                             "2, 6, 36, 4)";
    EXPECT_EQ(load_error(zero_views(image_path_shapes(128, {1, 2, 7, 2}, 7, 8))),
              "tensors in memory: a Hiera trunk of patch-embed width 128 with blocks per stage 1, 2, 7, 2 " + none);
    EXPECT_EQ(load_error(zero_views(image_path_shapes(96, {1, 2, 8, 2}, 7, 8))),
              "tensors in memory: a Hiera trunk of patch-embed width 96 with blocks per stage 1, 2, 8, 2 " + none);
    EXPECT_NE(load_error(zero_views(image_path_shapes(96, {3, 9}, 7, 8))).find("change width (blocks.N.proj) at 1 blocks"),
              std::string::npos);

    sam::TensorMap m = zero_views(image_path_shapes(96, {1, 2, 7, 2}, 7, 8));
    sam::TensorMap wrong = m;
    const sam::Tensor& qkv = m["image_encoder.trunk.blocks.3.attn.qkv.weight"];
    wrong["image_encoder.trunk.blocks.3.attn.qkv.weight"] = sam::Tensor::wrap(qkv.data, {576, 192}, qkv.owner);
    EXPECT_EQ(load_error(wrong), "tensors in memory: tensor 'image_encoder.trunk.blocks.3.attn.qkv.weight' has shape "
                                 "[576, 192], expected [1152, 192]");
    sam::TensorMap missing = m;
    missing.erase("image_encoder.neck.convs.2.conv.bias");
    EXPECT_EQ(load_error(missing), "tensors in memory: missing tensor 'image_encoder.neck.convs.2.conv.bias'");
    sam::TensorMap no_conv = m;
    no_conv.erase("sam_mask_decoder.conv_s0.weight");
    EXPECT_EQ(load_error(no_conv), "tensors in memory: missing tensor 'sam_mask_decoder.conv_s0.weight'");
    sam::TensorMap bad_pos = m;
    bad_pos["image_encoder.trunk.pos_embed"] = sam::Tensor::zeros({1, 96, 7});
    EXPECT_NE(load_error(bad_pos).find("pos_embed' has shape [1, 96, 7], expected [1, 96, h, w]"), std::string::npos)
        << load_error(bad_pos);

    // Not SAM 2 at all: the MobileSAM file through SAM_CHOICE=SAM2 is read as what it is, and a
    // file of neither kind is refused by the loader.
    sam::ModelChoice c;
    c.sam_choice = "SAM2";
    c.sam2_checkpoint = samtest::golden("checkpoints/mobile_sam_random.pt");
    EXPECT_EQ(sam::load_segmenter(c)->description().rfind("TinyViT-5M", 0), 0u);
}

class Sam2Files : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("sam2_loader_" + std::to_string(getpid()));
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    // The golden float16 checkpoint rewritten in float32, as the published files are.
    std::string float32_copy(const sam::io::Checkpoint& f16) {
        const std::string path = (dir_ / "sam2.1_hiera_tiny.pt").string();
        samtest::CheckpointWriter w(path, "sam2.1_hiera_tiny", /*wrap_in_model=*/true);
        for (const std::string& n : f16.names()) {
            const sam::Tensor t = f16.get(n);
            w.add(n, t.shape, t.data);
        }
        w.finish();
        return path;
    }
    std::filesystem::path dir_;
};

TEST_F(Sam2Files, Float32UsedInPlaceFloat16ConvertedSameResults) {
    const auto f16 = sam::io::Checkpoint::open(samtest::golden("checkpoints/sam2.1_hiera_tiny_random.pt"));
    const auto f32 = sam::io::Checkpoint::open(float32_copy(f16));
    ASSERT_EQ(f32.names(), f16.names());
    const std::string qkv = "image_encoder.trunk.blocks.3.attn.qkv.weight";
    EXPECT_EQ(f32.dtype(qkv), sam::io::DType::F32);
    // float32: views of the one mapping (the same pointer twice); float16: converted copies.
    EXPECT_EQ(f32.get(qkv).data, f32.get(qkv).data);
    EXPECT_EQ(f32.get(qkv).owner, f32.get("no_mem_embed").owner);
    EXPECT_NE(f16.get(qkv).data, f16.get(qkv).data);
    const auto enc32 = sam::HieraEncoder::load(f32);
    EXPECT_EQ(enc32->blocks()[3].qkv_w.data, f32.get(qkv).data);  // the encoder reads the mapping itself
    EXPECT_EQ(enc32->name(), "SAM 2.1 Hiera-T");

    // Equal weights, equal answers: the decoder on the reference maps from either file.
    const std::string dir = "cases/sam2.1_hiera_tiny/photo/";
    const nlohmann::json cs = samtest::load_json(samtest::golden(dir + "case.json"));
    sam::ImageEmbedding e;
    e.features = samtest::load_npy(samtest::golden(dir + "embedding.npy")).reshaped({256, 64, 64});
    e.high_res_0 = samtest::load_npy(samtest::golden(dir + "high_res_0.npy")).reshaped({32, 256, 256});
    e.high_res_1 = samtest::load_npy(samtest::golden(dir + "high_res_1.npy")).reshaped({64, 128, 128});
    e.orig_h = cs["original_size_hw"][0], e.orig_w = cs["original_size_hw"][1];
    e.input_w = e.input_h = 1024;
    sam::Prompt p;
    p.points = {{199.56f, 267.62f, 1}};
    const sam::Prediction a = sam::Sam2Decoder::load(f16).predict(e, p), b = sam::Sam2Decoder::load(f32).predict(e, p);
    EXPECT_EQ(a.iou, b.iou);
    EXPECT_NEAR(a.iou[0], cs["cases"][0]["iou_predictions"][0].get<double>(), 2e-5);
    EXPECT_TRUE(std::equal(a.lowres.data, a.lowres.data + a.lowres.numel(), b.lowres.data));
}

// model_key(): the architecture and the file's content, not its name or place.
TEST_F(Sam2Files, ModelKeysNameTheContent) {
    const std::string golden = samtest::golden("checkpoints/sam2.1_hiera_tiny_random.pt");
    sam::ModelChoice c;
    c.sam_choice = "SAM2";
    c.sam2_checkpoint = golden;
    const std::string key = sam::load_segmenter(c)->model_key();
    EXPECT_EQ(key.rfind("sam2.1_hiera_tiny:", 0), 0u) << key;
    EXPECT_EQ(key.size(), std::string("sam2.1_hiera_tiny:").size() + 32) << key;
    // A copy elsewhere under another name: the same key. Other content: another key.
    const std::string copy = (dir_ / "renamed.pt").string();
    std::filesystem::copy_file(golden, copy);
    c.sam2_checkpoint = copy;
    EXPECT_EQ(sam::load_segmenter(c)->model_key(), key);
    c.sam2_checkpoint = float32_copy(sam::io::Checkpoint::open(golden));
    const std::string key32 = sam::load_segmenter(c)->model_key();
    EXPECT_NE(key32, key);
    EXPECT_EQ(key32.rfind("sam2.1_hiera_tiny:", 0), 0u);

    c.sam_choice = "MobileSAM";
    c.mobilesam_checkpoint = samtest::golden("checkpoints/mobile_sam_random.pt");
    EXPECT_EQ(sam::load_segmenter(c)->model_key().rfind("mobile_sam:", 0), 0u);
    c.sam_choice = "SAM";
    c.vith_checkpoint = samtest::golden("checkpoints/sam_vit_mini_random.pth");
    EXPECT_EQ(sam::load_segmenter(c)->model_key().rfind("sam_vit:", 0), 0u);
}

// MODEL_CONFIG is only a cross-check: another size is a warning, the checkpoint decides.
TEST(Sam2Loader, ModelConfigMismatchWarns) {
    sam::ModelChoice c;
    c.sam_choice = "SAM2";
    c.sam2_checkpoint = samtest::golden("checkpoints/sam2.1_hiera_tiny_random.pt");
    c.sam2_config = "configs/sam2.1/sam2.1_hiera_l.yaml";
    std::vector<std::string> warnings;
    const auto model = sam::load_segmenter(c, &warnings);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("'configs/sam2.1/sam2.1_hiera_l.yaml' is the large configuration"), std::string::npos)
        << warnings[0];
    EXPECT_NE(warnings[0].find("holds a tiny model; using tiny"), std::string::npos) << warnings[0];
    EXPECT_EQ(model->description().rfind("SAM 2.1 Hiera-T", 0), 0u);
    warnings.clear();
    c.sam2_config = "configs/sam2.1/sam2.1_hiera_t.yaml";
    sam::load_segmenter(c, &warnings);
    EXPECT_TRUE(warnings.empty());
    c.sam2_config = "my_experiment.yaml";
    sam::load_segmenter(c, &warnings);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("names no SAM 2 size"), std::string::npos) << warnings[0];

    c.sam_choice = "ONNX";
    c.onnx_checkpoint = samtest::golden("onnx/mobile_sam_decoder_single.onnx");
    c.vith_checkpoint = c.sam2_checkpoint;
    try {
        sam::load_segmenter(c);
        ADD_FAILURE() << "a SAM 2 encoder accepted for an ONNX decoder";
    } catch (const sam::ModelLoadError& e) {
        EXPECT_NE(std::string(e.what()).find("is a SAM 2 checkpoint"), std::string::npos) << e.what();
    }
}

}  // namespace
