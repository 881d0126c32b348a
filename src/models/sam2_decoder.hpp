// SAM 2's prompt encoder + mask decoder as SAM2ImagePredictor.predict runs them on an embedded
// image: box corners before the points and a padding point always; the decoder with its
// object-score token, the high-resolution maps in the upscaling and a sigmoid IoU; the choice
// among the four mask tokens (multimask: tokens 1..3; otherwise token 0 unless its logits are
// unstable, then the best of 1..3).
#pragma once

#include <memory>

#include "io/checkpoint.hpp"
#include "models/last_image_cache.hpp"
#include "models/mask_decoder.hpp"
#include "models/prompt_encoder.hpp"
#include "models/segmenter.hpp"

namespace sam {

// Which tokens a prediction returns (exposed for tests).
struct Sam2Choice {
    float stability = 1;  // of token 0's logits (single-mask calls)
    int first = 0, count = 1;
};

// dynamic_multimask_via_stability: stability = #(logit > 0.05) / #(logit > -0.05) of token 0's
// logits (1 when none is above -0.05); at least 0.98 keeps token 0, else the token among 1..3 with
// the highest IoU. `logits` are the four tokens' [4, 256, 256], `iou` their four IoUs.
Sam2Choice sam2_choose_tokens(const Tensor& logits, const std::vector<float>& iou, bool multimask);

class Sam2Decoder {
public:
    // Reads sam_prompt_encoder.* and sam_mask_decoder.* (the video-only pred_obj_score_head is
    // not needed); CheckpointError names a missing or misshapen key.
    static Sam2Decoder load(const io::Checkpoint& ckpt);

    // Needs the embedding's features and both high-resolution maps. Returns the chosen masks'
    // IoUs and low-res logits [C, 256, 256] with square_resize set. The logits are the decoder's
    // own, not clamped: the reference makes its masks from those, and clamps (to [-32, 32]) only
    // the copy it returns for use as a later mask input, so mask_input is clamped here instead.
    // Throws std::invalid_argument on a bad embedding, label or mask_input shape. Thread-safe.
    Prediction predict(const ImageEmbedding& embedding, const Prompt& prompt) const;
    // The decoder's output for all four mask tokens ([4, 256, 256] logits, 4 IoUs), before the
    // choice; predict() is run_all() + sam2_choose_tokens().
    DecoderOutput run_all(const ImageEmbedding& embedding, const Prompt& prompt) const;

private:
    // What every click on an image needs from its embedding, kept for the image clicked last
    // (24 MB): the no-mask decoder input and its DecoderImageTerms, and the high-resolution maps
    // in the upscaling's order.
    struct ImageSide {
        DecoderImageSide decoder;
        Tensor s1, s0;  // HighResFeatures
    };
    ImageSide image_side(const ImageEmbedding& embedding) const;

    PromptEncoder prompt_;
    MaskDecoder decoder_;
    Tensor image_pe_;  // [4096, 256] get_dense_pe, token-major
    std::shared_ptr<LastImageCache<ImageSide>> last_ = std::make_shared<LastImageCache<ImageSide>>();
};

}  // namespace sam
