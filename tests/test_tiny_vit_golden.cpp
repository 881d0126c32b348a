// MobileSAM's preprocessing and TinyViT encoder against the PyTorch reference (golden/cases/mobile_sam).
#include <gtest/gtest.h>

#include <cmath>

#include "io/checkpoint.hpp"
#include "io/image.hpp"
#include "models/preprocess.hpp"
#include "models/tiny_vit.hpp"
#include "support/golden.hpp"

using namespace sam;

namespace {

const char* kImages[] = {"photo", "exif_rotated", "rgba_odd", "gray_wide", "tiny"};

using samtest::Stats;
using samtest::stats_of;

void expect_stats(const Stats& s, const nlohmann::json& ref, double tol, const std::string& what) {
    EXPECT_NEAR(s.mean, ref["mean"].get<double>(), tol) << what;
    EXPECT_NEAR(s.std, ref["std"].get<double>(), tol * 10) << what;
    EXPECT_NEAR(s.absmax, ref["absmax"].get<double>(), tol * 10) << what;
    // The reference summed ~1M-3M squares in float32: its l2 carries ~1e-4 relative rounding.
    EXPECT_NEAR(s.l2, ref["l2"].get<double>(), ref["l2"].get<double>() * 5e-4) << what;
}

class TinyVitGolden : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        ckpt_ = new io::Checkpoint(io::Checkpoint::open(samtest::golden("checkpoints/mobile_sam_random.pt")));
        encoder_ = TinyVitEncoder::load(*ckpt_).release();
    }
    static void TearDownTestSuite() {
        delete encoder_;
        delete ckpt_;
    }
    static io::Checkpoint* ckpt_;
    static TinyVitEncoder* encoder_;
};
io::Checkpoint* TinyVitGolden::ckpt_ = nullptr;
TinyVitEncoder* TinyVitGolden::encoder_ = nullptr;

}  // namespace

TEST_F(TinyVitGolden, PreprocessingMatchesReferenceStats) {
    for (const char* name : kImages) {
        const auto cs = samtest::load_json(samtest::golden(std::string("cases/mobile_sam/") + name + "/case.json"));
        RgbImage img = read_image_file(samtest::golden("images/" + cs["image"].get<std::string>()));
        int w, h;
        Tensor input = preprocess_image(img, &w, &h);
        EXPECT_EQ(h, cs["input_size_hw"][0].get<int>()) << name;
        EXPECT_EQ(w, cs["input_size_hw"][1].get<int>()) << name;
        const auto& ref = cs["preprocessed_input_stats"];
        expect_stats(stats_of(input.data, input.numel()), ref, 1e-4, name);
        for (int i = 0; i < 8; ++i)  // first values of channel 0, row 0
            EXPECT_NEAR(input.data[i * 3], ref["first8"][i].get<double>(), 1e-5) << name << " value " << i;
    }
}

TEST_F(TinyVitGolden, EmbeddingMatchesReference) {
    for (const char* name : {"photo", "exif_rotated"}) {
        const std::string dir = std::string("cases/mobile_sam/") + name + "/";
        const auto cs = samtest::load_json(samtest::golden(dir + "case.json"));
        RgbImage img = read_image_file(samtest::golden("images/" + cs["image"].get<std::string>()));
        int w, h;
        Tensor emb = encoder_->encode(preprocess_image(img, &w, &h));
        Tensor ref = samtest::load_npy(samtest::golden(dir + "embedding.npy"));
        ASSERT_EQ(emb.numel(), ref.numel());
        auto d = samtest::diff(emb.data, ref.data, ref.numel());
        std::printf("%s embedding: max abs diff %.3g, mean abs diff %.3g\n", name, d.max_abs, d.mean_abs);
        EXPECT_LT(d.max_abs, 1e-3) << name;
        EXPECT_LT(d.mean_abs, 1e-4) << name;
    }
}

TEST_F(TinyVitGolden, EmbeddingStatsMatchForOtherImages) {
    for (const char* name : {"rgba_odd", "gray_wide", "tiny"}) {
        const auto cs = samtest::load_json(samtest::golden(std::string("cases/mobile_sam/") + name + "/case.json"));
        RgbImage img = read_image_file(samtest::golden("images/" + cs["image"].get<std::string>()));
        int w, h;
        Tensor emb = encoder_->encode(preprocess_image(img, &w, &h));
        const auto& ref = cs["embedding_stats"];
        expect_stats(stats_of(emb.data, emb.numel()), ref, 1e-4, name);
        for (int i = 0; i < 8; ++i) EXPECT_NEAR(emb.data[i], ref["first8"][i].get<double>(), 1e-3) << name;
    }
}

TEST_F(TinyVitGolden, RejectsWrongInputShape) {
    EXPECT_THROW(encoder_->encode(Tensor::zeros({512, 512, 3})), std::invalid_argument);
}

TEST(TinyVitLoad, NotATinyVitCheckpoint) {
    auto vit = io::Checkpoint::open(samtest::golden("checkpoints/sam_vit_mini_random.pth"));
    EXPECT_FALSE(TinyVitEncoder::looks_like_tiny_vit(vit));
    try {
        TinyVitEncoder::load(vit);
        FAIL() << "loading a ViT checkpoint as TinyViT must fail";
    } catch (const io::CheckpointError& e) {
        EXPECT_NE(std::string(e.what()).find("image_encoder.patch_embed.seq.0.c.weight"), std::string::npos) << e.what();
    }
}
