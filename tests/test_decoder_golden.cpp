// Prompt encoder + mask decoder against the reference: the reference image embeddings and
// prompts in, low-res logits, IoU predictions and final masks compared with the golden outputs
// of MobileSAM and the SAM ViT architecture (different decoder weights).
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <memory>
#include <stdexcept>
#include <unistd.h>

#include "io/checkpoint.hpp"
#include "io/zip_archive.hpp"
#include "models/embedding_codec.hpp"
#include "models/mask_decoder.hpp"
#include "models/mask_postprocess.hpp"
#include "models/prompt_encoder.hpp"
#include "models/sam_decoder.hpp"
#include "support/golden.hpp"

namespace {

using samtest::golden;

const std::map<std::string, std::string> kCheckpoints = {
    {"mobile_sam", "checkpoints/mobile_sam_random.pt"},
    {"sam_vit_mini", "checkpoints/sam_vit_mini_random.pth"},
};

const sam::SamDecoder& decoder_for(const std::string& model) {
    static std::map<std::string, std::unique_ptr<sam::SamDecoder>> cache;
    auto& d = cache[model];
    if (!d) {
        sam::io::Checkpoint ckpt = sam::io::Checkpoint::open(golden(kCheckpoints.at(model)));
        d = std::make_unique<sam::SamDecoder>(sam::SamDecoder::load(ckpt));
    }
    return *d;
}

struct CaseParam {
    std::string model, image;
};
void PrintTo(const CaseParam& p, std::ostream* os) { *os << p.model << "/" << p.image; }
std::string case_name(const testing::TestParamInfo<CaseParam>& info) {
    return info.param.model + "_" + info.param.image;
}

class DecoderGolden : public testing::TestWithParam<CaseParam> {};

TEST_P(DecoderGolden, MatchesReference) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    const CaseParam& param = GetParam();
    const std::string dir = golden("cases/" + param.model + "/" + param.image + "/");
    const nlohmann::json info = samtest::load_json(dir + "case.json");
    const sam::ImageEmbedding embedding = samtest::golden_embedding(dir, info);
    const sam::SamDecoder& decoder = decoder_for(param.model);

    for (const auto& c : info["cases"]) {
        const std::string name = c["name"];
        SCOPED_TRACE(param.model + "/" + param.image + "/" + name);
        const sam::Prediction pred = decoder.predict(embedding, samtest::golden_prompt(dir, info, c));

        // Low-res logits and IoU predictions.
        const sam::Tensor ref = samtest::load_npy(dir + c["lowres_file"].get<std::string>());
        ASSERT_EQ(pred.lowres.shape, ref.shape);
        float scale = 0;
        for (int64_t i = 0; i < ref.numel(); ++i) scale = std::max(scale, std::fabs(ref.data[i]));
        const samtest::DiffStats d = samtest::diff(pred.lowres.data, ref.data, ref.numel());
        std::printf("%s/%s/%s: lowres max|diff| %.3g (scale %.3g), mean %.3g\n", param.model.c_str(),
                    param.image.c_str(), name.c_str(), d.max_abs, scale, d.mean_abs);
        // Measured: at most 6e-6 against scales of 2 to 6.
        EXPECT_LT(d.max_abs, 1e-4 * scale);
        ASSERT_EQ(pred.iou.size(), c["iou_predictions"].size());
        for (size_t m = 0; m < pred.iou.size(); ++m)
            EXPECT_NEAR(pred.iou[m], c["iou_predictions"][m].get<double>(), 1e-4) << "mask " << m;

        // End to end: our masks against the reference masks on pixels whose reference logit is
        // clearly away from 0.
        ASSERT_EQ(pred.orig_w, embedding.orig_w);
        ASSERT_EQ(pred.orig_h, embedding.orig_h);
        for (size_t m = 0; m < c["mask_files"].size(); ++m) {
            const samtest::GrayImage want = samtest::load_png_gray(dir + c["mask_files"][m].get<std::string>());
            const std::vector<uint8_t> got = sam::binary_mask(pred, static_cast<int>(m));
            const std::vector<double> logit =
                samtest::full_logits(ref.data + m * 256 * 256, pred.input_h, pred.input_w, pred.orig_h, pred.orig_w);
            ASSERT_EQ(got.size(), want.pixels.size());
            int64_t compared = 0, mismatches = 0;
            for (size_t i = 0; i < got.size(); ++i) {
                if (std::fabs(logit[i]) < 0.02) continue;
                ++compared;
                mismatches += got[i] != (want.pixels[i] > 127);
            }
            EXPECT_EQ(mismatches, 0) << "mask " << m << ", " << compared << " pixels compared";
            EXPECT_GT(compared, static_cast<int64_t>(got.size()) / 4) << "mask " << m;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Golden, DecoderGolden,
                         testing::Values(CaseParam{"mobile_sam", "photo"}, CaseParam{"mobile_sam", "exif_rotated"},
                                         CaseParam{"sam_vit_mini", "photo"},
                                         CaseParam{"sam_vit_mini", "exif_rotated"}),
                         case_name);

// The shared embedding store keeps SAM 1 embeddings in float16 (models/embedding_codec.hpp,
// storage_precision; SAM 2's are float32: Sam2Golden.ImageToMasksMatchesReference). An embedding
// through that value must give the float32 path's masks on every pixel whose float32 full-size
// logit is at least 0.02 from 0 (the margin of MatchesReference), the same best mask for
// ambiguous prompts, and IoUs within 1e-3. The counts of flipped pixels, confident or not, are printed.
TEST_P(DecoderGolden, Float16StoredEmbeddingKeepsMasks) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    const CaseParam& param = GetParam();
    const std::string dir = golden("cases/" + param.model + "/" + param.image + "/");
    const nlohmann::json info = samtest::load_json(dir + "case.json");
    const sam::ImageEmbedding f32 = samtest::golden_embedding(dir, info);
    ASSERT_EQ(sam::storage_precision(f32), sam::EmbeddingPrecision::Float16);
    const std::string value = sam::encode_embedding(f32, "test", sam::storage_precision(f32));
    const sam::ImageEmbedding f16 = sam::decode_embedding(value, "test");
    const sam::SamDecoder& decoder = decoder_for(param.model);

    int64_t pixels = 0, flipped = 0, confident = 0, confident_flipped = 0;
    double lowres_max = 0, iou_max = 0;
    for (const auto& c : info["cases"]) {
        SCOPED_TRACE(c["name"].get<std::string>());
        const sam::Prompt prompt = samtest::golden_prompt(dir, info, c);
        const sam::Prediction a = decoder.predict(f32, prompt), b = decoder.predict(f16, prompt);
        ASSERT_EQ(a.lowres.shape, b.lowres.shape);
        lowres_max = std::max(lowres_max, samtest::diff(a.lowres.data, b.lowres.data, a.lowres.numel()).max_abs);
        for (size_t m = 0; m < a.iou.size(); ++m) iou_max = std::max(iou_max, double(std::fabs(a.iou[m] - b.iou[m])));
        EXPECT_EQ(a.best(), b.best());
        for (int m = 0; m < static_cast<int>(a.iou.size()); ++m) {
            const std::vector<uint8_t> ma = sam::binary_mask(a, m), mb = sam::binary_mask(b, m);
            const std::vector<double> logit =
                samtest::full_logits(a.lowres.data + m * 256 * 256, a.input_h, a.input_w, a.orig_h, a.orig_w);
            for (size_t i = 0; i < ma.size(); ++i) {
                const bool differ = ma[i] != mb[i], sure = std::fabs(logit[i]) >= 0.02;
                pixels++;
                flipped += differ;
                confident += sure;
                confident_flipped += differ && sure;
            }
        }
    }
    std::printf("float16 %s/%s: %zu value bytes (float32 %zu); %lld of %lld mask pixels flipped, %lld of %lld "
                "confident ones; low-res logits max|diff| %.3g, IoU max|diff| %.3g\n",
                param.model.c_str(), param.image.c_str(), value.size(), f32.bytes(), (long long)flipped,
                (long long)pixels, (long long)confident_flipped, (long long)confident, lowres_max, iou_max);
    EXPECT_EQ(confident_flipped, 0);
    EXPECT_GT(confident, pixels / 2);
    EXPECT_LT(iou_max, 1e-3);
}

// Clicks of several annotators run at once: each must get exactly what it gets alone (oneDNN
// primitives are shared between threads; their scratch memory must not be).
TEST(DecoderConcurrency, PredictionsAtOnceEqualPredictionsAlone) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    const std::string dir = golden("cases/mobile_sam/photo/");
    const nlohmann::json info = samtest::load_json(dir + "case.json");
    const sam::ImageEmbedding embedding = samtest::golden_embedding(dir, info);
    const sam::SamDecoder& decoder = decoder_for("mobile_sam");
    std::vector<sam::Prompt> prompts;
    std::vector<sam::Prediction> alone;
    for (const auto& c : info["cases"]) {
        prompts.push_back(samtest::golden_prompt(dir, info, c));
        alone.push_back(decoder.predict(embedding, prompts.back()));
    }
    std::atomic<int> differing{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int k = 0; k < 3; ++k) {
                const size_t i = static_cast<size_t>(t + k) % prompts.size();
                const sam::Prediction p = decoder.predict(embedding, prompts[i]);
                differing += p.lowres.shape != alone[i].lowres.shape ||
                             std::memcmp(p.lowres.data, alone[i].lowres.data, p.lowres.numel() * sizeof(float)) != 0;
            }
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(differing, 0);
}

TEST(DecoderInputs, BadPromptsThrow) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    const sam::SamDecoder& decoder = decoder_for("mobile_sam");
    sam::ImageEmbedding e;
    e.features = sam::Tensor::zeros({256, 64, 64});
    e.orig_w = 100;
    e.orig_h = 50;
    e.input_w = 1024;
    e.input_h = 512;
    sam::Prompt p;
    p.points.push_back({10, 10, 1});
    EXPECT_EQ(decoder.predict(e, p).lowres.shape, (sam::Shape{1, 256, 256}));

    sam::Prompt bad_label = p;
    bad_label.points.push_back({5, 5, 2});
    EXPECT_THROW(decoder.predict(e, bad_label), std::invalid_argument);

    sam::Prompt bad_mask = p;
    bad_mask.mask_input = sam::Tensor::zeros({256, 256});
    EXPECT_THROW(decoder.predict(e, bad_mask), std::invalid_argument);

    sam::ImageEmbedding bad_embedding = e;
    bad_embedding.features = sam::Tensor::zeros({1, 256, 64, 64});
    EXPECT_THROW(decoder.predict(bad_embedding, p), std::invalid_argument);
    bad_embedding = e;
    bad_embedding.orig_w = 0;
    EXPECT_THROW(decoder.predict(bad_embedding, p), std::invalid_argument);
}

// A copy of the SAM ViT checkpoint whose pickle names one decoder tensor differently (same
// length, CRC fixed up): loading must fail with a CheckpointError that names the missing key.
TEST(DecoderLoad, MissingKeyIsNamed) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    const std::string src = golden(kCheckpoints.at("sam_vit_mini"));
    const std::string key = "mask_decoder.iou_token.weight";
    std::string bytes = samtest::read_file(src);
    const sam::io::ZipArchive zip = sam::io::ZipArchive::open(src);
    const sam::io::ZipArchive::Entry* pkl = nullptr;
    for (const auto& e : zip.entries())
        if (e.name.size() >= 8 && e.name.compare(e.name.size() - 8, 8, "data.pkl") == 0) pkl = &e;
    ASSERT_NE(pkl, nullptr);
    const size_t at = bytes.find(key, pkl->data_offset);
    ASSERT_LT(at + key.size(), pkl->data_offset + pkl->size);
    bytes[at + key.size() - 1] = 'X';
    const uint32_t crc = static_cast<uint32_t>(
        crc32_z(0, reinterpret_cast<const Bytef*>(bytes.data() + pkl->data_offset), pkl->size));
    // The central directory header of data.pkl: signature, then the CRC at offset 16, name at 46.
    const size_t name_at = bytes.rfind(pkl->name);
    ASSERT_NE(name_at, std::string::npos);
    const size_t header = name_at - 46;
    ASSERT_EQ(std::memcmp(bytes.data() + header, "PK\x01\x02", 4), 0);
    for (int i = 0; i < 4; ++i) bytes[header + 16 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);

    const std::string path = (std::filesystem::temp_directory_path() /
                              ("sam_decoder_missing_key_" + std::to_string(getpid()) + ".pth"))
                                 .string();
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    bytes.clear();
    try {
        const sam::io::Checkpoint ckpt = sam::io::Checkpoint::open(path);
        EXPECT_TRUE(ckpt.contains(key.substr(0, key.size() - 1) + "X"));
        sam::SamDecoder::load(ckpt);
        ADD_FAILURE() << "load succeeded without " << key;
    } catch (const sam::io::CheckpointError& e) {
        EXPECT_NE(std::string(e.what()).find("'" + key + "'"), std::string::npos) << e.what();
    }
    std::filesystem::remove(path);
}

}  // namespace

// MaskDecoder::run with DecoderImageTerms takes the first upscaling back through the last two
// image-token norms (a [4096, 112] product instead of [4096, 256] x [256, 256]); without them it
// multiplies directly. Both must give the same masks, for SAM (no high-resolution maps) and SAM 2
// (with them), also for image tokens far from zero mean, where the fold subtracts large terms.
TEST(DecoderFolds, FoldedUpscalingEqualsTheDirectProduct) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    struct Model {
        std::string file, prefix;
        sam::DecoderKind kind;
    };
    for (const Model& m : {Model{"checkpoints/mobile_sam_random.pt", "prompt_encoder.", sam::DecoderKind::Sam},
                           Model{"checkpoints/sam2.1_hiera_tiny_random.pt", "sam_prompt_encoder.", sam::DecoderKind::Sam2}}) {
        SCOPED_TRACE(m.file);
        const sam::io::Checkpoint ckpt = sam::io::Checkpoint::open(golden(m.file));
        const sam::PromptEncoder prompt = sam::PromptEncoder::load(ckpt, m.prefix);
        const sam::MaskDecoder decoder = sam::MaskDecoder::load(ckpt, m.kind);
        const sam::Tensor pos = prompt.dense_pe();
        const sam::Tensor sparse = prompt.embed_points({300, 400, 700, 200}, {1, 0});
        sam::Tensor s1 = sam::Tensor::empty({4 * 4096, 64}), s0 = sam::Tensor::empty({16 * 4096, 32});
        uint32_t seed = 7;
        auto noise = [&] { return static_cast<float>((seed = seed * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f; };
        for (int64_t i = 0; i < s1.numel(); ++i) s1.data[i] = noise();
        for (int64_t i = 0; i < s0.numel(); ++i) s0.data[i] = noise();
        const sam::HighResFeatures hr{s1.data, s0.data};
        const sam::HighResFeatures* high_res = m.kind == sam::DecoderKind::Sam2 ? &hr : nullptr;
        for (const float offset : {0.0f, 20.0f}) {
            SCOPED_TRACE("offset " + std::to_string(offset));
            sam::Tensor features = sam::Tensor::empty({256, 64, 64});
            for (int64_t i = 0; i < features.numel(); ++i) features.data[i] = 2 * noise() + offset;
            const sam::DecoderImageSide side = decoder.image_side(prompt.decoder_src(features, nullptr), pos.data);
            const sam::DecoderOutput folded = decoder.run(side.src.data, pos.data, sparse, 0, 4, high_res, side.terms());
            const sam::DecoderOutput direct = decoder.run(side.src.data, pos.data, sparse, 0, 4, high_res);
            float scale = 0;
            for (int64_t i = 0; i < direct.masks.numel(); ++i) scale = std::max(scale, std::fabs(direct.masks.data[i]));
            ASSERT_EQ(folded.masks.shape, direct.masks.shape);
            EXPECT_LT(samtest::diff(folded.masks.data, direct.masks.data, direct.masks.numel()).max_abs, 1e-5 * scale);
            for (size_t k = 0; k < direct.iou.size(); ++k) EXPECT_NEAR(folded.iou[k], direct.iou[k], 1e-5);
        }
    }
}
