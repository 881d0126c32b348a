// Compiled once per ISA level (SAM_ISA_NS is isa_v2, isa_v3 or isa_v4): see tensor/isa.hpp.
#include "models/tiny_vit_kernels.hpp"

#include <cmath>
#include <cstring>

#include "tensor/fast_math.hpp"

namespace sam::SAM_ISA_NS {
namespace {

constexpr int kHeadDim = 32;
constexpr int kMaxWindowTokens = 14 * 14;

// Softmax of one score row (scaled, plus the attention bias), then out = probabilities @ v.
template <int NP, int HD>
inline void softmax_times_v(float* s, int N, const float* bias, float scale, const float (*v)[HD], float* out) {
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < N; ++j) {
        const float x = s[j] * scale + bias[j];
        s[j] = x;
        mx = mx > x ? mx : x;  // std::max on the stored value keeps GCC 12 from vectorising
    }
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < N; ++j) {
        s[j] = fast_exp(s[j] - mx);
        sum += s[j];
    }
    const float inv = 1.0f / sum;
    alignas(64) float o[HD] = {};
    for (int j = 0; j < N; ++j) {
        const float sj = s[j] * inv;
#pragma omp simd aligned(o : 64)
        for (int d = 0; d < HD; ++d) o[d] += sj * v[j][d];
    }
    std::memcpy(out, o, sizeof o);
}

// One head of one window: rows[j] points at token j's q, k, v for this head (a padding token's
// constant row included); outs[i] receives query i's output, or is null for a padding query.
// Keys are padded to NP and scored in blocks of KB keys, two queries at a time, so each block's
// accumulators stay in vector registers while the head dimension streams past.
template <int NP, int KB, int HD>
void attend_window_head(const float* const* rows, int N, const float* bias, float scale, float* const* outs) {
    static_assert(NP % KB == 0);
    alignas(64) float kt[HD][NP];
    alignas(64) float v[NP][HD];
    for (int j = 0; j < NP; ++j) {
        if (j < N) {
            for (int d = 0; d < HD; ++d) kt[d][j] = rows[j][HD + d];
            std::memcpy(v[j], rows[j] + 2 * HD, sizeof v[j]);
        } else {
            for (int d = 0; d < HD; ++d) kt[d][j] = 0.0f;
        }
    }
    int queries[NP];
    int nq = 0;
    for (int i = 0; i < N; ++i)
        if (outs[i]) queries[nq++] = i;
    alignas(64) float s0[NP], s1[NP];
    for (int t = 0; t < nq; t += 2) {
        const int i0 = queries[t], i1 = queries[t + 1 < nq ? t + 1 : t];
        const float* q0 = rows[i0];
        const float* q1 = rows[i1];
        for (int jb = 0; jb < NP; jb += KB) {
            alignas(64) float a0[KB] = {}, a1[KB] = {};
            for (int d = 0; d < HD; ++d) {
                const float x0 = q0[d], x1 = q1[d];
                const float* k = &kt[d][jb];
#pragma omp simd aligned(a0, a1 : 64)
                for (int j = 0; j < KB; ++j) {
                    a0[j] += x0 * k[j];
                    a1[j] += x1 * k[j];
                }
            }
            std::memcpy(s0 + jb, a0, sizeof a0);
            std::memcpy(s1 + jb, a1, sizeof a1);
        }
        softmax_times_v<NP, HD>(s0, N, bias + i0 * N, scale, v, outs[i0]);
        if (i1 != i0) softmax_times_v<NP, HD>(s1, N, bias + i1 * N, scale, v, outs[i1]);
    }
}

// Windowed attention straight from the per-token qkv rows: no window copies of the tokens.
// TinyViT pads the token grid with zeros before its attention (whose LayerNorm then turns a
// zero token into `beta`), so a padded position's q, k, v is the constant row `pad_qkv`; padded
// positions act as keys but their own outputs are dropped, so they are never computed.
void window_attention(const WindowAttentionArgs& a) {
    const int64_t heads = a.heads, hd = kHeadDim, C = heads * hd, ws = a.window, N = ws * ws;
    const int64_t H = a.H, W = a.W, nWy = (H + ws - 1) / ws, nWx = (W + ws - 1) / ws;
    const float scale = 1.0f / std::sqrt(float(hd));
#pragma omp parallel
    {
        const float* rows[kMaxWindowTokens];
        float* outs[kMaxWindowTokens];
#pragma omp for collapse(3) schedule(static)
        for (int64_t wy = 0; wy < nWy; ++wy)
            for (int64_t wx = 0; wx < nWx; ++wx)
                for (int64_t h = 0; h < heads; ++h) {
                    for (int64_t j = 0; j < N; ++j) {
                        const int64_t y = wy * ws + j / ws, x = wx * ws + j % ws;
                        const bool real = y < H && x < W;
                        rows[j] = (real ? a.qkv + (y * W + x) * 3 * C : a.pad_qkv) + h * 3 * hd;
                        outs[j] = real ? a.out + (y * W + x) * C + h * hd : nullptr;
                    }
                    const float* bias = a.bias + h * N * N;
                    if (N <= 64)  // 7x7 windows
                        attend_window_head<64, 64, kHeadDim>(rows, int(N), bias, scale, outs);
                    else          // 14x14 windows
                        attend_window_head<224, 112, kHeadDim>(rows, int(N), bias, scale, outs);
                }
    }
}

}  // namespace

extern const TinyVitKernels tiny_vit_kernels = {window_attention};

}  // namespace sam::SAM_ISA_NS
