// The prompt-to-mask step of SAM run from the official ONNX decoder export (SamOnnxModel):
// prompts are turned into the export's inputs, orig_im_size is given per call so any image
// size works, and the export's own full-size `masks` output is returned.
#pragma once

#include <string>

#include "models/segmenter.hpp"
#include "onnx/graph.hpp"

namespace sam {

using onnx::OnnxError;

class OnnxDecoder {
public:
    // Loads and validates the graph: supported operators, the six inputs (image_embeddings,
    // point_coords, point_labels, mask_input, has_mask_input, orig_im_size) with their ranks,
    // the outputs masks, iou_predictions and low_res_masks; then runs it once on a blank prompt
    // so that anything wrong shows now, not at the first click. Throws OnnxError.
    static OnnxDecoder load(const std::string& path);

    // Prompt in original-image pixels. Returns iou, lowres [C,256,256] and full [C,orig_h,orig_w].
    // Multi-mask export: masks 1..3 when prompt.multimask, else mask 0.
    Prediction predict(const ImageEmbedding& embedding, const Prompt& prompt) const;
    bool multimask_export() const { return num_masks_ > 1; }

private:
    onnx::Graph graph_;
    int num_masks_ = 1;
    size_t out_masks_ = 0, out_iou_ = 0, out_lowres_ = 0;

    std::vector<onnx::Value> run(const ImageEmbedding& embedding, const Prompt& prompt) const;
};

}  // namespace sam
