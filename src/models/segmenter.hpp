// What the server needs from a Segment Anything model, and nothing about its insides:
// an image in, an embedding out (cacheable); an embedding and a prompt in, masks out.
// Implementations: Predictor (native encoder + SAM or ONNX decoder), Sam2Predictor (SAM 2).
// All methods are safe to call from several threads at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/image.hpp"
#include "tensor/tensor.hpp"

namespace sam {

// Coordinates are in original-image pixels (floats, not truncated).
struct PromptPoint {
    float x = 0, y = 0;
    int label = 1;  // 1 positive, 0 negative
};
struct PromptBox {
    float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};
struct Prompt {
    std::vector<PromptPoint> points;
    std::optional<PromptBox> box;
    // Low-res logits [1, 256, 256] of an earlier prediction (refinement), or undefined.
    Tensor mask_input;
    bool multimask = false;
};

struct ImageEmbedding {
    Tensor features;             // [256, 64, 64]
    // SAM 2 only (undefined otherwise): the decoder's high-resolution feature maps,
    // [32, 256, 256] (stride 4) and [64, 128, 128] (stride 8).
    Tensor high_res_0, high_res_1;
    int orig_w = 0, orig_h = 0;  // the image as the viewer shows it
    int input_w = 0, input_h = 0;  // the encoder's input size before padding (1024 on the long side; SAM 2: 1024x1024)
    size_t bytes() const {
        auto n = [](const Tensor& t) { return t.defined() ? static_cast<size_t>(t.numel()) : size_t{0}; };
        return (n(features) + n(high_res_0) + n(high_res_1)) * sizeof(float);
    }
};

struct Prediction {
    std::vector<float> iou;  // one predicted IoU per mask
    Tensor lowres;           // [C, 256, 256] logits
    // [C, orig_h, orig_w] logits when the backend computes them itself (ONNX export);
    // otherwise undefined and masks come from upscaling `lowres`.
    Tensor full;
    int orig_w = 0, orig_h = 0, input_w = 0, input_h = 0;
    // How `lowres` maps onto the image. false (SAM): the encoder saw the image resized to
    // input_w x input_h inside the 1024 frame, so the logits are upscaled to 1024, cropped to that
    // and upscaled to the original size. true (SAM 2): the encoder saw the whole image squeezed to
    // 1024x1024 (input_w = input_h = 1024), so the logits go straight to the original size.
    bool square_resize = false;
    int best() const;  // index of the highest IoU
    // Mask `index`'s low-res logits as a copy of shape [1, 256, 256], ready to be the next
    // prompt's mask_input (refinement); undefined when the backend gave no low-res logits.
    // Throws std::out_of_range for a mask index the prediction does not have.
    Tensor mask_input(int index) const;
};

class Segmenter {
public:
    virtual ~Segmenter() = default;
    virtual ImageEmbedding embed(const RgbImage& image) const = 0;
    virtual Prediction predict(const ImageEmbedding& embedding, const Prompt& prompt) const = 0;
    // e.g. "MobileSAM (TinyViT-5M)", "SAM ViT-H", "ONNX decoder + MobileSAM encoder"
    virtual std::string description() const = 0;
    // Names the weights an embedding depends on (architecture and checkpoint identity), so
    // embeddings shared between processes (a Redis store) never mix two models. Stable across
    // restarts for the same file; empty when unknown (then nothing is shared).
    virtual std::string model_key() const { return ""; }
};

}  // namespace sam
