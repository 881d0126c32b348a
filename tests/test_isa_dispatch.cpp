// Our kernels at every instruction-set level (tensor/isa.hpp) against the reference: MobileSAM's,
// the SAM ViT's and SAM 2.1's embeddings and the decoder's outputs on the golden cases, each level forced
// in turn; levels this CPU lacks are skipped. Also SAM_ISA's parsing and refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "io/checkpoint.hpp"
#include "io/image.hpp"
#include "models/hiera_encoder.hpp"
#include "models/preprocess.hpp"
#include "models/sam_decoder.hpp"
#include "models/tiny_vit.hpp"
#include "models/vit_encoder.hpp"
#include "support/golden.hpp"
#include "tensor/cpu_features.hpp"
#include "tensor/isa.hpp"

namespace {

using sam::isa::Level;
using samtest::golden;

sam::Tensor mobile_sam_embedding() {
    static auto ckpt = sam::io::Checkpoint::open(golden("checkpoints/mobile_sam_random.pt"));
    static auto encoder = sam::TinyVitEncoder::load(ckpt);
    const sam::RgbImage img = sam::read_image_file(golden("images/photo.jpg"));
    int w, h;
    return encoder->encode(sam::preprocess_image(img, &w, &h));
}

sam::Tensor vit_mini_embedding() {
    static auto ckpt = sam::io::Checkpoint::open(golden("checkpoints/sam_vit_mini_random.pth"));
    static auto encoder = sam::VitEncoder::load(ckpt);
    return encoder->encode(samtest::sam_input_from_png(golden("cases/sam_vit_mini/photo/resized.png")));
}

sam::HieraFeatures sam2_features() {
    static auto ckpt = sam::io::Checkpoint::open(golden("checkpoints/sam2.1_hiera_tiny_random.pt"));
    static auto encoder = sam::HieraEncoder::load(ckpt);
    return encoder->encode(sam::preprocess_image_square(sam::read_image_file(golden("images/photo.jpg"))));
}

void expect_close(const sam::Tensor& got, const sam::Tensor& want, double max_abs, double mean_abs,
                  const std::string& what) {
    ASSERT_EQ(got.numel(), want.numel()) << what;
    const samtest::DiffStats d = samtest::diff(got.data, want.data, want.numel());
    std::printf("%s: max |diff| %.3g, mean |diff| %.3g\n", what.c_str(), d.max_abs, d.mean_abs);
    EXPECT_LT(d.max_abs, max_abs) << what;
    EXPECT_LT(d.mean_abs, mean_abs) << what;
}

// Runs `check` at every level from the CPU's best down, each forced in turn; says which levels
// this CPU cannot test. Restores the level it found.
template <class F>
void for_each_level(F check) {
    const Level before = sam::isa::active();
    for (int l = int(Level::v4); l >= int(Level::v2); --l) {
        const Level level = Level(l);
        if (l > int(sam::isa::cpu_level())) {
            std::printf("[  SKIPPED ] %s: this CPU lacks it (it runs up to %s)\n", sam::isa::name(level),
                        sam::isa::name(sam::isa::cpu_level()));
            continue;
        }
        SCOPED_TRACE(sam::isa::name(level));
        sam::isa::force(level);
        ASSERT_EQ(sam::isa::active(), level);
        check(level);
    }
    sam::isa::force(before);
}

}  // namespace

TEST(IsaLevels, MobileSamEmbeddingMatchesReference) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    const sam::Tensor ref = samtest::load_npy(golden("cases/mobile_sam/photo/embedding.npy"));
    sam::Tensor best;
    for_each_level([&](Level level) {
        const sam::Tensor emb = mobile_sam_embedding();
        // The tolerances of test_tiny_vit_golden; float noise against the best level.
        expect_close(emb, ref, 1e-3, 1e-4, std::string(sam::isa::name(level)) + " vs reference");
        if (best.defined()) expect_close(emb, best, 2e-4, 1e-5, std::string(sam::isa::name(level)) + " vs best level");
        else best = emb;
    });
}

TEST(IsaLevels, VitEmbeddingMatchesReference) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    const sam::Tensor ref = samtest::load_npy(golden("cases/sam_vit_mini/photo/embedding.npy"));
    sam::Tensor best;
    for_each_level([&](Level level) {
        const sam::Tensor emb = vit_mini_embedding();
        expect_close(emb, ref, 2e-4, 1e-5, std::string(sam::isa::name(level)) + " vs reference");
        if (best.defined()) expect_close(emb, best, 1e-4, 1e-5, std::string(sam::isa::name(level)) + " vs best level");
        else best = emb;
    });
}

TEST(IsaLevels, Sam2FeaturesMatchReference) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    const std::string dir = golden("cases/sam2.1_hiera_tiny/photo/");
    const sam::Tensor ref[3] = {samtest::load_npy(dir + "embedding.npy"), samtest::load_npy(dir + "high_res_0.npy"),
                                samtest::load_npy(dir + "high_res_1.npy")};
    const char* names[3] = {"image_embed", "high_res_0", "high_res_1"};
    sam::HieraFeatures best;
    for_each_level([&](Level level) {
        const sam::HieraFeatures f = sam2_features();
        const sam::Tensor* got[3] = {&f.image_embed, &f.high_res_0, &f.high_res_1};
        const sam::Tensor* top[3] = {&best.image_embed, &best.high_res_0, &best.high_res_1};
        for (int i = 0; i < 3; ++i) {
            const std::string what = std::string(sam::isa::name(level)) + " " + names[i];
            // test_sam2_golden's bound on every value: 2^-11 of the reference's value + 1e-4.
            ASSERT_EQ(got[i]->numel(), ref[i].numel()) << what;
            int64_t outside = 0;
            for (int64_t j = 0; j < ref[i].numel(); ++j)
                outside += std::fabs(double(got[i]->data[j]) - ref[i].data[j]) >
                           std::fabs(ref[i].data[j]) * std::ldexp(1.0, -11) + 1e-4;
            EXPECT_EQ(outside, 0) << what << " vs reference";
            if (top[i]->defined()) expect_close(*got[i], *top[i], 2e-4, 1e-5, what + " vs best level");
        }
        if (!best.image_embed.defined()) best = f;
    });
}

TEST(IsaLevels, DecoderMatchesReference) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    auto ckpt = sam::io::Checkpoint::open(golden("checkpoints/mobile_sam_random.pt"));
    const sam::SamDecoder decoder = sam::SamDecoder::load(ckpt);
    const std::string dir = golden("cases/mobile_sam/photo/");
    const nlohmann::json info = samtest::load_json(dir + "case.json");
    const sam::ImageEmbedding e = samtest::golden_embedding(dir, info);
    for_each_level([&](Level) {
        int checked = 0;
        for (const auto& c : info["cases"]) {
            if (c.contains("mask_input_from")) continue;  // test_decoder_golden covers refinement
            SCOPED_TRACE(c["name"].get<std::string>());
            const sam::Prediction pred = decoder.predict(e, samtest::golden_prompt(dir, info, c));
            const sam::Tensor ref = samtest::load_npy(dir + c["lowres_file"].get<std::string>());
            float scale = 0;
            for (int64_t i = 0; i < ref.numel(); ++i) scale = std::max(scale, std::fabs(ref.data[i]));
            ASSERT_EQ(pred.lowres.numel(), ref.numel());
            EXPECT_LT(samtest::diff(pred.lowres.data, ref.data, ref.numel()).max_abs, 1e-4 * scale);
            ASSERT_EQ(pred.iou.size(), c["iou_predictions"].size());
            for (size_t m = 0; m < pred.iou.size(); ++m)
                EXPECT_NEAR(pred.iou[m], c["iou_predictions"][m].get<double>(), 1e-4) << "mask " << m;
            ++checked;
        }
        EXPECT_GE(checked, 3);
    });
}

TEST(IsaNames, ParseAcceptsLevelsAndAliases) {
    using sam::isa::parse;
    EXPECT_EQ(parse("v2"), Level::v2);
    EXPECT_EQ(parse("x86-64-v3"), Level::v3);
    EXPECT_EQ(parse("AVX2"), Level::v3);
    EXPECT_EQ(parse("avx512"), Level::v4);
    EXPECT_EQ(parse("sse4.2"), Level::v2);
    for (const char* bad : {"", "v5", "avx", "native", "v4 "}) {
        try {
            parse(bad);
            ADD_FAILURE() << "'" << bad << "' accepted";
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find("v2 (SSE4.2), v3 (AVX2) or v4 (AVX-512)"), std::string::npos) << e.what();
        }
    }
}

TEST(IsaNames, RefusesALevelTheCpuLacks) {
    EXPECT_NO_THROW(sam::isa::check_supported(Level::v3, Level::v4));
    try {
        sam::isa::check_supported(Level::v4, Level::v3);
        ADD_FAILURE() << "v4 accepted on a v3 CPU";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("lacks AVX-512"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("x86-64-v3"), std::string::npos) << e.what();
    }
    EXPECT_THROW(sam::isa::check_supported(Level::v3, Level::v2), std::runtime_error);
}

// Our CPUID reading against libgcc's (the test is built with GCC, whose
// __builtin_cpu_supports knows the x86-64 levels; clang 14's does not, hence our own).
#if defined(__GNUC__) && !defined(__clang__)
TEST(CpuFeatures, AgreeWithTheCompilersRuntime) {
    __builtin_cpu_init();
    const sam::CpuFeatures& f = sam::cpu_features();
    EXPECT_EQ(f.sse42, bool(__builtin_cpu_supports("sse4.2")));
    EXPECT_EQ(f.avx, bool(__builtin_cpu_supports("avx")));
    EXPECT_EQ(f.avx2, bool(__builtin_cpu_supports("avx2")));
    EXPECT_EQ(f.fma, bool(__builtin_cpu_supports("fma")));
    EXPECT_EQ(f.f16c, bool(__builtin_cpu_supports("f16c")));
    EXPECT_EQ(f.bmi2, bool(__builtin_cpu_supports("bmi2")));
    EXPECT_EQ(f.avx512f, bool(__builtin_cpu_supports("avx512f")));
    EXPECT_EQ(f.avx512vl, bool(__builtin_cpu_supports("avx512vl")));
    EXPECT_EQ(f.x86_64_v3(), bool(__builtin_cpu_supports("x86-64-v3")));
    EXPECT_EQ(f.x86_64_v4(), bool(__builtin_cpu_supports("x86-64-v4")));
    EXPECT_EQ(sam::isa::cpu_level(), f.x86_64_v4()   ? sam::isa::Level::v4
                                     : f.x86_64_v3() ? sam::isa::Level::v3
                                                     : sam::isa::Level::v2);
}
#endif
