// Prompt encoder + mask decoder: what SamPredictor.predict does once the image is embedded.
// Shared by MobileSAM and SAM ViT (same key names under prompt_encoder. and mask_decoder.).
#pragma once

#include <memory>

#include "io/checkpoint.hpp"
#include "models/last_image_cache.hpp"
#include "models/mask_decoder.hpp"
#include "models/prompt_encoder.hpp"
#include "models/segmenter.hpp"

namespace sam {

class SamDecoder {
public:
    // Reads and validates every prompt_encoder.* / mask_decoder.* tensor (CheckpointError names a
    // missing key or a wrong shape) and precomputes the dense positional encoding.
    static SamDecoder load(const io::Checkpoint& ckpt);

    // Points and box in original-image pixels, scaled to the resized frame like
    // ResizeLongestSide.apply_coords. Returns the IoU predictions and low-res logits [C, 256, 256]:
    // the 3 masks of tokens 1..3 when prompt.multimask, else token 0's mask. Throws
    // std::invalid_argument on a bad embedding, label or mask_input shape. Thread-safe.
    Prediction predict(const ImageEmbedding& embedding, const Prompt& prompt) const;

private:
    // The decoder's image-side input for clicks without a mask input: the same for every click
    // on an image, so it is kept for the image clicked last (12 MB).
    using ImageSide = DecoderImageSide;

    PromptEncoder prompt_;
    MaskDecoder decoder_;
    Tensor image_pe_;  // [4096, 256] get_dense_pe, token-major
    std::shared_ptr<LastImageCache<ImageSide>> last_ = std::make_shared<LastImageCache<ImageSide>>();
};

}  // namespace sam
