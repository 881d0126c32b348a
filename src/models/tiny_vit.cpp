#include "models/tiny_vit.hpp"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <vector>

#include "models/tiny_vit_kernels.hpp"
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
                    int64_t stride, int64_t pad, int64_t groups) {
    ConvBN c;
    c.in = in, c.out = out, c.k = k, c.stride = stride, c.pad = pad, c.groups = groups;
    c.weight = ck.get(prefix + ".c.weight", {out, in / groups, k, k});
    const Shape vec{out};
    ops::fold_batchnorm(c.weight, c.bias, ck.get(prefix + ".bn.weight", vec), ck.get(prefix + ".bn.bias", vec),
                        ck.get(prefix + ".bn.running_mean", vec), ck.get(prefix + ".bn.running_var", vec),
                        kBatchNormEps);
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

void conv(const ConvBN& c, const float* x, int64_t H, int64_t W, float* y, ops::Act act,
          const float* add = nullptr, bool add_before_act = false) {
    ops::Conv2dArgs a;
    a.x = x, a.y = y, a.H = H, a.W = W, a.C_in = c.in, a.C_out = c.out;
    a.kh = a.kw = c.k, a.stride = c.stride, a.pad = c.pad, a.groups = c.groups;
    a.weight = &c.weight, a.bias = &c.bias, a.act = act, a.add = add, a.add_before_act = add_before_act;
    ops::conv2d(a);
}

// 1x1 convolution on channels-last data is a matrix product over pixels.
void pointwise(const ConvBN& c, const float* x, int64_t pixels, float* y, ops::Act act,
               const float* add = nullptr, bool add_before_act = false) {
    ops::MatmulArgs m;
    m.a = x, m.b = c.weight.data, m.c = y;
    m.M = pixels, m.K = c.in, m.N = c.out, m.trans_b = true, m.b_batch = 1;
    m.bias = c.bias.data, m.act = act, m.add = add, m.add_before_act = add_before_act;
    ops::matmul(m);
}

// One TinyViTBlock on tokens x [H*W, C]; returns the new tokens.
Tensor run_block(const TinyVitBlock& b, const Tensor& x, int64_t H, int64_t W) {
    const int64_t C = b.dim, P = H * W;
    Tensor x1 = Tensor::empty({P, C});
    {
        profile::Scope scope("tinyvit.attention");
        Tensor normed = Tensor::empty({P, C});
        ops::layer_norm(x.data, P, C, b.attn_norm_w.data, b.attn_norm_b.data, kLayerNormEps, normed.data);
        Tensor qkv = Tensor::empty({P, 3 * C});
        ops::linear(normed.data, P, b.qkv_w, b.qkv_b, qkv.data);
        {
            profile::Scope core("tinyvit.attention.core");
            WindowAttentionArgs a;
            a.qkv = qkv.data, a.pad_qkv = b.pad_qkv.data, a.bias = b.attn_bias.data, a.out = normed.data;
            a.H = H, a.W = W, a.heads = b.heads, a.window = b.window;
            isa::pick(isa_v2::tiny_vit_kernels, isa_v3::tiny_vit_kernels, isa_v4::tiny_vit_kernels).window_attention(a);
        }
        ops::linear(normed.data, P, b.proj_w, b.proj_b, x1.data, ops::Act::None, x.data);
    }
    Tensor x2 = Tensor::empty({H * W, C});
    {
        profile::Scope scope("tinyvit.local_conv");
        conv(b.local_conv, x1.data, H, W, x2.data, ops::Act::None);
    }
    profile::Scope scope("tinyvit.mlp");
    Tensor normed = Tensor::empty({H * W, C});
    ops::layer_norm(x2.data, H * W, C, b.mlp_norm_w.data, b.mlp_norm_b.data, kLayerNormEps, normed.data);
    Tensor hidden = Tensor::empty({H * W, b.fc1_w.dim(0)});
    ops::linear(normed.data, H * W, b.fc1_w, b.fc1_b, hidden.data, ops::Act::Gelu);
    ops::linear(hidden.data, H * W, b.fc2_w, b.fc2_b, x1.data, ops::Act::None, x2.data);
    return x1;
}

// PatchMerging: [H, W, C] -> [H/s, W/s, out].
Tensor run_patch_merging(const TinyVitPatchMerging& m, const Tensor& x, int64_t H, int64_t W, int64_t& Ho,
                         int64_t& Wo) {
    profile::Scope scope("tinyvit.patch_merging");
    Tensor h1 = Tensor::empty({H * W, m.conv1.out});
    pointwise(m.conv1, x.data, H * W, h1.data, ops::Act::Gelu);
    Ho = ops::conv_out_size(H, 3, m.conv2.stride, 1);
    Wo = ops::conv_out_size(W, 3, m.conv2.stride, 1);
    Tensor h2 = Tensor::empty({Ho * Wo, m.conv2.out});
    conv(m.conv2, h1.data, H, W, h2.data, ops::Act::Gelu);
    Tensor y = Tensor::empty({Ho * Wo, m.conv3.out});
    pointwise(m.conv3, h2.data, Ho * Wo, y.data, ops::Act::None);
    return y;
}

// MBConv: gelu(project(gelu(dw(gelu(expand(x))))) + x), in bands of rows so that the 4x
// expanded activations (64 MB each at full size) stay a few MB and in cache. The depthwise
// convolution gets one halo row above and below each band: zeros at the image edges, as its
// padding would give.
constexpr int64_t kBandRows = 32;

Tensor run_mbconv(const TinyVitMBConv& m, const Tensor& x, int64_t H, int64_t W) {
    profile::Scope scope("tinyvit.mbconv");
    const int64_t hidden = m.conv1.out, C = m.conv3.out;
    Tensor y = Tensor::empty({H * W, C});
    Tensor h1 = Tensor::empty({(kBandRows + 2) * W, hidden});
    Tensor h2 = Tensor::empty({kBandRows * W, hidden});
    for (int64_t r0 = 0; r0 < H; r0 += kBandRows) {
        const int64_t rows = std::min(kBandRows, H - r0);
        const int64_t lo = std::max<int64_t>(r0 - 1, 0), hi = std::min(r0 + rows + 1, H);
        float* band = h1.data + (lo - (r0 - 1)) * W * hidden;
        if (r0 == 0) std::memset(h1.data, 0, W * hidden * sizeof(float));
        if (r0 + rows == H) std::memset(h1.data + (rows + 1) * W * hidden, 0, W * hidden * sizeof(float));
        pointwise(m.conv1, x.data + lo * W * C, (hi - lo) * W, band, ops::Act::Gelu);

        ops::Conv2dArgs a;
        a.x = h1.data, a.y = h2.data, a.H = rows + 2, a.W = W, a.C_in = a.C_out = hidden;
        a.kh = a.kw = 3, a.pad = 1, a.pad_rows = false, a.groups = hidden;
        a.weight = &m.conv2.weight, a.bias = &m.conv2.bias, a.act = ops::Act::Gelu;
        ops::conv2d(a);

        pointwise(m.conv3, h2.data, rows * W, y.data + r0 * W * C, ops::Act::Gelu, x.data + r0 * W * C,
                  /*add_before_act=*/true);
    }
    return y;
}

}  // namespace

bool TinyVitEncoder::looks_like_tiny_vit(const io::Checkpoint& ckpt) {
    return ckpt.contains("image_encoder.patch_embed.seq.0.c.weight") &&
           ckpt.contains("image_encoder.layers.0.blocks.0.conv1.c.weight");
}

std::unique_ptr<TinyVitEncoder> TinyVitEncoder::load(const io::Checkpoint& ck) {
    auto e = std::make_unique<TinyVitEncoder>();
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
                m.conv1 = load_conv_bn(ck, bp + "conv1", C, 4 * C, 1, 1, 0, 1);
                m.conv2 = load_conv_bn(ck, bp + "conv2", 4 * C, 4 * C, 3, 1, 1, 4 * C);
                m.conv3 = load_conv_bn(ck, bp + "conv3", 4 * C, C, 1, 1, 0, 1);
                st.conv_blocks.push_back(std::move(m));
                continue;
            }
            TinyVitBlock b;
            b.dim = C, b.heads = kHeads[s], b.window = kWindows[s];
            const int64_t n = b.window * b.window;
            b.attn_norm_w = ck.get(bp + "attn.norm.weight", {C});
            b.attn_norm_b = ck.get(bp + "attn.norm.bias", {C});
            b.qkv_w = ck.get(bp + "attn.qkv.weight", {3 * C, C});
            b.qkv_b = ck.get(bp + "attn.qkv.bias", {3 * C});
            b.proj_w = ck.get(bp + "attn.proj.weight", {C, C});
            b.proj_b = ck.get(bp + "attn.proj.bias", {C});
            b.attn_bias = expand_attention_bias(ck.get(bp + "attn.attention_biases", {b.heads, n}), b.heads, b.window);
            // A zero (padding) token leaves the attention's LayerNorm as `beta`.
            b.pad_qkv = Tensor::empty({3 * C});
            ops::linear(b.attn_norm_b.data, 1, b.qkv_w, b.qkv_b, b.pad_qkv.data);
            b.local_conv = load_conv_bn(ck, bp + "local_conv", C, C, 3, 1, 1, C);
            b.mlp_norm_w = ck.get(bp + "mlp.norm.weight", {C});
            b.mlp_norm_b = ck.get(bp + "mlp.norm.bias", {C});
            b.fc1_w = ck.get(bp + "mlp.fc1.weight", {4 * C, C});
            b.fc1_b = ck.get(bp + "mlp.fc1.bias", {4 * C});
            b.fc2_w = ck.get(bp + "mlp.fc2.weight", {C, 4 * C});
            b.fc2_b = ck.get(bp + "mlp.fc2.bias", {C});
            st.blocks.push_back(std::move(b));
        }
        if (s < 3) {
            const int64_t out = kDims[s + 1];
            // TinyViT keeps the resolution when merging into 320 channels (the SAM variant ends at 64x64).
            const int64_t stride = out == 320 ? 1 : 2;
            st.has_downsample = true;
            st.downsample.conv1 = load_conv_bn(ck, sp + "downsample.conv1", C, out, 1, 1, 0, 1);
            st.downsample.conv2 = load_conv_bn(ck, sp + "downsample.conv2", out, out, 3, stride, 1, out);
            st.downsample.conv3 = load_conv_bn(ck, sp + "downsample.conv3", out, out, 1, 1, 0, 1);
            resolution = resolution / stride;
        }
        e->stages_.push_back(std::move(st));
    }
    e->neck_conv1_ = ck.get(p + "neck.0.weight", {256, kDims[3], 1, 1});
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
    Tensor x = Tensor::empty({256 * 256, embed2_.out});
    {
        profile::Scope scope("tinyvit.patch_embed");
        Tensor e1 = Tensor::empty({512 * 512, embed1_.out});
        conv(embed1_, input.data, 1024, 1024, e1.data, ops::Act::Gelu);
        conv(embed2_, e1.data, 512, 512, x.data, ops::Act::None);
    }

    int64_t H = 256, W = 256;
    for (const TinyVitStage& st : stages_) {
        for (const TinyVitMBConv& m : st.conv_blocks) x = run_mbconv(m, x, H, W);
        for (const TinyVitBlock& b : st.blocks) x = run_block(b, x, H, W);
        if (st.has_downsample) {
            int64_t Ho, Wo;
            x = run_patch_merging(st.downsample, x, H, W, Ho, Wo);
            H = Ho, W = Wo;
        }
    }

    // Neck: 1x1 conv, LayerNorm2d, 3x3 conv, LayerNorm2d (per pixel over channels).
    profile::Scope scope("tinyvit.neck");
    const int64_t P = H * W;
    Tensor n1 = Tensor::empty({P, 256});
    ops::linear(x.data, P, neck_conv1_.reshaped({256, neck_conv1_.dim(1)}), Tensor(), n1.data);
    ops::layer_norm(n1.data, P, 256, neck_norm1_w_.data, neck_norm1_b_.data, kNeckNormEps, n1.data);
    Tensor n2 = Tensor::empty({P, 256});
    ops::Conv2dArgs a;
    a.x = n1.data, a.y = n2.data, a.H = H, a.W = W, a.C_in = 256, a.C_out = 256, a.kh = a.kw = 3, a.pad = 1;
    a.weight = &neck_conv2_;
    ops::conv2d(a);
    ops::layer_norm(n2.data, P, 256, neck_norm2_w_.data, neck_norm2_b_.data, kNeckNormEps, n2.data);
    Tensor out = Tensor::empty({256, H, W});
    ops::transpose(n2.data, P, 256, out.data);
    return out;
}

}  // namespace sam
