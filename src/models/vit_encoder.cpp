#include "models/vit_encoder.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <utility>

#include "models/vit_kernels.hpp"
#include "tensor/ops.hpp"

namespace sam {
namespace {

const std::string kPrefix = "image_encoder.";
constexpr float kNormEps = 1e-6f;  // both the blocks' LayerNorm and the neck's LayerNorm2d
constexpr int kMlpRatio = 4;
// What a SAM ViT can be: the decoder takes a 256-channel 64x64 embedding, so 16-pixel patches
// on the 1024 input and a 256-channel neck; ViT-H (1280 dim, 32 blocks) is the largest
// published. Bounds checked before any tensor is read, so a file cannot declare an
// architecture whose weights alone would take gigabytes.
constexpr int kPatch = 16, kNeckChannels = 256;
constexpr int64_t kMaxEmbedDim = 4096, kMaxDepth = 128, kMaxRelPosRows = 1024;
// Attention scores are computed in units of about this many floats (8 MB), so that the
// scores, their softmax and the product with V run on data still in cache.
constexpr int64_t kScoreBudget = int64_t(1) << 21;

}  // namespace

// Where the weights come from: a checkpoint file (memory-mapped views) or tensors in memory.
struct VitWeightSource {
    std::string what;  // for error messages: the file, or "tensors in memory"
    std::function<std::vector<std::string>()> names;
    std::function<bool(const std::string&)> contains;
    std::function<Shape(const std::string&)> shape;
    std::function<Tensor(const std::string&, const Shape&)> get;
};

namespace {

VitWeightSource source_of(const io::Checkpoint& ck) {
    return {ck.path(), [&ck] { return ck.names(); }, [&ck](const std::string& n) { return ck.contains(n); },
            [&ck](const std::string& n) { return ck.shape(n); },
            [&ck](const std::string& n, const Shape& s) { return ck.get(n, s); }};
}

VitWeightSource source_of(const TensorMap& m) {
    const std::string what = "tensors in memory";
    auto find = [&m, what](const std::string& n) -> const Tensor& {
        auto it = m.find(n);
        if (it == m.end()) throw io::CheckpointError(what + ": missing tensor '" + n + "'");
        return it->second;
    };
    return {what,
            [&m] {
                std::vector<std::string> v;
                for (const auto& kv : m) v.push_back(kv.first);
                return v;
            },
            [&m](const std::string& n) { return m.count(n) != 0; }, [find](const std::string& n) { return find(n).shape; },
            [find, what](const std::string& n, const Shape& s) {
                const Tensor& t = find(n);
                if (t.shape != s)
                    throw io::CheckpointError(what + ": tensor '" + n + "' has shape " + shape_str(t.shape) +
                                              ", expected " + shape_str(s));
                return t;
            }};
}

std::string block_key(int i, const std::string& rest) {
    return kPrefix + "blocks." + std::to_string(i) + "." + rest;
}

VitConfig infer_config(const VitWeightSource& src) {
    auto fail = [&](const std::string& msg) -> io::CheckpointError {
        return io::CheckpointError(src.what + ": " + msg);
    };
    const std::string patch_key = kPrefix + "patch_embed.proj.weight";
    if (!src.contains(patch_key)) throw fail("not a SAM ViT checkpoint: no " + patch_key);
    const Shape pw = src.shape(patch_key);
    if (pw.size() != 4 || pw[1] != 3 || pw[2] != pw[3] || pw[2] <= 0)
        throw fail("not a SAM ViT checkpoint: " + patch_key + " has shape " + shape_str(pw) +
                   ", expected [embed_dim, 3, patch, patch]");
    if (pw[2] != kPatch)
        throw fail(patch_key + " has shape " + shape_str(pw) + ": patch size " + std::to_string(pw[2]) +
                   ", but SAM's image encoder uses " + std::to_string(kPatch) +
                   " (a 64x64 embedding of the 1024-pixel input)");
    if (pw[0] <= 0 || pw[0] > kMaxEmbedDim)
        throw fail(patch_key + " has shape " + shape_str(pw) + ": embed dim " + std::to_string(pw[0]) +
                   " is outside 1.." + std::to_string(kMaxEmbedDim));
    VitConfig cfg;
    cfg.embed_dim = int(pw[0]);
    cfg.patch = int(pw[2]);

    // Depth: the highest blocks.N among the names (every block is then required at load).
    const std::string blocks = kPrefix + "blocks.";
    int depth = 0;
    for (const std::string& n : src.names()) {
        if (n.compare(0, blocks.size(), blocks) != 0) continue;
        const size_t dot = n.find('.', blocks.size());
        if (dot == std::string::npos || dot == blocks.size()) continue;
        const std::string num = n.substr(blocks.size(), dot - blocks.size());
        if (num.find_first_not_of("0123456789") != std::string::npos || num.size() > 6) continue;
        depth = std::max(depth, std::stoi(num) + 1);
    }
    if (depth == 0) throw fail("not a SAM ViT checkpoint: no " + blocks + "N.* tensors");
    if (depth > kMaxDepth)
        throw fail("has " + blocks + std::to_string(depth - 1) + ".* tensors: " + std::to_string(depth) +
                   " blocks, more than any SAM ViT (at most " + std::to_string(kMaxDepth) + ")");
    cfg.depth = depth;

    const int grid = cfg.img_size / cfg.patch;
    const int64_t window_rows = 2 * cfg.window - 1, global_rows = 2 * grid - 1;
    int64_t head_dim = 0;
    for (int i = 0; i < depth; ++i) {
        const std::string key = block_key(i, "attn.rel_pos_h");
        if (!src.contains(key))
            throw fail("not a SAM ViT checkpoint: no " + key + " (SAM ViT blocks use relative position embeddings)");
        const Shape s = src.shape(key);
        if (s.size() != 2 || s[0] <= 0 || s[1] <= 0 || s[0] > kMaxRelPosRows || s[1] > cfg.embed_dim)
            throw fail(key + " has shape " + shape_str(s) + ", expected [rows, head_dim] with rows in 1.." +
                       std::to_string(kMaxRelPosRows) + " and head_dim at most the embed dim " +
                       std::to_string(cfg.embed_dim));
        if (head_dim == 0) head_dim = s[1];
        if (s[1] != head_dim)
            throw fail(key + " has head dim " + std::to_string(s[1]) + ", block 0 has " + std::to_string(head_dim));
        // Tables sized for the grid are global; for the window, windowed; any other size
        // (a table to be interpolated) goes with the nearer of the two.
        if (std::abs(s[0] - global_rows) < std::abs(s[0] - window_rows)) cfg.global_blocks.push_back(i);
    }
    if (cfg.embed_dim % head_dim != 0)
        throw fail("embed dim " + std::to_string(cfg.embed_dim) + " (from " + patch_key +
                   ") is not a multiple of the rel-pos head dim " + std::to_string(head_dim));
    cfg.heads = int(cfg.embed_dim / head_dim);

    const std::string neck_key = kPrefix + "neck.0.weight";
    if (!src.contains(neck_key)) throw fail("not a SAM ViT checkpoint: no " + neck_key);
    const Shape ns = src.shape(neck_key);
    if (ns.size() != 4 || ns[0] != kNeckChannels)
        throw fail(neck_key + " has shape " + shape_str(ns) + ", expected [" + std::to_string(kNeckChannels) +
                   ", embed_dim, 1, 1] (the mask decoder takes a " + std::to_string(kNeckChannels) +
                   "-channel embedding)");
    cfg.out_chans = int(ns[0]);
    return cfg;
}

// Every tensor the encoder reads with the shape the config gives it: all checked before the
// first one is read, so a wrong or missing tensor late in the file costs no conversions.
std::vector<std::pair<std::string, Shape>> expected_tensors(const VitConfig& cfg, const VitWeightSource& src) {
    const int64_t E = cfg.embed_dim, hd = E / cfg.heads, G = cfg.img_size / cfg.patch, O = cfg.out_chans;
    std::vector<std::pair<std::string, Shape>> t = {
        {kPrefix + "patch_embed.proj.weight", {E, 3, cfg.patch, cfg.patch}},
        {kPrefix + "patch_embed.proj.bias", {E}},
        {kPrefix + "pos_embed", {1, G, G, E}},
    };
    for (int i = 0; i < cfg.depth; ++i) {
        for (const char* n : {"norm1.weight", "norm1.bias", "attn.proj.bias", "norm2.weight", "norm2.bias", "mlp.lin2.bias"})
            t.push_back({block_key(i, n), {E}});
        t.push_back({block_key(i, "attn.qkv.weight"), {3 * E, E}});
        t.push_back({block_key(i, "attn.qkv.bias"), {3 * E}});
        t.push_back({block_key(i, "attn.proj.weight"), {E, E}});
        t.push_back({block_key(i, "mlp.lin1.weight"), {kMlpRatio * E, E}});
        t.push_back({block_key(i, "mlp.lin1.bias"), {kMlpRatio * E}});
        t.push_back({block_key(i, "mlp.lin2.weight"), {E, kMlpRatio * E}});
        const int64_t rows = src.shape(block_key(i, "attn.rel_pos_h"))[0];  // checked by infer_config
        t.push_back({block_key(i, "attn.rel_pos_h"), {rows, hd}});
        t.push_back({block_key(i, "attn.rel_pos_w"), {rows, hd}});
    }
    t.push_back({kPrefix + "neck.0.weight", {O, E, 1, 1}});
    t.push_back({kPrefix + "neck.2.weight", {O, O, 3, 3}});
    for (const char* n : {"neck.1.weight", "neck.1.bias", "neck.3.weight", "neck.3.bias"}) t.push_back({kPrefix + n, {O}});
    return t;
}

void check_tensors(const VitConfig& cfg, const VitWeightSource& src) {
    for (const auto& [name, shape] : expected_tensors(cfg, src)) {
        if (!src.contains(name)) throw io::CheckpointError(src.what + ": missing tensor '" + name + "'");
        const Shape got = src.shape(name);
        if (got != shape)
            throw io::CheckpointError(src.what + ": tensor '" + name + "' has shape " + shape_str(got) + ", expected " +
                                      shape_str(shape));
    }
}

bool same_config(const VitConfig& c, int embed, int depth, int heads, std::vector<int> global) {
    return c.embed_dim == embed && c.depth == depth && c.heads == heads && c.global_blocks == global &&
           c.window == 14 && c.patch == 16 && c.img_size == 1024 && c.out_chans == 256;
}

// Attention runs in units of work whose scores stay in cache: several whole (window, head)
// items, or, when one item's scores alone exceed the budget (global attention), a block of
// rows of one item. The units run one after the other, each product using every thread:
// ops::matmul called from inside an OpenMP parallel region computes only part of its output
// with Debian's oneDNN 2.6 (measured), so the units cannot be spread over threads.
struct Unit {
    int64_t items, rows;  // items per unit; query rows per unit (N unless items == 1)
};
Unit unit_of(int64_t N, int64_t items) {
    const int64_t fit = kScoreBudget / (N * N);
    if (fit >= 1) return {std::min(fit, items), N};
    return {1, std::clamp<int64_t>(kScoreBudget / N, 16, N)};
}

const VitKernels& kernels() { return isa::pick(isa_v2::vit_kernels, isa_v3::vit_kernels, isa_v4::vit_kernels); }

}  // namespace

VitConfig infer_vit_config(const io::Checkpoint& ckpt) { return infer_config(source_of(ckpt)); }
VitConfig infer_vit_config(const TensorMap& tensors) { return infer_config(source_of(tensors)); }

bool looks_like_vit(const io::Checkpoint& ckpt) {
    return ckpt.contains(kPrefix + "patch_embed.proj.weight") && ckpt.contains(block_key(0, "attn.rel_pos_h"));
}

Tensor resize_rel_pos(const Tensor& table, int64_t new_rows) {
    const int64_t rows = table.dim(0), C = table.dim(1);
    Tensor out = Tensor::empty({new_rows, C});
    const float scale = float(rows) / float(new_rows);
    for (int64_t i = 0; i < new_rows; ++i) {
        const float src = std::max(0.0f, (float(i) + 0.5f) * scale - 0.5f);
        const int64_t i0 = std::min(int64_t(src), rows - 1);
        const int64_t i1 = std::min(i0 + 1, rows - 1);
        const float l1 = src - float(i0), l0 = 1.0f - l1;
        for (int64_t c = 0; c < C; ++c)
            out.data[i * C + c] = l0 * table.data[i0 * C + c] + l1 * table.data[i1 * C + c];
    }
    return out;
}

void VitEncoder::init(const VitWeightSource& src) {
    cfg_ = infer_config(src);
    check_tensors(cfg_, src);
    grid_ = cfg_.img_size / cfg_.patch;
    const int64_t E = cfg_.embed_dim, hd = E / cfg_.heads, G = grid_, O = cfg_.out_chans;
    const Shape vec{E};
    auto get = [&](const std::string& name, const Shape& shape) { return src.get(kPrefix + name, shape); };

    patch_w_ = get("patch_embed.proj.weight", {E, 3, cfg_.patch, cfg_.patch});
    patch_b_ = get("patch_embed.proj.bias", vec);
    pos_embed_ = get("pos_embed", {1, G, G, E});

    blocks_.resize(cfg_.depth);
    for (int i = 0; i < cfg_.depth; ++i) {
        VitBlock& b = blocks_[i];
        auto bget = [&](const std::string& rest, const Shape& shape) { return src.get(block_key(i, rest), shape); };
        b.global = std::find(cfg_.global_blocks.begin(), cfg_.global_blocks.end(), i) != cfg_.global_blocks.end();
        b.size = b.global ? G : cfg_.window;
        b.norm1_w = bget("norm1.weight", vec);
        b.norm1_b = bget("norm1.bias", vec);
        b.qkv = ops::prepare_linear(bget("attn.qkv.weight", {3 * E, E}), bget("attn.qkv.bias", {3 * E}), precision_);
        b.proj = ops::prepare_linear(bget("attn.proj.weight", {E, E}), bget("attn.proj.bias", vec), precision_);
        b.norm2_w = bget("norm2.weight", vec);
        b.norm2_b = bget("norm2.bias", vec);
        b.lin1 = ops::prepare_linear(bget("mlp.lin1.weight", {kMlpRatio * E, E}), bget("mlp.lin1.bias", {kMlpRatio * E}),
                                     precision_);
        b.lin2 = ops::prepare_linear(bget("mlp.lin2.weight", {E, kMlpRatio * E}), bget("mlp.lin2.bias", vec), precision_);
        // Both tables, resized to the attention size (get_rel_pos), side by side: one product
        // with q gives the h and the w terms. Small (a few hundred rows), so a copy is fine.
        const int64_t rows = src.shape(block_key(i, "attn.rel_pos_h"))[0], R = 2 * b.size - 1;
        const Tensor th = bget("attn.rel_pos_h", {rows, hd}), tw = bget("attn.rel_pos_w", {rows, hd});
        b.rel_pos = Tensor::empty({2 * R, hd});
        const Tensor rh = rows == R ? th : resize_rel_pos(th, R), rw = rows == R ? tw : resize_rel_pos(tw, R);
        std::memcpy(b.rel_pos.data, rh.data, sizeof(float) * R * hd);
        std::memcpy(b.rel_pos.data + R * hd, rw.data, sizeof(float) * R * hd);
    }

    neck_conv1_ = ops::prepare_linear(get("neck.0.weight", {O, E, 1, 1}), Tensor(), precision_);
    neck_norm1_w_ = get("neck.1.weight", {O});
    neck_norm1_b_ = get("neck.1.bias", {O});
    neck_conv2_ = get("neck.2.weight", {O, O, 3, 3});
    neck_norm2_w_ = get("neck.3.weight", {O});
    neck_norm2_b_ = get("neck.3.bias", {O});
}

std::unique_ptr<VitEncoder> VitEncoder::load(const io::Checkpoint& ckpt, Precision precision) {
    require_precision(precision);
    std::unique_ptr<VitEncoder> enc(new VitEncoder());
    enc->precision_ = precision;
    enc->init(source_of(ckpt));
    return enc;
}

std::unique_ptr<VitEncoder> VitEncoder::load(const TensorMap& tensors, Precision precision) {
    require_precision(precision);
    std::unique_ptr<VitEncoder> enc(new VitEncoder());
    enc->precision_ = precision;
    enc->init(source_of(tensors));
    return enc;
}

std::string VitEncoder::name() const {
    if (same_config(cfg_, 768, 12, 12, {2, 5, 8, 11})) return "SAM ViT-B";
    if (same_config(cfg_, 1024, 24, 16, {5, 11, 17, 23})) return "SAM ViT-L";
    if (same_config(cfg_, 1280, 32, 16, {7, 15, 23, 31})) return "SAM ViT-H";
    return "SAM ViT (" + std::to_string(cfg_.embed_dim) + " dim, " + std::to_string(cfg_.depth) + " blocks, " +
           std::to_string(cfg_.heads) + " heads)";
}

// Buffers for one encode, reused by every block.
struct VitEncoder::Scratch {
    Tensor x, x2;     // [G*G, E] the residual stream, ping-pong
    Tensor tok;       // [rows, E] norm1 output in attention order (windows, zero-padded); later the merged heads
    Tensor big;       // qkv [rows, 3E], later the MLP hidden [G*G, 4E]
    Tensor heads;     // [3][items, N, hd]: q, k, v per (window, head); attention output overwrites q
    Tensor inv_sum;   // [items * N] 1 / softmax sum per query
    Tensor scores;    // the attention scores of one unit of work
    Tensor rel;       // [unit rows, 2 * (2S-1)] q · rel-pos tables of one unit
    std::unique_ptr<bf16_t[]> tok16, big16;  // bf16: the MLP's input and hidden activations
};

// One block's attention: norm1(x) in `tok`, result (before proj) merged back into `tok` as [G*G, E].
void VitEncoder::attention(const VitBlock& b, Scratch& s) const {
    const int64_t E = cfg_.embed_dim, nH = cfg_.heads, hd = E / nH, G = grid_, S = b.size;
    const int64_t nW = (G + S - 1) / S, B = nW * nW, N = S * S, rows = B * N, items = B * nH;
    const int64_t R2 = 2 * (2 * S - 1);

    ops::linear(b.qkv, {s.tok.data, nullptr, s.big.data}, rows);
    // [rows, 3, nH, hd] -> [3, B * nH, N, hd] so each (window, head) is one contiguous matrix.
    float* heads = s.heads.data;
    kernels().split_heads(s.big.data, rows, N, nH, hd, heads);
    float* q = heads;
    const float* k = heads + items * N * hd;
    const float* v = heads + 2 * items * N * hd;
    const float scale = 1.0f / std::sqrt(float(hd));

    const Unit unit = unit_of(N, items);
    const int64_t row_blocks = (N + unit.rows - 1) / unit.rows;
    const int64_t units = unit.items == 1 ? items * row_blocks : (items + unit.items - 1) / unit.items;
    for (int64_t u = 0; u < units; ++u) {
        const int64_t i0 = unit.items == 1 ? u / row_blocks : u * unit.items;
        const int64_t count = std::min(unit.items, items - i0);
        const int64_t r0 = unit.items == 1 ? (u % row_blocks) * unit.rows : 0;
        const int64_t m = std::min(unit.rows, N - r0);
        float* scores = s.scores.data;
        float* rel = s.rel.data;
        float* qa = q + (i0 * N + r0) * hd;  // count == 1 whenever m < N, so the rows are contiguous
        // rel = q · [table_h; table_w]^T (unscaled q, as the reference)
        ops::MatmulArgs rp;
        rp.a = qa, rp.b = b.rel_pos.data, rp.c = rel;
        rp.M = count * m, rp.K = hd, rp.N = R2, rp.trans_b = true, rp.b_batch = 1;
        ops::matmul(rp);
        // scores = scale * q · k^T
        ops::MatmulArgs sc;
        sc.a = qa, sc.b = k + i0 * N * hd, sc.c = scores;
        sc.batch = count, sc.M = m, sc.K = hd, sc.N = N, sc.trans_b = true, sc.alpha = scale;
        ops::matmul(sc);
        kernels().softmax_rel_pos(scores, rel, s.inv_sum.data + i0 * N + r0, count * m, r0, S);
        // out = exp-scores · v, into q's rows, which no later unit reads.
        ops::MatmulArgs ov;
        ov.a = scores, ov.b = v + i0 * N * hd, ov.c = qa;
        ov.batch = count, ov.M = m, ov.K = N, ov.N = hd;
        ops::matmul(ov);
    }

    // [B, nH, N, hd] -> tokens [G*G, E], dropping the window padding and normalising the softmax.
    kernels().merge_heads(q, s.inv_sum.data, G, S, nH, hd, s.tok.data);
}

Tensor VitEncoder::encode(const Tensor& input) const {
    const int64_t img = cfg_.img_size, E = cfg_.embed_dim, G = grid_, T = G * G, O = cfg_.out_chans;
    if (input.shape != Shape{img, img, 3})
        throw std::invalid_argument(name() + ": input has shape " + input.shape_string() + ", expected " +
                                    shape_str({img, img, 3}) + " (normalised, padded, channels-last)");

    // Scratch sized for the largest block of either kind.
    Scratch s;
    int64_t max_rows = T, max_scores = 0, max_rel = 0;
    for (const VitBlock& b : blocks_) {
        const int64_t S = b.size, nW = (G + S - 1) / S, N = S * S, rows = nW * nW * N;
        const Unit u = unit_of(N, nW * nW * cfg_.heads);
        max_rows = std::max(max_rows, rows);
        max_scores = std::max(max_scores, u.items * u.rows * N);
        max_rel = std::max(max_rel, u.items * u.rows * 2 * (2 * S - 1));
    }
    s.x = Tensor::empty({T, E});
    s.x2 = Tensor::empty({T, E});
    s.tok = Tensor::empty({max_rows, E});
    s.big = Tensor::empty({std::max({max_rows * 3 * E, T * kMlpRatio * E, 2 * T * O})});
    s.heads = Tensor::empty({3 * max_rows * E});
    s.inv_sum = Tensor::empty({max_rows * cfg_.heads});
    s.scores = Tensor::empty({max_scores});
    s.rel = Tensor::empty({max_rel});
    const bool bf16 = precision_ == Precision::bf16;
    if (bf16) {
        s.tok16 = std::make_unique_for_overwrite<bf16_t[]>(static_cast<size_t>(T * E));
        s.big16 = std::make_unique_for_overwrite<bf16_t[]>(static_cast<size_t>(T * kMlpRatio * E));
    }

    // Patch embedding with the absolute position embedding fused in as the residual.
    ops::Conv2dArgs pe;
    pe.x = input.data, pe.y = s.x.data, pe.H = img, pe.W = img, pe.C_in = 3, pe.C_out = E;
    pe.kh = pe.kw = pe.stride = cfg_.patch, pe.weight = &patch_w_, pe.bias = &patch_b_, pe.add = pos_embed_.data;
    pe.precision = precision_;
    ops::conv2d(pe);

    for (const VitBlock& b : blocks_) {
        const int64_t S = b.size, nW = (G + S - 1) / S;
        if (b.global) {
            ops::layer_norm(s.x.data, T, E, b.norm1_w.data, b.norm1_b.data, kNormEps, s.tok.data);
        } else {
            // norm1 straight into window order; padding tokens are zero (padded after the norm).
            const float* x = s.x.data;
            float* tok = s.tok.data;
#pragma omp parallel for schedule(static)
            for (int64_t py = 0; py < nW * S; ++py) {
                const int64_t wy = py / S, iy = py % S;
                for (int64_t wx = 0; wx < nW; ++wx) {
                    float* dst = tok + ((wy * nW + wx) * S + iy) * S * E;
                    const int64_t x0 = wx * S, len = py < G ? std::max<int64_t>(0, std::min(S, G - x0)) : 0;
                    if (len > 0)
                        ops::layer_norm(x + (py * G + x0) * E, len, E, b.norm1_w.data, b.norm1_b.data, kNormEps, dst);
                    std::memset(dst + len * E, 0, sizeof(float) * (S - len) * E);
                }
            }
        }
        attention(b, s);
        ops::linear(b.proj, {s.tok.data, nullptr, s.x2.data}, T, ops::Act::None, s.x.data);
        std::swap(s.x, s.x2);
        if (bf16) {  // the MLP's input and hidden activations in bfloat16
            ops::layer_norm_bf16(s.x.data, T, E, b.norm2_w.data, b.norm2_b.data, kNormEps, s.tok16.get());
            ops::linear(b.lin1, {nullptr, s.tok16.get(), nullptr, s.big16.get()}, T, ops::Act::Gelu);
            ops::linear(b.lin2, {nullptr, s.big16.get(), s.x2.data}, T, ops::Act::None, s.x.data);
        } else {
            ops::layer_norm(s.x.data, T, E, b.norm2_w.data, b.norm2_b.data, kNormEps, s.tok.data);
            ops::linear(b.lin1, {s.tok.data, nullptr, s.big.data}, T, ops::Act::Gelu);
            ops::linear(b.lin2, {s.big.data, nullptr, s.x2.data}, T, ops::Act::None, s.x.data);
        }
        std::swap(s.x, s.x2);
    }

    // Neck: 1x1 conv (a product over pixels), LayerNorm2d, 3x3 conv, LayerNorm2d, then channels-first.
    float* y = s.big.data;
    float* y2 = s.big.data + T * O;
    ops::linear(neck_conv1_, {s.x.data, nullptr, y}, T);
    ops::layer_norm(y, T, O, neck_norm1_w_.data, neck_norm1_b_.data, kNormEps, y);
    ops::Conv2dArgs c3;
    c3.x = y, c3.y = y2, c3.H = G, c3.W = G, c3.C_in = O, c3.C_out = O, c3.kh = c3.kw = 3, c3.pad = 1;
    c3.weight = &neck_conv2_;
    c3.precision = precision_;
    ops::conv2d(c3);
    ops::layer_norm(y2, T, O, neck_norm2_w_.data, neck_norm2_b_.data, kNormEps, y2);
    Tensor out = Tensor::empty({O, G, G});
    ops::transpose(y2, T, O, out.data);
    return out;
}

}  // namespace sam
