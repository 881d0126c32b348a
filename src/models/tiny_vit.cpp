#include "models/tiny_vit.hpp"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "models/tiny_vit_kernels.hpp"
#include "tensor/precision.hpp"
#include "tensor/ops.hpp"
#include "tensor/profile.hpp"

namespace sam {
namespace {

// MobileSAM's vit_t configuration. The loader checks every tensor against it, so a checkpoint
// of another shape fails with the name and both shapes rather than computing garbage.
constexpr int64_t kDims[4] = {64, 128, 160, 320};
constexpr int64_t kDepths[4] = {2, 2, 6, 2};
constexpr int64_t kHeads[4] = {2, 4, 5, 10};
constexpr int64_t kWindows[4] = {7, 7, 14, 7};
constexpr int kHeadDim = 32;  // every stage: 128/4, 160/5, 320/10
static_assert(kDims[1] / kHeads[1] == kHeadDim && kDims[2] / kHeads[2] == kHeadDim && kDims[3] / kHeads[3] == kHeadDim);
constexpr float kBatchNormEps = 1e-5f;
constexpr float kLayerNormEps = 1e-5f;
constexpr float kNeckNormEps = 1e-6f;

ConvBN load_conv_bn(const io::Checkpoint& ck, const std::string& prefix, int64_t in, int64_t out, int64_t k,
                    int64_t stride, int64_t pad, int64_t groups, Precision precision = Precision::f32) {
    ConvBN c;
    c.in = in, c.out = out, c.k = k, c.stride = stride, c.pad = pad, c.groups = groups;
    c.weight = ck.get(prefix + ".c.weight", {out, in / groups, k, k});
    const Shape vec{out};
    ops::fold_batchnorm(c.weight, c.bias, ck.get(prefix + ".bn.weight", vec), ck.get(prefix + ".bn.bias", vec),
                        ck.get(prefix + ".bn.running_mean", vec), ck.get(prefix + ".bn.running_var", vec),
                        kBatchNormEps);
    if (k == 1 && groups == 1) c.linear = ops::prepare_linear(c.weight, c.bias, precision);
    return c;
}

// Attention biases are indexed by the (|dy|, |dx|) offset between two window positions;
// TinyViT numbers the offsets in first-seen order, which for a square window is dy * w + dx.
Tensor expand_attention_bias(const Tensor& biases, int64_t heads, int64_t window) {
    const int64_t n = window * window;
    Tensor out = Tensor::empty({heads, n, n});
    for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j) {
                const int64_t dy = std::abs(i / window - j / window), dx = std::abs(i % window - j % window);
                out.data[(h * n + i) * n + j] = biases.data[h * n + dy * window + dx];
            }
    return out;
}

// An activation between two products: float32, or bfloat16 when the encoder runs in bf16 (the
// residual stream stays float32 either way).
struct Activation {
    Tensor f32;
    std::unique_ptr<bf16_t[]> b16;

    Activation(int64_t n, Precision precision) {
        if (precision == Precision::bf16) b16 = std::make_unique_for_overwrite<bf16_t[]>(static_cast<size_t>(n));
        else f32 = Tensor::empty({n});
    }
    ops::LinearIO in(int64_t offset = 0) const {
        return b16 ? ops::LinearIO{nullptr, b16.get() + offset} : ops::LinearIO{f32.data + offset};
    }
    ops::LinearIO out(int64_t offset = 0) const {
        return b16 ? ops::LinearIO{nullptr, nullptr, nullptr, b16.get() + offset}
                   : ops::LinearIO{nullptr, nullptr, f32.data + offset};
    }
};

// A convolution from `in` (float32 x or bfloat16 x16) to `out` (y or y16), at `precision`.
void conv(const ConvBN& c, const ops::LinearIO& in, int64_t H, int64_t W, const ops::LinearIO& out, ops::Act act,
          Precision precision, const float* add = nullptr, bool add_before_act = false, bool pad_rows = true) {
    ops::Conv2dArgs a;
    a.x = in.x, a.x16 = in.x16, a.y = out.y, a.y16 = out.y16, a.precision = precision;
    a.H = H, a.W = W, a.C_in = c.in, a.C_out = c.out;
    a.kh = a.kw = c.k, a.stride = c.stride, a.pad = c.pad, a.groups = c.groups, a.pad_rows = pad_rows;
    a.weight = &c.weight, a.bias = &c.bias, a.act = act, a.add = add, a.add_before_act = add_before_act;
    ops::conv2d(a);
}

// Rows normalised for the product that follows: float32, or bfloat16 for a bf16 layer.
ops::LinearIO normalized(const float* x, int64_t rows, int64_t C, const Tensor& gamma, const Tensor& beta,
                         const Activation& out) {
    if (out.b16) ops::layer_norm_bf16(x, rows, C, gamma.data, beta.data, kLayerNormEps, out.b16.get());
    else ops::layer_norm(x, rows, C, gamma.data, beta.data, kLayerNormEps, out.f32.data);
    return out.in();
}

// One TinyViTBlock on tokens x [H*W, C]; returns the new tokens.
Tensor run_block(const TinyVitBlock& b, const Tensor& x, int64_t H, int64_t W, Precision precision) {
    const int64_t C = b.dim, P = H * W;
    Tensor x1 = Tensor::empty({P, C});
    {
        profile::Scope scope("tinyvit.attention");
        Tensor qkv = Tensor::empty({P, 3 * C});
        {
            const Activation normed(P * C, precision);
            ops::LinearIO io = normalized(x.data, P, C, b.attn_norm_w, b.attn_norm_b, normed);
            io.y = qkv.data;
            ops::linear(b.qkv, io, P);
        }
        Tensor heads = Tensor::empty({P, C});
        {
            profile::Scope core("tinyvit.attention.core");
            WindowAttentionArgs a;
            a.qkv = qkv.data, a.pad_qkv = b.pad_qkv.data, a.bias = b.attn_bias.data, a.out = heads.data;
            a.H = H, a.W = W, a.heads = b.heads, a.window = b.window;
            isa::pick(isa_v2::tiny_vit_kernels, isa_v3::tiny_vit_kernels, isa_v4::tiny_vit_kernels).window_attention(a);
        }
        ops::linear(b.proj, {heads.data, nullptr, x1.data}, P, ops::Act::None, x.data);
    }
    Tensor x2 = Tensor::empty({P, C});
    {
        profile::Scope scope("tinyvit.local_conv");
        conv(b.local_conv, {x1.data}, H, W, {nullptr, nullptr, x2.data}, ops::Act::None, Precision::f32);
    }
    profile::Scope scope("tinyvit.mlp");
    const Activation normed(P * C, precision), hidden(P * b.fc1.out(), precision);
    ops::LinearIO io = normalized(x2.data, P, C, b.mlp_norm_w, b.mlp_norm_b, normed);
    ops::LinearIO h = hidden.out();
    io.y = h.y, io.y16 = h.y16;
    ops::linear(b.fc1, io, P, ops::Act::Gelu);
    io = hidden.in();
    io.y = x1.data;
    ops::linear(b.fc2, io, P, ops::Act::None, x2.data);
    return x1;
}

ops::LinearIO chain(const ops::LinearIO& in, const ops::LinearIO& out) {
    return {in.x, in.x16, out.y, out.y16};
}

// PatchMerging: [H, W, C] -> [H/s, W/s, out].
Tensor run_patch_merging(const TinyVitPatchMerging& m, const Tensor& x, int64_t H, int64_t W, int64_t& Ho,
                         int64_t& Wo, Precision precision) {
    profile::Scope scope("tinyvit.patch_merging");
    const Activation h1(H * W * m.conv1.out, precision);
    ops::linear(m.conv1.linear, chain({x.data}, h1.out()), H * W, ops::Act::Gelu);
    Ho = ops::conv_out_size(H, 3, m.conv2.stride, 1);
    Wo = ops::conv_out_size(W, 3, m.conv2.stride, 1);
    const Activation h2(Ho * Wo * m.conv2.out, precision);
    conv(m.conv2, h1.in(), H, W, h2.out(), ops::Act::Gelu, precision);
    Tensor y = Tensor::empty({Ho * Wo, m.conv3.out});
    ops::linear(m.conv3.linear, chain(h2.in(), {nullptr, nullptr, y.data}), Ho * Wo);
    return y;
}

// MBConv: gelu(project(gelu(dw(gelu(expand(x))))) + x), in bands of rows so that the 4x
// expanded activations (64 MB each at full size) stay a few MB and in cache. The depthwise
// convolution gets one halo row above and below each band: zeros at the image edges, as its
// padding would give.
constexpr int64_t kBandRows = 16;

Tensor run_mbconv(const TinyVitMBConv& m, const Tensor& x, int64_t H, int64_t W, Precision precision) {
    profile::Scope scope("tinyvit.mbconv");
    const int64_t hidden = m.conv1.out, C = m.conv3.out;
    Tensor y = Tensor::empty({H * W, C});
    const Activation h1((kBandRows + 2) * W * hidden, precision), h2(kBandRows * W * hidden, precision);
    const int64_t row = W * hidden;
    auto zero_row = [&](int64_t r) {
        if (h1.b16) std::memset(h1.b16.get() + r * row, 0, row * sizeof(bf16_t));
        else std::memset(h1.f32.data + r * row, 0, row * sizeof(float));
    };
    for (int64_t r0 = 0; r0 < H; r0 += kBandRows) {
        const int64_t rows = std::min(kBandRows, H - r0);
        const int64_t lo = std::max<int64_t>(r0 - 1, 0), hi = std::min(r0 + rows + 1, H);
        if (r0 == 0) zero_row(0);
        if (r0 + rows == H) zero_row(rows + 1);
        ops::linear(m.conv1.linear, chain({x.data + lo * W * C}, h1.out((lo - (r0 - 1)) * row)), (hi - lo) * W,
                    ops::Act::Gelu);
        conv(m.conv2, h1.in(), rows + 2, W, h2.out(), ops::Act::Gelu, precision, nullptr, false, /*pad_rows=*/false);
        ops::linear(m.conv3.linear, chain(h2.in(), {nullptr, nullptr, y.data + r0 * W * C}), rows * W, ops::Act::Gelu,
                    x.data + r0 * W * C, /*add_before_act=*/true);
    }
    return y;
}

}  // namespace

bool TinyVitEncoder::looks_like_tiny_vit(const io::Checkpoint& ckpt) {
    return ckpt.contains("image_encoder.patch_embed.seq.0.c.weight") &&
           ckpt.contains("image_encoder.layers.0.blocks.0.conv1.c.weight");
}

std::unique_ptr<TinyVitEncoder> TinyVitEncoder::load(const io::Checkpoint& ck, Precision precision) {
    require_precision(precision);
    auto e = std::make_unique<TinyVitEncoder>();
    e->precision_ = precision;
    const std::string p = "image_encoder.";
    e->embed1_ = load_conv_bn(ck, p + "patch_embed.seq.0", 3, kDims[0] / 2, 3, 2, 1, 1);
    e->embed2_ = load_conv_bn(ck, p + "patch_embed.seq.2", kDims[0] / 2, kDims[0], 3, 2, 1, 1);

    int64_t resolution = 256;
    for (int s = 0; s < 4; ++s) {
        TinyVitStage st;
        st.dim = kDims[s];
        st.resolution = resolution;
        const std::string sp = p + "layers." + std::to_string(s) + ".";
        const int64_t C = kDims[s];
        for (int64_t i = 0; i < kDepths[s]; ++i) {
            const std::string bp = sp + "blocks." + std::to_string(i) + ".";
            if (s == 0) {
                TinyVitMBConv m;
                m.conv1 = load_conv_bn(ck, bp + "conv1", C, 4 * C, 1, 1, 0, 1, precision);
                m.conv2 = load_conv_bn(ck, bp + "conv2", 4 * C, 4 * C, 3, 1, 1, 4 * C);
                m.conv3 = load_conv_bn(ck, bp + "conv3", 4 * C, C, 1, 1, 0, 1, precision);
                st.conv_blocks.push_back(std::move(m));
                continue;
            }
            TinyVitBlock b;
            b.dim = C, b.heads = kHeads[s], b.window = kWindows[s];
            const int64_t n = b.window * b.window;
            b.attn_norm_w = ck.get(bp + "attn.norm.weight", {C});
            b.attn_norm_b = ck.get(bp + "attn.norm.bias", {C});
            b.qkv = ops::prepare_linear(ck.get(bp + "attn.qkv.weight", {3 * C, C}), ck.get(bp + "attn.qkv.bias", {3 * C}),
                                        precision);
            b.proj = ops::prepare_linear(ck.get(bp + "attn.proj.weight", {C, C}), ck.get(bp + "attn.proj.bias", {C}),
                                         precision);
            b.attn_bias = expand_attention_bias(ck.get(bp + "attn.attention_biases", {b.heads, n}), b.heads, b.window);
            // A zero (padding) token leaves the attention's LayerNorm as `beta`.
            b.pad_qkv = Tensor::empty({3 * C});
            ops::linear(b.attn_norm_b.data, 1, b.qkv.weight, b.qkv.bias, b.pad_qkv.data);
            b.local_conv = load_conv_bn(ck, bp + "local_conv", C, C, 3, 1, 1, C);
            b.mlp_norm_w = ck.get(bp + "mlp.norm.weight", {C});
            b.mlp_norm_b = ck.get(bp + "mlp.norm.bias", {C});
            b.fc1 = ops::prepare_linear(ck.get(bp + "mlp.fc1.weight", {4 * C, C}), ck.get(bp + "mlp.fc1.bias", {4 * C}),
                                        precision);
            b.fc2 = ops::prepare_linear(ck.get(bp + "mlp.fc2.weight", {C, 4 * C}), ck.get(bp + "mlp.fc2.bias", {C}),
                                        precision);
            st.blocks.push_back(std::move(b));
        }
        if (s < 3) {
            const int64_t out = kDims[s + 1];
            // TinyViT keeps the resolution when merging into 320 channels (the SAM variant ends at 64x64).
            const int64_t stride = out == 320 ? 1 : 2;
            st.has_downsample = true;
            st.downsample.conv1 = load_conv_bn(ck, sp + "downsample.conv1", C, out, 1, 1, 0, 1, precision);
            st.downsample.conv2 = load_conv_bn(ck, sp + "downsample.conv2", out, out, 3, stride, 1, out);
            st.downsample.conv3 = load_conv_bn(ck, sp + "downsample.conv3", out, out, 1, 1, 0, 1, precision);
            resolution = resolution / stride;
        }
        e->stages_.push_back(std::move(st));
    }
    e->neck_conv1_ = ops::prepare_linear(ck.get(p + "neck.0.weight", {256, kDims[3], 1, 1}), Tensor(), precision);
    e->neck_norm1_w_ = ck.get(p + "neck.1.weight", {256});
    e->neck_norm1_b_ = ck.get(p + "neck.1.bias", {256});
    e->neck_conv2_ = ck.get(p + "neck.2.weight", {256, 256, 3, 3});
    e->neck_norm2_w_ = ck.get(p + "neck.3.weight", {256});
    e->neck_norm2_b_ = ck.get(p + "neck.3.bias", {256});
    return e;
}

Tensor TinyVitEncoder::encode(const Tensor& input) const {
    if (input.shape != Shape{1024, 1024, 3})
        throw std::invalid_argument("TinyViT input must be [1024, 1024, 3], got " + input.shape_string());
    const Precision pr = precision_;
    Tensor x = Tensor::empty({256 * 256, embed2_.out});
    {
        profile::Scope scope("tinyvit.patch_embed");
        const Activation e1(512 * 512 * embed1_.out, pr);
        conv(embed1_, {input.data}, 1024, 1024, e1.out(), ops::Act::Gelu, pr);
        conv(embed2_, e1.in(), 512, 512, {nullptr, nullptr, x.data}, ops::Act::None, pr);
    }

    int64_t H = 256, W = 256;
    for (const TinyVitStage& st : stages_) {
        for (const TinyVitMBConv& m : st.conv_blocks) x = run_mbconv(m, x, H, W, pr);
        for (const TinyVitBlock& b : st.blocks) x = run_block(b, x, H, W, pr);
        if (st.has_downsample) {
            int64_t Ho, Wo;
            x = run_patch_merging(st.downsample, x, H, W, Ho, Wo, pr);
            H = Ho, W = Wo;
        }
    }

    // Neck: 1x1 conv, LayerNorm2d, 3x3 conv, LayerNorm2d (per pixel over channels).
    profile::Scope scope("tinyvit.neck");
    const int64_t P = H * W;
    Tensor n1 = Tensor::empty({P, 256});
    ops::linear(neck_conv1_, {x.data, nullptr, n1.data}, P);
    const Activation normed(P * 256, pr);
    if (normed.b16) ops::layer_norm_bf16(n1.data, P, 256, neck_norm1_w_.data, neck_norm1_b_.data, kNeckNormEps, normed.b16.get());
    else ops::layer_norm(n1.data, P, 256, neck_norm1_w_.data, neck_norm1_b_.data, kNeckNormEps, normed.f32.data);
    Tensor n2 = Tensor::empty({P, 256});
    ops::Conv2dArgs a;
    a.x = normed.f32.data, a.x16 = normed.b16.get(), a.y = n2.data, a.precision = pr;
    a.H = H, a.W = W, a.C_in = 256, a.C_out = 256, a.kh = a.kw = 3, a.pad = 1;
    a.weight = &neck_conv2_;
    ops::conv2d(a);
    ops::layer_norm(n2.data, P, 256, neck_norm2_w_.data, neck_norm2_b_.data, kNeckNormEps, n2.data);
    Tensor out = Tensor::empty({256, H, W});
    ops::transpose(n2.data, P, 256, out.data);
    return out;
}

}  // namespace sam
