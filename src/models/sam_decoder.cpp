#include "models/sam_decoder.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include "models/prompt_points.hpp"
#include "tensor/ops.hpp"

namespace sam {

namespace {

void check_embedding(const ImageEmbedding& e) {
    const Tensor& f = e.features;
    if (!f.defined() || f.shape != Shape{kPromptDim, kEmbedSide, kEmbedSide})
        throw std::invalid_argument("SamDecoder: image embedding has shape " + f.shape_string() + ", expected [256, 64, 64]");
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
    const DecoderPoints points = decoder_points(embedding, prompt, /*pad_always=*/false);
    const Tensor sparse = prompt_.embed_points(points.xy, points.labels);

    const Tensor& mask = prompt.mask_input;
    if (mask.defined() && mask.shape != Shape{1, kMaskInputSide, kMaskInputSide})
        throw std::invalid_argument("SamDecoder: mask_input has shape " + mask.shape_string() +
                                    ", expected [1, 256, 256]");
    DecoderOutput d;
    if (mask.defined()) {
        const Tensor src = prompt_.decoder_src(embedding.features, mask.data);
        d = decoder_.run(src.data, image_pe_.data, sparse, prompt.multimask);
    } else {
        const auto side = last_->get({&embedding.features}, [&] {
            return decoder_.image_side(prompt_.decoder_src(embedding.features, nullptr), image_pe_.data);
        });
        d = decoder_.run(side->src.data, image_pe_.data, sparse, prompt.multimask, side->terms());
    }
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
