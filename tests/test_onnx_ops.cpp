// Every ONNX operator of the executor against values worked out by hand from the operator
// specification (broadcasting, negative axes, attributes), plus graph-level folding and errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <onnx/onnx_pb.h>

#include "onnx/graph.hpp"

using namespace sam::onnx;
using sam::Shape;

namespace {

Value F(Shape s, std::vector<float> v) {
    Value x = Value::alloc(DType::Float, s);
    EXPECT_EQ(int64_t(v.size()), x.numel());
    std::copy(v.begin(), v.end(), x.data<float>());
    return x;
}
Value I(Shape s, std::vector<int64_t> v) {
    Value x = Value::alloc(DType::Int64, s);
    std::copy(v.begin(), v.end(), x.data<int64_t>());
    return x;
}
template <class T>
Value T8(DType t, Shape s, std::vector<int> v) {
    Value x = Value::alloc(t, s);
    for (size_t i = 0; i < v.size(); ++i) x.data<T>()[i] = static_cast<T>(v[i]);
    return x;
}
Value U8(Shape s, std::vector<int> v) { return T8<uint8_t>(DType::UInt8, s, v); }

Attribute ai(int64_t i) { Attribute a; a.i = i; return a; }
Attribute af(float f) { Attribute a; a.f = f; return a; }
Attribute as(std::string s) { Attribute a; a.s = s; return a; }
Attribute ints(std::vector<int64_t> v) { Attribute a; a.ints = v; return a; }
Attribute at(Value v) { Attribute a; a.t = v; return a; }

// Runs one operator; a default-constructed Value (no shape, no buffer) stands for an omitted input.
std::vector<Value> run(const std::string& op, const std::vector<Value>& in,
                       std::map<std::string, Attribute> attrs = {}, size_t nout = 1) {
    Node n;
    n.op = op;
    n.name = "test_" + op;
    n.fn = find_op(op);
    EXPECT_NE(n.fn, nullptr) << op;
    n.attrs = std::move(attrs);
    std::vector<const Value*> ptrs;
    for (const auto& v : in) ptrs.push_back(v.ptr || !v.shape.empty() ? &v : nullptr);
    return run_node(n, ptrs, nout);
}
Value run1(const std::string& op, const std::vector<Value>& in, std::map<std::string, Attribute> attrs = {}) {
    return run(op, in, std::move(attrs))[0];
}

std::vector<int64_t> il(const Value& v) { return v.to_i64(); }
void expect_near(const Value& v, Shape s, std::vector<float> want, float tol = 1e-5f) {
    ASSERT_EQ(v.dtype, DType::Float);
    ASSERT_EQ(v.shape, s);
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(v.data<float>()[i], want[i], tol) << "element " << i;
}

TEST(OnnxOps, ArithmeticBroadcasting) {
    // [2,3] + [3]: the row is added to each row.
    expect_near(run1("Add", {F({2, 3}, {1, 2, 3, 4, 5, 6}), F({3}, {10, 20, 30})}), {2, 3}, {11, 22, 33, 14, 25, 36});
    // [2,1] - [1,3] broadcasts both ways to [2,3].
    expect_near(run1("Sub", {F({2, 1}, {1, 2}), F({1, 3}, {1, 2, 3})}), {2, 3}, {0, -1, -2, 1, 0, -1});
    // Scalar times [2,2,2] with a middle broadcast dim on the other side.
    expect_near(run1("Mul", {F({2, 1, 2}, {1, 2, 3, 4}), F({}, {2})}), {2, 1, 2}, {2, 4, 6, 8});
    expect_near(run1("Mul", {F({2, 1, 2}, {1, 2, 3, 4}), F({1, 2, 1}, {1, 10})}), {2, 2, 2}, {1, 2, 10, 20, 3, 4, 30, 40});
    expect_near(run1("Div", {F({3}, {1, 3, -6}), F({1}, {2})}), {3}, {0.5f, 1.5f, -3});
    Value q = run1("Div", {I({3}, {7, -7, 8}), I({}, {2})});  // integer division truncates
    EXPECT_EQ(il(q), (std::vector<int64_t>{3, -3, 4}));
    EXPECT_EQ(il(run1("Mul", {I({2}, {3, 4}), I({1}, {5})})), (std::vector<int64_t>{15, 20}));
    expect_near(run1("Pow", {F({3}, {-3, 2, 0.5f}), F({}, {2})}), {3}, {9, 4, 0.25f});
    expect_near(run1("Pow", {F({2}, {4, 9}), F({}, {0.5f})}), {2}, {2, 3});
    EXPECT_THROW(run1("Add", {F({2, 3}, {1, 2, 3, 4, 5, 6}), F({2}, {1, 2})}), OnnxError);
    EXPECT_THROW(run1("Add", {F({1}, {1}), I({1}, {1})}), OnnxError);
}

TEST(OnnxOps, CompareWhereCastNot) {
    Value eq = run1("Equal", {I({2, 2}, {1, -1, 2, -1}), I({}, {-1})});
    ASSERT_EQ(eq.dtype, DType::Bool);
    EXPECT_EQ(il(eq), (std::vector<int64_t>{0, 1, 0, 1}));
    EXPECT_EQ(il(run1("Not", {eq})), (std::vector<int64_t>{1, 0, 1, 0}));
    // Where with a [2,1] condition over [1,2] / scalar values.
    Value c = T8<uint8_t>(DType::Bool, {2, 1}, {1, 0});
    expect_near(run1("Where", {c, F({1, 2}, {1, 2}), F({}, {-5})}), {2, 2}, {1, 2, -5, -5});
    Value ci = run1("Cast", {F({4}, {-1.7f, 1.7f, 2.0f, 0.0f})}, {{"to", ai(7)}});
    ASSERT_EQ(ci.dtype, DType::Int64);
    EXPECT_EQ(il(ci), (std::vector<int64_t>{-1, 1, 2, 0}));  // toward zero
    Value cb = run1("Cast", {F({3}, {0.0f, -0.5f, 3.0f})}, {{"to", ai(9)}});
    EXPECT_EQ(il(cb), (std::vector<int64_t>{0, 1, 1}));
    expect_near(run1("Cast", {I({2}, {3, -4})}, {{"to", ai(1)}}), {2}, {3, -4});
    EXPECT_THROW(run1("Cast", {F({1}, {1})}, {{"to", ai(11)}}), OnnxError);  // double: unsupported
}

TEST(OnnxOps, UnaryFunctions) {
    expect_near(run1("Erf", {F({3}, {0, 0.5f, -1})}), {3}, {0, 0.5204998778f, -0.8427007929f});
    expect_near(run1("Sin", {F({2}, {0, float(M_PI / 2)})}), {2}, {0, 1});
    expect_near(run1("Cos", {F({2}, {0, float(M_PI)})}), {2}, {1, -1});
    expect_near(run1("Sqrt", {F({2}, {4, 2})}), {2}, {2, 1.4142135f});
    expect_near(run1("Reciprocal", {F({2}, {4, -0.5f})}), {2}, {0.25f, -2});
    expect_near(run1("Floor", {F({3}, {-1.5f, 1.5f, 2})}), {3}, {-2, 1, 2});
    expect_near(run1("Relu", {F({3}, {-1, 0, 2})}), {3}, {0, 0, 2});
    expect_near(run1("Identity", {F({1}, {7})}), {1}, {7});
}

TEST(OnnxOps, ShapeReshapeUnsqueezeFlatten) {
    Value x = F({2, 3, 4}, std::vector<float>(24, 1));
    EXPECT_EQ(il(run1("Shape", {x})), (std::vector<int64_t>{2, 3, 4}));
    EXPECT_EQ(il(run1("Shape", {x}, {{"start", ai(-2)}})), (std::vector<int64_t>{3, 4}));
    EXPECT_EQ(il(run1("Shape", {x}, {{"end", ai(-1)}})), (std::vector<int64_t>{2, 3}));
    // 0 copies the input dimension, -1 is inferred.
    EXPECT_EQ(run1("Reshape", {x, I({3}, {0, -1, 2})}).shape, (Shape{2, 6, 2}));
    EXPECT_THROW(run1("Reshape", {x, I({2}, {5, -1})}), OnnxError);
    EXPECT_THROW(run1("Reshape", {x, I({2}, {-1, -1})}), OnnxError);
    EXPECT_EQ(run1("Unsqueeze", {x, I({2}, {0, -1})}).shape, (Shape{1, 2, 3, 4, 1}));
    EXPECT_EQ(run1("Unsqueeze", {x}, {{"axes", ints({1})}}).shape, (Shape{2, 1, 3, 4}));
    EXPECT_EQ(run1("Squeeze", {run1("Unsqueeze", {x, I({1}, {-1})}), I({1}, {-1})}).shape, (Shape{2, 3, 4}));
    EXPECT_EQ(run1("Flatten", {x}, {{"axis", ai(-1)}}).shape, (Shape{6, 4}));
    EXPECT_EQ(run1("Flatten", {x}, {{"axis", ai(0)}}).shape, (Shape{1, 24}));
    EXPECT_EQ(run1("Flatten", {x}).shape, (Shape{2, 12}));
}

TEST(OnnxOps, ConcatSplitSlice) {
    // Concat on axis -1 of [2,1] and [2,2].
    expect_near(run1("Concat", {F({2, 1}, {1, 2}), F({2, 2}, {3, 4, 5, 6})}, {{"axis", ai(-1)}}), {2, 3}, {1, 3, 4, 2, 5, 6});
    EXPECT_THROW(run1("Concat", {F({2, 1}, {1, 2}), F({3, 1}, {3, 4, 5})}, {{"axis", ai(1)}}), OnnxError);
    // Split [2,3] on axis -1 into sizes 1 and 2; and into two equal halves of axis 0.
    auto parts = run("Split", {F({2, 3}, {1, 2, 3, 4, 5, 6}), I({2}, {1, 2})}, {{"axis", ai(-1)}}, 2);
    expect_near(parts[0], {2, 1}, {1, 4});
    expect_near(parts[1], {2, 2}, {2, 3, 5, 6});
    auto halves = run("Split", {F({2, 3}, {1, 2, 3, 4, 5, 6})}, {}, 2);
    expect_near(halves[1], {1, 3}, {4, 5, 6});
    EXPECT_THROW(run("Split", {F({3}, {1, 2, 3}), I({2}, {1, 1})}, {}, 2), OnnxError);
    // Slice: rows 1.., columns from -1 backwards with step -2; ends clamp.
    Value m = F({3, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    expect_near(run1("Slice", {m, I({2}, {1, -1}), I({2}, {100, -100}), I({2}, {0, -1}), I({2}, {1, -2})}), {2, 2},
                {7, 5, 11, 9});
    expect_near(run1("Slice", {m, I({1}, {-2}), I({1}, {INT64_MAX}), I({1}, {-1})}), {3, 2}, {2, 3, 6, 7, 10, 11});
    EXPECT_THROW(run1("Slice", {m, I({1}, {0}), I({1}, {1}), I({1}, {0}), I({1}, {0})}), OnnxError);
}

TEST(OnnxOps, GatherExpandTranspose) {
    Value m = F({2, 3}, {1, 2, 3, 4, 5, 6});
    expect_near(run1("Gather", {m, I({2}, {-1, 0})}, {{"axis", ai(-1)}}), {2, 2}, {3, 1, 6, 4});
    expect_near(run1("Gather", {m, I({}, {1})}, {{"axis", ai(0)}}), {3}, {4, 5, 6});  // scalar index drops the axis
    EXPECT_THROW(run1("Gather", {m, I({1}, {3})}, {{"axis", ai(1)}}), OnnxError);
    // Expand is bidirectional: [3,1] with shape [2,1,2] gives [2,3,2].
    Value e = run1("Expand", {F({3, 1}, {1, 2, 3}), I({3}, {2, 1, 2})});
    expect_near(e, {2, 3, 2}, {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
    expect_near(run1("Transpose", {m}), {3, 2}, {1, 4, 2, 5, 3, 6});
    Value t3 = F({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
    expect_near(run1("Transpose", {t3}, {{"perm", ints({1, 2, 0})}}), {2, 2, 2}, {0, 4, 1, 5, 2, 6, 3, 7});
    EXPECT_THROW(run1("Transpose", {t3}, {{"perm", ints({0, 0, 1})}}), OnnxError);
}

// Every permutation of a [2,1,3,4] tensor (row copies, batched 2-D transposes, the general
// case; a size-1 dim in the way) against y[i0,i1,i2,i3] = x at the permuted index.
TEST(OnnxOps, TransposeEveryPermutation) {
    const Shape xs{2, 1, 3, 4};
    std::vector<float> v(24);
    for (int i = 0; i < 24; ++i) v[i] = float(i);
    Value x = F(xs, v);
    std::vector<int64_t> perm{0, 1, 2, 3};
    int checked = 0;
    do {
        SCOPED_TRACE(sam::shape_str(perm));
        Value y = run1("Transpose", {x}, {{"perm", ints(perm)}});
        Shape ys{xs[perm[0]], xs[perm[1]], xs[perm[2]], xs[perm[3]]};
        ASSERT_EQ(y.shape, ys);
        int64_t o = 0;
        for (int64_t a = 0; a < ys[0]; ++a)
            for (int64_t b = 0; b < ys[1]; ++b)
                for (int64_t c = 0; c < ys[2]; ++c)
                    for (int64_t d = 0; d < ys[3]; ++d, ++o) {
                        int64_t idx[4];
                        idx[perm[0]] = a, idx[perm[1]] = b, idx[perm[2]] = c, idx[perm[3]] = d;
                        float want = float(((idx[0] * 1 + idx[1]) * 3 + idx[2]) * 4 + idx[3]);
                        ASSERT_EQ(y.data<float>()[o], want) << "element " << o;
                    }
        ++checked;
    } while (std::next_permutation(perm.begin(), perm.end()));
    EXPECT_EQ(checked, 24);
    // int64 and bool go through the same paths.
    Value yi = run1("Transpose", {I({2, 3}, {1, 2, 3, 4, 5, 6})});
    EXPECT_EQ(il(yi), (std::vector<int64_t>{1, 4, 2, 5, 3, 6}));
}

TEST(OnnxOps, ConstantsAndRange) {
    expect_near(run1("Constant", {}, {{"value", at(F({2}, {1, 2}))}}), {2}, {1, 2});
    EXPECT_EQ(il(run1("Constant", {}, {{"value_ints", ints({4, 5})}})), (std::vector<int64_t>{4, 5}));
    Value z = run1("ConstantOfShape", {I({2}, {2, 1})});
    expect_near(z, {2, 1}, {0, 0});
    Value seven = run1("ConstantOfShape", {I({1}, {3})}, {{"value", at(I({1}, {7}))}});
    EXPECT_EQ(seven.dtype, DType::Int64);
    EXPECT_EQ(il(seven), (std::vector<int64_t>{7, 7, 7}));
    // A 'value' attribute that is not a tensor (found by fuzz_onnx: it was read through a null pointer).
    EXPECT_THROW(run1("ConstantOfShape", {I({1}, {3})}, {{"value", af(7.0f)}}), OnnxError);
    EXPECT_THROW(run1("Constant", {}, {{"value", af(7.0f)}}), OnnxError);
    EXPECT_EQ(il(run1("Range", {I({}, {1}), I({}, {8}), I({}, {3})})), (std::vector<int64_t>{1, 4, 7}));
    expect_near(run1("Range", {F({}, {1}), F({}, {0}), F({}, {-0.5f})}), {2}, {1, 0.5f});
    EXPECT_EQ(run1("Range", {I({}, {5}), I({}, {1}), I({}, {1})}).numel(), 0);
}

TEST(OnnxOps, MatMulBroadcasting) {
    // [2,1,2] x [2,1]: B shared by both batches.
    expect_near(run1("MatMul", {F({2, 1, 2}, {1, 2, 3, 4}), F({2, 1}, {10, 1})}), {2, 1, 1}, {12, 34});
    // [1,1,2] x [2,2,1]: A broadcast over B's batch.
    expect_near(run1("MatMul", {F({1, 1, 2}, {1, 2}), F({2, 2, 1}, {1, 1, 2, 3})}), {2, 1, 1}, {3, 8});
    // Same batch: [2,1,2] x [2,2,2].
    expect_near(run1("MatMul", {F({2, 1, 2}, {1, 0, 0, 1}), F({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8})}), {2, 1, 2}, {1, 2, 7, 8});
    // 1-D operands: the vector dimensions vanish.
    expect_near(run1("MatMul", {F({2}, {1, 2}), F({2, 3}, {1, 2, 3, 4, 5, 6})}), {3}, {9, 12, 15});
    expect_near(run1("MatMul", {F({2, 2}, {1, 2, 3, 4}), F({2}, {1, 1})}), {2}, {3, 7});
    EXPECT_THROW(run1("MatMul", {F({2, 3}, {1, 2, 3, 4, 5, 6}), F({2, 1}, {1, 2})}), OnnxError);
}

TEST(OnnxOps, Gemm) {
    Value a = F({2, 2}, {1, 2, 3, 4});
    Value b = F({2, 2}, {1, 0, 1, 1});
    // transB with a bias row: A·B^T + c.
    expect_near(run1("Gemm", {a, b, F({2}, {10, 20})}, {{"transB", ai(1)}}), {2, 2}, {11, 23, 13, 27});
    // transA, alpha 2, beta 0.5 with a column C [2,1]: 2·A^T·B + 0.5·c.
    expect_near(run1("Gemm", {a, b, F({2, 1}, {2, 4})}, {{"transA", ai(1)}, {"alpha", af(2)}, {"beta", af(0.5f)}}), {2, 2},
                {9, 7, 14, 10});
    expect_near(run1("Gemm", {a, b}), {2, 2}, {3, 2, 7, 4});
    // alpha 2 with a bias row: 2·A·B^T + c.
    expect_near(run1("Gemm", {a, b, F({2}, {10, 20})}, {{"transB", ai(1)}, {"alpha", af(2)}}), {2, 2}, {12, 26, 16, 34});
}

TEST(OnnxOps, ConvAndConvTranspose) {
    // 3x3 image 1..9, 2x2 kernel [1,0;0,1], pad 1, stride 2 -> 2x2, plus bias 1.
    Value x = F({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
    Value w = F({1, 1, 2, 2}, {1, 0, 0, 1});
    expect_near(run1("Conv", {x, w, F({1}, {1})}, {{"pads", ints({1, 1, 1, 1})}, {"strides", ints({2, 2})}}), {1, 1, 2, 2},
                {2, 4, 8, 15});
    // No padding, stride 1: sums of diagonal pairs.
    expect_near(run1("Conv", {x, w}), {1, 1, 2, 2}, {6, 8, 12, 14});
    // Two groups of one channel each, 1x1 kernels scale each channel.
    Value x2 = F({1, 2, 1, 2}, {1, 2, 3, 4});
    expect_near(run1("Conv", {x2, F({2, 1, 1, 1}, {2, -1})}, {{"group", ai(2)}}), {1, 2, 1, 2}, {2, 4, -3, -4});
    // ConvTranspose k2 s2: each input pixel paints a 2x2 block of kernel * value (+ bias).
    Value xt = F({1, 1, 1, 2}, {1, 2});
    Value wt = F({1, 1, 2, 2}, {1, 2, 3, 4});
    expect_near(run1("ConvTranspose", {xt, wt, F({1}, {0.5f})}, {{"strides", ints({2, 2})}}), {1, 1, 2, 4},
                {1.5f, 2.5f, 2.5f, 4.5f, 3.5f, 4.5f, 6.5f, 8.5f});
    // Stride 1 overlaps: [1,2] with kernel [1,1] -> [1,3,2].
    expect_near(run1("ConvTranspose", {xt, F({1, 1, 1, 2}, {1, 1})}), {1, 1, 1, 3}, {1, 3, 2});
    EXPECT_THROW(run1("Conv", {x, F({1, 2, 2, 2}, std::vector<float>(8, 1))}), OnnxError);
}

TEST(OnnxOps, NormsAndSoftmax) {
    // Row [1,2,3]: mean 2, variance 2/3 -> (x-2)/sqrt(2/3) = -1.2247, 0, 1.2247; then *2 + 1.
    Value y = run1("LayerNormalization", {F({1, 3}, {1, 2, 3}), F({3}, {2, 2, 2}), F({3}, {1, 1, 1})},
                   {{"axis", ai(-1)}, {"epsilon", af(0)}});
    expect_near(y, {1, 3}, {1 - 2.4494897f, 1, 1 + 2.4494897f}, 1e-4f);
    // Softmax over the last axis, and over axis 0 (not the last).
    float e = std::exp(1.0f);
    expect_near(run1("Softmax", {F({1, 2}, {0, 1})}), {1, 2}, {1 / (1 + e), e / (1 + e)});
    expect_near(run1("Softmax", {F({2, 2}, {0, 5, 1, 5})}, {{"axis", ai(0)}}), {2, 2}, {1 / (1 + e), 0.5f, e / (1 + e), 0.5f});
}

TEST(OnnxOps, Reductions) {
    Value x = F({2, 3}, {1, 2, 3, 4, 5, 9});
    expect_near(run1("ReduceMean", {x}, {{"axes", ints({-1})}}), {2, 1}, {2, 6});
    expect_near(run1("ReduceMean", {x}, {{"axes", ints({0})}, {"keepdims", ai(0)}}), {3}, {2.5f, 3.5f, 6});
    expect_near(run1("ReduceMean", {x, I({1}, {1})}), {2, 1}, {2, 6});  // opset 18 axes input
    expect_near(run1("ReduceMax", {x}, {{"keepdims", ai(0)}}), {}, {9});
    expect_near(run1("ReduceMax", {x}, {{"axes", ints({0})}}), {1, 3}, {4, 5, 9});
    Value am = run1("ArgMax", {F({2, 3}, {1, 7, 7, 9, 0, 9})}, {{"axis", ai(-1)}, {"keepdims", ai(0)}});
    EXPECT_EQ(il(am), (std::vector<int64_t>{1, 0}));
    Value last = run1("ArgMax", {F({2, 3}, {1, 7, 7, 9, 0, 9})}, {{"axis", ai(1)}, {"select_last_index", ai(1)}});
    EXPECT_EQ(last.shape, (Shape{2, 1}));
    EXPECT_EQ(il(last), (std::vector<int64_t>{2, 2}));
}

TEST(OnnxOps, Resize) {
    Value x = F({1, 1, 1, 2}, {0, 1});
    Value none;
    // half_pixel linear 2 -> 4: source x = (o + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1].
    std::map<std::string, Attribute> lin{{"mode", as("linear")}, {"coordinate_transformation_mode", as("half_pixel")}};
    expect_near(run1("Resize", {x, none, none, I({4}, {1, 1, 1, 4})}, lin), {1, 1, 1, 4}, {0, 0.25f, 0.75f, 1});
    // Scales input, align_corners: 2 -> 3 samples 0, 0.5, 1.
    std::map<std::string, Attribute> ac{{"mode", as("linear")}, {"coordinate_transformation_mode", as("align_corners")}};
    expect_near(run1("Resize", {x, none, F({4}, {1, 1, 1, 1.5f})}, ac), {1, 1, 1, 3}, {0, 0.5f, 1});
    // Both axes: 2x2 -> 1x1 half_pixel samples the centre (0.5, 0.5): mean of the four.
    expect_near(run1("Resize", {F({1, 1, 2, 2}, {0, 1, 2, 3}), none, none, I({4}, {1, 1, 1, 1})}, lin), {1, 1, 1, 1}, {1.5f});
    // Nearest, asymmetric, floor: 2 -> 4 repeats each value twice.
    std::map<std::string, Attribute> nn{{"mode", as("nearest")}, {"coordinate_transformation_mode", as("asymmetric")},
                                        {"nearest_mode", as("floor")}};
    expect_near(run1("Resize", {F({1, 1, 1, 2}, {5, 7}), none, none, I({4}, {1, 1, 1, 4})}, nn), {1, 1, 1, 4}, {5, 5, 7, 7});
    std::map<std::string, Attribute> cubic{{"mode", as("cubic")}};
    EXPECT_THROW(run1("Resize", {x, none, none, I({4}, {1, 1, 1, 4})}, cubic), OnnxError);
    EXPECT_THROW(run1("Resize", {x, none, none, I({4}, {2, 1, 1, 4})}, lin), OnnxError);  // batch resize
}

TEST(OnnxOps, DynamicQuantizeLinear) {
    // The specification's example: range [-3, 2] -> scale 5/255, zero point round(3 / scale) = 153.
    auto out = run("DynamicQuantizeLinear", {F({6}, {0, 2, -3, -2.5f, 1.34f, 0.5f})}, {}, 3);
    ASSERT_EQ(out[0].dtype, DType::UInt8);
    EXPECT_EQ(il(out[0]), (std::vector<int64_t>{153, 255, 0, 26, 221, 179}));
    EXPECT_NEAR(out[1].data<float>()[0], 5.0f / 255.0f, 1e-7f);
    EXPECT_EQ(out[2].get_i64(0), 153);
    // All positive: the range still includes 0, so zero point 0 and scale max/255.
    auto pos = run("DynamicQuantizeLinear", {F({3}, {1, 2.55f, 0.5f})}, {}, 3);
    EXPECT_EQ(il(pos[0]), (std::vector<int64_t>{100, 255, 50}));
    EXPECT_EQ(pos[2].get_i64(0), 0);
}

TEST(OnnxOps, MatMulInteger) {
    // The specification's example: A - 12 times B (zero point 0).
    Value a = U8({4, 3}, {11, 7, 3, 10, 6, 2, 9, 5, 1, 8, 4, 0});
    Value b = U8({3, 2}, {1, 4, 2, 5, 3, 6});
    Value y = run1("MatMulInteger", {a, b, U8({}, {12}), U8({}, {0})});
    ASSERT_EQ(y.dtype, DType::Int32);
    EXPECT_EQ(il(y), (std::vector<int64_t>{-38, -83, -44, -98, -50, -113, -56, -128}));
    // int8 B with a per-column zero point [1, -1], broadcast over A's batch of 2.
    Value a2 = U8({2, 1, 2}, {1, 2, 3, 4});
    Value b2 = T8<int8_t>(DType::Int8, {2, 2}, {1, -1, 2, 0});
    Value z2 = T8<int8_t>(DType::Int8, {2}, {1, -1});
    // B - zp = [[0, 0], [1, 1]] -> rows [2, 2] and [4, 4].
    EXPECT_EQ(il(run1("MatMulInteger", {a2, b2, Value{}, z2})), (std::vector<int64_t>{2, 2, 4, 4}));
    EXPECT_THROW(run1("MatMulInteger", {F({1, 1}, {1}), b}), OnnxError);
}

TEST(OnnxOps, ConvIntegerAndLinearQuantization) {
    // The specification's example: x 2..10 (zero point 1), a 2x2 kernel of ones.
    Value x = U8({1, 1, 3, 3}, {2, 3, 4, 5, 6, 7, 8, 9, 10});
    Value w = U8({1, 1, 2, 2}, {1, 1, 1, 1});
    Value y = run1("ConvInteger", {x, w, U8({}, {1})});
    ASSERT_EQ(y.dtype, DType::Int32);
    EXPECT_EQ(y.shape, (Shape{1, 1, 2, 2}));
    EXPECT_EQ(il(y), (std::vector<int64_t>{12, 16, 24, 28}));
    // With pads 1 the border reads the zero point, contributing nothing.
    Value yp = run1("ConvInteger", {x, w, U8({}, {1})}, {{"pads", ints({1, 1, 1, 1})}, {"strides", ints({2, 2})}});
    EXPECT_EQ(il(yp), (std::vector<int64_t>{1, 5, 11, 28}));
    // DequantizeLinear: (x - 128) * 2.
    expect_near(run1("DequantizeLinear", {U8({4}, {0, 3, 128, 255}), F({}, {2}), U8({}, {128})}), {4}, {-256, -250, 0, 254});
    // Per-axis scales on axis 1.
    expect_near(run1("DequantizeLinear", {U8({1, 2}, {3, 3}), F({2}, {1, 10}), U8({2}, {1, 2})}, {{"axis", ai(1)}}), {1, 2},
                {2, 10});
    // QuantizeLinear rounds half to even and saturates: 3/2 = 1.5 -> 2.
    Value q = run1("QuantizeLinear", {F({6}, {0, 2, 3, 1000, -254, -1000}), F({}, {2}), U8({}, {128})});
    EXPECT_EQ(il(q), (std::vector<int64_t>{128, 129, 130, 255, 1, 0}));
}

// A graph y = x + (a * b): the product of two initializers is folded at load, one node remains.
TEST(OnnxGraph, FoldsConstantsAndRuns) {
    ::onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(17);
    auto* g = m.mutable_graph();
    for (auto [name, v] : {std::pair<const char*, float>{"a", 2.0f}, {"b", 3.0f}}) {
        auto* t = g->add_initializer();
        t->set_name(name);
        t->set_data_type(1);
        t->add_dims(1);
        t->add_float_data(v);
    }
    auto* in = g->add_input();
    in->set_name("x");
    in->mutable_type()->mutable_tensor_type()->set_elem_type(1);
    in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_param("n");
    auto* n1 = g->add_node();
    n1->set_op_type("Mul");
    n1->add_input("a");
    n1->add_input("b");
    n1->add_output("ab");
    auto* n2 = g->add_node();
    n2->set_op_type("Add");
    n2->add_input("x");
    n2->add_input("ab");
    n2->add_output("y");
    g->add_output()->set_name("y");
    g->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(1);
    Graph graph = Graph::parse(m.SerializeAsString(), "tiny");
    EXPECT_EQ(graph.runtime_nodes(), 1u);
    std::vector<Value> out = graph.run({{"x", F({3}, {1, 2, 3})}});
    expect_near(out[0], {3}, {7, 8, 9});
    // Wrong type and wrong rank are named.
    try {
        graph.run({{"x", I({3}, {1, 2, 3})}});
        FAIL() << "no error";
    } catch (const OnnxError& e) {
        EXPECT_NE(std::string(e.what()).find("graph input 'x' is int64[3], expected float[?]"), std::string::npos) << e.what();
    }
    EXPECT_THROW(graph.run({}), OnnxError);
    // A node reading a value nobody produces fails at load.
    n2->set_input(1, "missing");
    try {
        Graph::parse(m.SerializeAsString(), "tiny");
        FAIL() << "no error";
    } catch (const OnnxError& e) {
        EXPECT_NE(std::string(e.what()).find("reads 'missing'"), std::string::npos) << e.what();
    }
}

TEST(OnnxOps, Gelu) {
    // 0.5 x (1 + erf(x / sqrt 2)): Phi(1) = 0.8413447, Phi(-2) = 0.0227501.
    Value x = F({4}, {0, 1, -1, -2});
    expect_near(run1("Gelu", {x}), {4}, {0, 0.8413447f, -0.1586553f, -0.0455003f}, 1e-6f);
    // tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); x = 1 gives 0.8411920.
    expect_near(run1("Gelu", {x}, {{"approximate", as("tanh")}}), {4}, {0, 0.8411920f, -0.1588080f, -0.0454023f}, 1e-6f);
    EXPECT_THROW(run1("Gelu", {x}, {{"approximate", as("sigmoid")}}), OnnxError);
}

// PyTorch's GELU export x -> Div(sqrt 2) -> Erf -> Add(1) -> Mul(x) -> Mul(0.5), with `extra_output`
// also declared as a graph output when not empty.
std::string gelu_chain_model(const std::string& extra_output) {
    ::onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(17);
    auto* g = m.mutable_graph();
    for (auto [name, v] : {std::pair<const char*, float>{"sqrt2", 1.4142135381698608f}, {"one", 1.0f}, {"half", 0.5f}}) {
        auto* t = g->add_initializer();
        t->set_name(name);
        t->set_data_type(1);
        t->add_float_data(v);
    }
    auto* in = g->add_input();
    in->set_name("x");
    in->mutable_type()->mutable_tensor_type()->set_elem_type(1);
    in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_param("n");
    auto node = [&](const char* op, std::vector<std::string> ins, const char* out) {
        auto* n = g->add_node();
        n->set_op_type(op);
        for (const auto& i : ins) n->add_input(i);
        n->add_output(out);
    };
    node("Div", {"x", "sqrt2"}, "d");
    node("Erf", {"d"}, "e");
    node("Add", {"e", "one"}, "a");
    node("Mul", {"x", "a"}, "m");
    node("Mul", {"m", "half"}, "y");
    for (std::string name : {std::string("y"), extra_output}) {
        if (name.empty()) continue;
        auto* o = g->add_output();
        o->set_name(name);
        o->mutable_type()->mutable_tensor_type()->set_elem_type(1);
    }
    return m.SerializeAsString();
}

TEST(OnnxGraph, FusesTheExportedGeluChain) {
    Graph fused = Graph::parse(gelu_chain_model(""), "gelu");
    EXPECT_EQ(fused.runtime_nodes(), 1u);
    std::vector<Value> out = fused.run({{"x", F({4}, {0, 1, -1, -2})}});
    expect_near(out[0], {4}, {0, 0.8413447f, -0.1586553f, -0.0455003f}, 1e-6f);
    // An intermediate someone else reads (here a graph output) keeps the chain as it is.
    Graph kept = Graph::parse(gelu_chain_model("e"), "gelu");
    EXPECT_EQ(kept.runtime_nodes(), 5u);
    out = kept.run({{"x", F({4}, {0, 1, -1, -2})}});
    expect_near(out[0], {4}, {0, 0.8413447f, -0.1586553f, -0.0455003f}, 1e-6f);
    expect_near(out[1], {4}, {0, 0.6826895f, -0.6826895f, -0.9544997f}, 1e-6f);  // erf(x / sqrt 2)
}

// A float graph built node by node: inputs with fixed shapes, float initializers, outputs.
struct TinyModel {
    ::onnx::ModelProto m;
    ::onnx::GraphProto* g;
    TinyModel() {
        m.set_ir_version(8);
        m.add_opset_import()->set_version(17);
        g = m.mutable_graph();
    }
    void input(const std::string& name, Shape s) {
        auto* in = g->add_input();
        in->set_name(name);
        in->mutable_type()->mutable_tensor_type()->set_elem_type(1);
        for (int64_t d : s) in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
    }
    void init(const std::string& name, Shape s, std::vector<float> v) {
        auto* t = g->add_initializer();
        t->set_name(name);
        t->set_data_type(1);
        for (int64_t d : s) t->add_dims(d);
        for (float x : v) t->add_float_data(x);
    }
    ::onnx::NodeProto* node(const char* op, std::vector<std::string> ins, const char* out) {
        auto* n = g->add_node();
        n->set_op_type(op);
        for (const auto& i : ins) n->add_input(i);
        n->add_output(out);
        return n;
    }
    void output(const std::string& name) {
        auto* o = g->add_output();
        o->set_name(name);
        o->mutable_type()->mutable_tensor_type()->set_elem_type(1);
    }
    std::string bytes() const { return m.SerializeAsString(); }
};

// Deterministic values in [-1, 1).
Value ramp(Shape s, float step) {
    Value x = Value::alloc(DType::Float, s);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::fmod(i * step, 2.0f) - 1.0f;
    return x;
}

// The first output of graph `a` equals graph `b`'s within float rounding. The reference graphs
// are the same models with an intermediate also declared a graph output, which blocks the fusion.
void expect_same_output(const Graph& a, const Graph& b, const std::map<std::string, Value>& feeds) {
    Value ya = a.run(feeds)[0], yb = b.run(feeds)[0];
    ASSERT_EQ(ya.shape, yb.shape);
    for (int64_t i = 0; i < ya.numel(); ++i) ASSERT_NEAR(ya.data<float>()[i], yb.data<float>()[i], 1e-5f) << "element " << i;
}

void add_transpose(TinyModel& t, const char* in, std::vector<int64_t> perm, const char* out) {
    auto* a = t.node("Transpose", {in}, out)->add_attribute();
    a->set_name("perm");
    a->set_type(::onnx::AttributeProto::INTS);
    for (int64_t p : perm) a->add_ints(p);
}

// Attention scores as SAM exports them: x [1, 5, 2, 3] (tokens, heads, head dim) -> Transpose to
// [1, 2, 3, 5] -> MatMul(q [1, 2, 4, 3], .) -> [1, 2, 4, 5]. Also the plain last-two-dims swap.
std::string scores_model(std::vector<int64_t> perm, Shape x_shape, bool expose) {
    TinyModel t;
    t.input("q", {1, 2, 4, 3});
    t.input("x", x_shape);
    add_transpose(t, "x", perm, "kt");
    t.node("MatMul", {"q", "kt"}, "s");
    t.output("s");
    if (expose) t.output("kt");
    return t.bytes();
}

TEST(OnnxGraph, TransposeFeedingMatMulBecomesTransB) {
    std::map<std::string, Value> feeds{{"q", ramp({1, 2, 4, 3}, 0.37f)}, {"x", ramp({1, 5, 2, 3}, 0.23f)}};
    // perm (0, 2, 3, 1): the Transpose stays as (0, 2, 1, 3), whole rows moved; the MatMul reads B transposed.
    Graph fused = Graph::parse(scores_model({0, 2, 3, 1}, {1, 5, 2, 3}, false), "scores");
    Graph plain = Graph::parse(scores_model({0, 2, 3, 1}, {1, 5, 2, 3}, true), "scores");
    EXPECT_EQ(fused.runtime_nodes(), 2u);
    EXPECT_EQ(plain.runtime_nodes(), 2u);
    expect_same_output(fused, plain, feeds);
    std::vector<Value> a = fused.run(feeds);
    ASSERT_EQ(a[0].shape, (Shape{1, 2, 4, 5}));
    // One hand-computed score: head 1, query 2, token 4 = sum_d q[0,1,2,d] * x[0,4,1,d].
    const float* q = feeds["q"].data<float>();
    const float* x = feeds["x"].data<float>();
    float want = 0;
    for (int d = 0; d < 3; ++d) want += q[(1 * 4 + 2) * 3 + d] * x[(4 * 2 + 1) * 3 + d];
    EXPECT_NEAR(a[0].data<float>()[(1 * 4 + 2) * 5 + 4], want, 1e-6f);

    // perm (0, 1, 3, 2) on [1, 2, 5, 3]: the Transpose goes entirely.
    feeds["x"] = ramp({1, 2, 5, 3}, 0.23f);
    Graph gone = Graph::parse(scores_model({0, 1, 3, 2}, {1, 2, 5, 3}, false), "scores");
    EXPECT_EQ(gone.runtime_nodes(), 1u);
    Graph kept = Graph::parse(scores_model({0, 1, 3, 2}, {1, 2, 5, 3}, true), "scores");
    EXPECT_EQ(kept.runtime_nodes(), 2u);
    expect_same_output(gone, kept, feeds);

    // perm (0, 3, 1, 2) moves the last dim elsewhere than next-to-last: nothing changes.
    feeds["x"] = ramp({1, 2, 3, 5}, 0.23f);
    Graph other = Graph::parse(scores_model({0, 3, 1, 2}, {1, 3, 5, 2}, false), "scores");
    EXPECT_EQ(other.runtime_nodes(), 2u);
}

// A projection as exported from nn.Linear plus a residual: y = x · W + b + r, with `expose` also
// declaring the intermediate `exposed` a graph output (which keeps the nodes apart).
std::string linear_residual_model(const std::string& expose) {
    TinyModel t;
    t.input("x", {2, 3, 4});
    t.input("r", {2, 3, 5});
    std::vector<float> w(20), b(5);
    for (int i = 0; i < 20; ++i) w[i] = 0.1f * i - 0.9f;
    for (int i = 0; i < 5; ++i) b[i] = 0.25f * i;
    t.init("w", {4, 5}, w);
    t.init("b", {5}, b);
    t.node("MatMul", {"x", "w"}, "xw");
    t.node("Add", {"b", "xw"}, "xwb");  // the bias first, as PyTorch exports it
    t.node("Add", {"xwb", "r"}, "y");
    t.output("y");
    if (!expose.empty()) t.output(expose);
    return t.bytes();
}

TEST(OnnxGraph, MatMulTakesBiasAndResidualAdds) {
    std::map<std::string, Value> feeds{{"x", ramp({2, 3, 4}, 0.31f)}, {"r", ramp({2, 3, 5}, 0.17f)}};
    Graph fused = Graph::parse(linear_residual_model(""), "linear");
    EXPECT_EQ(fused.runtime_nodes(), 1u);
    Graph plain = Graph::parse(linear_residual_model("xw"), "linear");
    EXPECT_EQ(plain.runtime_nodes(), 3u);
    expect_same_output(fused, plain, feeds);
    // By hand: y[1, 2, 3] = sum_k x[1, 2, k] * w[k, 3] + b[3] + r[1, 2, 3].
    const float* x = feeds["x"].data<float>();
    float want = 0.25f * 3 + feeds["r"].data<float>()[(1 * 3 + 2) * 5 + 3];
    for (int k = 0; k < 4; ++k) want += x[(1 * 3 + 2) * 4 + k] * (0.1f * (k * 5 + 3) - 0.9f);
    EXPECT_NEAR(fused.run(feeds)[0].data<float>()[(1 * 3 + 2) * 5 + 3], want, 1e-5f);
    // With the biased product read elsewhere only the bias Add is fused.
    Graph half = Graph::parse(linear_residual_model("xwb"), "linear");
    EXPECT_EQ(half.runtime_nodes(), 2u);
    expect_same_output(half, plain, feeds);
    // An addend that broadcasts (r of shape [3, 5]) is added after the product, as Add would.
    feeds["r"] = ramp({3, 5}, 0.17f);
    TinyModel t;
    t.m.ParseFromString(linear_residual_model(""));
    t.g = t.m.mutable_graph();
    auto* dims = t.g->mutable_input(1)->mutable_type()->mutable_tensor_type()->mutable_shape();
    dims->mutable_dim()->DeleteSubrange(0, 1);
    Graph bcast = Graph::parse(t.bytes(), "linear");
    EXPECT_EQ(bcast.runtime_nodes(), 1u);
    std::vector<Value> y = bcast.run(feeds);
    ASSERT_EQ(y[0].shape, (Shape{2, 3, 5}));
    float r_bc = feeds["r"].data<float>()[2 * 5 + 3];
    float base = 0.25f * 3;
    for (int k = 0; k < 4; ++k) base += x[(1 * 3 + 2) * 4 + k] * (0.1f * (k * 5 + 3) - 0.9f);
    EXPECT_NEAR(y[0].data<float>()[(1 * 3 + 2) * 5 + 3], base + r_bc, 1e-5f);
}

// SAM's mask branch in small: y = x + Relu(m * w) * h. Fixing m and the flag h makes the whole
// branch constant, so the specialised graph keeps only the final Add.
std::string mask_branch_model() {
    TinyModel t;
    t.input("x", {3});
    t.input("m", {3});
    t.input("h", {1});
    t.init("w", {3}, {2.0f, -1.0f, 0.5f});
    t.node("Mul", {"m", "w"}, "mw");
    t.node("Relu", {"mw"}, "r");
    t.node("Mul", {"r", "h"}, "rh");
    t.node("Add", {"x", "rh"}, "y");
    t.output("y");
    return t.bytes();
}

TEST(OnnxGraph, SpecializeFoldsNodesOfFixedInputs) {
    Graph general = Graph::parse(mask_branch_model(), "branch");
    EXPECT_EQ(general.runtime_nodes(), 4u);
    Value x = F({3}, {1, 2, 3}), m = F({3}, {1, 1, 4});
    for (float h : {0.0f, 1.0f}) {
        Graph special = general.specialize({{"m", m}, {"h", F({1}, {h})}});
        EXPECT_EQ(special.runtime_nodes(), 1u);
        ASSERT_EQ(special.inputs().size(), 1u);
        EXPECT_EQ(special.inputs()[0].name, "x");
        Value want = general.run({{"x", x}, {"m", m}, {"h", F({1}, {h})}})[0];
        expect_near(want, {3}, {1 + 2 * h, 2, 3 + 2 * h});  // Relu(1*2, 1*-1, 4*0.5) = (2, 0, 2)
        Value got = special.run({{"x", x}})[0];
        ASSERT_EQ(got.shape, want.shape);
        for (int i = 0; i < 3; ++i) EXPECT_EQ(got.data<float>()[i], want.data<float>()[i]) << "element " << i;
    }
    // Fixing only the flag folds nothing that still depends on m.
    Graph flag_only = general.specialize({{"h", F({1}, {0})}});
    EXPECT_EQ(flag_only.runtime_nodes(), 4u);
    expect_near(flag_only.run({{"x", x}, {"m", m}})[0], {3}, {1, 2, 3});
    // Errors: an unknown input, a value of the wrong shape, feeding an input that was fixed.
    auto message = [](auto&& f) {
        try {
            f();
        } catch (const OnnxError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    std::string e = message([&] { general.specialize({{"z", x}}); });
    EXPECT_NE(e.find("cannot specialize 'z': it is not an input"), std::string::npos) << e;
    e = message([&] { general.specialize({{"h", x}}); });
    EXPECT_NE(e.find("graph input 'h' is float[3], expected float[1]"), std::string::npos) << e;
    e = message([&] { flag_only.run({{"x", x}, {"m", m}, {"h", F({1}, {0})}}); });
    EXPECT_NE(e.find("'h' is not an input of the graph"), std::string::npos) << e;
}

// Softmax rows against exp / sum computed here: short rows (a lane per row, 16 rows a block,
// with a partial last block; enough rows to run on both threads) and a row longer than 16.
TEST(OnnxOps, SoftmaxShortAndLongRows) {
    for (Shape s : {Shape{37, 7}, Shape{2, 8, 613, 7}, Shape{3, 1}, Shape{5, 20}}) {
        Value x = ramp(s, 0.61f);
        for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] *= 9.0f;  // logits in [-9, 9)
        Value y = run1("Softmax", {x});
        ASSERT_EQ(y.shape, s);
        int64_t n = s.back();
        for (int64_t r = 0; r < x.numel() / n; ++r) {
            const float* xr = x.data<float>() + r * n;
            double mx = *std::max_element(xr, xr + n), sum = 0;
            for (int64_t k = 0; k < n; ++k) sum += std::exp(double(xr[k]) - mx);
            for (int64_t k = 0; k < n; ++k)
                ASSERT_NEAR(y.data<float>()[r * n + k], std::exp(double(xr[k]) - mx) / sum, 1e-6) << "row " << r << " col " << k;
        }
    }
}

// SAM's output upscaling step: ConvTranspose (stride = kernel 2) then exact Gelu. The loader
// applies the Gelu inside the ConvTranspose; exposing the ConvTranspose output keeps them apart.
std::string upscale_gelu_model(bool expose) {
    TinyModel t;
    t.input("x", {1, 3, 4, 5});
    std::vector<float> w(3 * 2 * 2 * 2), b{0.1f, -0.2f};
    for (size_t i = 0; i < w.size(); ++i) w[i] = 0.07f * float(i) - 0.8f;
    t.init("w", {3, 2, 2, 2}, w);
    t.init("b", {2}, b);
    auto* ct = t.node("ConvTranspose", {"x", "w", "b"}, "up");
    for (const char* name : {"strides", "kernel_shape"}) {
        auto* a = ct->add_attribute();
        a->set_name(name);
        a->set_type(::onnx::AttributeProto::INTS);
        a->add_ints(2);
        a->add_ints(2);
    }
    t.node("Gelu", {"up"}, "y");
    t.output("y");
    if (expose) t.output("up");
    return t.bytes();
}

TEST(OnnxGraph, ConvTransposeTakesTheFollowingGelu) {
    Graph fused = Graph::parse(upscale_gelu_model(false), "upscale");
    Graph plain = Graph::parse(upscale_gelu_model(true), "upscale");
    EXPECT_EQ(fused.runtime_nodes(), 1u);
    EXPECT_EQ(plain.runtime_nodes(), 2u);
    std::map<std::string, Value> feeds{{"x", ramp({1, 3, 4, 5}, 0.29f)}};
    expect_same_output(fused, plain, feeds);
    // By hand: y[0, 1, 3, 4] comes from x[0, :, 1, 2] and w[:, 1, 1, 0], plus b[1], through Gelu.
    const float* x = feeds["x"].data<float>();
    double up = -0.2;
    for (int c = 0; c < 3; ++c) up += x[(c * 4 + 1) * 5 + 2] * (0.07 * ((c * 2 + 1) * 4 + 1 * 2 + 0) - 0.8);
    double want = 0.5 * up * (1 + std::erf(up / std::sqrt(2.0)));
    Value y = fused.run(feeds)[0];
    ASSERT_EQ(y.shape, (Shape{1, 2, 8, 10}));
    EXPECT_NEAR(y.data<float>()[(1 * 8 + 3) * 10 + 4], want, 1e-5);
}

// Split into one piece, Concat of one piece (or with empty ones) and Expand to the same shape
// copy nothing: values are immutable, the output shares the input's buffer.
TEST(OnnxOps, WholeValueSplitConcatExpandShareTheBuffer) {
    Value x = F({1, 2, 3}, {1, 2, 3, 4, 5, 6});
    Value s = run("Split", {x}, {{"axis", ai(1)}}, 1)[0];
    EXPECT_EQ(s.ptr, x.ptr);
    EXPECT_EQ(s.shape, x.shape);
    Value c = run1("Concat", {x}, {{"axis", ai(0)}});
    EXPECT_EQ(c.ptr, x.ptr);
    Value empty = Value::alloc(DType::Float, {1, 0, 3});
    Value c2 = run1("Concat", {empty, x}, {{"axis", ai(1)}});
    EXPECT_EQ(c2.ptr, x.ptr);
    EXPECT_EQ(c2.shape, x.shape);
    Value e = run1("Expand", {x, I({2}, {2, 1})}, {});
    EXPECT_EQ(e.ptr, x.ptr);
    expect_near(e, {1, 2, 3}, {1, 2, 3, 4, 5, 6});
    // A real repeat still copies.
    Value e2 = run1("Expand", {x, I({3}, {2, 1, 1})}, {});
    EXPECT_NE(e2.ptr, x.ptr);
    expect_near(e2, {2, 2, 3}, {1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6});
}

}  // namespace

// An attention graph as SAM's export writes it, built node by node, with random constants.
struct AttentionModel {
    ::onnx::ModelProto m;
    ::onnx::GraphProto* g = m.mutable_graph();
    uint32_t seed = 12345;

    AttentionModel() {
        m.set_ir_version(8);
        m.add_opset_import()->set_version(17);
    }
    float rnd() { return (seed = seed * 1664525u + 1013904223u) / 4294967296.0f - 0.5f; }
    void init(const char* name, std::vector<int64_t> dims, std::vector<int64_t> ints = {}) {
        auto* t = g->add_initializer();
        t->set_name(name);
        t->set_data_type(ints.empty() ? 1 : 7);
        int64_t n = 1;
        for (int64_t dim : dims) {
            t->add_dims(dim);
            n *= dim;
        }
        for (int64_t i = 0; i < n; ++i) ints.empty() ? t->add_float_data(rnd()) : t->add_int64_data(ints[i]);
    }
    void scalar(const char* name, float v) {
        auto* t = g->add_initializer();
        t->set_name(name);
        t->set_data_type(1);
        t->add_float_data(v);
    }
    // dims < 0: a symbolic dimension ("n").
    void input(const char* name, std::vector<int64_t> dims) {
        auto* in = g->add_input();
        in->set_name(name);
        auto* tt = in->mutable_type()->mutable_tensor_type();
        tt->set_elem_type(1);
        for (int64_t dim : dims) dim < 0 ? tt->mutable_shape()->add_dim()->set_dim_param("n") : tt->mutable_shape()->add_dim()->set_dim_value(dim);
    }
    void add(const char* op, std::vector<const char*> ins, const char* out, std::vector<int64_t> perm = {}) {
        auto* n = g->add_node();
        n->set_op_type(op);
        n->set_name(out);
        for (const char* i : ins) n->add_input(i);
        n->add_output(out);
        if (!perm.empty()) {
            auto* a = n->add_attribute();
            a->set_name("perm");
            a->set_type(::onnx::AttributeProto::INTS);
            for (int64_t p : perm) a->add_ints(p);
        }
    }
    void output(const char* name) {
        auto* o = g->add_output();
        o->set_name(name);
        o->mutable_type()->mutable_tensor_type()->set_elem_type(1);
    }
    Value values(Shape s) {
        Value v = Value::alloc(DType::Float, s);
        for (int64_t i = 0; i < v.numel(); ++i) v.data<float>()[i] = 4.0f * rnd();
        return v;
    }
};

// The folded graph's output against the plain one's, relative to the output's size.
void expect_close(const Graph& plain, const Graph& folded, const std::map<std::string, Value>& feeds, const std::string& what) {
    const Value want = plain.run(feeds)[0];
    const Value got = folded.run(feeds)[0];
    ASSERT_EQ(got.shape, want.shape) << what;
    float worst = 0, scale = 0;
    for (int64_t i = 0; i < want.numel(); ++i) {
        worst = std::max(worst, std::fabs(got.data<float>()[i] - want.data<float>()[i]));
        scale = std::max(scale, std::fabs(want.data<float>()[i]));
    }
    EXPECT_GT(scale, 0.1f) << what;
    EXPECT_LT(worst, 1e-5f * 8 * scale) << what;
}

// SAM's token-to-image attention as its export writes it: keys and values projected from T
// tokens (MatMul + bias Add, Reshape to heads, Transpose), scores divided by a constant, softmax,
// product with the values. fold_attention_projections moves the projections onto the queries:
// one node instead of nine, the same result for any number of queries.
TEST(OnnxGraph, AttentionProjectionsMoveOntoTheQueries) {
    const int64_t T = 256, E = 32, H = 4, d = 8;
    AttentionModel a;
    a.init("wk", {E, H * d});
    a.init("bk", {H * d});
    a.init("wv", {E, H * d});
    a.init("bv", {H * d});
    a.init("heads_shape", {4}, {1, T, H, d});
    a.scalar("divisor", 2.0f);
    a.input("q", {1, H, -1, d});
    a.input("keys", {1, T, E});
    a.input("values", {1, T, E});
    a.add("MatMul", {"keys", "wk"}, "k0");
    a.add("Add", {"bk", "k0"}, "k1");
    a.add("Reshape", {"k1", "heads_shape"}, "k2");
    a.add("Transpose", {"k2"}, "kt", {0, 2, 3, 1});
    a.add("MatMul", {"values", "wv"}, "v0");
    a.add("Add", {"bv", "v0"}, "v1");
    a.add("Reshape", {"v1", "heads_shape"}, "v2");
    a.add("Transpose", {"v2"}, "vh", {0, 2, 1, 3});
    a.add("MatMul", {"q", "kt"}, "s0");
    a.add("Div", {"s0", "divisor"}, "s1");
    a.add("Softmax", {"s1"}, "p");
    a.add("MatMul", {"p", "vh"}, "y");
    a.output("y");

    const Graph plain = Graph::parse(a.m.SerializeAsString(), "attention");
    Graph folded = plain;
    folded.fold_attention_projections();
    EXPECT_EQ(folded.runtime_nodes(), 1u);
    EXPECT_GT(plain.runtime_nodes(), 5u);
    const Value keys = a.values({1, T, E}), vals = a.values({1, T, E});
    for (int64_t n : {1, 7})
        expect_close(plain, folded, {{"q", a.values({1, H, n, d})}, {"keys", keys}, {"values", vals}},
                     std::to_string(n) + " queries");
}

// SAM's image-to-token attention: T image tokens (queries, projected with a constant weight and
// bias) attend to n prompt tokens' keys and values, then the heads merge (Transpose, Reshape)
// into the output projection with its bias and the residual. fold_attention_projections moves
// both big projections onto the n keys and values: two nodes instead of the two products and
// the reshuffles, the same result for any n.
TEST(OnnxGraph, ImageToTokenProjectionsMoveOntoTheKeys) {
    const int64_t T = 256, E = 32, H = 4, d = 8;
    AttentionModel a;
    a.init("wq", {E, H * d});
    a.init("bq", {H * d});
    a.init("wo", {H * d, E});
    a.init("bo", {E});
    a.init("heads_shape", {4}, {1, T, H, d});
    a.init("merged_shape", {3}, {1, T, H * d});
    a.scalar("divisor", 2.0f);
    a.input("x", {1, T, E});
    a.input("k", {1, H, -1, d});
    a.input("v", {1, H, -1, d});
    a.input("residual", {1, T, E});
    a.add("MatMul", {"x", "wq"}, "q0");
    a.add("Add", {"q0", "bq"}, "q1");
    a.add("Reshape", {"q1", "heads_shape"}, "q2");
    a.add("Transpose", {"q2"}, "qh", {0, 2, 1, 3});
    a.add("Transpose", {"k"}, "kt", {0, 1, 3, 2});
    a.add("MatMul", {"qh", "kt"}, "s0");
    a.add("Div", {"s0", "divisor"}, "s1");
    a.add("Softmax", {"s1"}, "p");
    a.add("MatMul", {"p", "v"}, "o0");
    a.add("Transpose", {"o0"}, "o1", {0, 2, 1, 3});
    a.add("Reshape", {"o1", "merged_shape"}, "o2");
    a.add("MatMul", {"o2", "wo"}, "y0");
    a.add("Add", {"y0", "bo"}, "y1");
    a.add("Add", {"y1", "residual"}, "y");
    a.output("y");

    const Graph plain = Graph::parse(a.m.SerializeAsString(), "image to token");
    Graph folded = plain;
    folded.fold_attention_projections();
    EXPECT_EQ(folded.runtime_nodes(), 4u);  // ProjectedScores, Div, Softmax, HeadsOutProjection
    EXPECT_GT(plain.runtime_nodes(), 7u);
    const Value x = a.values({1, T, E}), residual = a.values({1, T, E});
    for (int64_t n : {1, 7})
        expect_close(plain, folded, {{"x", x}, {"k", a.values({1, H, n, d})}, {"v", a.values({1, H, n, d})}, {"residual", residual}},
                     std::to_string(n) + " keys");
}

// An empty value whose other dimensions multiply past int64 (a hostile file's initializer, found
// by fuzz_onnx: counting its elements overflowed before reaching the zero; UBSan in
// scripts/sanitize.sh catches a regression). Used as Expand's shape it is an empty shape.
TEST(OnnxOps, EmptyValuesWithHugeDimensionsHaveNoElements) {
    const Shape huge{2, int64_t(1) << 40, int64_t(1) << 40, 0, 3};
    Value v = Value::alloc(DType::Float, huge);
    EXPECT_EQ(v.numel(), 0);
    EXPECT_TRUE(v.to_i64().empty());
    Value y = run1("Expand", {F({1, 2}, {1, 2}), v}, {});
    expect_near(y, {1, 2}, {1, 2});
}

// A float read as a size or an index (a hostile file's Expand shape): truncated when it fits an
// integer, an OnnxError naming the value when it does not (found by fuzz_onnx).
TEST(OnnxOps, FloatsReadAsIntegersMustFit) {
    EXPECT_EQ(F({2}, {3.7f, -2.5f}).to_i64(), (std::vector<int64_t>{3, -2}));
    EXPECT_THROW(F({1}, {1.87545e28f}).get_i64(0), OnnxError);
    EXPECT_THROW(F({1}, {std::nanf("")}).get_i64(0), OnnxError);
    EXPECT_THROW(run1("Expand", {F({1}, {1.0f}), F({2}, {2.0f, 1.87545e28f})}), OnnxError);
}
