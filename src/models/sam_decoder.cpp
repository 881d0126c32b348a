#include "models/sam_decoder.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/ops.hpp"

namespace sam {

namespace {

void check_embedding(const ImageEmbedding& e) {
    const Tensor& f = e.features;
    if (!f.defined() || f.shape != Shape{kPromptDim, kEmbedSide, kEmbedSide})
        throw std::invalid_argument("SamDecoder: image embedding has shape " + f.shape_string() + ", expected [256, 64, 64]");
    if (e.orig_w <= 0 || e.orig_h <= 0 || e.input_w <= 0 || e.input_h <= 0)
        throw std::invalid_argument("SamDecoder: image embedding has bad sizes: original " + std::to_string(e.orig_w) +
                                    "x" + std::to_string(e.orig_h) + ", input " + std::to_string(e.input_w) + "x" +
                                    std::to_string(e.input_h));
}

}  // namespace

SamDecoder SamDecoder::load(const io::Checkpoint& ckpt) {
    SamDecoder d;
    d.prompt_ = PromptEncoder::load(ckpt);
    d.decoder_ = MaskDecoder::load(ckpt);
    d.image_pe_ = d.prompt_.dense_pe();
    return d;
}

Prediction SamDecoder::predict(const ImageEmbedding& embedding, const Prompt& prompt) const {
    check_embedding(embedding);
    // ResizeLongestSide.apply_coords: scale factors in double, coordinates then used as float32.
    const double sx = static_cast<double>(embedding.input_w) / embedding.orig_w;
    const double sy = static_cast<double>(embedding.input_h) / embedding.orig_h;
    std::vector<float> xy;
    std::vector<int> labels;
    for (size_t i = 0; i < prompt.points.size(); ++i) {
        const PromptPoint& p = prompt.points[i];
        if (p.label != kNegative && p.label != kPositive)
            throw std::invalid_argument("SamDecoder: prompt point " + std::to_string(i) + " has label " +
                                        std::to_string(p.label) + ", expected 1 (positive) or 0 (negative)");
        xy.push_back(static_cast<float>(p.x * sx));
        xy.push_back(static_cast<float>(p.y * sy));
        labels.push_back(p.label);
    }
    // Like the reference prompt encoder: points without a box get a padding point; a box is two
    // labelled corners after the points.
    if (!prompt.points.empty() && !prompt.box) {
        xy.insert(xy.end(), {0.0f, 0.0f});
        labels.push_back(kPadPoint);
    }
    if (prompt.box) {
        const PromptBox& b = *prompt.box;
        xy.insert(xy.end(), {static_cast<float>(b.x0 * sx), static_cast<float>(b.y0 * sy),
                             static_cast<float>(b.x1 * sx), static_cast<float>(b.y1 * sy)});
        labels.push_back(kBoxTopLeft);
        labels.push_back(kBoxBottomRight);
    }
    const Tensor sparse = prompt_.embed_points(xy, labels);

    const Tensor& mask = prompt.mask_input;
    if (mask.defined() && mask.shape != Shape{1, kMaskInputSide, kMaskInputSide})
        throw std::invalid_argument("SamDecoder: mask_input has shape " + mask.shape_string() +
                                    ", expected [1, 256, 256]");
    // src = image embedding (token-major) + dense prompt embedding.
    Tensor src = prompt_.embed_mask(mask.defined() ? mask.data : nullptr);
    Tensor image = Tensor::empty({kEmbedTokens, kPromptDim});
    ops::transpose(embedding.features.data, kPromptDim, kEmbedTokens, image.data);
    ops::add(image.data, src.data, src.data, src.numel());

    DecoderOutput d = decoder_.run(src.data, image_pe_.data, sparse, prompt.multimask);
    Prediction out;
    out.iou = std::move(d.iou);
    out.lowres = std::move(d.masks);
    out.orig_w = embedding.orig_w;
    out.orig_h = embedding.orig_h;
    out.input_w = embedding.input_w;
    out.input_h = embedding.input_h;
    return out;
}

}  // namespace sam
