// What a graph's shapes tell before it runs. Exports compute shapes inside the graph (SAM's
// decoder takes the batch size of its point tokens with Shape -> Gather -> ... -> Expand), so a
// node can depend on a per-call input although its result cannot change: the batch dimension is
// declared 1. Propagating what is known of each value's dimensions, and of the elements of the
// small integer vectors that describe shapes, turns those results into constants; the folding
// that follows then computes everything that depends on constants alone once (graph.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "onnx/graph.hpp"

namespace sam::onnx {

struct Known {
    DType dtype = DType::Float;
    int rank = -1;                              // -1: unknown
    std::vector<int64_t> dims;                  // -1 where unknown
    std::vector<std::optional<int64_t>> elems;  // integer and bool values of up to kMaxKnownElems elements; else empty

    static constexpr int64_t kMaxKnownElems = 64;
    // Every element known: the value is a constant.
    bool constant() const;
    Value value() const;  // requires constant()
};

Known known_of(const Value& v);
Known known_of(const GraphIO& io);

// The node's outputs from what is known of its inputs (nullptr for an omitted input). Operators
// without a rule give outputs of unknown rank, which only means less is folded.
std::vector<Known> infer_known(const Node& node, const std::vector<const Known*>& in);

}  // namespace sam::onnx
