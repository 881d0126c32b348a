#include "models/onnx_decoder.hpp"

#include <cstring>
#include <stdexcept>

#include "models/prompt_points.hpp"

namespace sam {

using onnx::DType;
using onnx::Value;

namespace {

struct ExpectedInput {
    const char* name;
    int rank;
};
const ExpectedInput kInputs[] = {{"image_embeddings", 4}, {"point_coords", 3}, {"point_labels", 2},
                                 {"mask_input", 4},       {"has_mask_input", 1}, {"orig_im_size", 1}};
const char* kOutputs[] = {"masks", "iou_predictions", "low_res_masks"};

// Copies masks [first, first + count) of a [1, C, h, w] value into a [count, h, w] tensor.
Tensor take_masks(const Value& v, int first, int count) {
    int64_t plane = v.dim(-2) * v.dim(-1);
    Tensor t = Tensor::empty({count, v.dim(-2), v.dim(-1)});
    std::memcpy(t.data, v.data<float>() + first * plane, static_cast<size_t>(count * plane) * sizeof(float));
    return t;
}

}  // namespace

OnnxDecoder OnnxDecoder::load(const std::string& path) {
    OnnxDecoder d;
    d.graph_ = onnx::Graph::load(path);
    const onnx::Graph& g = d.graph_;
    for (const auto& want : kInputs)
        if (!g.input(want.name))
            throw OnnxError(path + ": not a SAM decoder export: it has no input '" + want.name + "'");
    for (const auto& want : kInputs) {
        const onnx::GraphIO* io = g.input(want.name);
        if (io->dtype != DType::Float || static_cast<int>(io->dims.size()) != want.rank)
            throw OnnxError(path + ": input '" + want.name + "' must be a float tensor of rank " +
                            std::to_string(want.rank) + ", the file declares " + dtype_name(io->dtype) + " of rank " +
                            std::to_string(io->dims.size()));
    }
    for (const auto& io : g.inputs()) {
        bool known = false;
        for (const auto& want : kInputs) known = known || io.name == want.name;
        if (!known) throw OnnxError(path + ": unexpected input '" + io.name + "' (a SAM decoder export has image_embeddings, "
                                    "point_coords, point_labels, mask_input, has_mask_input, orig_im_size)");
    }
    for (const char* name : kOutputs)
        if (!g.output(name)) throw OnnxError(path + ": not a SAM decoder export: it has no output '" + name + "'");
    // Its errors already name the file.
    d.no_mask_graph_ = g.specialize(
        {{"mask_input", Value::zeros(DType::Float, {1, 1, 256, 256})}, {"has_mask_input", Value::scalar_f(0.0f).reshaped({1})}});
    d.graph_.fold_attention_projections();  // after: the per-image graphs fold the first layer's projections instead

    // One run on a blank embedding: proves the graph executes and tells how many masks it returns.
    ImageEmbedding blank;
    blank.features = Tensor::zeros({256, 64, 64});
    blank.orig_w = blank.orig_h = blank.input_w = blank.input_h = 64;
    Prompt p;
    p.points.push_back({32.0f, 32.0f, 1});
    std::vector<Value> out;
    try {
        onnx::AllocationLimit limit(onnx::kMaxLoadValueBytes);  // the file decides what this run computes
        out = d.run(blank, p, {"masks", "iou_predictions", "low_res_masks"});
    } catch (const OnnxError& e) {
        throw OnnxError(path + ": test run failed: " + e.what());
    }
    d.last_->image.reset();  // the blank image's graph
    const Value& full = out[0];
    const Value& iou = out[1];
    const Value& low = out[2];
    if (iou.rank() != 2 || low.rank() != 4 || full.rank() != 4 || low.dim(1) != iou.dim(1) || full.dim(1) != iou.dim(1) ||
        low.dim(2) != 256 || low.dim(3) != 256 || full.dim(2) != 64 || full.dim(3) != 64)
        throw OnnxError(path + ": unexpected output shapes: masks " + full.desc() + ", iou_predictions " + iou.desc() +
                        ", low_res_masks " + low.desc());
    d.num_masks_ = static_cast<int>(iou.dim(1));
    if (d.num_masks_ != 1 && d.num_masks_ != 4)
        throw OnnxError(path + ": the export returns " + std::to_string(d.num_masks_) + " masks, expected 1 or 4");
    return d;
}

std::shared_ptr<const onnx::Graph> OnnxDecoder::image_graph(const ImageEmbedding& e) const {
    const Tensor& f = e.features;
    {
        std::lock_guard<std::mutex> lock(last_->mutex);
        const auto& image = last_->image;
        if (image && image->features == f.data && !image->owner.expired() && image->owner.lock() == f.owner)
            return image->graph;
    }
    auto image = std::make_shared<ImageGraph>();
    image->features = f.data;
    image->owner = f.owner;
    onnx::Graph graph = no_mask_graph_.specialize({{"image_embeddings", Value::from_tensor(f).reshaped({1, 256, 64, 64})}});
    graph.fold_attention_projections();  // the later layers' keys and values, from the updated image tokens
    image->graph = std::make_shared<const onnx::Graph>(std::move(graph));
    std::lock_guard<std::mutex> lock(last_->mutex);
    last_->image = image;
    return image->graph;
}

std::vector<Value> OnnxDecoder::run(const ImageEmbedding& e, const Prompt& prompt,
                                    const std::vector<std::string>& outputs) const {
    if (e.features.numel() != 256 * 64 * 64)
        throw std::invalid_argument("image embedding must be [256,64,64], got " + e.features.shape_string());
    // The export needs at least one point: a padding point even for a box-less, point-less prompt.
    const DecoderPoints points = decoder_points(e, prompt, /*pad_always=*/true);
    const int64_t n = static_cast<int64_t>(points.labels.size());

    std::map<std::string, Value> feeds;
    Value pc = Value::alloc(DType::Float, {1, n, 2});
    std::memcpy(pc.ptr, points.xy.data(), points.xy.size() * sizeof(float));
    feeds["point_coords"] = pc;
    Value pl = Value::alloc(DType::Float, {1, n});
    for (int64_t i = 0; i < n; ++i) pl.data<float>()[i] = static_cast<float>(points.labels[i]);
    feeds["point_labels"] = pl;
    Value os = Value::alloc(DType::Float, {2});
    os.data<float>()[0] = static_cast<float>(e.orig_h);
    os.data<float>()[1] = static_cast<float>(e.orig_w);
    feeds["orig_im_size"] = os;
    // Without an owner the embedding's identity cannot be told across calls: no per-image graph.
    if (!prompt.mask_input.defined() && e.features.owner) return image_graph(e)->run(feeds, outputs);
    feeds["image_embeddings"] = Value::from_tensor(e.features).reshaped({1, 256, 64, 64});
    if (!prompt.mask_input.defined()) return no_mask_graph_.run(feeds, outputs);
    if (prompt.mask_input.numel() != 256 * 256)
        throw std::invalid_argument("mask input must be [1,256,256] low-res logits, got " + prompt.mask_input.shape_string());
    feeds["mask_input"] = Value::from_tensor(prompt.mask_input).reshaped({1, 1, 256, 256});
    feeds["has_mask_input"] = Value::scalar_f(1.0f).reshaped({1});
    return graph_.run(feeds, outputs);
}

Prediction OnnxDecoder::predict(const ImageEmbedding& embedding, const Prompt& prompt) const {
    std::vector<Value> out = run(embedding, prompt, {"iou_predictions", "low_res_masks"});
    const Value& iou = out[0];
    int first = 0, count = num_masks_;
    if (num_masks_ > 1) {
        // Multi-mask export: masks 1..3 answer an ambiguous prompt, mask 0 any other.
        first = prompt.multimask ? 1 : 0;
        count = prompt.multimask ? num_masks_ - 1 : 1;
    }
    Prediction p;
    for (int i = 0; i < count; ++i) p.iou.push_back(iou.data<float>()[first + i]);
    p.lowres = take_masks(out[1], first, count);
    p.orig_w = embedding.orig_w;
    p.orig_h = embedding.orig_h;
    p.input_w = embedding.input_w;
    p.input_h = embedding.input_h;
    return p;
}

}  // namespace sam
