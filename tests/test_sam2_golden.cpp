// SAM 2.1 (Hiera tiny) against Meta's sam2 package on the random-weight golden checkpoint:
// the checkpoint's layout (471 float16 tensors under "model", video-only tensors loaded and
// ignored), the square float preprocessing, the encoder block by block (layers json) and its
// three maps against the reference files; the decoder alone on the
// reference's maps (every prompt case: IoUs, token choice, stability, low-res logits, masks), the
// post-processing alone, and image to maps and masks for every image.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "io/checkpoint.hpp"
#include "io/image.hpp"
#include "models/embedding_codec.hpp"
#include "models/hiera_encoder.hpp"
#include "models/mask_postprocess.hpp"
#include "models/preprocess.hpp"
#include "models/sam2_decoder.hpp"
#include "support/golden.hpp"

namespace {

using samtest::golden;

const std::string kCkpt = "checkpoints/sam2.1_hiera_tiny_random.pt";
const std::string kCases = "cases/sam2.1_hiera_tiny/";
const char* kImages[] = {"photo", "exif_rotated", "rgba_odd", "gray_wide", "tiny"};

sam::Tensor to_chw(const float* hwc, int64_t H, int64_t W, int64_t C) {
    sam::Tensor t = sam::Tensor::empty({C, H, W});
    for (int64_t i = 0; i < H * W; ++i)
        for (int64_t c = 0; c < C; ++c) t.data[c * H * W + i] = hwc[i * C + c];
    return t;
}

// A stats block of the reference (values of [1, C, H, W]; first8 in that order). The reference
// summed millions of float32 squares: its l2 carries up to a few 1e-4 relative rounding.
void expect_stats(const float* chw, int64_t n, const nlohmann::json& ref, double tol, const std::string& what) {
    const samtest::Stats s = samtest::stats_of(chw, n);
    const double scale = std::max(1.0, ref["absmax"].get<double>());
    EXPECT_NEAR(s.mean, ref["mean"].get<double>(), tol * scale) << what;
    EXPECT_NEAR(s.std, ref["std"].get<double>(), tol * scale) << what;
    EXPECT_NEAR(s.absmax, ref["absmax"].get<double>(), 10 * tol * scale) << what;
    EXPECT_NEAR(s.l2, ref["l2"].get<double>(), std::max(tol, 5e-4) * ref["l2"].get<double>()) << what;
    for (int i = 0; i < 8; ++i)
        EXPECT_NEAR(chw[i], ref["first8"][i].get<double>(), 10 * tol * scale) << what << " first8[" << i << "]";
}

bool refines(const nlohmann::json& c) { return c.contains("mask_input_from") && !c["mask_input_from"].is_null(); }

sam::ImageEmbedding embedding_of(const nlohmann::json& cs, sam::Tensor features, sam::Tensor hr0, sam::Tensor hr1) {
    sam::ImageEmbedding e;
    e.features = features.reshaped({256, 64, 64});
    e.high_res_0 = hr0.reshaped({32, 256, 256});
    e.high_res_1 = hr1.reshaped({64, 128, 128});
    e.orig_h = cs["original_size_hw"][0];
    e.orig_w = cs["original_size_hw"][1];
    e.input_w = e.input_h = 1024;
    return e;
}

// One low-res plane upscaled to W x H (bilinear, align_corners false) in double: which pixels are
// confidently classified.
std::vector<float> upscaled(const float* plane, int W, int H) {
    auto taps = [](int in, int out, int j, int& i0, int& i1, double& l) {
        const double src = std::max(0.0, (j + 0.5) * in / out - 0.5);
        i0 = std::min(static_cast<int>(src), in - 1);
        i1 = std::min(i0 + 1, in - 1);
        l = src - i0;
    };
    std::vector<float> out(static_cast<size_t>(W) * H);
    for (int y = 0; y < H; ++y) {
        int y0, y1;
        double ly;
        taps(256, H, y, y0, y1, ly);
        for (int x = 0; x < W; ++x) {
            int x0, x1;
            double lx;
            taps(256, W, x, x0, x1, lx);
            const double top = plane[y0 * 256 + x0] * (1 - lx) + plane[y0 * 256 + x1] * lx;
            const double bottom = plane[y1 * 256 + x0] * (1 - lx) + plane[y1 * 256 + x1] * lx;
            out[static_cast<size_t>(y) * W + x] = static_cast<float>(top * (1 - ly) + bottom * ly);
        }
    }
    return out;
}

struct MaskDiff {
    int64_t differ = 0, confident = 0, area = 0;  // all differing pixels; those with |logit| > margin; our area
};

MaskDiff compare_mask(const sam::Prediction& pred, int index, const std::string& png, float margin) {
    const std::vector<uint8_t> ours = sam::binary_mask(pred, index);
    const std::vector<float> logits = upscaled(pred.lowres.data + int64_t(index) * 256 * 256, pred.orig_w, pred.orig_h);
    MaskDiff d;
    const samtest::GrayImage ref = png.empty() ? samtest::GrayImage{} : samtest::load_png_gray(png);
    for (size_t i = 0; i < ours.size(); ++i) {
        d.area += ours[i];
        if (png.empty()) continue;
        const bool differ = ours[i] != (ref.pixels[i] > 127);
        d.differ += differ;
        d.confident += differ && std::fabs(logits[i]) > margin;
    }
    return d;
}

sam::Tensor clamped(const sam::Tensor& t) {
    sam::Tensor c = t.clone();
    for (int64_t i = 0; i < c.numel(); ++i) c.data[i] = std::clamp(c.data[i], -32.0f, 32.0f);
    return c;
}

std::vector<int> returned_tokens(const sam::Sam2Choice& c) {
    std::vector<int> v;
    for (int i = 0; i < c.count; ++i) v.push_back(c.first + i);
    return v;
}

sam::Tensor preprocess(const std::string& image) {
    const nlohmann::json c = samtest::load_json(golden(kCases + image + "/case.json"));
    return sam::preprocess_image_square(sam::read_image_file(golden("images/" + c["image"].get<std::string>())));
}

class Sam2Golden : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        ckpt_ = std::make_unique<sam::io::Checkpoint>(sam::io::Checkpoint::open(golden(kCkpt)));
        encoder_ = sam::HieraEncoder::load(*ckpt_);
        decoder_ = std::make_unique<sam::Sam2Decoder>(sam::Sam2Decoder::load(*ckpt_));
    }
    static void TearDownTestSuite() {
        features_.clear();
        decoder_.reset();
        encoder_.reset();
        ckpt_.reset();
    }
    // Our encoder's maps of a golden image, computed once for all tests.
    static const sam::HieraFeatures& features(const std::string& image) {
        auto it = features_.find(image);
        if (it == features_.end()) it = features_.emplace(image, encoder_->encode(preprocess(image))).first;
        return it->second;
    }
    static std::unique_ptr<sam::io::Checkpoint> ckpt_;
    static std::unique_ptr<sam::HieraEncoder> encoder_;
    static std::unique_ptr<sam::Sam2Decoder> decoder_;
    static std::map<std::string, sam::HieraFeatures> features_;
};
std::unique_ptr<sam::io::Checkpoint> Sam2Golden::ckpt_;
std::unique_ptr<sam::HieraEncoder> Sam2Golden::encoder_;
std::unique_ptr<sam::Sam2Decoder> Sam2Golden::decoder_;
std::map<std::string, sam::HieraFeatures> Sam2Golden::features_;

TEST_F(Sam2Golden, CheckpointLayoutAsPublished) {
    // {"model": state_dict} unwrapped; every tensor of the file, in float16.
    EXPECT_EQ(ckpt_->names().size(), 471u);
    int64_t values = 0;
    for (const std::string& n : ckpt_->names()) {
        EXPECT_EQ(ckpt_->dtype(n), sam::io::DType::F16) << n;
        values += sam::shape_numel(ckpt_->shape(n));
    }
    EXPECT_EQ(values, 38962754);
    // Video-only tensors load (converted like the rest) and the image path does not need them.
    for (const char* video : {"memory_attention.layers.0.self_attn.q_proj.weight", "memory_encoder.out_proj.weight",
                              "maskmem_tpos_enc", "no_obj_ptr", "obj_ptr_proj.layers.0.weight",
                              "sam_mask_decoder.pred_obj_score_head.layers.2.weight"}) {
        ASSERT_TRUE(ckpt_->contains(video)) << video;
        const sam::Tensor t = ckpt_->get(video);
        EXPECT_EQ(t.shape, ckpt_->shape(video)) << video;
    }

    EXPECT_TRUE(sam::looks_like_sam2(*ckpt_));
    const sam::HieraConfig& c = encoder_->config();
    EXPECT_EQ(c.name, "tiny");
    EXPECT_EQ(c.embed_dim, 96);
    EXPECT_EQ(c.stages, (std::array<int, 4>{1, 2, 7, 2}));
    EXPECT_EQ(c.global_blocks, (std::vector<int>{5, 7, 9}));
    EXPECT_EQ(encoder_->name(), "SAM 2.1 Hiera-T");
}

TEST_F(Sam2Golden, PreprocessingMatchesReferenceStats) {
    for (const char* image : kImages) {
        const nlohmann::json c = samtest::load_json(golden(kCases + std::string(image) + "/case.json"));
        const sam::Tensor input = preprocess(image);
        ASSERT_EQ(input.shape, (sam::Shape{1024, 1024, 3}));
        const sam::Tensor chw = to_chw(input.data, 1024, 1024, 3);
        const nlohmann::json& ref = c["preprocessed_input_stats"];
        const samtest::Stats s = samtest::stats_of(chw.data, chw.numel());
        std::printf("%s: input mean %.9g (ref %.9g), l2 %.9g (ref %.9g)\n", image, s.mean, ref["mean"].get<double>(), s.l2,
                    ref["l2"].get<double>());
        // The mean is a sum of mixed signs; the reference's l2 sums 3M float32 squares and carries
        // its rounding (up to ~1e-4 relative: see the other models' tests).
        EXPECT_NEAR(s.mean, ref["mean"].get<double>(), 1e-6 * std::fabs(ref["mean"].get<double>())) << image;
        EXPECT_NEAR(s.l2, ref["l2"].get<double>(), 1e-4 * ref["l2"].get<double>()) << image;
        EXPECT_NEAR(s.absmax, ref["absmax"].get<double>(), 1e-6) << image;
        for (int i = 0; i < 8; ++i) EXPECT_NEAR(chw.data[i], ref["first8"][i].get<double>(), 2e-6) << image << " first8[" << i << "]";
    }
}

// Block by block against the reference's layer statistics, then the three maps against the files
// (the float16 rounding of the float32 reference: |ours - file| <= |file| * 2^-11 + 1e-4).
TEST_F(Sam2Golden, PhotoLayersAndMapsMatchReference) {
    const nlohmann::json layers = samtest::load_json(golden("layers/sam2.1_hiera_tiny_photo.json"));
    std::map<std::string, std::string> keys;  // our name -> the layers file's key
    for (const auto& [k, v] : layers.items()) {
        std::string name = k.rfind("trunk.", 0) == 0 ? k.substr(6) : k;
        name = name.substr(0, name.find(" ("));
        keys[name] = k;
    }
    int observed = 0;
    const sam::HieraFeatures& f = features_["photo"] = encoder_->encode(preprocess("photo"), [&](const std::string& name, const float* hwc,
                                                                            int64_t H, int64_t W, int64_t C) {
        ASSERT_TRUE(keys.count(name)) << name;
        const nlohmann::json& ref = layers[keys[name]];
        EXPECT_EQ(ref["shape"], nlohmann::json({1, C, H, W})) << name;
        const sam::Tensor chw = to_chw(hwc, H, W, C);
        const samtest::Stats s = samtest::stats_of(chw.data, chw.numel());
        std::printf("%-24s mean %+.6f (ref %+.6f)  l2 %.3f (ref %.3f)\n", name.c_str(), s.mean, ref["mean"].get<double>(), s.l2,
                    ref["l2"].get<double>());
        expect_stats(chw.data, chw.numel(), ref, 2e-5, name);
        observed++;
    });
    EXPECT_EQ(observed, 14);  // patch embedding, with position embedding, 12 blocks

    const struct {
        const char* file;
        const sam::Tensor* ours;
        sam::Shape shape;
    } maps[] = {{"embedding.npy", &f.image_embed, {256, 64, 64}},
                {"high_res_0.npy", &f.high_res_0, {32, 256, 256}},
                {"high_res_1.npy", &f.high_res_1, {64, 128, 128}}};
    for (const auto& m : maps) {
        ASSERT_EQ(m.ours->shape, m.shape) << m.file;
        const sam::Tensor ref = samtest::load_npy(golden(kCases + "photo/" + m.file));
        ASSERT_EQ(ref.numel(), m.ours->numel()) << m.file;
        int64_t outside = 0;
        double max_diff = 0, max_excess = -1;
        for (int64_t i = 0; i < ref.numel(); ++i) {
            const double d = std::fabs(double(m.ours->data[i]) - ref.data[i]);
            const double bound = std::fabs(ref.data[i]) * std::ldexp(1.0, -11) + 1e-4;
            max_diff = std::max(max_diff, d);
            max_excess = std::max(max_excess, d - bound);
            outside += d > bound;
        }
        std::printf("%s: max |ours - file| %.3g, values outside the bound %lld of %lld\n", m.file, max_diff,
                    static_cast<long long>(outside), static_cast<long long>(ref.numel()));
        EXPECT_EQ(outside, 0) << m.file << ": worst excess over the bound " << max_excess;
    }
    const nlohmann::json c = samtest::load_json(golden(kCases + "photo/case.json"));
    expect_stats(f.image_embed.data, f.image_embed.numel(), c["image_embed_stats"], 2e-5, "image_embed");
    expect_stats(f.high_res_0.data, f.high_res_0.numel(), c["high_res_0_stats"], 2e-5, "high_res_0");
    expect_stats(f.high_res_1.data, f.high_res_1.numel(), c["high_res_1_stats"], 2e-5, "high_res_1");
}

TEST_F(Sam2Golden, WrongInputIsRefused) {
    EXPECT_THROW(encoder_->encode(sam::Tensor::zeros({1024, 1024, 4})), std::invalid_argument);
    EXPECT_THROW(encoder_->encode(sam::Tensor::zeros({512, 512, 3})), std::invalid_argument);
}

// dynamic_multimask_via_stability on made-up logits: token 0 unless its mask is unstable.
TEST(Sam2Choice, StabilityRule) {
    sam::Tensor logits = sam::Tensor::zeros({4, 256, 256});
    const std::vector<float> iou = {0.9f, 0.2f, 0.7f, 0.4f};
    float* t0 = logits.data;
    for (int i = 0; i < 65536; ++i) t0[i] = -1.0f;  // nothing above -0.05: stability 1
    sam::Sam2Choice c = sam::sam2_choose_tokens(logits, iou, false);
    EXPECT_EQ(c.stability, 1.0f);
    EXPECT_EQ(c.first, 0);
    for (int i = 0; i < 1000; ++i) t0[i] = 1.0f;  // 1000 confidently inside
    for (int i = 1000; i < 1019; ++i) t0[i] = 0.0f;  // 19 in (-0.05, 0.05]: 1000 / 1019 = 0.9814
    c = sam::sam2_choose_tokens(logits, iou, false);
    EXPECT_NEAR(c.stability, 1000.0 / 1019, 1e-6);
    EXPECT_EQ(c.first, 0);
    t0[1019] = t0[1020] = 0.01f;  // 1000 / 1021 = 0.9794: unstable, the best of tokens 1..3
    c = sam::sam2_choose_tokens(logits, iou, false);
    EXPECT_EQ(c.first, 2);
    EXPECT_EQ(c.count, 1);
    c = sam::sam2_choose_tokens(logits, iou, true);  // multimask: tokens 1..3, whatever token 0 is
    EXPECT_EQ(c.first, 1);
    EXPECT_EQ(c.count, 3);
    EXPECT_THROW(sam::sam2_choose_tokens(logits, {0.1f, 0.2f}, false), std::invalid_argument);
}

// The decoder alone, fed the reference's maps (float16 files widened) and photo's prompts.
TEST_F(Sam2Golden, DecoderOnReferenceMapsMatchesEveryCase) {
    const std::string dir = kCases + "photo/";
    const nlohmann::json cs = samtest::load_json(golden(dir + "case.json"));
    const sam::ImageEmbedding e = embedding_of(cs, samtest::load_npy(golden(dir + "embedding.npy")),
                                               samtest::load_npy(golden(dir + "high_res_0.npy")),
                                               samtest::load_npy(golden(dir + "high_res_1.npy")));
    const sam::Tensor previous = samtest::load_npy(golden(dir + "one_positive_point_lowres.npy"));
    int cases = 0, fallbacks = 0;
    for (const nlohmann::json& c : cs["cases"]) {
        const std::string name = c["name"];
        sam::Prompt p = samtest::case_prompt(c);
        if (refines(c)) p.mask_input = previous;
        const sam::DecoderOutput all = decoder_->run_all(e, p);
        for (int t = 0; t < 4; ++t) EXPECT_NEAR(all.iou[t], c["all_tokens_iou"][t].get<double>(), 2e-5) << name << " token " << t;
        const sam::Sam2Choice choice = sam::sam2_choose_tokens(all.masks, all.iou, p.multimask);
        EXPECT_EQ(returned_tokens(choice), c["returned_tokens"].get<std::vector<int>>()) << name;
        if (!p.multimask) {
            EXPECT_NEAR(choice.stability, c["singlemask_stability"].get<double>(), 1e-3) << name;
            EXPECT_EQ(choice.first != 0, c["dynamic_fallback"].get<bool>()) << name;
            fallbacks += choice.first != 0;
        }

        const sam::Prediction pred = decoder_->predict(e, p);
        ASSERT_EQ(pred.iou.size(), c["iou_predictions"].size()) << name;
        for (size_t i = 0; i < pred.iou.size(); ++i)
            EXPECT_NEAR(pred.iou[i], c["iou_predictions"][i].get<double>(), 2e-5) << name;
        EXPECT_TRUE(pred.square_resize);
        const sam::Tensor returned = clamped(pred.lowres);
        expect_stats(returned.data, returned.numel(), c["lowres_stats"], 1e-4, name + " low-res logits");
        if (c["lowres_file"].is_string()) {
            const sam::Tensor ref = samtest::load_npy(golden(dir + c["lowres_file"].get<std::string>()));
            const samtest::DiffStats d = samtest::diff(returned.data, ref.data, ref.numel());
            std::printf("%s: low-res logits max |diff| %.3g, mean %.3g\n", name.c_str(), d.max_abs, d.mean_abs);
            EXPECT_LT(d.max_abs, 1e-3) << name;
        }
        for (size_t i = 0; i < pred.iou.size(); ++i) {
            const MaskDiff d = compare_mask(pred, int(i), golden(dir + c["mask_files"][i].get<std::string>()), 0.01f);
            std::printf("%s mask %zu: %lld pixels differ, %lld with |logit| > 0.01 (area %lld, reference %lld)\n",
                        name.c_str(), i, (long long)d.differ, (long long)d.confident, (long long)d.area,
                        (long long)c["mask_area"][i].get<int64_t>());
            EXPECT_EQ(d.confident, 0) << name << " mask " << i;
        }
        cases++;
    }
    EXPECT_EQ(cases, 6);
    EXPECT_EQ(fallbacks, 1);  // the refinement case falls back to the best multimask token
}

// Post-processing alone: the reference's returned logits upscaled straight to the original size
// give its mask exactly.
TEST_F(Sam2Golden, UpscalingReferenceLogitsGivesReferenceMask) {
    const std::string dir = kCases + "photo/";
    const nlohmann::json cs = samtest::load_json(golden(dir + "case.json"));
    sam::Prediction p;
    p.lowres = samtest::load_npy(golden(dir + "one_positive_point_lowres.npy"));
    p.iou = {1.0f};
    p.orig_h = cs["original_size_hw"][0];
    p.orig_w = cs["original_size_hw"][1];
    p.input_w = p.input_h = 1024;
    p.square_resize = true;
    const MaskDiff d = compare_mask(p, 0, golden(dir + "one_positive_point_mask0.png"), 0);
    EXPECT_EQ(d.differ, 0);
    // The SAM crop path would not: the square frame is what SAM 2 needs.
    p.square_resize = false;
    EXPECT_GT(compare_mask(p, 0, golden(dir + "one_positive_point_mask0.png"), 0).differ, 1000);
}

bool same_bits(const sam::Tensor& a, const sam::Tensor& b) {
    return a.shape == b.shape && std::memcmp(a.data, b.data, static_cast<size_t>(a.numel()) * sizeof(float)) == 0;
}

// What the shared embedding store keeps (models/embedding_codec.hpp) against float16: counts of
// mask pixels that flip between our float32 maps and the same maps rounded to float16 through the
// codec, over every case of every image; "confident" where the float32 full-size logit is at
// least 0.02 from 0 (the SAM 1 test's margin, DecoderGolden.Float16StoredEmbeddingKeepsMasks).
struct Float16Effect {
    int64_t pixels = 0, flipped = 0, confident = 0, confident_flipped = 0, best_changes = 0;
    double lowres_max = 0, iou_max = 0, flipped_logit_max = 0;
    void add(const sam::Prediction& a, const sam::Prediction& b) {
        ASSERT_EQ(a.lowres.shape, b.lowres.shape);
        lowres_max = std::max(lowres_max, samtest::diff(a.lowres.data, b.lowres.data, a.lowres.numel()).max_abs);
        best_changes += a.best() != b.best();
        for (size_t m = 0; m < a.iou.size(); ++m) {
            iou_max = std::max(iou_max, double(std::fabs(a.iou[m] - b.iou[m])));
            const std::vector<uint8_t> ma = sam::binary_mask(a, int(m)), mb = sam::binary_mask(b, int(m));
            const std::vector<float> logit = upscaled(a.lowres.data + int64_t(m) * 65536, a.orig_w, a.orig_h);
            for (size_t i = 0; i < ma.size(); ++i) {
                const bool differ = ma[i] != mb[i], sure = std::fabs(logit[i]) >= 0.02f;
                pixels++;
                flipped += differ;
                confident += sure;
                confident_flipped += differ && sure;
                if (differ) flipped_logit_max = std::max(flipped_logit_max, double(std::fabs(logit[i])));
            }
        }
    }
};

// Image to masks with our encoder: every image's maps against the reference's statistics, and
// every case (photo against its end_to_end results, from the float32 reference maps).
// Refinement feeds our own earlier prediction back. The same encodings (seconds each) also show
// what the shared store does to them: it keeps SAM 2 embeddings in float32, bit for bit, because
// float16 flips confident pixels here (the counts are printed; docs/DECISIONS.md has them).
TEST_F(Sam2Golden, ImageToMasksMatchesReference) {
    Float16Effect half;
    for (const char* image : kImages) {
        const std::string dir = kCases + image + "/";
        const nlohmann::json cs = samtest::load_json(golden(dir + "case.json"));
        const sam::HieraFeatures& f = features(image);
        for (const auto& [map, stats] : {std::pair{&f.image_embed, "image_embed_stats"}, {&f.high_res_0, "high_res_0_stats"},
                                         {&f.high_res_1, "high_res_1_stats"}})
            expect_stats(map->data, map->numel(), cs[stats], 2e-5, std::string(image) + " " + stats);
        const sam::ImageEmbedding e = embedding_of(cs, f.image_embed, f.high_res_0, f.high_res_1);

        // The store's round trip: the copy the encoding replica keeps, and the value others read.
        ASSERT_EQ(sam::storage_precision(e), sam::EmbeddingPrecision::Float32);
        sam::ImageEmbedding kept = e;
        kept.features = e.features.clone(), kept.high_res_0 = e.high_res_0.clone(), kept.high_res_1 = e.high_res_1.clone();
        sam::round_embedding(kept, sam::storage_precision(e));
        const sam::ImageEmbedding read = sam::decode_embedding(sam::encode_embedding(e, "k", sam::storage_precision(e)), "k");
        for (const sam::ImageEmbedding* stored : std::initializer_list<const sam::ImageEmbedding*>{&kept, &read}) {
            EXPECT_TRUE(same_bits(stored->features, e.features)) << image;
            EXPECT_TRUE(same_bits(stored->high_res_0, e.high_res_0)) << image;
            EXPECT_TRUE(same_bits(stored->high_res_1, e.high_res_1)) << image;
        }
        const sam::ImageEmbedding f16 =
            sam::decode_embedding(sam::encode_embedding(e, "k", sam::EmbeddingPrecision::Float16), "k");

        std::map<std::string, std::pair<sam::Tensor, sam::Tensor>> best;  // each case's best low-res mask (float32, float16)
        for (const nlohmann::json& c : cs["cases"]) {
            const std::string name = std::string(image) + " " + c["name"].get<std::string>();
            const bool photo = std::string(image) == "photo";
            const nlohmann::json& ref = photo ? c["end_to_end"] : c;
            sam::Prompt p = samtest::case_prompt(c), p16 = p;
            if (refines(c)) p.mask_input = best.at(c["mask_input_from"]).first, p16.mask_input = best.at(c["mask_input_from"]).second;
            const sam::DecoderOutput all = decoder_->run_all(e, p);
            const sam::Sam2Choice choice = sam::sam2_choose_tokens(all.masks, all.iou, p.multimask);
            EXPECT_EQ(returned_tokens(choice), ref["returned_tokens"].get<std::vector<int>>()) << name;
            const sam::Prediction pred = decoder_->predict(e, p);
            ASSERT_EQ(pred.iou.size(), ref["iou_predictions"].size()) << name;
            for (size_t i = 0; i < pred.iou.size(); ++i)
                EXPECT_NEAR(pred.iou[i], ref["iou_predictions"][i].get<double>(), 2e-4) << name;
            for (size_t i = 0; i < pred.iou.size(); ++i) {
                const std::string png = photo ? "" : golden(dir + c["mask_files"][i].get<std::string>());
                const MaskDiff d = compare_mask(pred, int(i), png, 0.05f);
                const int64_t area = ref["mask_area"][i].get<int64_t>();
                std::printf("%s mask %zu: %lld pixels differ, %lld with |logit| > 0.05; area %lld, reference %lld\n",
                            name.c_str(), i, (long long)d.differ, (long long)d.confident, (long long)d.area,
                            (long long)area);
                EXPECT_EQ(d.confident, 0) << name << " mask " << i;
                EXPECT_LE(std::abs(d.area - area), ref["pixels_near_threshold"].get<int64_t>()) << name << " mask " << i;
            }
            // Each path refines with its own earlier answer, as a server would.
            const sam::Prediction pred16 = decoder_->predict(f16, p16);
            half.add(pred, pred16);
            best[c["name"]] = {pred.mask_input(pred.best()), pred16.mask_input(pred16.best())};
        }
    }
    std::printf("float16 storage, SAM 2.1 tiny, every case of every image: %lld of %lld mask pixels flipped, %lld of %lld "
                "confident ones (largest |float32 logit| of a flip %.3g); %lld best-mask changes; low-res logits "
                "max|diff| %.3g, IoU max|diff| %.3g\n",
                (long long)half.flipped, (long long)half.pixels, (long long)half.confident_flipped,
                (long long)half.confident, half.flipped_logit_max, (long long)half.best_changes, half.lowres_max,
                half.iou_max);
}

}  // namespace
