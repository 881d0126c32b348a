#include "tensor/ops.hpp"

#include <omp.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "tensor/ops_kernels.hpp"

namespace sam::ops {
namespace {

using dnnl::memory;
using dims = memory::dims;
using dt = memory::data_type;
using tag = memory::format_tag;

const OpsKernels& kernels() { return isa::pick(isa_v2::ops_kernels, isa_v3::ops_kernels, isa_v4::ops_kernels); }

const dnnl::engine& engine() {
    static const dnnl::engine e(dnnl::engine::kind::cpu, 0);
    return e;
}

// Streams are cheap but not meant to be shared between threads.
dnnl::stream& stream() {
    thread_local dnnl::stream s(engine());
    return s;
}

// Primitives are immutable once created and may execute concurrently; creating them costs
// far more than running small ones, so each distinct shape is created once. Keys are a few
// integers: building and hashing them must cost next to nothing next to a small product.
using Key = std::array<int64_t, 16>;

Key key_of(std::initializer_list<int64_t> values) {
    Key k{};
    if (values.size() > k.size()) throw std::logic_error("ops: primitive key too long");
    std::copy(values.begin(), values.end(), k.begin());
    return k;
}

struct KeyHash {
    size_t operator()(const Key& k) const {
        uint64_t h = 1469598103934665603ull;
        for (int64_t v : k) h = (h ^ static_cast<uint64_t>(v)) * 1099511628211ull;
        return static_cast<size_t>(h);
    }
};

template <class Value>
class Cache {
public:
    template <class Make>
    std::shared_ptr<const Value> get(const Key& key, Make make) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = map_.find(key);
            if (it != map_.end()) return it->second;
        }
        auto value = std::make_shared<const Value>(make());
        std::lock_guard<std::mutex> lock(mutex_);
        return map_.emplace(key, std::move(value)).first->second;
    }

private:
    std::mutex mutex_;
    std::unordered_map<Key, std::shared_ptr<const Value>, KeyHash> map_;
};

// A primitive's arguments in a plain array, run on this thread's stream (the C++ API's
// unordered_map would allocate on every call). The memories must outlive execute().
struct ExecArgs {
    std::array<dnnl_exec_arg_t, 8> args;
    int n = 0;
    void add(int arg, const memory& m) { args[n++] = {arg, m.get()}; }
};

// Every primitive takes its scratchpad from the calling thread (scratchpad_mode::user): the
// library's own is one per primitive, shared by all threads that run it at once (Debian's
// oneDNN is built without DNNL_ENABLE_CONCURRENT_EXEC), and two clicks at once corrupted each
// other's masks.
dnnl::primitive_attr user_scratchpad() {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return attr;
}

void execute(const dnnl::primitive& prim, ExecArgs a) {
    const_dnnl_primitive_desc_t pd = nullptr;
    dnnl::error::wrap_c_api(dnnl_primitive_get_primitive_desc(prim.get(), &pd), "could not query a primitive");
    const dnnl_memory_desc_t* md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    const size_t size = md ? dnnl_memory_desc_get_size(md) : 0;
    thread_local std::vector<uint8_t> scratch;
    memory scratch_memory;
    if (size > 0) {
        if (scratch.size() < size) scratch.resize(size);
        scratch_memory = memory(memory::desc(*md), engine(), scratch.data());
        a.add(DNNL_ARG_SCRATCHPAD, scratch_memory);
    }
    dnnl::error::wrap_c_api(dnnl_primitive_execute(prim.get(), stream().get(), a.n, a.args.data()),
                            "could not execute a primitive");
    stream().wait();
}

dnnl::algorithm eltwise_alg(Act act) {
    return act == Act::Gelu ? dnnl::algorithm::eltwise_gelu_erf : dnnl::algorithm::eltwise_relu;
}

void append_post_ops(dnnl::post_ops& po, Act act, bool has_add, bool add_before_act, const memory::desc& dst) {
    auto append_act = [&] {
        if (act != Act::None) po.append_eltwise(1.0f, eltwise_alg(act), 0.0f, 0.0f);
    };
    if (has_add && add_before_act) po.append_binary(dnnl::algorithm::binary_add, dst);
    append_act();
    if (has_add && !add_before_act) po.append_binary(dnnl::algorithm::binary_add, dst);
}

int post_op_add_index(Act act, bool add_before_act) {
    return (add_before_act || act == Act::None) ? 0 : 1;
}

struct MatmulPrimitive {
    dnnl::matmul prim;
    memory::desc src, weights, bias, dst, add;
};

// Scratch for a float32 operand converted to bfloat16, one per thread, kept between calls.
bf16_t* bf16_scratch(size_t n) {
    thread_local std::vector<bf16_t> buf;
    if (buf.size() < n) buf.resize(n);
    return buf.data();
}

dt dtype(bool bf16) { return bf16 ? dt::bf16 : dt::f32; }

}  // namespace

void matmul(const MatmulArgs& a) {
    if (a.alpha != 1.0f && a.bias)
        throw std::invalid_argument("ops::matmul: alpha with bias is ambiguous; scale separately");
    const int64_t bb = a.b_batch < 0 ? a.batch : a.b_batch;
    const bool b16 = a.b16 != nullptr, c16 = a.c16 != nullptr;
    const bool a16 = a.a16 != nullptr || b16;  // oneDNN multiplies bf16 by bf16 only
    if (a.a16 && !b16) throw std::invalid_argument("ops::matmul: a bfloat16 A needs a bfloat16 B");
    static Cache<MatmulPrimitive> cache;
    const Key key = key_of({a.batch, bb, a.M, a.K, a.N, a.trans_b, a.bias != nullptr, int(a.act), a.add != nullptr,
                            a.add_before_act, std::bit_cast<int32_t>(a.alpha), a16 * 4 + b16 * 2 + c16});
    auto p = cache.get(key, [&] {
        MatmulPrimitive m;
        m.src = memory::desc({a.batch, a.M, a.K}, dtype(a16), dims{a.M * a.K, a.K, 1});
        m.weights = memory::desc({bb, a.K, a.N}, dtype(b16),
                                 a.trans_b ? dims{a.N * a.K, 1, a.K} : dims{a.K * a.N, a.N, 1});
        m.bias = memory::desc({1, 1, a.N}, dt::f32, dims{a.N, a.N, 1});
        m.dst = memory::desc({a.batch, a.M, a.N}, dtype(c16), dims{a.M * a.N, a.N, 1});
        m.add = memory::desc({a.batch, a.M, a.N}, dt::f32, dims{a.M * a.N, a.N, 1});
        dnnl::primitive_attr attr = user_scratchpad();
        dnnl::post_ops po;
        append_post_ops(po, a.act, a.add != nullptr, a.add_before_act, m.add);
        attr.set_post_ops(po);
        if (a.alpha != 1.0f) attr.set_output_scales(0, {a.alpha});
        auto desc = a.bias ? dnnl::matmul::desc(m.src, m.weights, m.bias, m.dst)
                           : dnnl::matmul::desc(m.src, m.weights, m.dst);
        m.prim = dnnl::matmul(dnnl::matmul::primitive_desc(desc, attr, engine()));
        return m;
    });
    const void* a_data = a.a16 ? static_cast<const void*>(a.a16) : static_cast<const void*>(a.a);
    if (a16 && !a.a16) {
        bf16_t* converted = bf16_scratch(static_cast<size_t>(a.batch * a.M * a.K));
        to_bf16(a.a, converted, a.batch * a.M * a.K);
        a_data = converted;
    }
    const auto& e = engine();
    const memory src(p->src, e, const_cast<void*>(a_data)),
        weights(p->weights, e, b16 ? const_cast<void*>(static_cast<const void*>(a.b16)) : const_cast<float*>(a.b)),
        dst(p->dst, e, c16 ? static_cast<void*>(a.c16) : static_cast<void*>(a.c));
    const memory bias = a.bias ? memory(p->bias, e, const_cast<float*>(a.bias)) : memory();
    const memory add = a.add ? memory(p->add, e, const_cast<float*>(a.add)) : memory();
    ExecArgs args;
    args.add(DNNL_ARG_SRC, src);
    args.add(DNNL_ARG_WEIGHTS, weights);
    args.add(DNNL_ARG_DST, dst);
    if (a.bias) args.add(DNNL_ARG_BIAS, bias);
    if (a.add)
        args.add(DNNL_ARG_ATTR_MULTIPLE_POST_OP(post_op_add_index(a.act, a.add_before_act)) | DNNL_ARG_SRC_1, add);
    execute(p->prim, args);
}

LinearWeights prepare_linear(const Tensor& weight, const Tensor& bias, Precision precision) {
    if (weight.rank() < 2) throw std::invalid_argument("prepare_linear: weight " + weight.shape_string() + " is not a matrix");
    LinearWeights w;
    w.weight = weight.reshaped({weight.dim(0), weight.numel() / weight.dim(0)});
    w.bias = bias;
    w.precision = precision;
    if (precision == Precision::bf16) {
        std::shared_ptr<bf16_t[]> w16(new bf16_t[static_cast<size_t>(w.weight.numel())]);
        to_bf16(w.weight.data, w16.get(), w.weight.numel());
        w.weight16 = std::move(w16);
    }
    return w;
}

void linear(const LinearWeights& w, const LinearIO& io, int64_t rows, Act act, const float* residual,
            bool add_before_act) {
    if ((io.x16 || io.y16) && w.precision != Precision::bf16)
        throw std::invalid_argument("ops::linear: bfloat16 input or output for a float32 layer");
    MatmulArgs m;
    m.a = io.x;
    m.a16 = io.x16;
    m.b = w.weight.data;
    m.b16 = w.weight16.get();
    m.c = io.y;
    m.c16 = io.y16;
    m.M = rows;
    m.N = w.out();
    m.K = w.in();
    m.trans_b = true;
    m.b_batch = 1;
    m.bias = w.bias.defined() ? w.bias.data : nullptr;
    m.act = act;
    m.add = residual;
    m.add_before_act = add_before_act;
    matmul(m);
}

void gemm(const float* a, const float* b, float* c, int64_t M, int64_t K, int64_t N, bool trans_b,
          const float* bias, const float* add) {
    MatmulArgs m;
    m.a = a;
    m.b = b;
    m.c = c;
    m.M = M;
    m.K = K;
    m.N = N;
    m.trans_b = trans_b;
    m.bias = bias;
    m.add = add;
    matmul(m);
}

void linear(const float* x, int64_t rows, const Tensor& weight, const Tensor& bias, float* y, Act act,
            const float* residual) {
    MatmulArgs m;
    m.a = x;
    m.b = weight.data;
    m.c = y;
    m.M = rows;
    m.N = weight.dim(0);
    m.K = weight.dim(1);
    m.trans_b = true;
    m.b_batch = 1;
    m.bias = bias.defined() ? bias.data : nullptr;
    m.act = act;
    m.add = residual;
    matmul(m);
}

int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad) {
    return (in + 2 * pad - k) / stride + 1;
}

namespace {

// A convolution primitive together with its weights reordered, once, into the layout it wants.
// Keyed by the weight's address; `owner` tells whether that address still holds the same tensor.
struct ConvPrimitive {
    dnnl::convolution_forward prim;
    memory::desc src, dst, bias, add;
    memory weights;
    std::weak_ptr<const void> owner;
};

}  // namespace

void conv2d(const Conv2dArgs& a) {
    const Tensor& w = *a.weight;
    if (w.rank() != 4 || w.dim(0) != a.C_out || w.dim(1) * a.groups != a.C_in || w.dim(2) != a.kh ||
        w.dim(3) != a.kw)
        throw std::invalid_argument("ops::conv2d: weight " + w.shape_string() + " does not fit C_in " +
                                    std::to_string(a.C_in) + ", C_out " + std::to_string(a.C_out));
    const int64_t Ho = conv_out_size(a.H, a.kh, a.stride, a.pad_rows ? a.pad : 0);
    const int64_t Wo = conv_out_size(a.W, a.kw, a.stride, a.pad);
    const bool has_bias = a.bias && a.bias->defined();
    const bool bf16 = a.precision == Precision::bf16, y16 = a.y16 != nullptr;
    if ((a.x16 || y16) && !bf16) throw std::invalid_argument("ops::conv2d: bfloat16 input or output needs precision bf16");
    static std::mutex mutex;
    static std::unordered_map<Key, std::shared_ptr<const ConvPrimitive>, KeyHash> cache;
    const Key key = key_of({reinterpret_cast<int64_t>(w.data), a.H, a.W, a.C_in, a.C_out, a.kh, a.kw, a.stride,
                              a.pad, a.pad_rows, a.groups, has_bias, int(a.act), a.add != nullptr, a.add_before_act,
                              bf16 * 2 + y16});
    std::shared_ptr<const ConvPrimitive> p;
    {
        std::lock_guard<std::mutex> lock(mutex);
        auto it = cache.find(key);
        if (it != cache.end() && !it->second->owner.expired() && it->second->owner.lock() == w.owner) p = it->second;
    }
    if (!p) {
        auto c = std::make_shared<ConvPrimitive>();
        const auto& e = engine();
        c->src = memory::desc({1, a.C_in, a.H, a.W}, dtype(bf16), tag::nhwc);
        c->dst = memory::desc({1, a.C_out, Ho, Wo}, dtype(y16), tag::nhwc);
        c->add = memory::desc({1, a.C_out, Ho, Wo}, dt::f32, tag::nhwc);
        c->bias = memory::desc({a.C_out}, dt::f32, tag::a);
        dims wdims = a.groups == 1 ? dims{a.C_out, a.C_in, a.kh, a.kw}
                                   : dims{a.groups, a.C_out / a.groups, a.C_in / a.groups, a.kh, a.kw};
        memory::desc w_user(wdims, dt::f32, a.groups == 1 ? tag::oihw : tag::goihw);
        memory::desc w_any(wdims, dtype(bf16), tag::any);
        dnnl::primitive_attr attr = user_scratchpad();
        dnnl::post_ops po;
        append_post_ops(po, a.act, a.add != nullptr, a.add_before_act, c->add);
        attr.set_post_ops(po);
        dims strides{a.stride, a.stride}, pad{a.pad_rows ? a.pad : 0, a.pad};
        auto desc = has_bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                               dnnl::algorithm::convolution_direct, c->src, w_any,
                                                               c->bias, c->dst, strides, pad, pad)
                             : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                               dnnl::algorithm::convolution_direct, c->src, w_any,
                                                               c->dst, strides, pad, pad);
        dnnl::convolution_forward::primitive_desc pd(desc, attr, e);
        c->prim = dnnl::convolution_forward(pd);
        memory user(w_user, e, w.data);
        c->weights = memory(pd.weights_desc(), e);
        dnnl::reorder(user, c->weights).execute(stream(), user, c->weights);
        stream().wait();
        c->owner = w.owner;
        p = c;
        std::lock_guard<std::mutex> lock(mutex);
        cache[key] = c;
    }
    const void* x_data = a.x16 ? static_cast<const void*>(a.x16) : static_cast<const void*>(a.x);
    if (bf16 && !a.x16) {
        bf16_t* converted = bf16_scratch(static_cast<size_t>(a.H * a.W * a.C_in));
        to_bf16(a.x, converted, a.H * a.W * a.C_in);
        x_data = converted;
    }
    const auto& e = engine();
    const memory src(p->src, e, const_cast<void*>(x_data)),
        dst(p->dst, e, y16 ? static_cast<void*>(a.y16) : static_cast<void*>(a.y));
    const memory bias = has_bias ? memory(p->bias, e, a.bias->data) : memory();
    const memory add = a.add ? memory(p->add, e, const_cast<float*>(a.add)) : memory();
    ExecArgs args;
    args.add(DNNL_ARG_SRC, src);
    args.add(DNNL_ARG_WEIGHTS, p->weights);
    args.add(DNNL_ARG_DST, dst);
    if (has_bias) args.add(DNNL_ARG_BIAS, bias);
    if (a.add)
        args.add(DNNL_ARG_ATTR_MULTIPLE_POST_OP(post_op_add_index(a.act, a.add_before_act)) | DNNL_ARG_SRC_1, add);
    execute(p->prim, args);
}

void layer_norm(const float* x, int64_t rows, int64_t C, const float* gamma, const float* beta, float eps,
                float* y) {
    kernels().layer_norm(x, rows, C, gamma, beta, eps, y);
}

void layer_norm_bf16(const float* x, int64_t rows, int64_t C, const float* gamma, const float* beta, float eps,
                     bf16_t* y) {
    kernels().layer_norm_bf16(x, rows, C, gamma, beta, eps, y);
}

void to_bf16(const float* x, bf16_t* y, int64_t n) { kernels().to_bf16(x, y, n); }

void layer_norm_gelu(const float* x, int64_t rows, int64_t C, const float* gamma, const float* beta, float eps,
                     float* y) {
    kernels().layer_norm_gelu(x, rows, C, gamma, beta, eps, y);
}

void softmax_rows(float* x, int64_t rows, int64_t cols, float scale, const float* bias, int64_t bias_rows) {
    kernels().softmax_rows(x, rows, cols, scale, bias, bias_rows);
}

void gelu(float* x, int64_t n) {
    static Cache<dnnl::eltwise_forward> cache;
    memory::desc md({n}, dt::f32, tag::a);
    auto p = cache.get(key_of({n}), [&] {
        dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::eltwise_gelu_erf, md);
        return dnnl::eltwise_forward(dnnl::eltwise_forward::primitive_desc(d, user_scratchpad(), engine()));
    });
    const memory m(md, engine(), x);
    ExecArgs args;
    args.add(DNNL_ARG_SRC, m);
    args.add(DNNL_ARG_DST, m);
    execute(*p, args);
}

void relu(float* x, int64_t n) { kernels().relu(x, n); }

void add(const float* a, const float* b, float* y, int64_t n) { kernels().add(a, b, y, n); }

void transpose(const float* x, int64_t rows, int64_t cols, float* y) { kernels().transpose(x, rows, cols, y); }

void fold_batchnorm(Tensor& weight, Tensor& bias, const Tensor& bn_weight, const Tensor& bn_bias,
                    const Tensor& bn_mean, const Tensor& bn_var, float eps) {
    const int64_t C = weight.dim(0);
    const int64_t per = weight.numel() / C;
    Tensor w = Tensor::empty(weight.shape);
    Tensor b = Tensor::empty({C});
    for (int64_t o = 0; o < C; ++o) {
        const float s = bn_weight.data[o] / std::sqrt(bn_var.data[o] + eps);
        for (int64_t i = 0; i < per; ++i) w.data[o * per + i] = weight.data[o * per + i] * s;
        const float b0 = bias.defined() ? bias.data[o] : 0.0f;
        b.data[o] = (b0 - bn_mean.data[o]) * s + bn_bias.data[o];
    }
    weight = std::move(w);
    bias = std::move(b);
}

}  // namespace sam::ops
