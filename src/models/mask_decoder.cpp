#include "models/mask_decoder.hpp"

#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>

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
    return a;
}

Mlp3 load_mlp3(const io::Checkpoint& ckpt, const std::string& p, int64_t out_dim) {
    Mlp3 m;
    for (int i = 0; i < 3; ++i) {
        const int64_t out = i == 2 ? out_dim : kDim;
        m.w[i] = ckpt.get(p + "layers." + std::to_string(i) + ".weight", {out, kDim});
        m.b[i] = ckpt.get(p + "layers." + std::to_string(i) + ".bias", {out});
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

// Block-diagonal copy of a few rows x [n, D]: row (h, i) holds head h's slice of row i and
// zeros elsewhere, [heads * n, D], so one matrix product against it does every head at once.
Tensor block_diagonal(const float* x, int64_t n, int64_t D) {
    const int64_t dh = D / kHeads;
    Tensor b = Tensor::zeros({kHeads * n, D});
    for (int64_t h = 0; h < kHeads; ++h)
        for (int64_t i = 0; i < n; ++i)
            std::memcpy(b.data + (h * n + i) * D + h * dh, x + i * D + h * dh, dh * sizeof(float));
    return b;
}

void product(const float* a, const float* b, float* c, int64_t M, int64_t K, int64_t N, bool trans_b) {
    ops::MatmulArgs m;
    m.a = a;
    m.b = b;
    m.c = c;
    m.M = M;
    m.K = K;
    m.N = N;
    m.trans_b = trans_b;
    ops::matmul(m);
}

// Multi-head scaled dot-product attention on projected q [nq, D], k and v [nk, D]: out [nq, D].
// One side is always a handful of prompt tokens: its block-diagonal copy turns the 8 head-sliced
// products into two plain matrix products (8x the work on the tiny side only).
void attend(const float* q, int64_t nq, const float* k, const float* v, int64_t nk, int64_t D, float* out) {
    const int64_t dh = D / kHeads;
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dh)));
    if (nq <= nk) {
        // Scores [heads * nq, nk], row (h, i); the product with v keeps head h's columns of row (h, i).
        const Tensor qb = block_diagonal(q, nq, D);
        Tensor s = Tensor::empty({kHeads * nq, nk});
        product(qb.data, k, s.data, kHeads * nq, D, nk, true);
        ops::softmax_rows(s.data, kHeads * nq, nk, scale);
        Tensor o = Tensor::empty({kHeads * nq, D});
        product(s.data, v, o.data, kHeads * nq, nk, D, false);
        for (int64_t h = 0; h < kHeads; ++h)
            for (int64_t i = 0; i < nq; ++i)
                std::memcpy(out + i * D + h * dh, o.data + (h * nq + i) * D + h * dh, dh * sizeof(float));
    } else {
        // Scores [nq, heads * nk]: each run of nk is one head's softmax row.
        const Tensor kb = block_diagonal(k, nk, D);
        const Tensor vb = block_diagonal(v, nk, D);
        Tensor s = Tensor::empty({nq, kHeads * nk});
        product(q, kb.data, s.data, nq, D, kHeads * nk, true);
        ops::softmax_rows(s.data, nq * kHeads, nk, scale);
        product(s.data, vb.data, out, nq, kHeads * nk, D, false);
    }
}

// out = out_proj(attention(q_proj(q_in), k_proj(k_in), v_proj(v_in))) (+ residual); out must not
// alias the inputs.
void attention(const DecoderAttention& a, const float* q_in, int64_t nq, const float* k_in, const float* v_in,
               int64_t nk, float* out, const float* residual) {
    const int64_t D = a.internal_dim;
    Tensor q = Tensor::empty({nq, D}), k = Tensor::empty({nk, D}), v = Tensor::empty({nk, D});
    Tensor o = Tensor::empty({nq, D});
    ops::linear(q_in, nq, a.q_w, a.q_b, q.data);
    ops::linear(k_in, nk, a.k_w, a.k_b, k.data);
    ops::linear(v_in, nk, a.v_w, a.v_b, v.data);
    attend(q.data, nq, k.data, v.data, nk, D, o.data);
    ops::linear(o.data, nq, a.out_w, a.out_b, out, ops::Act::None, residual);
}

// One row through three linear layers with ReLU between them.
std::vector<float> mlp3(const Mlp3& m, const float* x) {
    std::vector<float> h0(kDim), h1(kDim), out(m.w[2].dim(0));
    ops::linear(x, 1, m.w[0], m.b[0], h0.data(), ops::Act::Relu);
    ops::linear(h0.data(), 1, m.w[1], m.b[1], h1.data(), ops::Act::Relu);
    ops::linear(h1.data(), 1, m.w[2], m.b[2], out.data());
    return out;
}

}  // namespace

MaskDecoder MaskDecoder::load(const io::Checkpoint& ckpt) {
    const std::string p = "mask_decoder.";
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
        b.mlp1_w = ckpt.get(l + "mlp.lin1.weight", {kMlpDim, kDim});
        b.mlp1_b = ckpt.get(l + "mlp.lin1.bias", {kMlpDim});
        b.mlp2_w = ckpt.get(l + "mlp.lin2.weight", {kDim, kMlpDim});
        b.mlp2_b = ckpt.get(l + "mlp.lin2.bias", {kDim});
        b.skip_first_layer_pe = i == 0;
        d.layers.push_back(std::move(b));
    }
    d.final_attn = load_attention(ckpt, t + "final_attn_token_to_image.", kDownsampled);
    d.norm_final_w = ckpt.get(t + "norm_final_attn.weight", {kDim});
    d.norm_final_b = ckpt.get(t + "norm_final_attn.bias", {kDim});

    const Tensor iou_token = ckpt.get(p + "iou_token.weight", {1, kDim});
    const Tensor mask_tokens = ckpt.get(p + "mask_tokens.weight", {kMaskTokens, kDim});
    d.output_tokens = Tensor::empty({1 + kMaskTokens, kDim});
    std::memcpy(d.output_tokens.data, iou_token.data, kDim * sizeof(float));
    std::memcpy(d.output_tokens.data + kDim, mask_tokens.data, kMaskTokens * kDim * sizeof(float));

    std::tie(d.up0_w, d.up0_b) = convt_as_matrix(ckpt.get(p + "output_upscaling.0.weight", {kDim, kUp0, 2, 2}),
                                                 ckpt.get(p + "output_upscaling.0.bias", {kUp0}));
    d.up_norm_w = ckpt.get(p + "output_upscaling.1.weight", {kUp0});
    d.up_norm_b = ckpt.get(p + "output_upscaling.1.bias", {kUp0});
    std::tie(d.up1_w, d.up1_b) = convt_as_matrix(ckpt.get(p + "output_upscaling.3.weight", {kUp0, kUp1, 2, 2}),
                                                 ckpt.get(p + "output_upscaling.3.bias", {kUp1}));
    for (int i = 0; i < kMaskTokens; ++i)
        d.hyper[i] = load_mlp3(ckpt, p + "output_hypernetworks_mlps." + std::to_string(i) + ".", kUp1);
    d.iou_head = load_mlp3(ckpt, p + "iou_prediction_head.", kMaskTokens);
    return d;
}

DecoderOutput MaskDecoder::run(const float* src, const float* pos, const Tensor& sparse, bool multimask) const {
    const int64_t nt = 1 + kMaskTokens + sparse.dim(0);
    const size_t tok_n = static_cast<size_t>(nt) * kDim, img_n = static_cast<size_t>(kEmbedTokens) * kDim;
    // The prompt tokens double as the queries' positional encoding (point_embedding in the reference).
    std::vector<float> tokens(tok_n);
    std::memcpy(tokens.data(), output_tokens.data, output_tokens.numel() * sizeof(float));
    std::memcpy(tokens.data() + output_tokens.numel(), sparse.data, sparse.numel() * sizeof(float));
    std::vector<float> queries(tokens), qbuf(tok_n), qpe(tok_n), hidden(static_cast<size_t>(nt) * kMlpDim);
    // Image-side buffers are left uninitialised: each is fully written before it is read.
    Tensor keys = Tensor::empty({kEmbedTokens, kDim}), kbuf = Tensor::empty({kEmbedTokens, kDim});
    Tensor kpe = Tensor::empty({kEmbedTokens, kDim});
    std::memcpy(keys.data, src, img_n * sizeof(float));

    auto norm = [](float* x, int64_t rows, const Tensor& w, const Tensor& b) {
        ops::layer_norm(x, rows, kDim, w.data, b.data, kLayerNormEps, x);
    };
    for (const TwoWayBlock& L : layers) {
        {
            profile::Scope scope("decoder.self_attn");
            if (L.skip_first_layer_pe) {
                attention(L.self_attn, queries.data(), nt, queries.data(), queries.data(), nt, qbuf.data(), nullptr);
            } else {
                ops::add(queries.data(), tokens.data(), qpe.data(), tok_n);
                attention(L.self_attn, qpe.data(), nt, qpe.data(), queries.data(), nt, qbuf.data(), queries.data());
            }
            std::swap(queries, qbuf);
            norm(queries.data(), nt, L.norm_w[0], L.norm_b[0]);
        }
        {
            profile::Scope scope("decoder.token_to_image");
            ops::add(queries.data(), tokens.data(), qpe.data(), tok_n);
            ops::add(keys.data, pos, kpe.data, img_n);
            attention(L.token_to_image, qpe.data(), nt, kpe.data, keys.data, kEmbedTokens, qbuf.data(),
                      queries.data());
            std::swap(queries, qbuf);
            norm(queries.data(), nt, L.norm_w[1], L.norm_b[1]);
        }
        {
            profile::Scope scope("decoder.token_mlp");
            ops::linear(queries.data(), nt, L.mlp1_w, L.mlp1_b, hidden.data(), ops::Act::Relu);
            ops::linear(hidden.data(), nt, L.mlp2_w, L.mlp2_b, qbuf.data(), ops::Act::None, queries.data());
            std::swap(queries, qbuf);
            norm(queries.data(), nt, L.norm_w[2], L.norm_b[2]);
        }
        {
            profile::Scope scope("decoder.image_to_token");
            // Keys are unchanged since kpe was computed.
            ops::add(queries.data(), tokens.data(), qpe.data(), tok_n);
            attention(L.image_to_token, kpe.data, kEmbedTokens, qpe.data(), queries.data(), nt, kbuf.data, keys.data);
            std::swap(keys, kbuf);
            norm(keys.data, kEmbedTokens, L.norm_w[3], L.norm_b[3]);
        }
    }
    {
        profile::Scope scope("decoder.final_attn");
        ops::add(queries.data(), tokens.data(), qpe.data(), tok_n);
        ops::add(keys.data, pos, kpe.data, img_n);
        attention(final_attn, qpe.data(), nt, kpe.data, keys.data, kEmbedTokens, qbuf.data(), queries.data());
        std::swap(queries, qbuf);
        norm(queries.data(), nt, norm_final_w, norm_final_b);
    }

    // output_upscaling: rows of up0 are (y, x, dy, dx) blocks of 64 channels, rows of up1 are
    // (y, x, dy, dx) blocks of (ey, ex, 32 channels).
    Tensor up1 = Tensor::empty({kEmbedTokens * 4, 4 * kUp1});
    {
        profile::Scope scope("decoder.upscaling");
        Tensor up0 = Tensor::empty({kEmbedTokens * 4, kUp0});
        ops::MatmulArgs m0;
        m0.a = keys.data;
        m0.b = up0_w.data;
        m0.c = up0.data;
        m0.M = kEmbedTokens;
        m0.K = kDim;
        m0.N = 4 * kUp0;
        m0.bias = up0_b.data;
        ops::matmul(m0);
        ops::layer_norm(up0.data, kEmbedTokens * 4, kUp0, up_norm_w.data, up_norm_b.data, kNorm2dEps, up0.data);
        ops::gelu(up0.data, up0.numel());
        ops::MatmulArgs m1;
        m1.a = up0.data;
        m1.b = up1_w.data;
        m1.c = up1.data;
        m1.M = kEmbedTokens * 4;
        m1.K = kUp0;
        m1.N = 4 * kUp1;
        m1.bias = up1_b.data;
        m1.act = ops::Act::Gelu;
        ops::matmul(m1);
    }

    profile::Scope scope("decoder.heads_masks");
    const int first = multimask ? 1 : 0, count = multimask ? kMaskTokens - 1 : 1;
    DecoderOutput out;
    std::vector<std::vector<float>> hyper_in(count);
    for (int c = 0; c < count; ++c) hyper_in[c] = mlp3(hyper[first + c], queries.data() + (1 + first + c) * kDim);
    const std::vector<float> iou = mlp3(iou_head, queries.data());
    out.iou.assign(iou.begin() + first, iou.begin() + first + count);

    out.masks = Tensor::empty({count, kLowres, kLowres});
    float* masks = out.masks.data;
#pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < kEmbedTokens * 4; ++blk) {
        const int64_t y = blk / 4 / kEmbedSide, x = blk / 4 % kEmbedSide, dy = blk % 4 / 2, dx = blk % 2;
        for (int e = 0; e < 4; ++e) {
            const float* u = up1.data + (blk * 4 + e) * kUp1;
            const int64_t row = 4 * y + 2 * dy + e / 2, col = 4 * x + 2 * dx + e % 2;
            for (int c = 0; c < count; ++c) {
                const float* h = hyper_in[c].data();
                float dot = 0;
#pragma omp simd reduction(+ : dot)
                for (int k = 0; k < kUp1; ++k) dot += h[k] * u[k];
                masks[(static_cast<int64_t>(c) * kLowres + row) * kLowres + col] = dot;
            }
        }
    }
    return out;
}

}  // namespace sam
