// The prompt-to-mask step of SAM run from the official ONNX decoder export (SamOnnxModel):
// prompts are turned into the export's inputs and orig_im_size is given per call so any image
// size works. Per click only iou_predictions and low_res_masks are computed: the export's
// full-size `masks` is the reference's two bilinear upscalings of low_res_masks, which
// binary_mask does row by row for the one mask the server returns (computing all of them at
// full size costs more than the decoder itself).
#pragma once

#include <memory>
#include <mutex>
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

    // Prompt in original-image pixels. Returns iou and lowres [C,256,256] (`full` undefined).
    // Multi-mask export: masks 1..3 when prompt.multimask, else mask 0.
    Prediction predict(const ImageEmbedding& embedding, const Prompt& prompt) const;
    bool multimask_export() const { return num_masks_ > 1; }
    const onnx::Graph& graph() const { return graph_; }

private:
    onnx::Graph graph_;
    // graph_ with mask_input = zeros and has_mask_input = 0 fixed: the export always runs the
    // mask branch (two convs, norms, GELUs on 256x256) and multiplies it by has_mask_input, so
    // for a plain click the whole branch folds at load.
    onnx::Graph no_mask_graph_;
    int num_masks_ = 1;
    // no_mask_graph_ with the embedding of the image clicked last fixed, so that what depends on
    // the image alone (the embedding's sum with the no-mask embedding and the positional
    // encoding, the first layer's projections of the 4096 image tokens) runs once per image
    // instead of on every click, as the native decoder keeps its image side.
    struct ImageGraph {
        const float* features = nullptr;  // which embedding...
        std::weak_ptr<const void> owner;  // ...and that it is still the same allocation
        std::shared_ptr<const onnx::Graph> graph;
    };
    struct LastImage {
        std::mutex mutex;
        std::shared_ptr<const ImageGraph> image;
    };
    std::shared_ptr<LastImage> last_ = std::make_shared<LastImage>();
    std::shared_ptr<const onnx::Graph> image_graph(const ImageEmbedding& embedding) const;

    std::vector<onnx::Value> run(const ImageEmbedding& embedding, const Prompt& prompt,
                                 const std::vector<std::string>& outputs) const;
};

}  // namespace sam
