// What the ONNX loader knows of shapes before a run (onnx/shape_inference.hpp), and the folding
// it enables: results that the declared dimensions decide become constants, results that depend
// on a per-call dimension stay computed.
#include <gtest/gtest.h>

#include <onnx/onnx_pb.h>

#include "onnx/graph.hpp"
#include "onnx/shape_inference.hpp"

using sam::onnx::DType;
using sam::onnx::Graph;
using sam::onnx::infer_known;
using sam::onnx::Known;
using sam::onnx::known_of;
using sam::onnx::Node;
using sam::onnx::Value;

namespace {

Node node(const std::string& op, size_t outputs = 1) {
    Node n;
    n.op = op;
    n.name = op;
    for (size_t i = 0; i < outputs; ++i) n.outputs.push_back(static_cast<int>(i));
    return n;
}

Known dims(std::vector<int64_t> d, DType t = DType::Float) {
    sam::onnx::GraphIO io;
    io.dtype = t;
    io.dims = std::move(d);
    return known_of(io);
}

Known ints(std::vector<int64_t> v) { return known_of(Value::vec_i64(v)); }

std::vector<int64_t> elems(const Known& k) {
    std::vector<int64_t> out;
    for (const auto& e : k.elems) out.push_back(e ? *e : -999);  // -999: unknown
    return out;
}

}  // namespace

TEST(ShapeInference, ShapeGatherAndConcatOfAPartlyKnownShape) {
    const Known x = dims({1, -1, 256});
    const Known shape = infer_known(node("Shape"), {&x})[0];
    EXPECT_EQ(elems(shape), (std::vector<int64_t>{1, -999, 256}));
    EXPECT_FALSE(shape.constant());
    const Known zero = known_of(Value::scalar_i64(0)), one = known_of(Value::scalar_i64(1));
    const Known batch = infer_known(node("Gather"), {&shape, &zero})[0];
    ASSERT_TRUE(batch.constant());
    EXPECT_EQ(batch.rank, 0);
    EXPECT_EQ(batch.value().get_i64(0), 1);
    EXPECT_FALSE(infer_known(node("Gather"), {&shape, &one})[0].constant());  // the per-call dimension

    const Known axes = ints({0});
    const Known batch1 = infer_known(node("Unsqueeze"), {&batch, &axes})[0];
    const Known tail = ints({-1, 64});
    const Known joined = infer_known(node("Concat"), {&batch1, &tail})[0];
    EXPECT_EQ(elems(joined), (std::vector<int64_t>{1, -1, 64}));
    ASSERT_TRUE(joined.constant());

    // Reshape: -1 inferred from the known element count, 0 copies the input's dimension.
    const Known img = dims({1, 256, 64, 64});
    const Known target = ints({0, 256, -1});
    EXPECT_EQ(infer_known(node("Reshape"), {&img, &target})[0].dims, (std::vector<int64_t>{1, 256, 4096}));
    // With the unknown dimension in the input, -1 stays unknown.
    EXPECT_EQ(infer_known(node("Reshape"), {&x, &target})[0].dims, (std::vector<int64_t>{1, 256, -1}));
}

TEST(ShapeInference, BroadcastingAndElementwiseRules) {
    const Known a = dims({1, -1, 256}), b = dims({5, 256});
    // An unknown dimension against 1 stays unknown; against a known d > 1 it is d.
    EXPECT_EQ(infer_known(node("Add"), {&a, &b})[0].dims, (std::vector<int64_t>{1, 5, 256}));
    const Known c = dims({1, 1, 256});
    EXPECT_EQ(infer_known(node("Mul"), {&a, &c})[0].dims, (std::vector<int64_t>{1, -1, 256}));

    const Known v = ints({1, -1, 3}), minus = known_of(Value::scalar_i64(-1));
    const Known eq = infer_known(node("Equal"), {&v, &minus})[0];
    EXPECT_EQ(eq.dtype, DType::Bool);
    EXPECT_EQ(elems(eq), (std::vector<int64_t>{0, 1, 0}));
    const Known ones = ints({1, 1, 1});
    const Known picked = infer_known(node("Where"), {&eq, &ones, &v})[0];
    EXPECT_EQ(elems(picked), (std::vector<int64_t>{1, 1, 3}));

    // Expand to a shape with an unknown element: that dimension is unknown, the others known.
    Known partly = ints({0, 0, 0});
    partly.elems[1].reset();
    partly.elems[0] = 2;
    partly.elems[2] = 4;
    const Known one = dims({1, 1, 4});
    EXPECT_EQ(infer_known(node("Expand"), {&one, &partly})[0].dims, (std::vector<int64_t>{2, -1, 4}));

    // MatMul with a transposed right side (the loader's FusedMatMul), and a split of a vector.
    const Known lhs = dims({1, -1, 256}), rhs = dims({128, 256});
    Node fused = node("FusedMatMul");
    fused.attrs["trans_b"].i = 1;
    EXPECT_EQ(infer_known(fused, {&lhs, &rhs})[0].dims, (std::vector<int64_t>{1, -1, 128}));
    const Known vec = ints({7, 8, 9, 10});
    const Known sizes = ints({1, 3});
    const std::vector<Known> parts = infer_known(node("Split", 2), {&vec, &sizes});
    EXPECT_EQ(elems(parts[0]), (std::vector<int64_t>{7}));
    EXPECT_EQ(elems(parts[1]), (std::vector<int64_t>{8, 9, 10}));
    // No rule: nothing known, which only means nothing is folded.
    EXPECT_EQ(infer_known(node("NonZero"), {&a})[0].rank, -1);
}

// The pattern of SAM's decoder export: a constant's shape built from the batch dimension of an
// input whose other dimension changes per call. The batch part folds at load; the per-call
// dimension stays a node and follows the input.
TEST(ShapeInference, GraphFoldsWhatTheDeclaredDimensionsDecide) {
    ::onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(17);
    auto* g = m.mutable_graph();
    auto init = [&](const char* name, std::vector<int64_t> v, bool scalar) {
        auto* t = g->add_initializer();
        t->set_name(name);
        t->set_data_type(7);
        if (!scalar) t->add_dims(static_cast<int64_t>(v.size()));
        for (int64_t x : v) t->add_int64_data(x);
    };
    init("zero", {0}, true);
    init("one", {1}, true);
    init("axes", {0}, false);
    init("three", {3}, false);
    auto* in = g->add_input();
    in->set_name("x");
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(1);
    tt->mutable_shape()->add_dim()->set_dim_value(1);
    tt->mutable_shape()->add_dim()->set_dim_param("n");
    tt->mutable_shape()->add_dim()->set_dim_value(4);
    auto add = [&](const char* op, std::vector<const char*> ins, const char* out) {
        auto* n = g->add_node();
        n->set_op_type(op);
        n->set_name(out);
        for (const char* i : ins) n->add_input(i);
        n->add_output(out);
        return n;
    };
    add("Shape", {"x"}, "s");
    add("Gather", {"s", "zero"}, "batch");
    add("Unsqueeze", {"batch", "axes"}, "batch1");
    add("Concat", {"batch1", "three"}, "shape")->add_attribute()->CopyFrom([] {
        ::onnx::AttributeProto a;
        a.set_name("axis");
        a.set_type(::onnx::AttributeProto::INT);
        a.set_i(0);
        return a;
    }());
    add("ConstantOfShape", {"shape"}, "y");
    add("Gather", {"s", "one"}, "n");
    for (const char* name : {"y", "n"}) {
        auto* o = g->add_output();
        o->set_name(name);
        o->mutable_type()->mutable_tensor_type()->set_elem_type(std::string(name) == "y" ? 1 : 7);
    }
    const Graph graph = Graph::parse(m.SerializeAsString(), "batch pattern");
    EXPECT_EQ(graph.runtime_nodes(), 2u);  // Shape and the Gather of the per-call dimension
    for (int64_t n : {2, 5}) {
        const std::vector<Value> out = graph.run({{"x", Value::zeros(DType::Float, {1, n, 4})}});
        EXPECT_EQ(out[0].shape, (sam::Shape{1, 3}));
        EXPECT_EQ(out[0].dtype, DType::Float);
        EXPECT_EQ(out[1].get_i64(0), n);
    }
}
