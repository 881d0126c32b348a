// Compiled once per ISA level (SAM_ISA_NS is isa_v2, isa_v3 or isa_v4): see tensor/isa.hpp.
#include "models/tiny_vit_kernels.hpp"

#include <cmath>
#include <cstring>

#include "tensor/fast_math.hpp"

namespace sam::SAM_ISA_NS {
namespace {

constexpr int kHeadDim = 32;
constexpr int kMaxWindowTokens = 14 * 14;

// Queries are processed kQB at a time against blocks of kKB keys: both products then keep a
// kQB x 32 tile of accumulators in vector registers (16 of AVX-512's 32) while the other operand
// streams past, and each key and value row is loaded once per block of queries.
constexpr int kQB = 8;
constexpr int kKB = 32;

// One head of one window: rows[j] points at token j's q, k, v for this head (a padding token's
// constant row included); outs[i] receives query i's output, or is null for a padding query.
// Keys are padded to NP (a multiple of kKB) with zeros; their scores are never read.
template <int NP>
void attend_window_head(const float* const* rows, int N, const float* bias, float scale, float* const* outs) {
    static_assert(NP % kKB == 0);
    constexpr int HD = kHeadDim;
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

    alignas(64) float p[kQB][NP];
    for (int t = 0; t < nq; t += kQB) {
        const float* q[kQB];
        int qi[kQB];
        for (int b = 0; b < kQB; ++b) {
            qi[b] = queries[t + b < nq ? t + b : nq - 1];  // a short last block repeats its last query
            q[b] = rows[qi[b]];
        }
        for (int jb = 0; jb < NP; jb += kKB) {
            // The first product initialises the tile (a zeroing loop would become a memset).
            float acc[kQB][kKB];
            for (int b = 0; b < kQB; ++b) {
                const float x = q[b][0];
#pragma omp simd
                for (int j = 0; j < kKB; ++j) acc[b][j] = x * kt[0][jb + j];
            }
            for (int d = 1; d < HD; ++d) {
                const float* k = &kt[d][jb];
                for (int b = 0; b < kQB; ++b) {
                    const float x = q[b][d];
#pragma omp simd
                    for (int j = 0; j < kKB; ++j) acc[b][j] += x * k[j];
                }
            }
            for (int b = 0; b < kQB; ++b) std::memcpy(&p[b][jb], acc[b], sizeof acc[b]);
        }
        float inv[kQB];
        for (int b = 0; b < kQB; ++b) {
            float* s = p[b];
            const float* br = bias + qi[b] * N;
            float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
            for (int j = 0; j < N; ++j) {
                const float x = s[j] * scale + br[j];
                s[j] = x;
                mx = mx > x ? mx : x;  // std::max on the stored value keeps GCC 12 from vectorising
            }
            inv[b] = 1.0f / exp_shifted(s, N, mx);
        }
        alignas(64) float o[kQB][HD];
        {
            float acc[kQB][HD];
            for (int b = 0; b < kQB; ++b) {
                const float pj = p[b][0];
#pragma omp simd
                for (int d = 0; d < HD; ++d) acc[b][d] = pj * v[0][d];
            }
            for (int j = 1; j < N; ++j) {
                const float* vj = v[j];
                for (int b = 0; b < kQB; ++b) {
                    const float pj = p[b][j];
#pragma omp simd
                    for (int d = 0; d < HD; ++d) acc[b][d] += pj * vj[d];
                }
            }
            for (int b = 0; b < kQB; ++b) std::memcpy(o[b], acc[b], sizeof acc[b]);
        }
        for (int b = 0; b < kQB && t + b < nq; ++b) {
            float* out = outs[qi[b]];
#pragma omp simd
            for (int d = 0; d < HD; ++d) out[d] = o[b][d] * inv[b];
        }
    }
}

// Windowed attention, a window at a time: its tokens' qkv rows are first copied together (a few
// long contiguous runs, which the hardware prefetches; picking each head's 128 bytes out of the
// big qkv matrix directly left the loads waiting on memory), then every head reads them from cache.
// TinyViT pads the token grid with zeros before its attention (whose LayerNorm then turns a
// zero token into `beta`), so a padded position's q, k, v is the constant row `pad_qkv`; padded
// positions act as keys but their own outputs are dropped, so they are never computed.
void window_attention(const WindowAttentionArgs& a) {
    const int64_t heads = a.heads, hd = kHeadDim, C = heads * hd, ws = a.window, N = ws * ws;
    const int64_t H = a.H, W = a.W, nWy = (H + ws - 1) / ws, nWx = (W + ws - 1) / ws;
    const float scale = 1.0f / std::sqrt(float(hd));
#pragma omp parallel
    {
        float* local = new float[N * 3 * C];
        const float* rows[kMaxWindowTokens];
        float* outs[kMaxWindowTokens];
// Dynamic: a thread slowed by another process on its core takes fewer windows.
#pragma omp for collapse(2) schedule(dynamic)
        for (int64_t wy = 0; wy < nWy; ++wy)
            for (int64_t wx = 0; wx < nWx; ++wx) {
                const int64_t x0 = wx * ws, len = W - x0 < ws ? W - x0 : ws;
                for (int64_t r = 0; r < ws; ++r) {
                    const int64_t y = wy * ws + r;
                    if (y < H) std::memcpy(local + r * ws * 3 * C, a.qkv + (y * W + x0) * 3 * C, len * 3 * C * sizeof(float));
                }
                for (int64_t h = 0; h < heads; ++h) {
                    for (int64_t j = 0; j < N; ++j) {
                        const int64_t y = wy * ws + j / ws, x = x0 + j % ws;
                        const bool real = y < H && x < W;
                        rows[j] = (real ? local + j * 3 * C : a.pad_qkv) + h * 3 * hd;
                        outs[j] = real ? a.out + (y * W + x) * C + h * hd : nullptr;
                    }
                    const float* bias = a.bias + h * N * N;
                    if (N <= 64)  // 7x7 windows
                        attend_window_head<64>(rows, int(N), bias, scale, outs);
                    else          // 14x14 windows
                        attend_window_head<224>(rows, int(N), bias, scale, outs);
                }
            }
        delete[] local;
    }
}

}  // namespace

extern const TinyVitKernels tiny_vit_kernels = {window_attention};

}  // namespace sam::SAM_ISA_NS
