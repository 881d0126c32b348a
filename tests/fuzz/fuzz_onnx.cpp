// The ONNX loader: protobuf, initializers, attributes, constant folding and fusions; then one
// run with small zero inputs, plain and with the attention folds, and the SAM decoder checks
// when the graph has its inputs.
// Anything but an OnnxError escaping is a finding.
#include "fuzz_util.hpp"
#include "models/onnx_decoder.hpp"
#include "onnx/graph.hpp"

using sam::onnx::OnnxError;
using sam::onnx::Value;

// Values above this are refused while the harness loads and runs a graph (the product allows
// 256 MiB at load): a product of two such values still runs in well under a second, so
// libFuzzer's per-input timeout only catches real hangs.
constexpr size_t kMaxValueBytes = 4 << 20;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static samfuzz::MemFile file("decoder.onnx");
    sam::onnx::Graph graph;
    try {
        sam::onnx::AllocationLimit limit(kMaxValueBytes);
        graph = sam::onnx::Graph::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz.onnx");
    } catch (const OnnxError&) {
        return 0;
    }
    // Inputs as declared, symbolic dimensions 1; graphs that ask for large inputs are not run.
    std::map<std::string, Value> feeds;
    for (const auto& io : graph.inputs()) {
        sam::Shape shape;
        int64_t n = 1;
        for (int64_t d : io.dims) {
            shape.push_back(d < 0 ? 1 : d);
            n *= std::max<int64_t>(shape.back(), 1);
            if (n > 4096) return 0;
        }
        feeds[io.name] = Value::zeros(io.dtype, shape);
    }
    try {
        sam::onnx::AllocationLimit limit(kMaxValueBytes);
        graph.run(feeds);
    } catch (const OnnxError&) {
    }
    // The attention folds the ONNX decoder applies (ProjectedAttention, ProjectedScores,
    // HeadsOutProjection): their matchers and operators on whatever the file holds.
    try {
        sam::onnx::AllocationLimit limit(kMaxValueBytes);
        sam::onnx::Graph folded = graph;
        folded.fold_attention_projections();
        folded.run(feeds);
    } catch (const OnnxError&) {
    }
    if (graph.input("image_embeddings") && graph.input("orig_im_size")) {
        try {
            sam::onnx::AllocationLimit limit(kMaxValueBytes);
            sam::OnnxDecoder::load(file.write(data, size));
        } catch (const OnnxError&) {
        }
    }
    return 0;
}
