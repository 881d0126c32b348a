// Compute-heavy and reduction operators: MatMul, Gemm, Conv, ConvTranspose (on the shared
// oneDNN matmul kernel), LayerNormalization, Softmax, ReduceMean/ReduceMax, ArgMax, Resize.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "onnx/op_util.hpp"
#include "tensor/ops.hpp"

namespace sam::onnx {

// Shapes of a MatMul, numpy-style: 1-D operands promoted to matrices (the added dimension is
// dropped from the output), batch dimensions broadcast. With trans_b, B's last two dims are [N, K].
struct MatmulPlan {
    Value a, b;
    int64_t M = 0, K = 0, N = 0;
    Shape ab, bb, batch, out;
};

static MatmulPlan plan_matmul(const Node& node, const Value& a0, const Value& b0, bool trans_b) {
    expect_float(node, a0, "A");
    expect_float(node, b0, "B");
    if (a0.rank() == 0 || b0.rank() == 0) throw OnnxError(node.where() + ": MatMul of a scalar");
    MatmulPlan p;
    p.a = a0.rank() == 1 ? a0.reshaped({1, a0.shape[0]}) : a0;
    p.b = b0.rank() == 1 ? b0.reshaped({b0.shape[0], 1}) : b0;
    p.M = p.a.dim(-2);
    p.K = p.a.dim(-1);
    p.N = trans_b ? p.b.dim(-2) : p.b.dim(-1);
    if ((trans_b ? p.b.dim(-1) : p.b.dim(-2)) != p.K)
        throw OnnxError(node.where() + ": inner dimensions differ: " + a0.desc() + " x " + b0.desc() +
                        (trans_b ? " (B transposed)" : ""));
    p.ab.assign(p.a.shape.begin(), p.a.shape.end() - 2);
    p.bb.assign(p.b.shape.begin(), p.b.shape.end() - 2);
    p.batch = broadcast_shapes(node, p.ab, p.bb);
    p.out = p.batch;
    if (a0.rank() > 1) p.out.push_back(p.M);
    if (b0.rank() > 1) p.out.push_back(p.N);
    return p;
}

// y = A · op(B) (+ bias[N]) (+ add, of y's shape), the additions fused into the products.
static void run_matmul(const Node& node, const MatmulPlan& p, bool trans_b, const float* bias, const float* add, float* y) {
    int64_t M = p.M, K = p.K, N = p.N;
    ops::MatmulArgs m;
    m.a = p.a.data<float>();
    m.b = p.b.data<float>();
    m.c = y;
    m.K = K;
    m.N = N;
    m.trans_b = trans_b;
    m.bias = bias;
    m.add = add;
    int64_t nb = shape_numel(p.batch), nbb = shape_numel(p.bb);
    if (nbb == 1) {
        // B shared: every row of every batch of A is one tall matrix.
        m.M = shape_numel(p.ab) * M;
        ops::matmul(m);
    } else if (p.ab == p.bb) {
        m.batch = nb;
        m.M = M;
        ops::matmul(m);
    } else {
        // General broadcasting: one product per output batch index.
        m.M = M;
        Broadcast<2> bc(node, p.batch, {&p.ab, &p.bb});
        bc.for_rows([&](const std::array<int64_t, 2>& off, int64_t o, int64_t n, const std::array<int64_t, 2>& st) {
            for (int64_t j = 0; j < n; ++j) {
                m.a = p.a.data<float>() + (off[0] + j * st[0]) * M * K;
                m.b = p.b.data<float>() + (off[1] + j * st[1]) * K * N;
                m.c = y + (o + j) * M * N;
                m.add = add ? add + (o + j) * M * N : nullptr;
                ops::matmul(m);
            }
        });
    }
}

static void op_matmul(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    MatmulPlan p = plan_matmul(node, arg(node, in, 0), arg(node, in, 1), false);
    Value y = Value::alloc(DType::Float, p.out);
    run_matmul(node, p, false, nullptr, nullptr, y.data<float>());
    out[0] = std::move(y);
}

// y + x with numpy broadcasting, as the Add node the loader fused away would have computed it.
static Value add_broadcast(const Node& node, const Value& y, const Value& x) {
    Node add;
    add.op = "Add";
    add.name = node.name;
    add.fn = find_op("Add");
    return run_node(add, {&y, &x}, 1)[0];
}

// The loader's fusion of MatMul (B optionally read transposed), a following Add of a bias row and
// one of another value: inputs A, B, bias (or omitted), add (or omitted); attribute trans_b.
// A bias of N values and an addend of the output's shape go into the product; anything else
// (shapes the loader could not know) is added afterwards exactly as the Add nodes would.
void op_fused_matmul(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    bool trans_b = node.attr_i("trans_b", 0) != 0;
    const Value& b0 = arg(node, in, 1);
    MatmulPlan p = plan_matmul(node, arg(node, in, 0), b0, trans_b);
    const Value* bias = opt(in, 2);
    const Value* add = opt(in, 3);
    if (bias) expect_float(node, *bias, "bias");
    if (add) expect_float(node, *add, "addend");
    bool bias_fused = bias && b0.rank() > 1 && bias->rank() == 1 && bias->numel() == p.N;
    bool add_fused = add && (!bias || bias_fused) && add->shape == p.out;
    Value y = Value::alloc(DType::Float, p.out);
    run_matmul(node, p, trans_b, bias_fused ? bias->data<float>() : nullptr, add_fused ? add->data<float>() : nullptr,
               y.data<float>());
    if (bias && !bias_fused) y = add_broadcast(node, y, *bias);
    if (add && !add_fused) y = add_broadcast(node, y, *add);
    out[0] = std::move(y);
}

static Value transposed_2d(const Value& x) {
    Value t = Value::alloc(DType::Float, {x.shape[1], x.shape[0]});
    ops::transpose(x.data<float>(), x.shape[0], x.shape[1], t.data<float>());
    return t;
}

static void op_gemm(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    Value a = arg(node, in, 0);
    const Value& b = arg(node, in, 1);
    const Value* c = opt(in, 2);
    expect_float(node, a, "A");
    expect_float(node, b, "B");
    if (a.rank() != 2 || b.rank() != 2) throw OnnxError(node.where() + ": A and B must be 2-D, got " + a.desc() + " and " + b.desc());
    float alpha = node.attr_f("alpha", 1.0f), beta = node.attr_f("beta", 1.0f);
    bool trans_b = node.attr_i("transB", 0) != 0;
    if (node.attr_i("transA", 0)) a = transposed_2d(a);
    int64_t M = a.shape[0], K = a.shape[1];
    int64_t N = trans_b ? b.shape[0] : b.shape[1];
    if ((trans_b ? b.shape[1] : b.shape[0]) != K)
        throw OnnxError(node.where() + ": inner dimensions differ: " + a.desc() + " x " + b.desc());
    Value y = Value::alloc(DType::Float, {M, N});
    ops::MatmulArgs m;
    m.a = a.data<float>();
    m.b = b.data<float>();
    m.c = y.data<float>();
    m.M = M;
    m.K = K;
    m.N = N;
    m.trans_b = trans_b;
    m.alpha = alpha;
    // The kernel fuses a bias row only without output scaling (alpha 1).
    bool bias_row = c && beta == 1.0f && alpha == 1.0f && c->dtype == DType::Float && c->numel() == N &&
                    (c->rank() == 1 || (c->rank() == 2 && c->shape[0] == 1));
    if (bias_row) m.bias = c->data<float>();
    ops::matmul(m);
    if (c && !bias_row) {
        expect_float(node, *c, "C");
        Shape mn{M, N};
        if (broadcast_shapes(node, mn, c->shape) != mn)
            throw OnnxError(node.where() + ": C " + c->desc() + " does not broadcast to [" + std::to_string(M) + "," + std::to_string(N) + "]");
        Broadcast<1> bc(node, mn, {&c->shape});
        float* py = y.data<float>();
        const float* pc = c->data<float>();
        bc.for_rows([&](const std::array<int64_t, 1>& off, int64_t o, int64_t n, const std::array<int64_t, 1>& st) {
            for (int64_t j = 0; j < n; ++j) py[o + j] += beta * pc[off[0] + j * st[0]];
        });
    }
    out[0] = std::move(y);
}

struct Conv2dGeom {
    int64_t kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, group;
};

static Conv2dGeom conv_geom(const Node& node, int64_t kh, int64_t kw) {
    std::string auto_pad = node.attr_s("auto_pad", "NOTSET");
    if (auto_pad != "NOTSET" && auto_pad != "VALID")
        throw OnnxError(node.where() + ": auto_pad '" + auto_pad + "' is not supported (use explicit pads)");
    std::vector<int64_t> ks = node.attr_ints("kernel_shape");
    if (!ks.empty() && (ks.size() != 2 || ks[0] != kh || ks[1] != kw))
        throw OnnxError(node.where() + ": kernel_shape " + shape_str(ks) + " does not match the weight");
    auto st = conv_attr(node, "strides", 1, 2, 1), dl = conv_attr(node, "dilations", 1, 2, 1),
         pd = conv_attr(node, "pads", 0, 4, 0);
    return {kh, kw, st[0], st[1], dl[0], dl[1], pd[0], pd[1], pd[2], pd[3], node.attr_i("group", 1)};
}

// Columns [C * kh * kw, Ho * Wo] of one image [C, H, W] (zero outside the padded border).
static void im2col(const float* x, int64_t C, int64_t H, int64_t W, const Conv2dGeom& g, int64_t Ho, int64_t Wo, float* cols) {
    for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j) {
                float* dst = cols + ((c * g.kh + i) * g.kw + j) * Ho * Wo;
                for (int64_t oy = 0; oy < Ho; ++oy) {
                    int64_t iy = oy * g.sh - g.pt + i * g.dh;
                    for (int64_t ox = 0; ox < Wo; ++ox) {
                        int64_t ix = ox * g.sw - g.pl + j * g.dw;
                        bool in = iy >= 0 && iy < H && ix >= 0 && ix < W;
                        dst[oy * Wo + ox] = in ? x[(c * H + iy) * W + ix] : 0.0f;
                    }
                }
            }
}

static void op_conv(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    const Value& w = arg(node, in, 1);
    const Value* b = opt(in, 2);
    expect_float(node, x, "X");
    expect_float(node, w, "W");
    if (x.rank() != 4 || w.rank() != 4)
        throw OnnxError(node.where() + ": only 2-D convolution is supported, got X " + x.desc() + " and W " + w.desc());
    Conv2dGeom g = conv_geom(node, w.shape[2], w.shape[3]);
    int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3], M = w.shape[0];
    if (g.group <= 0 || C % g.group || M % g.group || w.shape[1] != C / g.group)
        throw OnnxError(node.where() + ": weight " + w.desc() + " does not fit input " + x.desc() + " with group " + std::to_string(g.group));
    if (b && b->numel() != M) throw OnnxError(node.where() + ": bias " + b->desc() + " must have " + std::to_string(M) + " values");
    int64_t Ho = (H + g.pt + g.pb - ((g.kh - 1) * g.dh + 1)) / g.sh + 1;
    int64_t Wo = (W + g.pl + g.pr - ((g.kw - 1) * g.dw + 1)) / g.sw + 1;
    if (Ho <= 0 || Wo <= 0) throw OnnxError(node.where() + ": input " + x.desc() + " is smaller than the kernel");
    Value y = Value::alloc(DType::Float, {N, M, Ho, Wo});
    int64_t Cg = C / g.group, Mg = M / g.group, K = Cg * g.kh * g.kw, P = Ho * Wo;
    bool direct = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 && g.pb == 0 && g.pr == 0;
    // Scratch through Value::alloc: its size is checked like any value's.
    Value col_buf = Value::alloc(DType::Float, {direct ? 0 : K, P});
    float* cols = col_buf.data<float>();
    for (int64_t n = 0; n < N; ++n)
        for (int64_t gi = 0; gi < g.group; ++gi) {
            const float* xg = x.data<float>() + (n * C + gi * Cg) * H * W;
            const float* src = xg;
            if (!direct) {
                im2col(xg, Cg, H, W, g, Ho, Wo, cols);
                src = cols;
            }
            float* yg = y.data<float>() + (n * M + gi * Mg) * P;
            ops::gemm(w.data<float>() + gi * Mg * K, src, yg, Mg, K, P);
            if (b)
                for (int64_t m = 0; m < Mg; ++m) {
                    float bv = b->data<float>()[gi * Mg + m];
                    for (int64_t p = 0; p < P; ++p) yg[m * P + p] += bv;
                }
        }
    out[0] = std::move(y);
}

// ConvTranspose whose stride equals its kernel (no padding, dilation or groups), as in SAM's
// output upscaling: every input pixel paints its own kh x kw tile, so no sums overlap.
// cols[(m, i, j), p] = sum_c w[c, m, i, j] * x[c, p] is one product; each tile row then takes
// its values from kw rows of cols.
static void conv_transpose_tiles(const Value& x, const Value& w, const Value* b, const Conv2dGeom& g, Value& y) {
    int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3], M = w.shape[1];
    int64_t KK = M * g.kh * g.kw, P = H * W, Ho = H * g.kh, Wo = W * g.kw;
    // Pooled, uninitialised buffers: cols is megabytes, zeroing and faulting it in cost a pass.
    Value wt = Value::alloc(DType::Float, {KK, C}), cols = Value::alloc(DType::Float, {KK, P});
    ops::transpose(w.data<float>(), C, KK, wt.data<float>());
    for (int64_t n = 0; n < N; ++n) {
        ops::gemm(wt.data<float>(), x.data<float>() + n * C * P, cols.data<float>(), KK, C, P);
        float* yn = y.data<float>() + n * M * Ho * Wo;
        const float* pc = cols.data<float>();
        const float* bias = b ? b->data<float>() : nullptr;
#pragma omp parallel for schedule(static) if (M * Ho * Wo > 65536)
        for (int64_t m = 0; m < M; ++m) {
            float bv = bias ? bias[m] : 0.0f;
            for (int64_t iy = 0; iy < H; ++iy)
                for (int64_t i = 0; i < g.kh; ++i) {
                    float* row = yn + (m * Ho + iy * g.kh + i) * Wo;
                    const float* src = pc + ((m * g.kh + i) * g.kw) * P + iy * W;
                    if (g.kw == 2) {  // SAM's 2x2 tiles: two interleaved rows, a loop GCC vectorises
                        const float* s1 = src + P;
                        for (int64_t ix = 0; ix < W; ++ix) {
                            row[2 * ix] = src[ix] + bv;
                            row[2 * ix + 1] = s1[ix] + bv;
                        }
                        continue;
                    }
                    for (int64_t ix = 0; ix < W; ++ix)
                        for (int64_t j = 0; j < g.kw; ++j) row[ix * g.kw + j] = src[j * P + ix] + bv;
                }
        }
    }
}

static void op_conv_transpose(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    const Value& w = arg(node, in, 1);
    const Value* b = opt(in, 2);
    expect_float(node, x, "X");
    expect_float(node, w, "W");
    if (x.rank() != 4 || w.rank() != 4)
        throw OnnxError(node.where() + ": only 2-D transposed convolution is supported, got X " + x.desc() + " and W " + w.desc());
    if (node.has("output_shape"))
        throw OnnxError(node.where() + ": attribute output_shape is not supported (use pads)");
    Conv2dGeom g = conv_geom(node, w.shape[2], w.shape[3]);
    std::vector<int64_t> op = node.attr_ints("output_padding");
    if (op.empty()) op = {0, 0};
    int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
    if (g.group <= 0 || C % g.group || w.shape[0] != C)
        throw OnnxError(node.where() + ": weight " + w.desc() + " does not fit input " + x.desc());
    int64_t Cg = C / g.group, Mg = w.shape[1], M = Mg * g.group;
    if (b && b->numel() != M) throw OnnxError(node.where() + ": bias " + b->desc() + " must have " + std::to_string(M) + " values");
    if (op.size() != 2 || op[0] < 0 || op[1] < 0 || op[0] >= std::max(g.sh, g.dh) || op[1] >= std::max(g.sw, g.dw))
        throw OnnxError(node.where() + ": output_padding " + shape_str(op) + " must be 2 values below the stride or dilation");
    int64_t Ho = g.sh * (H - 1) + op[0] + (g.kh - 1) * g.dh + 1 - g.pt - g.pb;
    int64_t Wo = g.sw * (W - 1) + op[1] + (g.kw - 1) * g.dw + 1 - g.pl - g.pr;
    if (H <= 0 || W <= 0 || Ho <= 0 || Wo <= 0)
        throw OnnxError(node.where() + ": input " + x.desc() + " with these pads gives an empty output");
    Value y = Value::alloc(DType::Float, {N, M, Ho, Wo});
    int64_t KK = Mg * g.kh * g.kw, P = H * W;
    if (g.group == 1 && g.sh == g.kh && g.sw == g.kw && g.dh == 1 && g.dw == 1 && g.pt == 0 && g.pl == 0 && g.pb == 0 &&
        g.pr == 0 && op[0] == 0 && op[1] == 0) {
        conv_transpose_tiles(x, w, b, g, y);
        out[0] = std::move(y);
        return;
    }
    Value xt_buf = Value::alloc(DType::Float, {P, Cg}), col_buf = Value::alloc(DType::Float, {P, KK});
    float *xt = xt_buf.data<float>(), *cols = col_buf.data<float>();
    for (int64_t n = 0; n < N; ++n)
        for (int64_t gi = 0; gi < g.group; ++gi) {
            // cols[p, (m, i, j)] = sum_c x[c, p] * w[c, m, i, j]; then scatter-add into the output.
            ops::transpose(x.data<float>() + (n * C + gi * Cg) * P, Cg, P, xt);
            ops::gemm(xt, w.data<float>() + gi * Cg * KK, cols, P, Cg, KK);
            float* yg = y.data<float>() + (n * M + gi * Mg) * Ho * Wo;
            for (int64_t m = 0; m < Mg; ++m) {
                float bv = b ? b->data<float>()[gi * Mg + m] : 0.0f;
                std::fill(yg + m * Ho * Wo, yg + (m + 1) * Ho * Wo, bv);
            }
            for (int64_t iy = 0; iy < H; ++iy)
                for (int64_t ix = 0; ix < W; ++ix) {
                    const float* cp = cols + (iy * W + ix) * KK;
                    for (int64_t m = 0; m < Mg; ++m)
                        for (int64_t i = 0; i < g.kh; ++i) {
                            int64_t oy = iy * g.sh - g.pt + i * g.dh;
                            if (oy < 0 || oy >= Ho) continue;
                            for (int64_t j = 0; j < g.kw; ++j) {
                                int64_t ox = ix * g.sw - g.pl + j * g.dw;
                                if (ox < 0 || ox >= Wo) continue;
                                yg[(m * Ho + oy) * Wo + ox] += cp[(m * g.kh + i) * g.kw + j];
                            }
                        }
                }
        }
    out[0] = std::move(y);
}

// Per head h: scores = q_h Wk_h^T kin^T (q_h · bk_h is the same for every key of a row, so the
// softmax drops it), P = softmax(scores / divisor), out_h = (P kin_v) Wv_h + bv_h (P's rows sum
// to 1). All heads' rows go through the two products with the T keys at once.
void op_projected_attention(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& q = arg(node, in, 0);
    const Value& kin = arg(node, in, 1);
    const Value& wkt = arg(node, in, 2);
    const Value& vin = arg(node, in, 3);
    const Value& wv = arg(node, in, 4);
    const Value& bv = arg(node, in, 5);
    const Value& divisor = arg(node, in, 6);
    for (const Value* v : {&q, &kin, &wkt, &vin, &wv, &bv, &divisor}) expect_float(node, *v, "input");
    if (q.rank() != 4 || kin.rank() != 3 || vin.shape != kin.shape || wkt.rank() != 2 || wv.rank() != 3)
        throw OnnxError(node.where() + ": unexpected ranks: q " + q.desc() + ", keys " + kin.desc() + ", values " + vin.desc());
    const int64_t B = q.dim(0), H = q.dim(1), Nq = q.dim(2), d = q.dim(3), T = kin.dim(1), E = kin.dim(2);
    if (kin.dim(0) != B || wkt.dim(0) != H * d || wkt.dim(1) != E || wv.dim(0) != H || wv.dim(1) != E || wv.dim(2) != d ||
        bv.numel() != H * d || divisor.numel() != 1)
        throw OnnxError(node.where() + ": q " + q.desc() + " does not fit keys " + kin.desc() + " and weights " + wkt.desc() +
                        ", " + wv.desc());
    const float scale = 1.0f / divisor.data<float>()[0];
    Value y = Value::alloc(DType::Float, {B, H, Nq, d});
    Value qk = Value::alloc(DType::Float, {H * Nq, E}), scores = Value::alloc(DType::Float, {H * Nq, T});
    Value mixed = Value::alloc(DType::Float, {H * Nq, E});
    for (int64_t b = 0; b < B; ++b) {
        const float* qb = q.data<float>() + b * H * Nq * d;
        for (int64_t h = 0; h < H; ++h)
            ops::gemm(qb + h * Nq * d, wkt.data<float>() + h * d * E, qk.data<float>() + h * Nq * E, Nq, d, E);
        ops::gemm(qk.data<float>(), kin.data<float>() + b * T * E, scores.data<float>(), H * Nq, E, T, /*trans_b=*/true);
        ops::softmax_rows(scores.data<float>(), H * Nq, T, scale);
        ops::gemm(scores.data<float>(), vin.data<float>() + b * T * E, mixed.data<float>(), H * Nq, T, E);
        for (int64_t h = 0; h < H; ++h)
            ops::gemm(mixed.data<float>() + h * Nq * E, wv.data<float>() + h * E * d, y.data<float>() + (b * H + h) * Nq * d,
                      Nq, E, d, false, bv.data<float>() + h * d);
    }
    out[0] = std::move(y);
}

void op_projected_scores(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    const Value& wqt = arg(node, in, 1);
    const Value& bq = arg(node, in, 2);
    const Value& k = arg(node, in, 3);
    for (const Value* v : {&x, &wqt, &bq, &k}) expect_float(node, *v, "input");
    if (x.rank() != 3 || k.rank() != 4 || wqt.rank() != 2 || k.dim(0) != x.dim(0) || wqt.dim(1) != x.dim(2) ||
        wqt.dim(0) != k.dim(1) * k.dim(3) || bq.numel() != wqt.dim(0))
        throw OnnxError(node.where() + ": tokens " + x.desc() + " do not fit keys " + k.desc() + " and weights " + wqt.desc());
    const int64_t B = x.dim(0), T = x.dim(1), E = x.dim(2), H = k.dim(1), n = k.dim(2), d = k.dim(3);
    Value y = Value::alloc(DType::Float, {B, H, T, n});
    Value qa = Value::alloc(DType::Float, {H * n, E}), qb = Value::alloc(DType::Float, {H * n}),
          s = Value::alloc(DType::Float, {T, H * n});
    float *pa = qa.data<float>(), *pb = qb.data<float>(), *ps = s.data<float>(), *py = y.data<float>();
    for (int64_t b = 0; b < B; ++b) {
        const float* kb = k.data<float>() + b * H * n * d;
        for (int64_t h = 0; h < H; ++h) {
            // qa[(h, i)] = Wq_h k_hi (E values), qb[(h, i)] = bq_h . k_hi
            ops::gemm(kb + h * n * d, wqt.data<float>() + h * d * E, pa + h * n * E, n, d, E);
            for (int64_t i = 0; i < n; ++i) {
                float dot = 0;
                for (int64_t j = 0; j < d; ++j) dot += bq.data<float>()[h * d + j] * kb[(h * n + i) * d + j];
                pb[h * n + i] = dot;
            }
        }
        ops::gemm(x.data<float>() + b * T * E, pa, ps, T, E, H * n, /*trans_b=*/true, pb);
        float* yb = py + b * H * T * n;
#pragma omp parallel for schedule(static) if (T * H * n > 65536)
        for (int64_t t = 0; t < T; ++t)
            for (int64_t h = 0; h < H; ++h)
                for (int64_t i = 0; i < n; ++i) yb[(h * T + t) * n + i] = ps[t * H * n + h * n + i];
    }
    out[0] = std::move(y);
}

void op_heads_out_projection(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& p = arg(node, in, 0);
    const Value& v = arg(node, in, 1);
    const Value& wo = arg(node, in, 2);
    const Value* bias = opt(in, 3);
    const Value* addend = opt(in, 4);
    for (const Value* x : {&p, &v, &wo}) expect_float(node, *x, "input");
    if (p.rank() != 4 || v.rank() != 4 || wo.rank() != 2 || v.dim(0) != p.dim(0) || v.dim(1) != p.dim(1) ||
        v.dim(2) != p.dim(3) || wo.dim(0) != v.dim(1) * v.dim(3))
        throw OnnxError(node.where() + ": probabilities " + p.desc() + " do not fit values " + v.desc() + " and weights " +
                        wo.desc());
    const int64_t B = p.dim(0), H = p.dim(1), T = p.dim(2), n = p.dim(3), d = v.dim(3), E = wo.dim(1);
    if (bias) expect_float(node, *bias, "bias");
    if (addend) expect_float(node, *addend, "addend");
    if ((bias && bias->numel() != E) || (addend && addend->shape != Shape{B, T, E}))
        throw OnnxError(node.where() + ": bias or addend does not fit the output [" + std::to_string(B) + ", " +
                        std::to_string(T) + ", " + std::to_string(E) + "]");
    Value y = Value::alloc(DType::Float, {B, T, E});
    Value vo = Value::alloc(DType::Float, {H * n, E}), pt = Value::alloc(DType::Float, {T, H * n});
    float *pvo = vo.data<float>(), *ppt = pt.data<float>();
    for (int64_t b = 0; b < B; ++b) {
        for (int64_t h = 0; h < H; ++h)  // vo[(h, i)] = v_hi Wo_h
            ops::gemm(v.data<float>() + (b * H + h) * n * d, wo.data<float>() + h * d * E, pvo + h * n * E, n, d, E);
        const float* pb = p.data<float>() + b * H * T * n;
#pragma omp parallel for schedule(static) if (T * H * n > 65536)
        for (int64_t t = 0; t < T; ++t)
            for (int64_t h = 0; h < H; ++h)
                for (int64_t i = 0; i < n; ++i) ppt[t * H * n + h * n + i] = pb[(h * T + t) * n + i];
        ops::gemm(ppt, pvo, y.data<float>() + b * T * E, T, H * n, E, false, bias ? bias->data<float>() : nullptr,
                  addend ? addend->data<float>() + b * T * E : nullptr);
    }
    out[0] = std::move(y);
}

void op_conv_transpose_gelu(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    op_conv_transpose(node, in, out);
    ops::gelu(out[0].data<float>(), out[0].numel());  // in place: the output is new and not shared yet
}

static void op_layer_norm(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    const Value& scale = arg(node, in, 1);
    const Value* bias = opt(in, 2);
    expect_float(node, x, "X");
    expect_float(node, scale, "Scale");
    if (out.size() > 1) throw OnnxError(node.where() + ": only the output Y is supported (not Mean/InvStdDev)");
    int axis = norm_axis(node, node.attr_i("axis", -1), x.rank());
    int64_t C = 1;
    for (int d = axis; d < x.rank(); ++d) C *= x.shape[d];
    if (scale.numel() != C || (bias && bias->numel() != C))
        throw OnnxError(node.where() + ": scale/bias must have " + std::to_string(C) + " values for " + x.desc());
    std::vector<float> zeros;
    const float* beta = bias ? bias->data<float>() : (zeros.assign(C, 0.0f), zeros.data());
    Value y = Value::alloc(DType::Float, x.shape);
    ops::layer_norm(x.data<float>(), x.numel() / C, C, scale.data<float>(), beta, node.attr_f("epsilon", 1e-5f), y.data<float>());
    out[0] = std::move(y);
}

static void outer_inner(const Shape& s, int axis, int64_t& outer, int64_t& inner) {
    outer = inner = 1;
    for (int d = 0; d < axis; ++d) outer *= s[d];
    for (int d = axis + 1; d < static_cast<int>(s.size()); ++d) inner *= s[d];
}

static void op_softmax(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    expect_float(node, x, "input");
    int axis = norm_axis(node, node.attr_i("axis", -1), x.rank());
    Value y = Value::alloc(DType::Float, x.shape);
    int64_t outer, inner, n = x.shape[axis];
    outer_inner(x.shape, axis, outer, inner);
    std::memcpy(y.ptr, x.ptr, static_cast<size_t>(x.numel()) * sizeof(float));
    if (inner == 1) {
        ops::softmax_rows(y.data<float>(), outer, n);
    } else {
        float* p = y.data<float>();
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t i = 0; i < inner; ++i) {
                float* q = p + o * n * inner + i;
                float mx = -std::numeric_limits<float>::infinity();
                for (int64_t k = 0; k < n; ++k) mx = std::max(mx, q[k * inner]);
                float sum = 0;
                for (int64_t k = 0; k < n; ++k) sum += (q[k * inner] = std::exp(q[k * inner] - mx));
                for (int64_t k = 0; k < n; ++k) q[k * inner] /= sum;
            }
    }
    out[0] = std::move(y);
}

// ReduceMean / ReduceMax over the listed axes (attribute before opset 18, input since).
template <bool Mean>
static void op_reduce(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    expect_float(node, x, "input");
    std::vector<int64_t> axes;
    if (const Value* a = opt(in, 1)) axes = a->to_i64();
    else axes = node.attr_ints("axes");
    bool keep = node.attr_i("keepdims", 1) != 0;
    int r = x.rank();
    std::vector<char> red(r, 0);
    if (axes.empty()) {
        if (node.attr_i("noop_with_empty_axes", 0)) { out[0] = x; return; }
        red.assign(r, 1);
    }
    for (int64_t a : axes) red[norm_axis(node, a, r)] = 1;
    Shape ks(r), s;
    for (int d = 0; d < r; ++d) {
        ks[d] = red[d] ? 1 : x.shape[d];
        if (!red[d] || keep) s.push_back(ks[d]);
    }
    Value y = Value::alloc(DType::Float, s);
    float* py = y.data<float>();
    int64_t ny = y.numel();
    std::fill(py, py + ny, Mean ? 0.0f : -std::numeric_limits<float>::infinity());
    // Walk the input once; each element lands in the output cell its kept coordinates name.
    std::vector<int64_t> ystride(r, 0), idx(r, 0);
    int64_t st = 1;
    for (int d = r - 1; d >= 0; --d) {
        ystride[d] = red[d] ? 0 : st;
        st *= ks[d];
    }
    const float* px = x.data<float>();
    int64_t inner = r ? x.shape[r - 1] : 1, rows = r ? x.numel() / std::max<int64_t>(inner, 1) : 1;
    int64_t yo = 0, ys = r ? ystride[r - 1] : 0;
    for (int64_t row = 0; row < rows && inner > 0; ++row) {
        const float* q = px + row * inner;
        float* t = py + yo;
        if (Mean) {
            if (ys) for (int64_t j = 0; j < inner; ++j) t[j] += q[j];
            else { float acc = 0; for (int64_t j = 0; j < inner; ++j) acc += q[j]; t[0] += acc; }
        } else {
            if (ys) for (int64_t j = 0; j < inner; ++j) t[j] = std::max(t[j], q[j]);
            else for (int64_t j = 0; j < inner; ++j) t[0] = std::max(t[0], q[j]);
        }
        for (int d = r - 2; d >= 0; --d) {
            yo += ystride[d];
            if (++idx[d] < x.shape[d]) break;
            yo -= ystride[d] * x.shape[d];
            idx[d] = 0;
        }
    }
    if (Mean && ny > 0) {
        float inv = static_cast<float>(ny) / static_cast<float>(x.numel());
        for (int64_t i = 0; i < ny; ++i) py[i] *= inv;
    }
    out[0] = std::move(y);
}

static void op_argmax(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    expect_float(node, x, "input");
    int axis = norm_axis(node, node.attr_i("axis", 0), x.rank());
    bool keep = node.attr_i("keepdims", 1) != 0, last = node.attr_i("select_last_index", 0) != 0;
    Shape s = x.shape;
    if (keep) s[axis] = 1;
    else s.erase(s.begin() + axis);
    Value y = Value::alloc(DType::Int64, s);
    int64_t outer, inner, n = x.shape[axis];
    outer_inner(x.shape, axis, outer, inner);
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            const float* q = x.data<float>() + o * n * inner + i;
            int64_t best = 0;
            for (int64_t k = 1; k < n; ++k)
                if (q[k * inner] > q[best * inner] || (last && q[k * inner] == q[best * inner])) best = k;
            y.data<int64_t>()[o * inner + i] = best;
        }
    out[0] = std::move(y);
}

// Source coordinate of output index `o` for one axis (ONNX Resize coordinate_transformation_mode).
static float source_coord(const std::string& mode, int64_t o, int64_t in, int64_t outn, float scale) {
    if (mode == "half_pixel") return (static_cast<float>(o) + 0.5f) / scale - 0.5f;
    if (mode == "pytorch_half_pixel") return outn > 1 ? (static_cast<float>(o) + 0.5f) / scale - 0.5f : 0.0f;
    if (mode == "align_corners") return outn > 1 ? static_cast<float>(o) * static_cast<float>(in - 1) / static_cast<float>(outn - 1) : 0.0f;
    return static_cast<float>(o) / scale;  // asymmetric
}

struct Taps {
    std::vector<int64_t> i0, i1;
    std::vector<float> w;
};

static Taps linear_taps(const std::string& mode, int64_t in, int64_t outn, float scale) {
    Taps t;
    for (int64_t o = 0; o < outn; ++o) {
        float c = std::clamp(source_coord(mode, o, in, outn, scale), 0.0f, static_cast<float>(in - 1));
        int64_t a = static_cast<int64_t>(c);
        t.i0.push_back(a);
        t.i1.push_back(std::min(a + 1, in - 1));
        t.w.push_back(c - static_cast<float>(a));
    }
    return t;
}

static Taps nearest_taps(const std::string& mode, const std::string& rounding, int64_t in, int64_t outn, float scale) {
    Taps t;
    for (int64_t o = 0; o < outn; ++o) {
        float c = source_coord(mode, o, in, outn, scale);
        float r;
        if (rounding == "floor") r = std::floor(c);
        else if (rounding == "ceil") r = std::ceil(c);
        else if (rounding == "round_prefer_ceil") r = std::floor(c + 0.5f);
        else r = std::ceil(c - 0.5f);  // round_prefer_floor
        int64_t a = std::clamp<int64_t>(static_cast<int64_t>(r), 0, in - 1);
        t.i0.push_back(a);
        t.i1.push_back(a);
        t.w.push_back(0.0f);
    }
    return t;
}

static void op_resize(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    expect_float(node, x, "X");
    std::string mode = node.attr_s("mode", "nearest");
    std::string ctm = node.attr_s("coordinate_transformation_mode", "half_pixel");
    if (mode != "linear" && mode != "nearest")
        throw OnnxError(node.where() + ": mode '" + mode + "' is not supported (linear, nearest)");
    if (ctm != "half_pixel" && ctm != "pytorch_half_pixel" && ctm != "align_corners" && ctm != "asymmetric")
        throw OnnxError(node.where() + ": coordinate_transformation_mode '" + ctm + "' is not supported");
    if (node.attr_i("antialias", 0)) throw OnnxError(node.where() + ": antialias is not supported");
    if (node.has("axes")) throw OnnxError(node.where() + ": the axes attribute is not supported");
    int r = x.rank();
    if (r < 2) throw OnnxError(node.where() + ": input must have at least 2 dimensions, got " + x.desc());
    const Value* scales = opt(in, 2);
    const Value* sizes = opt(in, 3);
    if (scales && scales->numel() == 0) scales = nullptr;
    if (sizes && sizes->numel() == 0) sizes = nullptr;
    if (!scales == !sizes) throw OnnxError(node.where() + ": exactly one of scales and sizes must be given");
    Shape s(r);
    std::vector<float> sc(r);
    for (int d = 0; d < r; ++d) {
        if (sizes) {
            if (sizes->numel() != r) throw OnnxError(node.where() + ": sizes must have " + std::to_string(r) + " values");
            s[d] = sizes->get_i64(d);
            sc[d] = static_cast<float>(s[d]) / static_cast<float>(x.shape[d]);
        } else {
            if (scales->numel() != r) throw OnnxError(node.where() + ": scales must have " + std::to_string(r) + " values");
            sc[d] = static_cast<float>(scales->get_f64(d));
            const float size = std::floor(static_cast<float>(x.shape[d]) * sc[d]);
            if (!(size >= 1.0f && size < 0x1p40f))
                throw OnnxError(node.where() + ": scale " + std::to_string(sc[d]) + " on axis " + std::to_string(d) +
                                " of " + x.desc() + " gives no usable size");
            s[d] = static_cast<int64_t>(size);
        }
        if (s[d] <= 0) throw OnnxError(node.where() + ": output size " + shape_str(s) + " is empty");
        if (d < r - 2 && s[d] != x.shape[d])
            throw OnnxError(node.where() + ": only the last two dimensions can be resized, got " + x.desc() + " -> " + shape_str(s));
    }
    int64_t H = x.shape[r - 2], W = x.shape[r - 1], Ho = s[r - 2], Wo = s[r - 1];
    Value y = Value::alloc(DType::Float, s);  // checks the size before the taps are made for it
    std::string rounding = node.attr_s("nearest_mode", "round_prefer_floor");
    Taps ty = mode == "linear" ? linear_taps(ctm, H, Ho, sc[r - 2]) : nearest_taps(ctm, rounding, H, Ho, sc[r - 2]);
    Taps tx = mode == "linear" ? linear_taps(ctm, W, Wo, sc[r - 1]) : nearest_taps(ctm, rounding, W, Wo, sc[r - 1]);
    int64_t planes = x.numel() / (H * W);
    for (int64_t p = 0; p < planes; ++p) {
        const float* src = x.data<float>() + p * H * W;
        float* dst = y.data<float>() + p * Ho * Wo;
        for (int64_t oy = 0; oy < Ho; ++oy) {
            const float* r0 = src + ty.i0[oy] * W;
            const float* r1 = src + ty.i1[oy] * W;
            float wy = ty.w[oy];
            float* d = dst + oy * Wo;
            for (int64_t ox = 0; ox < Wo; ++ox) {
                float a = r0[tx.i0[ox]] + (r0[tx.i1[ox]] - r0[tx.i0[ox]]) * tx.w[ox];
                float b = r1[tx.i0[ox]] + (r1[tx.i1[ox]] - r1[tx.i0[ox]]) * tx.w[ox];
                d[ox] = a + (b - a) * wy;
            }
        }
    }
    out[0] = std::move(y);
}

// Gelu (opset 20; also what the loader fuses PyTorch's exported erf chain into).
static void op_gelu(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    expect_float(node, x, "X");
    std::string approx = node.attr_s("approximate", "none");
    if (approx != "none" && approx != "tanh")
        throw OnnxError(node.where() + ": approximate '" + approx + "' is not supported (none, tanh)");
    Value y = Value::alloc(DType::Float, x.shape);
    const float* px = x.data<float>();
    float* py = y.data<float>();
    int64_t n = x.numel();
    if (approx == "none") {
        std::memcpy(py, px, static_cast<size_t>(n) * sizeof(float));
        ops::gelu(py, n);
    } else {
        const float k = std::sqrt(2.0f / 3.14159265358979f);
        for (int64_t i = 0; i < n; ++i) py[i] = 0.5f * px[i] * (1.0f + std::tanh(k * (px[i] + 0.044715f * px[i] * px[i] * px[i])));
    }
    out[0] = std::move(y);
}

void register_nn_ops(OpTable& t) {
    t["Gelu"] = op_gelu;
    t["MatMul"] = op_matmul;
    t["Gemm"] = op_gemm;
    t["Conv"] = op_conv;
    t["ConvTranspose"] = op_conv_transpose;
    t["LayerNormalization"] = op_layer_norm;
    t["Softmax"] = op_softmax;
    t["ReduceMean"] = op_reduce<true>;
    t["ReduceMax"] = op_reduce<false>;
    t["ArgMax"] = op_argmax;
    t["Resize"] = op_resize;
}

}  // namespace sam::onnx
