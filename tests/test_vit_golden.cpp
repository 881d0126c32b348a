// The SAM ViT image encoder against Meta's segment_anything on the mini ViT checkpoint
// (embed 256, depth 4, 4 heads, global blocks 1 and 3): config inference, the embedding of
// every golden image, and the errors for checkpoints that are not (or not quite) a SAM ViT.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "io/checkpoint.hpp"
#include "models/vit_encoder.hpp"
#include "support/golden.hpp"

namespace {

using samtest::golden;

const std::string kVitCkpt = "checkpoints/sam_vit_mini_random.pth";

using samtest::Stats;
using samtest::stats_of;

// Compares against a case.json stats block; `first8` are the first values in [1, C, H, W] order.
// The reference's L2 is a float32 reduction over millions of values, good to about 1e-4 relative.
void expect_stats(const float* chw, int64_t n, const nlohmann::json& ref, double tol, const std::string& what) {
    const Stats s = stats_of(chw, n);
    EXPECT_NEAR(s.mean, ref["mean"].get<double>(), tol) << what;
    EXPECT_NEAR(s.std, ref["std"].get<double>(), tol * std::max(1.0, ref["std"].get<double>())) << what;
    EXPECT_NEAR(s.absmax, ref["absmax"].get<double>(), 10 * tol * std::max(1.0, ref["absmax"].get<double>())) << what;
    EXPECT_NEAR(s.l2, ref["l2"].get<double>(), std::max(tol, 3e-4) * ref["l2"].get<double>()) << what;
    for (int i = 0; i < 8; ++i) EXPECT_NEAR(chw[i], ref["first8"][i].get<double>(), 10 * tol) << what << " first8[" << i << "]";
}

sam::Tensor to_chw(const sam::Tensor& hwc) {
    const int64_t H = hwc.dim(0), W = hwc.dim(1), C = hwc.dim(2);
    sam::Tensor t = sam::Tensor::empty({C, H, W});
    for (int64_t i = 0; i < H * W; ++i)
        for (int64_t c = 0; c < C; ++c) t.data[c * H * W + i] = hwc.data[i * C + c];
    return t;
}

class VitGolden : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (!samtest::golden_available()) return;
        ckpt_ = std::make_unique<sam::io::Checkpoint>(sam::io::Checkpoint::open(golden(kVitCkpt)));
        encoder_ = sam::VitEncoder::load(*ckpt_);
    }
    static void TearDownTestSuite() {
        encoder_.reset();
        ckpt_.reset();
    }
    void SetUp() override {
        if (!samtest::golden_available()) GTEST_SKIP() << "no golden data at " << golden("");
    }

    // Encodes one golden case's resized image after checking the input against the reference's.
    static sam::Tensor encode_case(const std::string& image) {
        const std::string dir = "cases/sam_vit_mini/" + image + "/";
        const nlohmann::json c = samtest::load_json(golden(dir + "case.json"));
        const sam::Tensor input = samtest::sam_input_from_png(golden(dir + "resized.png"));
        const sam::Tensor chw = to_chw(input);
        expect_stats(chw.data, chw.numel(), c["preprocessed_input_stats"], 1e-5, image + " input");
        return encoder_->encode(input);
    }

    static std::unique_ptr<sam::io::Checkpoint> ckpt_;
    static std::unique_ptr<sam::VitEncoder> encoder_;
};

std::unique_ptr<sam::io::Checkpoint> VitGolden::ckpt_;
std::unique_ptr<sam::VitEncoder> VitGolden::encoder_;

TEST_F(VitGolden, InfersMiniConfigFromTensors) {
    const sam::VitConfig cfg = sam::infer_vit_config(*ckpt_);
    EXPECT_EQ(cfg.embed_dim, 256);
    EXPECT_EQ(cfg.depth, 4);
    EXPECT_EQ(cfg.heads, 4);
    EXPECT_EQ(cfg.global_blocks, (std::vector<int>{1, 3}));
    EXPECT_EQ(cfg.patch, 16);
    EXPECT_EQ(cfg.window, 14);
    EXPECT_EQ(cfg.out_chans, 256);
    EXPECT_TRUE(sam::looks_like_vit(*ckpt_));
    EXPECT_EQ(encoder_->name(), "SAM ViT (256 dim, 4 blocks, 4 heads)");
    EXPECT_EQ(encoder_->config().global_blocks, (std::vector<int>{1, 3}));
}

TEST_F(VitGolden, EmbeddingMatchesReference) {
    for (const std::string image : {"photo", "exif_rotated"}) {
        const sam::Tensor out = encode_case(image);
        ASSERT_EQ(out.shape, (sam::Shape{256, 64, 64}));
        const sam::Tensor ref = samtest::load_npy(golden("cases/sam_vit_mini/" + image + "/embedding.npy"));
        ASSERT_EQ(ref.numel(), out.numel());
        const samtest::DiffStats d = samtest::diff(out.data, ref.data, out.numel());
        std::printf("%s: embedding max |diff| %.3g, mean |diff| %.3g\n", image.c_str(), d.max_abs, d.mean_abs);
        EXPECT_LT(d.max_abs, 2e-4) << image;
        EXPECT_LT(d.mean_abs, 1e-5) << image;
    }
}

TEST_F(VitGolden, EmbeddingStatsMatchReference) {
    for (const std::string image : {"rgba_odd", "gray_wide", "tiny"}) {
        const sam::Tensor out = encode_case(image);
        const nlohmann::json c = samtest::load_json(golden("cases/sam_vit_mini/" + image + "/case.json"));
        expect_stats(out.data, out.numel(), c["embedding_stats"], 1e-4, image + " embedding");
    }
}

TEST_F(VitGolden, MobileSamCheckpointIsNotAVit) {
    const auto ck = sam::io::Checkpoint::open(golden("checkpoints/mobile_sam_random.pt"));
    EXPECT_FALSE(sam::looks_like_vit(ck));
    try {
        sam::infer_vit_config(ck);
        FAIL() << "expected CheckpointError";
    } catch (const sam::io::CheckpointError& e) {
        EXPECT_NE(std::string(e.what()).find("not a SAM ViT checkpoint: no image_encoder.patch_embed.proj.weight"),
                  std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find("mobile_sam_random.pt"), std::string::npos) << e.what();
    }
    EXPECT_THROW(sam::VitEncoder::load(ck), sam::io::CheckpointError);
}

// The mini checkpoint's encoder tensors as a TensorMap (views, no copies).
sam::TensorMap encoder_tensors(const sam::io::Checkpoint& ck) {
    sam::TensorMap m;
    for (const std::string& n : ck.names())
        if (n.rfind("image_encoder.", 0) == 0) m[n] = ck.get(n);
    return m;
}

std::string load_error(const sam::TensorMap& m) {
    try {
        sam::VitEncoder::load(m);
    } catch (const sam::io::CheckpointError& e) {
        return e.what();
    }
    return "(no error)";
}

TEST_F(VitGolden, BadTensorsGiveClearErrors) {
    sam::TensorMap m = encoder_tensors(*ckpt_);
    EXPECT_EQ(sam::VitEncoder::load(m)->name(), "SAM ViT (256 dim, 4 blocks, 4 heads)");

    sam::TensorMap wrong = m;
    wrong["image_encoder.blocks.2.mlp.lin1.weight"] = m["image_encoder.blocks.2.mlp.lin1.weight"].reshaped({512, 512});
    EXPECT_EQ(load_error(wrong),
              "tensors in memory: tensor 'image_encoder.blocks.2.mlp.lin1.weight' has shape [512, 512], expected "
              "[1024, 256]");

    sam::TensorMap missing = m;
    missing.erase("image_encoder.blocks.1.attn.proj.bias");
    EXPECT_EQ(load_error(missing), "tensors in memory: missing tensor 'image_encoder.blocks.1.attn.proj.bias'");

    sam::TensorMap no_rel = m;
    no_rel.erase("image_encoder.blocks.3.attn.rel_pos_h");
    EXPECT_NE(load_error(no_rel).find("no image_encoder.blocks.3.attn.rel_pos_h"), std::string::npos);

    sam::TensorMap bad_head = m;
    bad_head["image_encoder.blocks.0.attn.rel_pos_h"] = m["image_encoder.blocks.0.attn.rel_pos_h"].reshaped({9, 192});
    EXPECT_NE(load_error(bad_head).find("has head dim 64, block 0 has 192"), std::string::npos)
        << load_error(bad_head);

    try {
        encoder_->encode(sam::Tensor::zeros({1024, 1024, 4}));
        FAIL() << "expected invalid_argument";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("input has shape [1024, 1024, 4], expected [1024, 1024, 3]"),
                  std::string::npos)
            << e.what();
    }
}

// Tensors of the published SAM shapes over one shared zero block: enough to check config
// inference and naming without allocating a real model.
sam::TensorMap shaped_like(int E, int depth, std::vector<int> global, int64_t hd = 64) {
    const int64_t biggest = 4 * int64_t(E) * E;
    auto block = std::shared_ptr<float[]>(new float[biggest]());
    auto t = [&](sam::Shape s) { return sam::Tensor::wrap(block.get(), std::move(s), block); };
    sam::TensorMap m;
    const std::string p = "image_encoder.";
    m[p + "pos_embed"] = t({1, 64, 64, E});
    m[p + "patch_embed.proj.weight"] = t({E, 3, 16, 16});
    m[p + "patch_embed.proj.bias"] = t({E});
    for (int i = 0; i < depth; ++i) {
        const std::string b = p + "blocks." + std::to_string(i) + ".";
        const bool g = std::find(global.begin(), global.end(), i) != global.end();
        for (const char* n : {"norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "attn.proj.bias", "mlp.lin2.bias"})
            m[b + n] = t({E});
        m[b + "attn.qkv.weight"] = t({3 * E, E});
        m[b + "attn.qkv.bias"] = t({3 * E});
        m[b + "attn.proj.weight"] = t({E, E});
        m[b + "attn.rel_pos_h"] = t({g ? 127 : 27, hd});
        m[b + "attn.rel_pos_w"] = t({g ? 127 : 27, hd});
        m[b + "mlp.lin1.weight"] = t({4 * E, E});
        m[b + "mlp.lin1.bias"] = t({4 * E});
        m[b + "mlp.lin2.weight"] = t({E, 4 * E});
    }
    m[p + "neck.0.weight"] = t({256, E, 1, 1});
    m[p + "neck.1.weight"] = t({256});
    m[p + "neck.1.bias"] = t({256});
    m[p + "neck.2.weight"] = t({256, 256, 3, 3});
    m[p + "neck.3.weight"] = t({256});
    m[p + "neck.3.bias"] = t({256});
    return m;
}

TEST(VitConfig, NamesThePublishedModels) {
    const auto b = sam::VitEncoder::load(shaped_like(768, 12, {2, 5, 8, 11}));
    EXPECT_EQ(b->name(), "SAM ViT-B");
    EXPECT_EQ(b->config().heads, 12);
    const auto l = sam::VitEncoder::load(shaped_like(1024, 24, {5, 11, 17, 23}));
    EXPECT_EQ(l->name(), "SAM ViT-L");
    EXPECT_EQ(l->config().heads, 16);
    const auto h = sam::VitEncoder::load(shaped_like(1280, 32, {7, 15, 23, 31}, 80));
    EXPECT_EQ(h->name(), "SAM ViT-H");
    EXPECT_EQ(h->config().depth, 32);
    EXPECT_EQ(h->config().heads, 16);
    EXPECT_EQ(h->config().global_blocks, (std::vector<int>{7, 15, 23, 31}));
    // ViT-B shapes with other global blocks are not ViT-B.
    EXPECT_EQ(sam::VitEncoder::load(shaped_like(768, 12, {0, 5, 8, 11}))->name(),
              "SAM ViT (768 dim, 12 blocks, 12 heads)");
}

TEST(VitConfig, ResizeRelPosIsLinearWithoutAlignCorners) {
    // F.interpolate(mode="linear", align_corners=False) of [0, 1, 2] to 5 samples: source
    // positions (i + 0.5) * 3/5 - 0.5 clamped at 0 -> 0, 0.4, 1.0, 1.6, 2.2 (clamped to the end).
    sam::Tensor t = sam::Tensor::empty({3, 2});
    for (int i = 0; i < 3; ++i) t.data[i * 2] = float(i), t.data[i * 2 + 1] = float(10 * i);
    const sam::Tensor r = sam::resize_rel_pos(t, 5);
    ASSERT_EQ(r.shape, (sam::Shape{5, 2}));
    const float expect[5] = {0.0f, 0.4f, 1.0f, 1.6f, 2.0f};
    for (int i = 0; i < 5; ++i) {
        EXPECT_NEAR(r.data[i * 2], expect[i], 1e-6) << i;
        EXPECT_NEAR(r.data[i * 2 + 1], 10 * expect[i], 1e-5) << i;
    }
}

}  // namespace
