// An ONNX graph read from the protobuf file, checked at load, with everything that depends
// only on initializers folded into constants; `run` executes the rest with per-call values,
// so one Graph serves many threads at once.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "onnx/value.hpp"

namespace sam::onnx {

struct Attribute {
    int64_t i = 0;
    float f = 0;
    std::string s;
    std::vector<int64_t> ints;
    std::vector<float> floats;
    Value t;
};

struct Node;
// Computes a node's outputs from its inputs (nullptr for an omitted optional input).
using OpFn = void (*)(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out);

struct Node {
    std::string op, name;
    std::vector<int> inputs;   // value slots; -1 for an omitted optional input
    std::vector<int> outputs;  // value slots; -1 for an unused optional output
    std::map<std::string, Attribute> attrs;
    OpFn fn = nullptr;

    bool has(const std::string& key) const { return attrs.count(key) != 0; }
    int64_t attr_i(const std::string& key, int64_t dflt) const;
    float attr_f(const std::string& key, float dflt) const;
    std::string attr_s(const std::string& key, const std::string& dflt) const;
    std::vector<int64_t> attr_ints(const std::string& key) const;  // empty when absent
    const Attribute& attr(const std::string& key) const;            // throws when absent
    std::string where() const;  // "Op node 'name'" for error messages
};

// The registered implementation of an operator, or nullptr when unsupported.
OpFn find_op(const std::string& op_type);

struct GraphIO {
    std::string name;
    int slot = -1;
    DType dtype = DType::Float;
    std::vector<int64_t> dims;  // -1 for a symbolic (dynamic) dimension
};

class Graph {
public:
    // Reads and checks an ONNX model file (throws OnnxError naming the problem).
    static Graph load(const std::string& path);
    // Same, from serialized ModelProto bytes; `what` names the source in messages.
    static Graph parse(const std::string& bytes, const std::string& what);

    const std::vector<GraphIO>& inputs() const { return inputs_; }
    const std::vector<GraphIO>& outputs() const { return outputs_; }
    const GraphIO* input(const std::string& name) const;
    const GraphIO* output(const std::string& name) const;
    size_t runtime_nodes() const { return nodes_.size(); }

    // Runs the graph. `feeds` must hold every graph input by name with the declared type and
    // rank (fixed dimensions checked); returns the graph outputs in declaration order.
    std::vector<Value> run(const std::map<std::string, Value>& feeds) const;
    // Same, computing only what the named outputs depend on; returns them in the order asked.
    std::vector<Value> run(const std::map<std::string, Value>& feeds, const std::vector<std::string>& wanted) const;

    // A copy of the graph with some inputs fixed to the given values (checked like run's feeds):
    // those inputs are gone from the copy, and every node that now depends on constants only is
    // folded at once (e.g. a branch that a zero flag multiplies away). Throws OnnxError.
    Graph specialize(const std::map<std::string, Value>& constant_inputs) const;

    // Rewrites the attention layers whose keys and values are projected from many tokens
    // (T >= 256) with constant weights into one node that projects the queries instead: for
    // SAM's token-to-image attention, a few hundred thousand multiply-adds per query row instead
    // of projecting 4096 image tokens per click. Not done at load: where the keys' tokens become
    // constants (a graph specialised to an image) their projections fold away entirely, so call
    // this after specializing.
    // (Also the image-to-token layers, where 4096 queries attend to a few tokens: their query
    // and output projections move onto the few keys and values.)
    void fold_attention_projections();

private:
    void fold_image_to_token_attention();
    int add_constant(Value v);  // a new constant slot
    std::string what_;
    std::vector<Node> nodes_;        // in execution order, constants folded away
    std::vector<Value> constants_;   // per slot: folded constant (when is_const_)
    std::vector<char> is_const_;
    std::vector<GraphIO> inputs_, outputs_;
    size_t num_slots_ = 0;

    void check_feed(const GraphIO& io, const Value& v) const;
    // Runs a node whose inputs are all constant and stores its outputs as constants.
    void fold(const Node& node, const std::string& context);

    // Folds the nodes whose inputs are constant and those whose results the shapes decide
    // (shape_inference.hpp), in execution order.
    void fold_known();
    // After reading or specializing: fold_known, the fusions the constants now allow, then drops
    // the constants no node reads.
    void finish_folding();
    static void fuse_gelu(std::vector<Node>& nodes, const std::vector<Value>& constants,
                          const std::vector<char>& is_const, const std::vector<GraphIO>& outputs);
    static void fuse_matmul(std::vector<Node>& nodes, const std::vector<Value>& constants,
                            const std::vector<char>& is_const, const std::vector<GraphIO>& outputs);
};

// Runs one node directly (tests and constant folding): inputs by position, nullptr for omitted.
std::vector<Value> run_node(const Node& node, const std::vector<const Value*>& in, size_t num_outputs);

}  // namespace sam::onnx
