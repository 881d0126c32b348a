#include "models/mask_decoder.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>

#include "models/mask_decoder_kernels.hpp"
#include "models/prompt_encoder.hpp"
#include "tensor/ops.hpp"
#include "tensor/profile.hpp"

namespace sam {

namespace {

constexpr int kDim = kPromptDim;
constexpr int kDepth = 2;           // TwoWayTransformer depth in every SAM variant
constexpr int kHeads = 8;
constexpr int kMlpDim = 2048;
constexpr int kDownsampled = kDim / 2;  // cross attentions use attention_downsample_rate 2
constexpr int kMaskTokens = 4;
constexpr int kUp0 = 64, kUp1 = 32;  // output_upscaling channels
constexpr int kLowres = 4 * kEmbedSide;  // two 2x upscalings: 256
constexpr float kLayerNormEps = 1e-5f;   // nn.LayerNorm
constexpr float kNorm2dEps = 1e-6f;      // LayerNorm2d

TokenLinear token_linear_weights(const Tensor& w, const Tensor& b) {
    TokenLinear t;
    t.out = w.dim(0);
    t.in = w.dim(1);
    t.b = b;
    t.packed = Tensor::empty({t.in * t.out});
    float* dst = t.packed.data;
    for (int64_t o0 = 0; o0 < t.out; o0 += kTokenBlock) {
        const int64_t width = std::min<int64_t>(kTokenBlock, t.out - o0);
        for (int64_t i = 0; i < t.in; ++i)
            for (int64_t j = 0; j < width; ++j) *dst++ = w.data[(o0 + j) * t.in + i];
    }
    return t;
}

DecoderAttention load_attention(const io::Checkpoint& ckpt, const std::string& p, int64_t internal_dim) {
    DecoderAttention a;
    a.internal_dim = internal_dim;
    a.q_w = ckpt.get(p + "q_proj.weight", {internal_dim, kDim});
    a.q_b = ckpt.get(p + "q_proj.bias", {internal_dim});
    a.k_w = ckpt.get(p + "k_proj.weight", {internal_dim, kDim});
    a.k_b = ckpt.get(p + "k_proj.bias", {internal_dim});
    a.v_w = ckpt.get(p + "v_proj.weight", {internal_dim, kDim});
    a.v_b = ckpt.get(p + "v_proj.bias", {internal_dim});
    a.out_w = ckpt.get(p + "out_proj.weight", {kDim, internal_dim});
    a.out_b = ckpt.get(p + "out_proj.bias", {kDim});
    a.q = token_linear_weights(a.q_w, a.q_b);
    a.k = token_linear_weights(a.k_w, a.k_b);
    a.v = token_linear_weights(a.v_w, a.v_b);
    a.out = token_linear_weights(a.out_w, a.out_b);
    a.out_wt = Tensor::empty({internal_dim, kDim});
    ops::transpose(a.out_w.data, kDim, internal_dim, a.out_wt.data);
    return a;
}

Mlp3 load_mlp3(const io::Checkpoint& ckpt, const std::string& p, int64_t out_dim) {
    Mlp3 m;
    for (int i = 0; i < 3; ++i) {
        const int64_t out = i == 2 ? out_dim : kDim;
        m.layer[i] = token_linear_weights(ckpt.get(p + "layers." + std::to_string(i) + ".weight", {out, kDim}),
                                          ckpt.get(p + "layers." + std::to_string(i) + ".bias", {out}));
    }
    return m;
}

// ConvTranspose2d(cin -> cout, k2, s2) weight [cin, cout, 2, 2] as a [cin, (dy, dx, cout)] matrix,
// and its bias repeated for the four block positions.
std::pair<Tensor, Tensor> convt_as_matrix(const Tensor& w, const Tensor& b) {
    const int64_t cin = w.dim(0), cout = w.dim(1);
    Tensor m = Tensor::empty({cin, 4 * cout});
    Tensor bias = Tensor::empty({4 * cout});
    for (int64_t ci = 0; ci < cin; ++ci)
        for (int64_t co = 0; co < cout; ++co)
            for (int64_t k = 0; k < 4; ++k) m.data[ci * 4 * cout + k * cout + co] = w.data[(ci * cout + co) * 4 + k];
    for (int64_t k = 0; k < 4; ++k) std::memcpy(bias.data + k * cout, b.data, cout * sizeof(float));
    return {m, bias};
}

const MaskDecoderKernels& kernels() {
    return isa::pick(isa_v2::mask_decoder_kernels, isa_v3::mask_decoder_kernels, isa_v4::mask_decoder_kernels);
}

// y[r] = W x[r] + b (+ residual[r]), optional ReLU, for a handful of token rows.
void token_linear(const float* x, int64_t rows, const TokenLinear& l, float* y, bool relu = false,
                  const float* residual = nullptr) {
    kernels().token_linear(x, rows, l.packed.data, l.b.data, l.out, l.in, y, relu, residual);
}

// Attention among the few prompt tokens (self attention): plain loops throughout.
void token_attention(const DecoderAttention& a, const float* q_in, const float* k_in, const float* v_in, int64_t n,
                     float* out, const float* residual) {
    const int64_t D = a.internal_dim, dh = D / kHeads;
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dh)));
    std::vector<float> q(n * D), k(n * D), v(n * D), o(n * D, 0.0f), s(n);
    token_linear(q_in, n, a.q, q.data());
    token_linear(k_in, n, a.k, k.data());
    token_linear(v_in, n, a.v, v.data());
    for (int64_t h = 0; h < kHeads; ++h)
        for (int64_t i = 0; i < n; ++i) {
            const float* qi = q.data() + i * D + h * dh;
            for (int64_t j = 0; j < n; ++j) {
                const float* kj = k.data() + j * D + h * dh;
                float dot = 0;
                for (int64_t d = 0; d < dh; ++d) dot += qi[d] * kj[d];
                s[j] = dot;
            }
            ops::softmax_rows(s.data(), 1, n, scale);
            float* oi = o.data() + i * D + h * dh;
            for (int64_t j = 0; j < n; ++j)
                for (int64_t d = 0; d < dh; ++d) oi[d] += s[j] * v[j * D + h * dh + d];
        }
    token_linear(o.data(), n, a.out, out, false, residual);
}

// Image-side scratch of one decoder run (about 25 MB): pooled, so that repeated clicks reuse
// pages already mapped instead of faulting fresh ones in (measured 15-20% of the decoder's
// time). The pool keeps as many as ever ran at once: one or two on a 2-core machine.
struct Scratch {
    std::vector<float> keys, kbuf, kpe, scores, i2t_scores[2], stats, joined, up_y, up0;
};

class ScratchPool {
public:
    std::unique_ptr<Scratch> take() {
        std::lock_guard<std::mutex> lock(mutex_);
        if (free_.empty()) return std::make_unique<Scratch>();
        std::unique_ptr<Scratch> s = std::move(free_.back());
        free_.pop_back();
        return s;
    }
    void give(std::unique_ptr<Scratch> s) {
        std::lock_guard<std::mutex> lock(mutex_);
        free_.push_back(std::move(s));
    }

private:
    std::mutex mutex_;
    std::vector<std::unique_ptr<Scratch>> free_;
};

ScratchPool& scratch_pool() {
    static ScratchPool pool;
    return pool;
}

struct ScratchLease {
    std::unique_ptr<Scratch> s = scratch_pool().take();
    ~ScratchLease() { scratch_pool().give(std::move(s)); }
};

float* sized(std::vector<float>& v, size_t n) {
    if (v.size() < n) v.resize(n);
    return v.data();
}

// Tokens attending to the image (token_to_image, final attention). The projections of the 4096
// image tokens are folded into the few queries instead: with q_h the head-h query and
// k_j = Wk kpe_j + bk, q_h . k_jh = (Wk_h^T q_h) . kpe_j + (a constant per softmax row, which
// softmax ignores); and since softmax rows sum to 1, P (keys Wv^T + bv) = (P keys) Wv^T + bv.
// Image-side work: two [8n, 256] x [256, 4096] products instead of four 4096-row ones.
void tokens_to_image(const DecoderAttention& a, const float* q_in, int64_t n, const float* kpe, const float* keys,
                     float* out, const float* residual, Scratch& sc) {
    const int64_t D = a.internal_dim, dh = D / kHeads, rows = kHeads * n;
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dh)));
    std::vector<float> q(n * D), qk(rows * kDim), z(rows * kDim), o(n * D);
    token_linear(q_in, n, a.q, q.data());
    // qk[(h, i)] = scale * Wk_h^T q_ih: the softmax scale folded in too.
    kernels().fold_queries(q.data(), n, D, kHeads, a.k_w.data, scale, qk.data());
    float* s = sized(sc.scores, static_cast<size_t>(rows) * kEmbedTokens);
    ops::gemm(qk.data(), kpe, s, rows, kDim, kEmbedTokens, true);
    ops::softmax_rows(s, rows, kEmbedTokens);
    ops::gemm(s, keys, z.data(), rows, kEmbedTokens, kDim, false);
    // o[i, (h, d)] = Wv[(h, d)] . z[(h, i)] + bv
    kernels().unfold_values(z.data(), n, D, kHeads, a.v_w.data, a.v_b.data, o.data());
    token_linear(o.data(), n, a.out, out, false, residual);
}

// The image attending to the tokens (image_to_token). The 4096-row q and out projections are
// folded into the few keys and values: scores = kpe (Wq_h^T k_ih) + bq_h . k_ih, and
// out = sum_h P_h (v_h Wout_h^T) + bout. Image-side work: a [4096, 256] x [256, 8n] and a
// [4096, 8n] x [8n, 256] product instead of two 4096x256x128 ones and the attention itself.
// Leaves the probabilities P in s [4096, 8n] and the folded values in vo [8n, 256]; the residual
// is added by the norm that follows.
void image_to_tokens(const DecoderAttention& a, const float* kpe, const float* k_in, const float* v_in, int64_t n,
                     float* out, float* s, std::vector<float>& vo) {
    const int64_t D = a.internal_dim, dh = D / kHeads, cols = kHeads * n;
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dh)));
    std::vector<float> k(n * D), v(n * D), qa(cols * kDim), qb(cols);
    vo.resize(cols * kDim);
    token_linear(k_in, n, a.k, k.data());
    token_linear(v_in, n, a.v, v.data());
    kernels().fold_keys_values(k.data(), v.data(), n, D, kHeads, a.q_w.data, a.q_b.data, a.out_wt.data, qa.data(),
                               qb.data(), vo.data());
    ops::gemm(kpe, qa.data(), s, kEmbedTokens, kDim, cols, /*trans_b=*/true, qb.data());
    ops::softmax_rows(s, kEmbedTokens * kHeads, n, scale);
    ops::gemm(s, vo.data(), out, kEmbedTokens, cols, kDim, false, a.out_b.data);
}

// One row through three linear layers with ReLU between them.
std::vector<float> mlp3(const Mlp3& m, const float* x) {
    std::vector<float> h0(kDim), h1(kDim), out(m.layer[2].out);
    token_linear(x, 1, m.layer[0], h0.data(), true);
    token_linear(h0.data(), 1, m.layer[1], h1.data(), true);
    token_linear(h1.data(), 1, m.layer[2], out.data());
    return out;
}

// The constants of the folded first upscaling (see MaskDecoder::run); needs the two layers'
// norm4 and image_to_token output bias, and up0.
void fold_upscaling(MaskDecoder& d) {
    const Tensor &g0 = d.layers[0].norm_w[3], &b0 = d.layers[0].norm_b[3];
    const Tensor &g1 = d.layers[1].norm_w[3], &b1 = d.layers[1].norm_b[3];
    const int64_t n = d.up0_w.dim(1);
    d.up_w_mid = Tensor::empty({kDim, n});
    d.up_w_src = Tensor::empty({kDim, n});
    for (int64_t i = 0; i < kDim; ++i)
        for (int64_t j = 0; j < n; ++j) {
            d.up_w_mid.data[i * n + j] = g1.data[i] * d.up0_w.data[i * n + j];
            d.up_w_src.data[i * n + j] = g0.data[i] * d.up_w_mid.data[i * n + j];
        }
    // Row vector times a [256, n] matrix, in double: these constants are made once.
    auto times = [&](std::initializer_list<const float*> rows, const Tensor& m) {
        Tensor out = Tensor::empty({n});
        for (int64_t j = 0; j < n; ++j) {
            double acc = 0;
            for (const float* r : rows)
                for (int64_t i = 0; i < kDim; ++i) acc += double(r ? r[i] : 1.0f) * m.data[i * n + j];
            out.data[j] = static_cast<float>(acc);
        }
        return out;
    };
    d.up_c0 = times({nullptr}, d.up_w_src);
    d.up_c1 = times({nullptr}, d.up_w_mid);
    d.up_d0 = times({d.layers[0].image_to_token.out_b.data}, d.up_w_src);
    d.up_e1 = times({b0.data, d.layers[1].image_to_token.out_b.data}, d.up_w_mid);
    d.up_f = times({b1.data}, d.up0_w);
    for (int64_t j = 0; j < n; ++j) d.up_f.data[j] += d.up0_b.data[j];
}

}  // namespace

MaskDecoder MaskDecoder::load(const io::Checkpoint& ckpt, DecoderKind kind) {
    const bool sam2 = kind == DecoderKind::Sam2;
    const std::string p = sam2 ? "sam_mask_decoder." : "mask_decoder.";
    const std::string mlp1 = sam2 ? "mlp.layers.0." : "mlp.lin1.", mlp2 = sam2 ? "mlp.layers.1." : "mlp.lin2.";
    const std::string t = p + "transformer.";
    MaskDecoder d;
    for (int i = 0; i < kDepth; ++i) {
        const std::string l = t + "layers." + std::to_string(i) + ".";
        TwoWayBlock b;
        b.self_attn = load_attention(ckpt, l + "self_attn.", kDim);
        b.token_to_image = load_attention(ckpt, l + "cross_attn_token_to_image.", kDownsampled);
        b.image_to_token = load_attention(ckpt, l + "cross_attn_image_to_token.", kDownsampled);
        for (int n = 0; n < 4; ++n) {
            b.norm_w[n] = ckpt.get(l + "norm" + std::to_string(n + 1) + ".weight", {kDim});
            b.norm_b[n] = ckpt.get(l + "norm" + std::to_string(n + 1) + ".bias", {kDim});
        }
        b.mlp1 = token_linear_weights(ckpt.get(l + mlp1 + "weight", {kMlpDim, kDim}),
                                      ckpt.get(l + mlp1 + "bias", {kMlpDim}));
        b.mlp2 = token_linear_weights(ckpt.get(l + mlp2 + "weight", {kDim, kMlpDim}),
                                      ckpt.get(l + mlp2 + "bias", {kDim}));
        b.skip_first_layer_pe = i == 0;
        d.layers.push_back(std::move(b));
    }
    d.final_attn = load_attention(ckpt, t + "final_attn_token_to_image.", kDownsampled);
    d.norm_final_w = ckpt.get(t + "norm_final_attn.weight", {kDim});
    d.norm_final_b = ckpt.get(t + "norm_final_attn.bias", {kDim});

    const Tensor iou_token = ckpt.get(p + "iou_token.weight", {1, kDim});
    const Tensor mask_tokens = ckpt.get(p + "mask_tokens.weight", {kMaskTokens, kDim});
    d.iou_token = sam2 ? 1 : 0;
    d.iou_sigmoid = sam2;
    d.output_tokens = Tensor::empty({d.iou_token + 1 + kMaskTokens, kDim});
    if (sam2) std::memcpy(d.output_tokens.data, ckpt.get(p + "obj_score_token.weight", {1, kDim}).data, kDim * sizeof(float));
    std::memcpy(d.output_tokens.data + d.iou_token * kDim, iou_token.data, kDim * sizeof(float));
    std::memcpy(d.output_tokens.data + (d.iou_token + 1) * kDim, mask_tokens.data, kMaskTokens * kDim * sizeof(float));

    std::tie(d.up0_w, d.up0_b) = convt_as_matrix(ckpt.get(p + "output_upscaling.0.weight", {kDim, kUp0, 2, 2}),
                                                 ckpt.get(p + "output_upscaling.0.bias", {kUp0}));
    d.up_norm_w = ckpt.get(p + "output_upscaling.1.weight", {kUp0});
    d.up_norm_b = ckpt.get(p + "output_upscaling.1.bias", {kUp0});
    std::tie(d.up1_w, d.up1_b) = convt_as_matrix(ckpt.get(p + "output_upscaling.3.weight", {kUp0, kUp1, 2, 2}),
                                                 ckpt.get(p + "output_upscaling.3.bias", {kUp1}));
    fold_upscaling(d);
    for (int i = 0; i < kMaskTokens; ++i)
        d.hyper[i] = load_mlp3(ckpt, p + "output_hypernetworks_mlps." + std::to_string(i) + ".", kUp1);
    d.iou_head = load_mlp3(ckpt, p + "iou_prediction_head.", kMaskTokens);
    return d;
}

DecoderImageSide MaskDecoder::image_side(Tensor src, const float* pos) const {
    DecoderImageSide side;
    side.src = std::move(src);
    side.src_pe = Tensor::empty({kEmbedTokens, kDim});
    ops::add(side.src.data, pos, side.src_pe.data, side.src.numel());
    side.src_up = Tensor::empty({kEmbedTokens, up_w_src.dim(1)});
    ops::gemm(side.src.data, up_w_src.data, side.src_up.data, kEmbedTokens, kDim, up_w_src.dim(1));
    return side;
}

DecoderOutput MaskDecoder::run(const float* src, const float* pos, const Tensor& sparse, bool multimask,
                               const DecoderImageTerms& image) const {
    return run(src, pos, sparse, multimask ? 1 : 0, multimask ? kMaskTokens - 1 : 1, nullptr, image);
}

DecoderOutput MaskDecoder::run(const float* src, const float* pos, const Tensor& sparse, int first, int count,
                               const HighResFeatures* high_res, const DecoderImageTerms& image) const {
    if (first < 0 || count < 1 || first + count > kMaskTokens)
        throw std::invalid_argument("MaskDecoder: mask tokens " + std::to_string(first) + ".." +
                                    std::to_string(first + count - 1) + " do not exist (0..3)");
    const int64_t nt = output_tokens.dim(0) + sparse.dim(0);
    const size_t tok_n = static_cast<size_t>(nt) * kDim, img_n = static_cast<size_t>(kEmbedTokens) * kDim;
    // The prompt tokens double as the queries' positional encoding (point_embedding in the reference).
    std::vector<float> tokens(tok_n);
    std::memcpy(tokens.data(), output_tokens.data, output_tokens.numel() * sizeof(float));
    std::memcpy(tokens.data() + output_tokens.numel(), sparse.data, sparse.numel() * sizeof(float));
    std::vector<float> queries(tokens), qbuf(tok_n), qpe(tok_n), hidden(static_cast<size_t>(nt) * kMlpDim);
    // Image-side buffers come from the pool, uninitialised: each is fully written before it is read.
    ScratchLease lease;
    Scratch& sc = *lease.s;
    // The image tokens are src itself until the first image-to-token attention writes new ones;
    // from then on they alternate between two scratch buffers.
    const float* keys = src;
    float* key_bufs[2] = {sized(sc.keys, img_n), sized(sc.kbuf, img_n)};
    float* kpe_buf = sized(sc.kpe, img_n);
    // keys + pos: the norm that writes new keys writes it too.
    const float* kpe = image.src_pe;
    if (!kpe) {
        ops::add(src, pos, kpe_buf, img_n);
        kpe = kpe_buf;
    }
    // Per image-to-token attention l: its probabilities, folded values and the mean and 1 / std
    // of each row its norm saw (the folded upscaling below needs them).
    const int64_t cols = kHeads * nt;
    std::vector<float> vo[kDepth];
    float* stats = sized(sc.stats, 4 * kEmbedTokens);
    float* mean[kDepth] = {stats, stats + kEmbedTokens};
    float* rstd[kDepth] = {stats + 2 * kEmbedTokens, stats + 3 * kEmbedTokens};
    float* i2t_scores[kDepth];

    auto norm = [](float* x, int64_t rows, const Tensor& w, const Tensor& b) {
        ops::layer_norm(x, rows, kDim, w.data, b.data, kLayerNormEps, x);
    };
    for (size_t l = 0; l < layers.size(); ++l) {
        const TwoWayBlock& L = layers[l];
        {
            profile::Scope scope("decoder.self_attn");
            if (L.skip_first_layer_pe) {
                token_attention(L.self_attn, queries.data(), queries.data(), queries.data(), nt, qbuf.data(), nullptr);
            } else {
                ops::add(queries.data(), tokens.data(), qpe.data(), tok_n);
                token_attention(L.self_attn, qpe.data(), qpe.data(), queries.data(), nt, qbuf.data(), queries.data());
            }
            std::swap(queries, qbuf);
            norm(queries.data(), nt, L.norm_w[0], L.norm_b[0]);
        }
        {
            profile::Scope scope("decoder.token_to_image");
            ops::add(queries.data(), tokens.data(), qpe.data(), tok_n);
            tokens_to_image(L.token_to_image, qpe.data(), nt, kpe, keys, qbuf.data(), queries.data(), sc);
            std::swap(queries, qbuf);
            norm(queries.data(), nt, L.norm_w[1], L.norm_b[1]);
        }
        {
            profile::Scope scope("decoder.token_mlp");
            token_linear(queries.data(), nt, L.mlp1, hidden.data(), true);
            token_linear(hidden.data(), nt, L.mlp2, qbuf.data(), false, queries.data());
            std::swap(queries, qbuf);
            norm(queries.data(), nt, L.norm_w[2], L.norm_b[2]);
        }
        {
            profile::Scope scope("decoder.image_to_token");
            ops::add(queries.data(), tokens.data(), qpe.data(), tok_n);
            float* out = key_bufs[l % 2];
            i2t_scores[l] = sized(sc.i2t_scores[l], static_cast<size_t>(kEmbedTokens) * cols);
            image_to_tokens(L.image_to_token, kpe, qpe.data(), queries.data(), nt, out, i2t_scores[l], vo[l]);
            kernels().norm_image_tokens(out, keys, L.norm_w[3].data, L.norm_b[3].data, pos, kpe_buf, mean[l], rstd[l]);
            keys = out;
            kpe = kpe_buf;
        }
    }
    {
        profile::Scope scope("decoder.final_attn");
        ops::add(queries.data(), tokens.data(), qpe.data(), tok_n);
        tokens_to_image(final_attn, qpe.data(), nt, kpe, keys, qbuf.data(), queries.data(), sc);
        std::swap(queries, qbuf);
        norm(queries.data(), nt, norm_final_w, norm_final_b);
    }

    // output_upscaling: rows of up0 are (y, x, dy, dx) blocks of 64 channels; the second
    // upscaling happens in upscaled_masks, at the end.
    float* up0 = sized(sc.up0, static_cast<size_t>(kEmbedTokens) * 4 * kUp0);
    {
        profile::Scope scope("decoder.upscaling");
        if (image.src_up) {
            // keys2 · up0_w without the 4096x256x256 product. Each norm4 is a per-row affine map,
            // keys_l = rstd_l (x_l - mean_l) g_l + b_l, and x_0 = src + P_0 vo_0 + bout_0,
            // x_1 = keys_1 + P_1 vo_1 + bout_1; so keys2 · up0_w =
            //   rstd_1 rstd_0 (src up_w_src + P_0 vo_0 up_w_src + P_1 vo_1 up_w_mid / rstd_0) + row terms
            // (UpscalingFold). src up_w_src is the caller's per image, and what is left per click
            // is one [4096, 16n] x [16n, 256] product.
            static_assert(kDepth == 2, "the folded upscaling goes back through exactly two norms");
            float* a = sized(sc.joined, static_cast<size_t>(kEmbedTokens) * (2 * cols + 2));
            float* std0 = a + kEmbedTokens;
            float* joined = std0 + kEmbedTokens;
            for (int64_t r = 0; r < kEmbedTokens; ++r) {
                a[r] = rstd[0][r] * rstd[1][r];
                std0[r] = 1.0f / rstd[0][r];
            }
            kernels().join_scores(i2t_scores[0], i2t_scores[1], cols, std0, joined);
            std::vector<float> folded(static_cast<size_t>(2 * cols) * kDim);
            ops::gemm(vo[0].data(), up_w_src.data, folded.data(), cols, kDim, 4 * kUp0);
            ops::gemm(vo[1].data(), up_w_mid.data, folded.data() + cols * kDim, cols, kDim, 4 * kUp0);
            float* y = sized(sc.up_y, img_n);
            ops::gemm(joined, folded.data(), y, kEmbedTokens, 2 * cols, 4 * kUp0, false, nullptr, image.src_up);
            const UpscalingFold fold{up_d0.data, up_c0.data, up_e1.data, up_c1.data, up_f.data};
            kernels().upscaling_input(y, a, rstd[1], mean[0], mean[1], fold, high_res ? high_res->s1 : nullptr,
                                      up_norm_w.data, up_norm_b.data, up0);
        } else {
            ops::MatmulArgs m0;
            m0.a = keys;
            m0.b = up0_w.data;
            m0.c = up0;
            m0.M = kEmbedTokens;
            m0.K = kDim;
            m0.N = 4 * kUp0;
            m0.bias = up0_b.data;
            if (high_res) m0.add = high_res->s1;  // before the LayerNorm
            ops::matmul(m0);
            ops::layer_norm_gelu(up0, kEmbedTokens * 4, kUp0, up_norm_w.data, up_norm_b.data, kNorm2dEps, up0);
        }
    }

    profile::Scope scope("decoder.heads_masks");
    DecoderOutput out;
    const float* mask_queries = queries.data() + (iou_token + 1) * kDim;
    std::vector<float> hyper_in(static_cast<size_t>(count) * kUp1);
    for (int c = 0; c < count; ++c) {
        const std::vector<float> h = mlp3(hyper[first + c], mask_queries + (first + c) * kDim);
        std::memcpy(hyper_in.data() + c * kUp1, h.data(), kUp1 * sizeof(float));
    }
    std::vector<float> iou = mlp3(iou_head, queries.data() + iou_token * kDim);
    if (iou_sigmoid)
        for (float& v : iou) v = 1.0f / (1.0f + std::exp(-v));
    out.iou.assign(iou.begin() + first, iou.begin() + first + count);

    out.masks = Tensor::empty({count, kLowres, kLowres});
    kernels().upscaled_masks(up0, up1_w.data, up1_b.data, high_res ? high_res->s0 : nullptr, hyper_in.data(), count,
                             out.masks.data);
    return out;
}

}  // namespace sam
