// PRECISION=bf16 against float32 on the golden cases: the embedding's relative error and the
// agreement of the masks on confidently classified pixels, for MobileSAM and the SAM ViT
// architecture, on every golden image. Skipped on a CPU without AVX512-BF16 / AMX.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "io/checkpoint.hpp"
#include "io/image.hpp"
#include "models/image_encoder.hpp"
#include "models/mask_postprocess.hpp"
#include "models/preprocess.hpp"
#include "models/sam_decoder.hpp"
#include "models/tiny_vit.hpp"
#include "models/vit_encoder.hpp"
#include "support/golden.hpp"
#include "tensor/isa.hpp"

namespace {

using samtest::golden;

// A pixel is confidently classified when its float32 logit is at least this far from 0. The
// random-weight decoders give small logits (MobileSAM's often below 0.5 in magnitude); 0.05 is
// about a hundred times their float32 noise.
constexpr double kConfidentMargin = 0.05;
// What the README promises for PRECISION=bf16: masks agree on this share of confident pixels.
constexpr double kMinAgreement = 0.99;


struct Agreement {
    int64_t confident = 0, agree = 0, pixels = 0, flipped_all = 0;
};

template <class Encoder>
void compare_precisions(const std::string& model, const std::string& checkpoint,
                        const std::vector<std::string>& images) {
    auto ckpt = sam::io::Checkpoint::open(golden(checkpoint));
    const std::unique_ptr<sam::ImageEncoder> f32 = Encoder::load(ckpt, sam::Precision::f32);
    const std::unique_ptr<sam::ImageEncoder> bf16 = Encoder::load(ckpt, sam::Precision::bf16);
    const sam::SamDecoder decoder = sam::SamDecoder::load(ckpt);
    Agreement total;
    double worst_rel = 0;
    for (const std::string& image : images) {
        const std::string dir = golden("cases/" + model + "/" + image + "/");
        const nlohmann::json info = samtest::load_json(dir + "case.json");
        const sam::RgbImage img = sam::read_image_file(golden("images/" + info["image"].get<std::string>()));
        sam::ImageEmbedding e32, e16;
        const sam::Tensor input = sam::preprocess_image(img, &e32.input_w, &e32.input_h);
        e32.orig_w = e16.orig_w = img.width, e32.orig_h = e16.orig_h = img.height;
        e16.input_w = e32.input_w, e16.input_h = e32.input_h;
        e32.features = f32->encode(input);
        e16.features = bf16->encode(input);
        double diff2 = 0, ref2 = 0, max_abs = 0;
        for (int64_t i = 0; i < e32.features.numel(); ++i) {
            const double d = double(e16.features.data[i]) - e32.features.data[i];
            diff2 += d * d;
            ref2 += double(e32.features.data[i]) * e32.features.data[i];
            max_abs = std::max(max_abs, std::fabs(d));
        }
        const double rel = std::sqrt(diff2 / ref2);
        worst_rel = std::max(worst_rel, rel);

        Agreement a;
        for (const auto& c : info["cases"]) {
            if (c.contains("mask_input_from")) continue;
            const sam::Prompt p = samtest::golden_prompt(dir, info, c);
            const sam::Prediction want = decoder.predict(e32, p), got = decoder.predict(e16, p);
            for (int m = 0; m < int(want.iou.size()); ++m) {
                const std::vector<double> logit = samtest::full_logits(
                    want.lowres.data + int64_t(m) * 256 * 256, want.input_h, want.input_w, want.orig_h, want.orig_w);
                const std::vector<uint8_t> mask32 = sam::binary_mask(want, m), mask16 = sam::binary_mask(got, m);
                for (size_t i = 0; i < logit.size(); ++i) {
                    ++a.pixels;
                    a.flipped_all += mask32[i] != mask16[i];
                    if (std::fabs(logit[i]) < kConfidentMargin) continue;
                    ++a.confident;
                    a.agree += mask32[i] == mask16[i];
                }
            }
        }
        std::printf("%s %s: embedding relative error %.4f (max |diff| %.3g); masks agree on %.4f%% of %lld confident "
                    "pixels (%.1f%% of all), %.4f%% of all pixels\n",
                    model.c_str(), image.c_str(), rel, max_abs, 100.0 * a.agree / a.confident, (long long)a.confident,
                    100.0 * a.confident / a.pixels, 100.0 * (a.pixels - a.flipped_all) / a.pixels);
        EXPECT_GE(double(a.agree) / a.confident, kMinAgreement) << model << "/" << image;
        total.confident += a.confident, total.agree += a.agree, total.pixels += a.pixels;
        total.flipped_all += a.flipped_all;
    }
    std::printf("%s overall: worst embedding relative error %.4f; masks agree on %.4f%% of confident pixels, %.4f%% of "
                "all pixels\n",
                model.c_str(), worst_rel, 100.0 * total.agree / total.confident,
                100.0 * (total.pixels - total.flipped_all) / total.pixels);
    EXPECT_LT(worst_rel, 0.05) << model;
}

class Bf16Precision : public testing::Test {
protected:
    void SetUp() override {
        if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
        if (!sam::isa::cpu_has_bf16()) GTEST_SKIP() << "this CPU has neither AVX512-BF16 nor AMX-BF16";
    }
};

}  // namespace

TEST_F(Bf16Precision, MobileSamMasksAgreeWithFloat32) {
    compare_precisions<sam::TinyVitEncoder>("mobile_sam", "checkpoints/mobile_sam_random.pt",
                                            {"photo", "exif_rotated", "rgba_odd", "gray_wide", "tiny"});
}

TEST_F(Bf16Precision, VitMasksAgreeWithFloat32) {
    // Two images keep the test short; all five gave the same figures (bench/README.md).
    compare_precisions<sam::VitEncoder>("sam_vit_mini", "checkpoints/sam_vit_mini_random.pth", {"photo", "gray_wide"});
}

TEST(Precision, ParseAndRefusal) {
    EXPECT_EQ(sam::parse_precision("FP32"), sam::Precision::f32);
    EXPECT_EQ(sam::parse_precision("bfloat16"), sam::Precision::bf16);
    EXPECT_THROW(sam::parse_precision("fp16"), std::invalid_argument);
    EXPECT_NO_THROW(sam::require_precision(sam::Precision::f32));
    if (sam::isa::cpu_has_bf16()) {
        EXPECT_NO_THROW(sam::require_precision(sam::Precision::bf16));
    } else {
        try {
            sam::require_precision(sam::Precision::bf16);
            ADD_FAILURE() << "bf16 accepted on a CPU without it";
        } catch (const std::runtime_error& e) {
            EXPECT_NE(std::string(e.what()).find("use PRECISION=fp32"), std::string::npos) << e.what();
        }
    }
}
