// Operators of onnxruntime's dynamically quantized exports (quantize_dynamic): activations are
// quantized per call (DynamicQuantizeLinear), products run on 8-bit integers with int32
// accumulation (MatMulInteger, ConvInteger), and weights may be dequantized (DequantizeLinear).
#include <algorithm>
#include <cmath>

#include "onnx/op_util.hpp"

namespace sam::onnx {

// Round half to even, as the ONNX specification requires for quantization.
static float round_even(float x) { return std::nearbyint(x); }

static void op_dynamic_quantize_linear(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    expect_float(node, x, "x");
    const float* px = x.data<float>();
    // The range always includes 0 so that 0 is exactly representable.
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < x.numel(); ++i) {
        lo = std::min(lo, px[i]);
        hi = std::max(hi, px[i]);
    }
    float scale = (hi - lo) / 255.0f;
    // An all-zero input has no range: every value quantizes to the zero point 0.
    float zp = scale > 0.0f ? std::clamp(round_even(0.0f - lo / scale), 0.0f, 255.0f) : 0.0f;
    Value y = Value::alloc(DType::UInt8, x.shape);
    uint8_t* py = y.data<uint8_t>();
    for (int64_t i = 0; i < x.numel(); ++i)
        py[i] = scale > 0.0f ? static_cast<uint8_t>(std::clamp(round_even(px[i] / scale) + zp, 0.0f, 255.0f)) : 0;
    Value vs = Value::scalar_f(scale);
    Value vz = Value::alloc(DType::UInt8, {});
    *vz.data<uint8_t>() = static_cast<uint8_t>(zp);
    out[0] = std::move(y);
    if (out.size() > 1) out[1] = std::move(vs);
    if (out.size() > 2) out[2] = std::move(vz);
}

static void expect_8bit(const Node& node, const Value& v, const char* what) {
    if (v.dtype != DType::UInt8 && v.dtype != DType::Int8)
        throw OnnxError(node.where() + ": " + what + " must be uint8 or int8, got " + v.desc());
}

// 8-bit tensor widened to int32 with its zero point subtracted. The zero point is a scalar or,
// for `per_axis` >= 0, one value per index of that axis.
static std::vector<int32_t> widen(const Node& node, const Value& v, const Value* zp, int per_axis, const char* what) {
    expect_8bit(node, v, what);
    std::vector<int32_t> w(static_cast<size_t>(v.numel()));
    for (int64_t i = 0; i < v.numel(); ++i) w[i] = static_cast<int32_t>(v.get_i64(i));
    if (!zp) return w;
    if (zp->dtype != v.dtype)
        throw OnnxError(node.where() + ": zero point of " + what + " must have its type, got " + zp->desc());
    if (zp->numel() == 1) {
        int32_t z = static_cast<int32_t>(zp->get_i64(0));
        for (auto& x : w) x -= z;
        return w;
    }
    if (per_axis < 0 || zp->numel() != v.shape[per_axis])
        throw OnnxError(node.where() + ": zero point " + zp->desc() + " does not match " + what + " " + v.desc());
    int64_t outer, inner = 1, n = v.shape[per_axis];
    for (int d = per_axis + 1; d < v.rank(); ++d) inner *= v.shape[d];
    outer = v.numel() / (n * inner);
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t k = 0; k < n; ++k) {
            int32_t z = static_cast<int32_t>(zp->get_i64(k));
            for (int64_t i = 0; i < inner; ++i) w[(o * n + k) * inner + i] -= z;
        }
    return w;
}

// y[M,N] = a[M,K] · b[K,N] in int32.
static void int_gemm(const int32_t* a, const int32_t* b, int32_t* y, int64_t M, int64_t K, int64_t N) {
    std::fill(y, y + M * N, 0);
    for (int64_t m = 0; m < M; ++m)
        for (int64_t k = 0; k < K; ++k) {
            int32_t av = a[m * K + k];
            const int32_t* brow = b + k * N;
            int32_t* yrow = y + m * N;
            for (int64_t n = 0; n < N; ++n) yrow[n] += av * brow[n];
        }
}

static void op_matmul_integer(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& a = arg(node, in, 0);
    const Value& b = arg(node, in, 1);
    if (a.rank() < 2 || b.rank() < 2)
        throw OnnxError(node.where() + ": A and B must have at least 2 dimensions, got " + a.desc() + " and " + b.desc());
    int64_t M = a.dim(-2), K = a.dim(-1), N = b.dim(-1);
    if (b.dim(-2) != K) throw OnnxError(node.where() + ": inner dimensions differ: " + a.desc() + " x " + b.desc());
    // A's zero point is per row (axis -2), B's per column (axis -1).
    std::vector<int32_t> wa = widen(node, a, opt(in, 2), a.rank() - 2, "A");
    std::vector<int32_t> wb = widen(node, b, opt(in, 3), b.rank() - 1, "B");
    Shape ab(a.shape.begin(), a.shape.end() - 2), bb(b.shape.begin(), b.shape.end() - 2);
    Shape s = broadcast_shapes(node, ab, bb);
    Shape batch = s;
    s.push_back(M);
    s.push_back(N);
    Value y = Value::alloc(DType::Int32, s);
    Broadcast<2> bc(node, batch, {&ab, &bb});
    bc.for_rows([&](const std::array<int64_t, 2>& off, int64_t o, int64_t n, const std::array<int64_t, 2>& st) {
        for (int64_t j = 0; j < n; ++j)
            int_gemm(wa.data() + (off[0] + j * st[0]) * M * K, wb.data() + (off[1] + j * st[1]) * K * N,
                     y.data<int32_t>() + (o + j) * M * N, M, K, N);
    });
    out[0] = std::move(y);
}

static void op_conv_integer(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    const Value& w = arg(node, in, 1);
    if (x.rank() != 4 || w.rank() != 4)
        throw OnnxError(node.where() + ": only 2-D convolution is supported, got X " + x.desc() + " and W " + w.desc());
    std::vector<int32_t> wx = widen(node, x, opt(in, 2), -1, "x");
    std::vector<int32_t> ww = widen(node, w, opt(in, 3), 0, "w");
    std::string auto_pad = node.attr_s("auto_pad", "NOTSET");
    if (auto_pad != "NOTSET" && auto_pad != "VALID")
        throw OnnxError(node.where() + ": auto_pad '" + auto_pad + "' is not supported (use explicit pads)");
    auto st = conv_attr(node, "strides", 1, 2, 1), dl = conv_attr(node, "dilations", 1, 2, 1),
         pd = conv_attr(node, "pads", 0, 4, 0);
    int64_t group = node.attr_i("group", 1);
    int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
    int64_t M = w.shape[0], kh = w.shape[2], kw = w.shape[3];
    if (group <= 0 || C % group || M % group || w.shape[1] != C / group)
        throw OnnxError(node.where() + ": weight " + w.desc() + " does not fit input " + x.desc());
    int64_t Ho = (H + pd[0] + pd[2] - ((kh - 1) * dl[0] + 1)) / st[0] + 1;
    int64_t Wo = (W + pd[1] + pd[3] - ((kw - 1) * dl[1] + 1)) / st[1] + 1;
    if (Ho <= 0 || Wo <= 0) throw OnnxError(node.where() + ": input " + x.desc() + " is smaller than the kernel");
    int64_t Cg = C / group, Mg = M / group, K = Cg * kh * kw, P = Ho * Wo;
    Value y = Value::alloc(DType::Int32, {N, M, Ho, Wo});
    // Padding is the zero point, i.e. 0 after subtraction. Scratch sized like a value (checked).
    Value col_buf = Value::alloc(DType::Int32, {K, P});
    int32_t* cols = col_buf.data<int32_t>();
    for (int64_t n = 0; n < N; ++n)
        for (int64_t g = 0; g < group; ++g) {
            const int32_t* xg = wx.data() + (n * C + g * Cg) * H * W;
            for (int64_t c = 0; c < Cg; ++c)
                for (int64_t i = 0; i < kh; ++i)
                    for (int64_t j = 0; j < kw; ++j)
                        for (int64_t oy = 0; oy < Ho; ++oy)
                            for (int64_t ox = 0; ox < Wo; ++ox) {
                                int64_t iy = oy * st[0] - pd[0] + i * dl[0], ix = ox * st[1] - pd[1] + j * dl[1];
                                bool inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
                                cols[((c * kh + i) * kw + j) * P + oy * Wo + ox] = inside ? xg[(c * H + iy) * W + ix] : 0;
                            }
            int_gemm(ww.data() + g * Mg * K, cols, y.data<int32_t>() + (n * M + g * Mg) * P, Mg, K, P);
        }
    out[0] = std::move(y);
}

// Per-tensor (scalar scale) or per-axis (1-D scale along `axis`) parameters.
static void quant_params(const Node& node, const Value& x, const Value& scale, const Value* zp, int64_t& inner,
                         int64_t& n) {
    expect_float(node, scale, "scale");
    inner = 1;
    n = scale.numel();
    if (n == 1) return;
    int axis = norm_axis(node, node.attr_i("axis", 1), x.rank());
    if (scale.rank() != 1 || scale.numel() != x.shape[axis] || (zp && zp->numel() != n))
        throw OnnxError(node.where() + ": scale " + scale.desc() + " does not match axis " + std::to_string(axis) + " of " + x.desc());
    for (int d = axis + 1; d < x.rank(); ++d) inner *= x.shape[d];
}

static void op_dequantize_linear(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    const Value& scale = arg(node, in, 1);
    const Value* zp = opt(in, 2);
    if (x.dtype != DType::UInt8 && x.dtype != DType::Int8 && x.dtype != DType::Int32)
        throw OnnxError(node.where() + ": x must be uint8, int8 or int32, got " + x.desc());
    int64_t inner, n;
    quant_params(node, x, scale, zp, inner, n);
    Value y = Value::alloc(DType::Float, x.shape);
    for (int64_t i = 0; i < x.numel(); ++i) {
        int64_t k = (i / inner) % n;
        double z = zp ? zp->get_f64(zp->numel() == 1 ? 0 : k) : 0.0;
        y.data<float>()[i] = static_cast<float>((x.get_f64(i) - z)) * scale.data<float>()[k];
    }
    out[0] = std::move(y);
}

static void op_quantize_linear(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    const Value& scale = arg(node, in, 1);
    const Value* zp = opt(in, 2);
    expect_float(node, x, "x");
    DType t = zp ? zp->dtype : DType::UInt8;
    if (t != DType::UInt8 && t != DType::Int8) throw OnnxError(node.where() + ": zero point must be uint8 or int8, got " + zp->desc());
    int64_t inner, n;
    quant_params(node, x, scale, zp, inner, n);
    float lo = t == DType::UInt8 ? 0.0f : -128.0f, hi = t == DType::UInt8 ? 255.0f : 127.0f;
    Value y = Value::alloc(t, x.shape);
    for (int64_t i = 0; i < x.numel(); ++i) {
        int64_t k = (i / inner) % n;
        float z = zp ? static_cast<float>(zp->get_f64(zp->numel() == 1 ? 0 : k)) : 0.0f;
        float q = std::clamp(round_even(x.data<float>()[i] / scale.data<float>()[k]) + z, lo, hi);
        if (t == DType::UInt8) y.data<uint8_t>()[i] = static_cast<uint8_t>(q);
        else y.data<int8_t>()[i] = static_cast<int8_t>(q);
    }
    out[0] = std::move(y);
}

void register_quant_ops(OpTable& t) {
    t["DynamicQuantizeLinear"] = op_dynamic_quantize_linear;
    t["MatMulInteger"] = op_matmul_integer;
    t["ConvInteger"] = op_conv_integer;
    t["DequantizeLinear"] = op_dequantize_linear;
    t["QuantizeLinear"] = op_quantize_linear;
}

}  // namespace sam::onnx
