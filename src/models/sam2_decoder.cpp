#include "models/sam2_decoder.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "models/prompt_points.hpp"
#include "tensor/ops.hpp"
#include "tensor/profile.hpp"

namespace sam {

namespace {

constexpr int kTokens = 4;             // mask tokens
constexpr int kLowres = kMaskInputSide;  // 256
constexpr int kS0 = 32, kS1 = 64;      // channels of the high-resolution maps
constexpr float kStabilityDelta = 0.05f, kStabilityThresh = 0.98f;
constexpr float kMaskInputClamp = 32.0f;

void check_shape(const Tensor& t, const Shape& want, const char* what) {
    if (!t.defined() || t.shape != want)
        throw std::invalid_argument(std::string("Sam2Decoder: ") + what + " has shape " + t.shape_string() + ", expected " +
                                    shape_str(want) + (t.defined() ? "" : " (not a SAM 2 embedding)"));
}

// The channels-first high-resolution maps in the row order of the decoder's upscaling (see
// HighResFeatures): each output pixel's channels side by side.
void to_upscaling_order(const Tensor& hr1, const Tensor& hr0, float* s1, float* s0) {
    constexpr int64_t side1 = 2 * kEmbedSide, side0 = 4 * kEmbedSide;
#pragma omp parallel for schedule(static)
    for (int64_t Y = 0; Y < side1; ++Y)
        for (int64_t c = 0; c < kS1; ++c) {
            const float* src = hr1.data + (c * side1 + Y) * side1;
            for (int64_t X = 0; X < side1; ++X) {
                const int64_t block = ((Y / 2) * kEmbedSide + X / 2) * 4 + (Y % 2) * 2 + X % 2;
                s1[block * kS1 + c] = src[X];
            }
        }
#pragma omp parallel for schedule(static)
    for (int64_t Y = 0; Y < side0; ++Y)
        for (int64_t c = 0; c < kS0; ++c) {
            const float* src = hr0.data + (c * side0 + Y) * side0;
            for (int64_t X = 0; X < side0; ++X) {
                const int64_t block = ((Y / 4) * kEmbedSide + X / 4) * 4 + ((Y / 2) % 2) * 2 + (X / 2) % 2;
                s0[(block * 4 + (Y % 2) * 2 + X % 2) * kS0 + c] = src[X];
            }
        }
}

}  // namespace

Sam2Choice sam2_choose_tokens(const Tensor& logits, const std::vector<float>& iou, bool multimask) {
    if (logits.rank() != 3 || logits.dim(0) != kTokens || iou.size() != kTokens)
        throw std::invalid_argument("sam2_choose_tokens: expected the logits and IoUs of 4 mask tokens, got " +
                                    logits.shape_string() + " and " + std::to_string(iou.size()));
    if (multimask) return {1.0f, 1, kTokens - 1};
    const int64_t n = logits.dim(1) * logits.dim(2);
    int64_t above = 0, not_below = 0;
    for (int64_t i = 0; i < n; ++i) {
        above += logits.data[i] > kStabilityDelta;
        not_below += logits.data[i] > -kStabilityDelta;
    }
    Sam2Choice c;
    c.stability = not_below > 0 ? static_cast<float>(above) / static_cast<float>(not_below) : 1.0f;
    if (c.stability >= kStabilityThresh) return c;
    c.first = static_cast<int>(std::max_element(iou.begin() + 1, iou.end()) - iou.begin());
    return c;
}

Sam2Decoder Sam2Decoder::load(const io::Checkpoint& ckpt) {
    Sam2Decoder d;
    d.prompt_ = PromptEncoder::load(ckpt, "sam_prompt_encoder.");
    d.decoder_ = MaskDecoder::load(ckpt, DecoderKind::Sam2);
    d.image_pe_ = d.prompt_.dense_pe();
    return d;
}

DecoderOutput Sam2Decoder::run_all(const ImageEmbedding& embedding, const Prompt& prompt) const {
    check_shape(embedding.features, {kPromptDim, kEmbedSide, kEmbedSide}, "image embedding");
    check_shape(embedding.high_res_0, {kS0, 4 * kEmbedSide, 4 * kEmbedSide}, "high_res_0");
    check_shape(embedding.high_res_1, {kS1, 2 * kEmbedSide, 2 * kEmbedSide}, "high_res_1");
    const DecoderPoints points = sam2_decoder_points(embedding, prompt);
    const Tensor sparse = prompt_.embed_points(points.xy, points.labels);

    const Tensor& mask = prompt.mask_input;
    Tensor clamped;
    if (mask.defined()) {
        if (mask.shape != Shape{1, kLowres, kLowres})
            throw std::invalid_argument("Sam2Decoder: mask_input has shape " + mask.shape_string() +
                                        ", expected [1, 256, 256]");
        clamped = Tensor::empty(mask.shape);
        for (int64_t i = 0; i < mask.numel(); ++i)
            clamped.data[i] = std::clamp(mask.data[i], -kMaskInputClamp, kMaskInputClamp);
    }
    const auto side = last_->get({&embedding.features, &embedding.high_res_0, &embedding.high_res_1},
                                 [&] { return image_side(embedding); });
    const HighResFeatures high_res{side->s1.data, side->s0.data};
    if (!clamped.defined())
        return decoder_.run(side->decoder.src.data, image_pe_.data, sparse, 0, kTokens, &high_res,
                            side->decoder.terms());
    const Tensor src = prompt_.decoder_src(embedding.features, clamped.data);
    return decoder_.run(src.data, image_pe_.data, sparse, 0, kTokens, &high_res);
}

Sam2Decoder::ImageSide Sam2Decoder::image_side(const ImageEmbedding& embedding) const {
    ImageSide side;
    side.decoder = decoder_.image_side(prompt_.decoder_src(embedding.features, nullptr), image_pe_.data);
    side.s1 = Tensor::empty({4 * kEmbedTokens, kS1});
    side.s0 = Tensor::empty({16 * kEmbedTokens, kS0});
    profile::Scope scope("decoder.high_res_order");
    to_upscaling_order(embedding.high_res_1, embedding.high_res_0, side.s1.data, side.s0.data);
    return side;
}

Prediction Sam2Decoder::predict(const ImageEmbedding& embedding, const Prompt& prompt) const {
    const DecoderOutput d = run_all(embedding, prompt);
    const Sam2Choice choice = sam2_choose_tokens(d.masks, d.iou, prompt.multimask);
    Prediction out;
    out.iou.assign(d.iou.begin() + choice.first, d.iou.begin() + choice.first + choice.count);
    const int64_t plane = int64_t(kLowres) * kLowres;
    out.lowres = Tensor::empty({choice.count, kLowres, kLowres});
    std::copy(d.masks.data + choice.first * plane, d.masks.data + (choice.first + choice.count) * plane,
              out.lowres.data);
    out.orig_w = embedding.orig_w;
    out.orig_h = embedding.orig_h;
    out.input_w = embedding.input_w;
    out.input_h = embedding.input_h;
    out.square_resize = true;
    return out;
}

}  // namespace sam
