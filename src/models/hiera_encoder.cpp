#include "models/hiera_encoder.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <utility>

#include "models/hiera_kernels.hpp"
#include "tensor/ops.hpp"
#include "tensor/profile.hpp"

namespace sam {
namespace {

const std::string kTrunk = "image_encoder.trunk.";
const std::string kNeck = "image_encoder.neck.convs.";
constexpr float kNormEps = 1e-6f;
constexpr int64_t kInput = 1024, kPatchStride = 4, kPatchKernel = 7;
constexpr int64_t kGrid = kInput / kPatchStride;  // 256 tokens per side in stage 1
constexpr int64_t kNeckDim = 256;                 // FPN width, the decoder's transformer width
constexpr int64_t kS0 = kNeckDim / 8, kS1 = kNeckDim / 4;  // conv_s0 / conv_s1 widths
constexpr int64_t kMlpRatio = 4;
// A block runs in bands of whole window rows of about this many tokens: qkv, attention and MLP of
// a band stay in cache, and the scratch stays small.
constexpr int64_t kBandTokens = 8192;
// Attention scores are computed in units of about this many floats (16 MB: half the L3 of the
// machines measured). Global attention on a busy 2-core machine, per encode: 5.3 s with 8 MB
// units, 3.9 s with 16 MB, 2.6 s with 32 MB (fewer products, fewer waits for descheduled
// threads); 32 MB no longer fits in cache when the machine is quiet.
constexpr int64_t kScoreBudget = int64_t(1) << 22;

const HieraKernels& kernels() { return isa::pick(isa_v2::hiera_kernels, isa_v3::hiera_kernels, isa_v4::hiera_kernels); }

std::string block_key(int i, const std::string& rest) { return kTrunk + "blocks." + std::to_string(i) + "." + rest; }

std::string list_str(const std::array<int, 4>& v) {
    return std::to_string(v[0]) + ", " + std::to_string(v[1]) + ", " + std::to_string(v[2]) + ", " + std::to_string(v[3]);
}

const Tensor& find(const TensorMap& t, const std::string& what, const std::string& name) {
    auto it = t.find(name);
    if (it == t.end()) throw io::CheckpointError(what + ": missing tensor '" + name + "'");
    return it->second;
}

Tensor get(const TensorMap& t, const std::string& what, const std::string& name, const Shape& shape) {
    const Tensor& x = find(t, what, name);
    if (x.shape != shape)
        throw io::CheckpointError(what + ": tensor '" + name + "' has shape " + shape_str(x.shape) + ", expected " +
                                  shape_str(shape));
    return x;
}

// `blocks.N.` numbers among the names: the block count (highest N + 1) and the blocks that change
// width (they carry the shortcut projection blocks.N.proj).
void scan_blocks(const TensorMap& t, int& depth, std::vector<int>& width_changes) {
    const std::string blocks = kTrunk + "blocks.";
    depth = 0;
    for (const auto& [n, tensor] : t) {
        if (n.compare(0, blocks.size(), blocks) != 0) continue;
        const size_t dot = n.find('.', blocks.size());
        if (dot == std::string::npos || dot == blocks.size() || dot - blocks.size() > 6) continue;
        const std::string num = n.substr(blocks.size(), dot - blocks.size());
        if (num.find_first_not_of("0123456789") != std::string::npos) continue;
        const int i = std::stoi(num);
        depth = std::max(depth, i + 1);
        if (n.compare(dot + 1, std::string::npos, "proj.weight") == 0) width_changes.push_back(i);
    }
    std::sort(width_changes.begin(), width_changes.end());
}

// PyTorch's bicubic interpolate (align_corners=False, A = -0.75, taps clamped at the edges) of
// one axis, in float as its CPU kernel computes it.
struct CubicTaps {
    int64_t idx[4];
    float w[4];
};

CubicTaps cubic_taps(int64_t in, int64_t out, int64_t i) {
    constexpr float A = -0.75f;
    auto near = [](float x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };     // |x| <= 1
    auto far = [](float x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };  // 1 < |x| < 2
    const float scale = static_cast<float>(in) / static_cast<float>(out);
    const float real = scale * (static_cast<float>(i) + 0.5f) - 0.5f;
    const int64_t index = std::min(static_cast<int64_t>(std::floor(real)), in - 1);
    const float t = std::min(std::max(real - static_cast<float>(index), 0.0f), 1.0f);
    CubicTaps c;
    c.w[0] = far(t + 1.0f);
    c.w[1] = near(t);
    c.w[2] = near(1.0f - t);
    c.w[3] = far((1.0f - t) + 1.0f);
    for (int j = 0; j < 4; ++j) c.idx[j] = std::clamp<int64_t>(index - 1 + j, 0, in - 1);
    return c;
}

// _get_pos_embed: pos_embed [1, C, h, w] resized to [side, side] by bicubic interpolation, plus
// pos_embed_window [1, C, s, s] tiled; channels-last [side, side, C].
Tensor position_embedding(const Tensor& background, const Tensor& window, int64_t side) {
    const int64_t C = background.dim(1), h = background.dim(2), w = background.dim(3), s = window.dim(2);
    std::vector<CubicTaps> ty(side), tx(side);
    for (int64_t i = 0; i < side; ++i) ty[i] = cubic_taps(h, side, i), tx[i] = cubic_taps(w, side, i);
    Tensor out = Tensor::empty({side, side, C});
#pragma omp parallel for schedule(static)
    for (int64_t y = 0; y < side; ++y)
        for (int64_t x = 0; x < side; ++x)
            for (int64_t c = 0; c < C; ++c) {
                const float* plane = background.data + c * h * w;
                float acc = 0;
                for (int j = 0; j < 4; ++j) {
                    const float* row = plane + ty[y].idx[j] * w;
                    float r = row[tx[x].idx[0]] * tx[x].w[0];
                    for (int i = 1; i < 4; ++i) r += row[tx[x].idx[i]] * tx[x].w[i];
                    acc = j == 0 ? r * ty[y].w[0] : acc + r * ty[y].w[j];
                }
                out.data[(y * side + x) * C + c] = acc + window.data[(c * s + y % s) * s + x % s];
            }
    return out;
}

// W2 · W1 and W2 · b1 + b2 for two 1x1 convolutions in a row ([out, mid] after [mid, in]),
// summed in double.
std::pair<Tensor, Tensor> fold_1x1(const Tensor& w1, const Tensor& b1, const Tensor& w2, const Tensor& b2) {
    const int64_t mid = w1.dim(0), in = w1.dim(1), out = w2.dim(0);
    Tensor w = Tensor::empty({out, in}), b = Tensor::empty({out});
    for (int64_t o = 0; o < out; ++o) {
        double bias = b2.data[o];
        for (int64_t m = 0; m < mid; ++m) bias += double(w2.data[o * mid + m]) * b1.data[m];
        b.data[o] = static_cast<float>(bias);
        for (int64_t i = 0; i < in; ++i) {
            double acc = 0;
            for (int64_t m = 0; m < mid; ++m) acc += double(w2.data[o * mid + m]) * w1.data[m * in + i];
            w.data[o * in + i] = static_cast<float>(acc);
        }
    }
    return {w, b};
}

// How a block's grid splits into windows and bands.
struct Layout {
    int64_t H, S, nW, Sq, Ho, band;  // side, window, windows per side, pooled window, output side, window rows per band
};

Layout layout_of(const HieraBlock& b) {
    Layout l;
    l.H = b.side;
    l.S = b.window;
    l.nW = (l.H + l.S - 1) / l.S;
    l.Sq = b.pool ? l.S / 2 : l.S;
    l.Ho = b.pool ? l.H / 2 : l.H;
    l.band = std::clamp<int64_t>(kBandTokens / (l.S * l.nW * l.S), 1, l.nW);
    return l;
}

// Attention runs in units whose scores stay in cache: several whole (window, head) items, or a
// block of query rows of one item when one item's scores alone exceed the budget.
struct Unit {
    int64_t items, rows;
};
Unit unit_of(int64_t Nq, int64_t N, int64_t items) {
    const int64_t fit = kScoreBudget / (Nq * N);
    if (fit >= 1) return {std::min(fit, items), Nq};
    return {1, std::clamp<int64_t>(kScoreBudget / N, 16, Nq)};
}

}  // namespace

const std::vector<HieraConfig>& published_hiera_configs() {
    static const std::vector<HieraConfig> configs = {
        {"tiny", 96, 1, {1, 2, 7, 2}, {8, 4, 14, 7}, {5, 7, 9}},
        {"small", 96, 1, {1, 2, 11, 2}, {8, 4, 14, 7}, {7, 10, 13}},
        {"base_plus", 112, 2, {2, 3, 16, 3}, {8, 4, 14, 7}, {12, 16, 20}},
        {"large", 144, 2, {2, 6, 36, 4}, {8, 4, 16, 8}, {23, 33, 43}},
    };
    return configs;
}

HieraConfig infer_hiera_config(const TensorMap& t, const std::string& what) {
    const std::string patch = kTrunk + "patch_embed.proj.weight";
    if (!t.count(patch)) throw io::CheckpointError(what + ": not a SAM 2 checkpoint: no " + patch);
    const Shape pw = t.at(patch).shape;
    if (pw.size() != 4 || pw[0] <= 0 || pw[1] != 3 || pw[2] != kPatchKernel || pw[3] != kPatchKernel)
        throw io::CheckpointError(what + ": " + patch + " has shape " + shape_str(pw) + ", expected [width, 3, 7, 7]");
    int depth = 0;
    std::vector<int> changes;
    scan_blocks(t, depth, changes);
    if (changes.size() != 3 || changes[0] < 1)
        throw io::CheckpointError(what + ": the Hiera trunk's " + std::to_string(depth) +
                                  " blocks change width (blocks.N.proj) at " + std::to_string(changes.size()) +
                                  " blocks; the published SAM 2 trunks have 4 stages (3 changes, none at block 0)");
    const std::array<int, 4> stages = {changes[0], changes[1] - changes[0], changes[2] - changes[1], depth - changes[2]};
    std::string known;
    for (const HieraConfig& c : published_hiera_configs()) {
        if (c.embed_dim == pw[0] && c.stages == stages) return c;
        known += (known.empty() ? "" : "; ") + c.name + " (width " + std::to_string(c.embed_dim) + ", blocks " +
                 list_str(c.stages) + ")";
    }
    throw io::CheckpointError(what + ": a Hiera trunk of patch-embed width " + std::to_string(pw[0]) +
                              " with blocks per stage " + list_str(stages) +
                              " is none of the published SAM 2 sizes: " + known);
}

bool looks_like_sam2(const io::Checkpoint& ckpt) { return ckpt.contains(kTrunk + "patch_embed.proj.weight"); }

std::unique_ptr<HieraEncoder> HieraEncoder::load(const io::Checkpoint& ckpt) {
    // What the image path reads (float16 files are converted here, once); float32 tensors stay
    // views of the mapping.
    TensorMap t;
    for (const std::string& n : ckpt.names())
        if (n.rfind("image_encoder.", 0) == 0 || n.rfind("sam_mask_decoder.conv_s", 0) == 0 || n == "no_mem_embed" ||
            n == "no_obj_embed_spatial")
            t[n] = ckpt.get(n);
    return load(t, ckpt.path());
}

std::unique_ptr<HieraEncoder> HieraEncoder::load(const TensorMap& tensors, const std::string& what) {
    std::unique_ptr<HieraEncoder> enc(new HieraEncoder());
    enc->init(tensors, what);
    return enc;
}

void HieraEncoder::init(const TensorMap& t, const std::string& what) {
    cfg_ = infer_hiera_config(t, what);
    sam21_ = t.count("no_obj_embed_spatial") != 0;  // added by SAM 2.1; the image path is the same
    const int64_t E = cfg_.embed_dim;
    auto g = [&](const std::string& name, const Shape& shape) { return get(t, what, name, shape); };

    patch_w_ = g(kTrunk + "patch_embed.proj.weight", {E, 3, kPatchKernel, kPatchKernel});
    patch_b_ = g(kTrunk + "patch_embed.proj.bias", {E});
    const Tensor& bg = find(t, what, kTrunk + "pos_embed");
    if (bg.rank() != 4 || bg.dim(0) != 1 || bg.dim(1) != E || bg.dim(2) < 1 || bg.dim(3) < 1 || bg.dim(2) > kGrid ||
        bg.dim(3) > kGrid)
        throw io::CheckpointError(what + ": tensor '" + kTrunk + "pos_embed' has shape " + bg.shape_string() +
                                  ", expected [1, " + std::to_string(E) + ", h, w] with h, w in 1..256");
    const int64_t w0 = cfg_.windows[0];
    const Tensor win = g(kTrunk + "pos_embed_window", {1, E, w0, w0});
    pos_embed_ = position_embedding(bg, win, kGrid);

    int64_t dim = E, heads = cfg_.heads, side = kGrid;
    int stage = 0, in_stage = 0;
    for (int i = 0; i < cfg_.blocks(); ++i, ++in_stage) {
        if (in_stage == cfg_.stages[stage]) ++stage, in_stage = 0;
        HieraBlock b;
        b.pool = stage > 0 && in_stage == 0;
        b.dim_in = dim;
        b.side = side;
        if (b.pool) dim *= 2, heads *= 2, side /= 2;
        b.dim_out = dim;
        b.heads = heads;
        const bool global = std::find(cfg_.global_blocks.begin(), cfg_.global_blocks.end(), i) != cfg_.global_blocks.end();
        b.window = global ? b.side : cfg_.windows[b.pool ? stage - 1 : stage];
        const int64_t Ci = b.dim_in, Co = b.dim_out;
        auto bg2 = [&](const std::string& rest, const Shape& shape) { return g(block_key(i, rest), shape); };
        b.norm1_w = bg2("norm1.weight", {Ci});
        b.norm1_b = bg2("norm1.bias", {Ci});
        b.qkv_w = bg2("attn.qkv.weight", {3 * Co, Ci});
        b.qkv_b = bg2("attn.qkv.bias", {3 * Co});
        b.attn_proj_w = bg2("attn.proj.weight", {Co, Co});
        b.attn_proj_b = bg2("attn.proj.bias", {Co});
        b.norm2_w = bg2("norm2.weight", {Co});
        b.norm2_b = bg2("norm2.bias", {Co});
        b.mlp0_w = bg2("mlp.layers.0.weight", {kMlpRatio * Co, Co});
        b.mlp0_b = bg2("mlp.layers.0.bias", {kMlpRatio * Co});
        b.mlp1_w = bg2("mlp.layers.1.weight", {Co, kMlpRatio * Co});
        b.mlp1_b = bg2("mlp.layers.1.bias", {Co});
        if (b.pool) {
            b.proj_w = bg2("proj.weight", {Co, Ci});
            b.proj_b = bg2("proj.bias", {Co});
        }
        blocks_.push_back(std::move(b));
    }

    // Neck convs.K reads stage 4-K (convs.0 the widest map).
    auto conv = [&](int k, int64_t out, int64_t in, const std::string& prefix) {
        const std::string p = prefix.empty() ? kNeck + std::to_string(k) + ".conv." : prefix;
        return std::make_pair(g(p + "weight", {out, in, 1, 1}).reshaped({out, in}), g(p + "bias", {out}));
    };
    const auto [c0w, c0b] = conv(0, kNeckDim, 8 * E, "");
    const auto [c1w, c1b] = conv(1, kNeckDim, 4 * E, "");
    const auto [c2w, c2b] = conv(2, kNeckDim, 2 * E, "");
    const auto [c3w, c3b] = conv(3, kNeckDim, E, "");
    const auto [s0w, s0b] = conv(0, kS0, kNeckDim, "sam_mask_decoder.conv_s0.");
    const auto [s1w, s1b] = conv(0, kS1, kNeckDim, "sam_mask_decoder.conv_s1.");
    const Tensor no_mem = g("no_mem_embed", {1, 1, kNeckDim});
    l3_w_ = c0w, l3_b_ = c0b;
    l2_w_ = c1w;
    l2_b_ = Tensor::empty({kNeckDim});
    for (int64_t c = 0; c < kNeckDim; ++c) l2_b_.data[c] = c1b.data[c] + no_mem.data[c];
    std::tie(hr1_w_, hr1_b_) = fold_1x1(c2w, c2b, s1w, s1b);
    std::tie(hr0_w_, hr0_b_) = fold_1x1(c3w, c3b, s0w, s0b);
}

std::string HieraEncoder::name() const {
    const std::string version = sam21_ ? "SAM 2.1" : "SAM 2";
    const char* size = cfg_.name == "tiny" ? "T" : cfg_.name == "small" ? "S" : cfg_.name == "base_plus" ? "B+" : "L";
    return version + " Hiera-" + size;
}

// Buffers of one encode, sized for the largest band of any block.
struct HieraEncoder::Scratch {
    Tensor xn;              // norm1 of a band [rows, Ci]; later the attention output merged [orows, Co]
    Tensor big;             // qkv of a band [rows, 3 Co]; then the MLP hidden [orows, 4 Co]
    Tensor proj, shortcut;  // pool blocks: the shortcut's projection [rows, Co], then max-pooled [orows, Co]
    Tensor heads;           // q [items, Nq, hd], k and v [items, N, hd]; attention output overwrites q
    Tensor scores;          // one unit of attention scores
    Tensor inv_sum;         // [items, Nq]: 1 / each query's softmax sum
    Tensor x1;              // after attention, before the MLP [orows, Co]
    Tensor neck;            // a neck level of the current stage, channels-last
    Tensor l2;              // FPN level 2 [4096, 256] until level 3 is known
};

void HieraEncoder::run_block(const HieraBlock& b, const float* x, float* out, Scratch& s) const {
    const Layout l = layout_of(b);
    const int64_t Ci = b.dim_in, Co = b.dim_out, nH = b.heads, hd = Co / nH, N = l.S * l.S, Nq = l.Sq * l.Sq;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    for (int64_t w0 = 0; w0 < l.nW; w0 += l.band) {
        const int64_t wrows = std::min(l.band, l.nW - w0), items = wrows * l.nW * nH;
        // Image rows of the band that exist (the last band may end in padding), and its output rows.
        const int64_t y0 = w0 * l.S, y1 = std::min(l.H, (w0 + wrows) * l.S), rows = (y1 - y0) * l.H;
        const int64_t oy0 = b.pool ? y0 / 2 : y0, oy1 = b.pool ? y1 / 2 : y1, orows = (oy1 - oy0) * l.Ho;
        const float* xb = x + y0 * l.H * Ci;
        std::optional<profile::Scope> scope(std::in_place, "hiera.norm_qkv");
        ops::layer_norm(xb, rows, Ci, b.norm1_w.data, b.norm1_b.data, kNormEps, s.xn.data);

        const float* shortcut = xb;
        if (b.pool) {  // do_pool(proj(norm1(x))): windows have even sides, so no 2x2 block straddles two
            ops::linear(s.xn.data, rows, b.proj_w, b.proj_b, s.proj.data);
            kernels().max_pool_2x2(s.proj.data, y1 - y0, l.H, Co, s.shortcut.data);
            shortcut = s.shortcut.data;
        }

        ops::linear(s.xn.data, rows, b.qkv_w, b.qkv_b, s.big.data);
        scope.emplace("hiera.partition");
        // Partition into (window, head) items: q [items, Nq, hd], k and v [items, N, hd].
        float* q = s.heads.data;
        float* k = q + items * Nq * hd;
        float* v = k + items * N * hd;
        HieraPartitionArgs pa;
        pa.qkv = s.big.data, pa.pad = b.qkv_b.data, pa.q = q, pa.k = k, pa.v = v;
        pa.H = l.H, pa.S = l.S, pa.windows = l.nW, pa.dim = Co, pa.heads = nH;
        pa.first_row = w0, pa.rows = wrows, pa.pool = b.pool;
        kernels().partition(pa);

        scope.emplace(l.nW == 1 ? "hiera.attention_global" : "hiera.attention_window");
        const Unit u = unit_of(Nq, N, items);
        const int64_t row_blocks = (Nq + u.rows - 1) / u.rows;
        const int64_t units = u.items == 1 ? items * row_blocks : (items + u.items - 1) / u.items;
        for (int64_t i = 0; i < units; ++i) {
            const int64_t it0 = u.items == 1 ? i / row_blocks : i * u.items;
            const int64_t count = std::min(u.items, items - it0);
            const int64_t r0 = u.items == 1 ? (i % row_blocks) * u.rows : 0;
            const int64_t m = std::min(u.rows, Nq - r0);
            float* qa = q + (it0 * Nq + r0) * hd;  // count == 1 whenever m < Nq: the rows are contiguous
            ops::MatmulArgs sc;
            sc.a = qa, sc.b = k + it0 * N * hd, sc.c = s.scores.data;
            sc.batch = count, sc.M = m, sc.K = hd, sc.N = N, sc.trans_b = true;
            ops::matmul(sc);
            kernels().exp_rows(s.scores.data, count * m, N, scale, s.inv_sum.data + it0 * Nq + r0, nullptr);
            ops::MatmulArgs pv;  // into q's rows, which no later unit reads
            pv.a = s.scores.data, pv.b = v + it0 * N * hd, pv.c = qa;
            pv.batch = count, pv.M = m, pv.K = N, pv.N = hd;
            ops::matmul(pv);
        }

        scope.emplace("hiera.merge_proj");
        // Unpartition into output rows, dropping the padding, heads side by side; the softmax's
        // division on the way.
        float* merged = s.xn.data;
        HieraMergeArgs ma;
        ma.heads_out = q, ma.inv_sum = s.inv_sum.data, ma.out = merged;
        ma.Ho = l.Ho, ma.Sq = l.Sq, ma.windows = l.nW, ma.dim = Co, ma.heads = nH;
        ma.first_row = w0, ma.out_rows = oy1 - oy0;
        kernels().merge(ma);
        ops::linear(merged, orows, b.attn_proj_w, b.attn_proj_b, s.x1.data, ops::Act::None, shortcut);

        scope.emplace("hiera.mlp");
        ops::layer_norm(s.x1.data, orows, Co, b.norm2_w.data, b.norm2_b.data, kNormEps, s.xn.data);
        ops::linear(s.xn.data, orows, b.mlp0_w, b.mlp0_b, s.big.data, ops::Act::Gelu);
        ops::linear(s.big.data, orows, b.mlp1_w, b.mlp1_b, out + oy0 * l.Ho * Co, ops::Act::None, s.x1.data);
    }
}

HieraFeatures HieraEncoder::encode(const Tensor& input, const HieraObserver& observer) const {
    if (input.shape != Shape{kInput, kInput, 3})
        throw std::invalid_argument(name() + ": input has shape " + input.shape_string() +
                                    ", expected [1024, 1024, 3] (normalised, channels-last)");
    const int64_t E = cfg_.embed_dim;

    Scratch s;
    int64_t max_x = 0, max_xn = 0, max_big = 0, max_pooled = 0, max_heads = 0, max_scores = 0, max_out = 0, max_inv = 0;
    for (const HieraBlock& b : blocks_) {
        const Layout l = layout_of(b);
        const int64_t Co = b.dim_out, rows = std::min(l.band * l.S, l.H) * l.H;
        const int64_t orows = b.pool ? rows / 4 : rows, items = l.band * l.nW * b.heads, hd = Co / b.heads;
        max_x = std::max({max_x, l.H * l.H * b.dim_in, l.Ho * l.Ho * Co});
        max_xn = std::max({max_xn, rows * b.dim_in, orows * Co});
        max_big = std::max({max_big, rows * 3 * Co, orows * kMlpRatio * Co});
        if (b.pool) max_pooled = std::max(max_pooled, rows * Co);
        max_heads = std::max(max_heads, items * (l.Sq * l.Sq + 2 * l.S * l.S) * hd);
        max_inv = std::max(max_inv, items * l.Sq * l.Sq);
        const Unit u = unit_of(l.Sq * l.Sq, l.S * l.S, items);
        max_scores = std::max(max_scores, u.items * u.rows * l.S * l.S);
        max_out = std::max(max_out, orows * Co);
    }
    Tensor x = Tensor::empty({max_x}), x2 = Tensor::empty({max_x});
    s.xn = Tensor::empty({max_xn});
    s.big = Tensor::empty({max_big});
    if (max_pooled) s.proj = Tensor::empty({max_pooled}), s.shortcut = Tensor::empty({max_pooled / 4});
    s.heads = Tensor::empty({max_heads});
    s.scores = Tensor::empty({max_scores});
    s.inv_sum = Tensor::empty({max_inv});
    s.x1 = Tensor::empty({max_out});
    s.neck = Tensor::empty({std::max({kGrid * kGrid * kS0, kGrid * kGrid / 4 * kS1, kGrid * kGrid / 256 * kNeckDim})});
    s.l2 = Tensor::empty({kGrid * kGrid / 16 * kNeckDim});

    std::optional<profile::Scope> scope(std::in_place, "hiera.patch_embed");
    ops::Conv2dArgs pe;
    pe.x = input.data, pe.y = x.data, pe.H = kInput, pe.W = kInput, pe.C_in = 3, pe.C_out = E;
    pe.kh = pe.kw = kPatchKernel, pe.stride = kPatchStride, pe.pad = kPatchKernel / 2;
    pe.weight = &patch_w_, pe.bias = &patch_b_;
    if (observer) {
        ops::conv2d(pe);
        observer("patch_embed", x.data, kGrid, kGrid, E);
        ops::add(x.data, pos_embed_.data, x.data, kGrid * kGrid * E);
    } else {
        pe.add = pos_embed_.data;
        ops::conv2d(pe);
    }
    if (observer) observer("patch_embed + pos_embed", x.data, kGrid, kGrid, E);

    HieraFeatures f;
    auto channels_first = [](const float* hwc, int64_t side, int64_t C) {
        Tensor t = Tensor::empty({C, side, side});
        ops::transpose(hwc, side * side, C, t.data);
        return t;
    };
    scope.reset();
    int stage = 0, stage_end = cfg_.stages[0] - 1;
    for (int i = 0; i < cfg_.blocks(); ++i) {
        const HieraBlock& b = blocks_[i];
        run_block(b, x.data, x2.data, s);
        std::swap(x, x2);
        const int64_t side = b.pool ? b.side / 2 : b.side, C = b.dim_out, T = side * side;
        if (observer) observer("blocks." + std::to_string(i), x.data, side, side, C);
        if (i != stage_end) continue;
        profile::Scope neck("hiera.neck");
        // The neck's use of each stage's output.
        if (stage == 0) {
            ops::linear(x.data, T, hr0_w_, hr0_b_, s.neck.data);
            f.high_res_0 = channels_first(s.neck.data, side, kS0);
        } else if (stage == 1) {
            ops::linear(x.data, T, hr1_w_, hr1_b_, s.neck.data);
            f.high_res_1 = channels_first(s.neck.data, side, kS1);
        } else if (stage == 2) {
            ops::linear(x.data, T, l2_w_, l2_b_, s.l2.data);
        } else {
            ops::linear(x.data, T, l3_w_, l3_b_, s.neck.data);  // level 3, added nearest-upsampled 2x to level 2
            kernels().add_upsampled_2x(s.neck.data, side, kNeckDim, s.l2.data);
            const int64_t up = 2 * side;
            const float* l2 = s.l2.data;
            f.image_embed = channels_first(l2, up, kNeckDim);
        }
        if (++stage < 4) stage_end += cfg_.stages[stage];
    }
    return f;
}

}  // namespace sam
