// Element-wise operators with numpy broadcasting: arithmetic, comparison, Where, Cast and the
// float functions (Erf, Sin, Cos, Sqrt, ...). Also the operator table and shared helpers.
#include <cmath>
#include <cstring>

#include "onnx/op_util.hpp"

namespace sam::onnx {

const Value& arg(const Node& node, const std::vector<const Value*>& in, size_t k) {
    if (k >= in.size() || !in[k])
        throw OnnxError(node.where() + ": input " + std::to_string(k) + " is required but missing");
    return *in[k];
}

const Value* opt(const std::vector<const Value*>& in, size_t k) { return k < in.size() ? in[k] : nullptr; }

void expect_dtype(const Node& node, const Value& v, DType t, const char* what) {
    if (v.dtype != t)
        throw OnnxError(node.where() + ": " + what + " must be " + dtype_name(t) + ", got " + v.desc());
}

void expect_float(const Node& node, const Value& v, const char* what) { expect_dtype(node, v, DType::Float, what); }

int norm_axis(const Node& node, int64_t axis, int rank) {
    if (axis < -rank || axis >= rank)
        throw OnnxError(node.where() + ": axis " + std::to_string(axis) + " is out of range for rank " +
                        std::to_string(rank));
    return static_cast<int>(axis < 0 ? axis + rank : axis);
}

std::vector<int64_t> conv_attr(const Node& node, const char* key, int64_t dflt, size_t n, int64_t lo) {
    constexpr int64_t kMax = int64_t(1) << 20;
    std::vector<int64_t> v = node.attr_ints(key);
    if (v.empty()) v.assign(n, dflt);
    if (v.size() != n)
        throw OnnxError(node.where() + ": attribute '" + key + "' must have " + std::to_string(n) + " values for a 2-D convolution");
    for (int64_t x : v)
        if (x < lo || x > kMax)
            throw OnnxError(node.where() + ": attribute '" + key + "' " + shape_str(v) + " must hold values in " +
                            std::to_string(lo) + ".." + std::to_string(kMax));
    return v;
}

Shape broadcast_shapes(const Node& node, const Shape& a, const Shape& b) {
    size_t r = std::max(a.size(), b.size());
    Shape out(r);
    for (size_t i = 0; i < r; ++i) {
        int64_t da = i + a.size() >= r ? a[i + a.size() - r] : 1;
        int64_t db = i + b.size() >= r ? b[i + b.size() - r] : 1;
        if (da != db && da != 1 && db != 1)
            throw OnnxError(node.where() + ": cannot broadcast shapes " + shape_str(a) + " and " + shape_str(b));
        out[i] = da == 1 ? db : da;
    }
    return out;
}

template <class T, class R, class F>
static void binary_loop(const Node& node, const Value& a, const Value& b, Value& y, F f) {
    Broadcast<2> bc(node, y.shape, {&a.shape, &b.shape});
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    R* py = y.data<R>();
    bc.for_row_pieces([&](const std::array<int64_t, 2>& off, int64_t o, int64_t n, const std::array<int64_t, 2>& st) {
        const T* x = pa + off[0];
        const T* z = pb + off[1];
        R* out = py + o;
        if (st[0] && st[1]) {
            for (int64_t j = 0; j < n; ++j) out[j] = f(x[j], z[j]);
        } else if (st[0]) {
            T zz = z[0];
            for (int64_t j = 0; j < n; ++j) out[j] = f(x[j], zz);
        } else if (st[1]) {
            T xx = x[0];
            for (int64_t j = 0; j < n; ++j) out[j] = f(xx, z[j]);
        } else {
            R v = f(x[0], z[0]);
            for (int64_t j = 0; j < n; ++j) out[j] = v;
        }
    });
}

static void same_dtype(const Node& node, const Value& a, const Value& b) {
    if (a.dtype != b.dtype)
        throw OnnxError(node.where() + ": inputs have different types " + a.desc() + " and " + b.desc());
}

// Add/Sub/Mul/Div on float, int64 or int32 (integer division truncates, as in onnxruntime).
template <class Op>
static void arith(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& a = arg(node, in, 0);
    const Value& b = arg(node, in, 1);
    same_dtype(node, a, b);
    Value y = Value::alloc(a.dtype, broadcast_shapes(node, a.shape, b.shape));
    switch (a.dtype) {
        case DType::Float: binary_loop<float, float>(node, a, b, y, Op{}); break;
        case DType::Int64: binary_loop<int64_t, int64_t>(node, a, b, y, Op{}); break;
        case DType::Int32: binary_loop<int32_t, int32_t>(node, a, b, y, Op{}); break;
        default: throw OnnxError(node.where() + ": unsupported input type " + a.desc());
    }
    out[0] = std::move(y);
}

struct AddOp { template <class T> T operator()(T x, T y) const { return x + y; } };
struct SubOp { template <class T> T operator()(T x, T y) const { return x - y; } };
struct MulOp { template <class T> T operator()(T x, T y) const { return x * y; } };
struct DivOp {
    template <class T> T operator()(T x, T y) const {
        if constexpr (std::is_integral_v<T>) return y == 0 ? 0 : x / y;
        else return x / y;
    }
};

static void op_pow(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& a = arg(node, in, 0);
    expect_float(node, a, "base");
    Value b = cast(arg(node, in, 1), DType::Float);
    Value y = Value::alloc(DType::Float, broadcast_shapes(node, a.shape, b.shape));
    if (b.numel() == 1 && b.data<float>()[0] == 2.0f)  // the variance pattern: exact and fast
        binary_loop<float, float>(node, a, b, y, [](float x, float) { return x * x; });
    else
        binary_loop<float, float>(node, a, b, y, [](float x, float e) { return std::pow(x, e); });
    out[0] = std::move(y);
}

static void op_equal(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& a = arg(node, in, 0);
    const Value& b = arg(node, in, 1);
    same_dtype(node, a, b);
    Value y = Value::alloc(DType::Bool, broadcast_shapes(node, a.shape, b.shape));
    auto eq = [](auto x, auto z) -> uint8_t { return x == z; };
    switch (a.dtype) {
        case DType::Float: binary_loop<float, uint8_t>(node, a, b, y, eq); break;
        case DType::Int64: binary_loop<int64_t, uint8_t>(node, a, b, y, eq); break;
        case DType::Int32: binary_loop<int32_t, uint8_t>(node, a, b, y, eq); break;
        default: binary_loop<uint8_t, uint8_t>(node, a, b, y, eq); break;
    }
    out[0] = std::move(y);
}

template <class T>
static void where_loop(const Node& node, const Value& c, const Value& x, const Value& z, Value& y) {
    Broadcast<3> bc(node, y.shape, {&c.shape, &x.shape, &z.shape});
    const uint8_t* pc = c.data<uint8_t>();
    const T* px = x.data<T>();
    const T* pz = z.data<T>();
    T* py = y.data<T>();
    bc.for_row_pieces([&](const std::array<int64_t, 3>& off, int64_t o, int64_t n, const std::array<int64_t, 3>& st) {
        for (int64_t j = 0; j < n; ++j)
            py[o + j] = pc[off[0] + j * st[0]] ? px[off[1] + j * st[1]] : pz[off[2] + j * st[2]];
    });
}

static void op_where(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& c = arg(node, in, 0);
    const Value& x = arg(node, in, 1);
    const Value& z = arg(node, in, 2);
    expect_dtype(node, c, DType::Bool, "condition");
    same_dtype(node, x, z);
    Value y = Value::alloc(x.dtype, broadcast_shapes(node, c.shape, broadcast_shapes(node, x.shape, z.shape)));
    switch (dtype_size(x.dtype)) {
        case 1: where_loop<uint8_t>(node, c, x, z, y); break;
        case 4: where_loop<uint32_t>(node, c, x, z, y); break;
        default: where_loop<uint64_t>(node, c, x, z, y); break;
    }
    out[0] = std::move(y);
}

static void op_cast(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    int64_t to = node.attr("to").i;
    if (!dtype_known(static_cast<int>(to)))
        throw OnnxError(node.where() + ": cannot cast to unsupported data type " + std::to_string(to));
    out[0] = cast(arg(node, in, 0), static_cast<DType>(to));
}

template <class F>
static void unary_float(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out, F f) {
    const Value& x = arg(node, in, 0);
    expect_float(node, x, "input");
    Value y = Value::alloc(DType::Float, x.shape);
    const float* px = x.data<float>();
    float* py = y.data<float>();
    const int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) py[i] = f(px[i]);
    out[0] = std::move(y);
}

#define SAM_UNARY(NAME, EXPR)                                                                       \
    static void op_##NAME(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) { \
        unary_float(node, in, out, [](float x) { return EXPR; });                                   \
    }
SAM_UNARY(erf, std::erf(x))
SAM_UNARY(sin, std::sin(x))
SAM_UNARY(cos, std::cos(x))
SAM_UNARY(sqrt, std::sqrt(x))
SAM_UNARY(reciprocal, 1.0f / x)
SAM_UNARY(floor, std::floor(x))
SAM_UNARY(relu, x > 0.0f ? x : 0.0f)
#undef SAM_UNARY

static void op_not(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    expect_dtype(node, x, DType::Bool, "input");
    Value y = Value::alloc(DType::Bool, x.shape);
    for (int64_t i = 0; i < x.numel(); ++i) y.data<uint8_t>()[i] = !x.data<uint8_t>()[i];
    out[0] = std::move(y);
}

static void op_identity(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    out[0] = arg(node, in, 0);
}

void register_elementwise_ops(OpTable& t) {
    t["Add"] = arith<AddOp>;
    t["Sub"] = arith<SubOp>;
    t["Mul"] = arith<MulOp>;
    t["Div"] = arith<DivOp>;
    t["Pow"] = op_pow;
    t["Equal"] = op_equal;
    t["Where"] = op_where;
    t["Cast"] = op_cast;
    t["Erf"] = op_erf;
    t["Sin"] = op_sin;
    t["Cos"] = op_cos;
    t["Sqrt"] = op_sqrt;
    t["Reciprocal"] = op_reciprocal;
    t["Floor"] = op_floor;
    t["Relu"] = op_relu;
    t["Not"] = op_not;
    t["Identity"] = op_identity;
}

OpFn find_op(const std::string& op_type) {
    static const OpTable table = [] {
        OpTable t;
        register_elementwise_ops(t);
        register_shape_ops(t);
        register_nn_ops(t);
        register_quant_ops(t);
        return t;
    }();
    auto it = table.find(op_type);
    return it == table.end() ? nullptr : it->second;
}

}  // namespace sam::onnx
