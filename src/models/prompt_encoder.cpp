#include "models/prompt_encoder.hpp"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "tensor/ops.hpp"

namespace sam {

namespace {

constexpr int kFreqs = kPromptDim / 2;
constexpr float kTwoPi = 6.28318530717958647692f;
constexpr float kNorm2dEps = 1e-6f;  // LayerNorm2d

// A 2x2 stride-2 convolution, channels-last: x [2h, 2w, cin] -> y [h, w, cout]; weight [cout, cin, 2, 2].
void conv2x2_s2(const float* x, int h, int w, int cin, const Tensor& weight, const Tensor& bias, float* y) {
    const int cout = static_cast<int>(weight.dim(0));
    const float* wt = weight.data;
    for (int yy = 0; yy < h; ++yy)
        for (int xx = 0; xx < w; ++xx) {
            float* out = y + (static_cast<size_t>(yy) * w + xx) * cout;
            for (int co = 0; co < cout; ++co) {
                float acc = bias.data[co];
                for (int ci = 0; ci < cin; ++ci)
                    for (int dy = 0; dy < 2; ++dy)
                        for (int dx = 0; dx < 2; ++dx)
                            acc += wt[((co * cin + ci) * 2 + dy) * 2 + dx] *
                                   x[((static_cast<size_t>(2 * yy + dy) * 2 * w) + 2 * xx + dx) * cin + ci];
                out[co] = acc;
            }
        }
}

}  // namespace

PromptEncoder PromptEncoder::load(const io::Checkpoint& ckpt, const std::string& p) {
    PromptEncoder e;
    e.pe_gaussian = ckpt.get(p + "pe_layer.positional_encoding_gaussian_matrix", {2, kFreqs});
    for (int i = 0; i < 4; ++i)
        e.point_embed[i] = ckpt.get(p + "point_embeddings." + std::to_string(i) + ".weight", {1, kPromptDim});
    e.not_a_point_embed = ckpt.get(p + "not_a_point_embed.weight", {1, kPromptDim});
    e.no_mask_embed = ckpt.get(p + "no_mask_embed.weight", {1, kPromptDim});
    e.down0_w = ckpt.get(p + "mask_downscaling.0.weight", {4, 1, 2, 2});
    e.down0_b = ckpt.get(p + "mask_downscaling.0.bias", {4});
    e.norm0_w = ckpt.get(p + "mask_downscaling.1.weight", {4});
    e.norm0_b = ckpt.get(p + "mask_downscaling.1.bias", {4});
    e.down1_w = ckpt.get(p + "mask_downscaling.3.weight", {16, 4, 2, 2});
    e.down1_b = ckpt.get(p + "mask_downscaling.3.bias", {16});
    e.norm1_w = ckpt.get(p + "mask_downscaling.4.weight", {16});
    e.norm1_b = ckpt.get(p + "mask_downscaling.4.bias", {16});
    e.down2_w = ckpt.get(p + "mask_downscaling.6.weight", {kPromptDim, 16, 1, 1}).reshaped({kPromptDim, 16});
    e.down2_b = ckpt.get(p + "mask_downscaling.6.bias", {kPromptDim});
    return e;
}

void PromptEncoder::encode(const float* xy01, int n, float* out) const {
    const float* g0 = pe_gaussian.data;
    const float* g1 = pe_gaussian.data + kFreqs;
    for (int i = 0; i < n; ++i) {
        const float x = 2.0f * xy01[2 * i] - 1.0f;
        const float y = 2.0f * xy01[2 * i + 1] - 1.0f;
        float* o = out + static_cast<size_t>(i) * kPromptDim;
        for (int j = 0; j < kFreqs; ++j) {
            const float f = (x * g0[j] + y * g1[j]) * kTwoPi;
            o[j] = std::sin(f);
            o[kFreqs + j] = std::cos(f);
        }
    }
}

Tensor PromptEncoder::dense_pe() const {
    std::vector<float> xy(2 * kEmbedTokens);
    for (int y = 0; y < kEmbedSide; ++y)
        for (int x = 0; x < kEmbedSide; ++x) {
            xy[2 * (y * kEmbedSide + x)] = (static_cast<float>(x) + 0.5f) / kEmbedSide;
            xy[2 * (y * kEmbedSide + x) + 1] = (static_cast<float>(y) + 0.5f) / kEmbedSide;
        }
    Tensor pe = Tensor::empty({kEmbedTokens, kPromptDim});
    encode(xy.data(), kEmbedTokens, pe.data);
    return pe;
}

Tensor PromptEncoder::embed_points(const std::vector<float>& xy, const std::vector<int>& labels) const {
    const int n = static_cast<int>(labels.size());
    if (xy.size() != 2 * labels.size())
        throw std::invalid_argument("embed_points: " + std::to_string(xy.size()) + " coordinates for " +
                                    std::to_string(n) + " labels");
    Tensor out = Tensor::empty({n, kPromptDim});
    for (int i = 0; i < n; ++i) {
        float* o = out.data + static_cast<size_t>(i) * kPromptDim;
        const int label = labels[i];
        if (label == kPadPoint) {
            std::memcpy(o, not_a_point_embed.data, kPromptDim * sizeof(float));
            continue;
        }
        if (label < kNegative || label > kBoxBottomRight)
            throw std::invalid_argument("embed_points: point " + std::to_string(i) + " has label " +
                                        std::to_string(label) + ", expected -1, 0, 1, 2 or 3");
        // Shift to the pixel centre, then normalise by the input frame.
        const float p01[2] = {(xy[2 * i] + 0.5f) / kInputSide, (xy[2 * i + 1] + 0.5f) / kInputSide};
        encode(p01, 1, o);
        const float* add = point_embed[label].data;
        for (int c = 0; c < kPromptDim; ++c) o[c] += add[c];
    }
    return out;
}

Tensor PromptEncoder::embed_mask(const float* mask) const {
    Tensor out = Tensor::empty({kEmbedTokens, kPromptDim});
    if (!mask) {
        for (int t = 0; t < kEmbedTokens; ++t)
            std::memcpy(out.data + static_cast<size_t>(t) * kPromptDim, no_mask_embed.data, kPromptDim * sizeof(float));
        return out;
    }
    constexpr int h1 = kMaskInputSide / 2, h2 = kMaskInputSide / 4;
    static_assert(h2 == kEmbedSide, "two stride-2 convolutions bring the mask to the embedding grid");
    std::vector<float> a(static_cast<size_t>(h1) * h1 * 4), b(static_cast<size_t>(h2) * h2 * 16);
    conv2x2_s2(mask, h1, h1, 1, down0_w, down0_b, a.data());
    ops::layer_norm(a.data(), h1 * h1, 4, norm0_w.data, norm0_b.data, kNorm2dEps, a.data());
    ops::gelu(a.data(), static_cast<int64_t>(a.size()));
    conv2x2_s2(a.data(), h2, h2, 4, down1_w, down1_b, b.data());
    ops::layer_norm(b.data(), h2 * h2, 16, norm1_w.data, norm1_b.data, kNorm2dEps, b.data());
    ops::gelu(b.data(), static_cast<int64_t>(b.size()));
    ops::linear(b.data(), kEmbedTokens, down2_w, down2_b, out.data);
    return out;
}

Tensor PromptEncoder::decoder_src(const Tensor& features, const float* mask) const {
    Tensor src = embed_mask(mask);
    Tensor image = Tensor::empty({kEmbedTokens, kPromptDim});
    ops::transpose(features.data, kPromptDim, kEmbedTokens, image.data);
    ops::add(image.data, src.data, src.data, src.numel());
    return src;
}

}  // namespace sam
