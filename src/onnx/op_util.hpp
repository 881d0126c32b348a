// Helpers shared by the operator files: argument checks, axes, numpy-style broadcasting.
#pragma once

#include <algorithm>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "onnx/graph.hpp"

namespace sam::onnx {

using OpTable = std::map<std::string, OpFn>;
void register_elementwise_ops(OpTable& t);
void register_shape_ops(OpTable& t);
void register_nn_ops(OpTable& t);
void register_quant_ops(OpTable& t);

// Operators only the loader creates (never read from a file), see Graph's fusions.
// FusedMatMul: inputs A, B, bias [N] (optional), addend of the output's shape (optional);
// attribute trans_b (B's last two dims are [N, K]).
void op_fused_matmul(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out);
// ConvTransposeGelu: ConvTranspose followed by exact Gelu on its output.
void op_conv_transpose_gelu(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out);
// ProjectedAttention: softmax(q · (kin Wk + bk)^T / divisor) · (vin Wv + bv) per head, computed
// with the projections moved onto the few queries (Graph::fold_attention_projections). Inputs
// q [B, H, Nq, d], kin [B, T, E], WkT [H*d, E], vin [B, T, E], Wv per head [H, E, d], bv [H*d],
// divisor (scalar); output [B, H, Nq, d].
void op_projected_attention(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out);
// ProjectedScores: (x Wq + bq) per head times k_h^T, computed as x (Wq_h k_h^T) + bq_h k_h^T.
// Inputs x [B, T, E], WqT [H*d, E] (Wq transposed), bq [H*d], k [B, H, n, d]; output [B, H, T, n].
void op_projected_scores(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out);
// HeadsOutProjection: the heads' P_h v_h merged ([B, T, H*d]) times Wo (+ bias) (+ addend),
// computed as sum_h P_h (v_h Wo_h). Inputs P [B, H, T, n], v [B, H, n, d], Wo [H*d, E], bias [E]
// (optional), addend [B, T, E] (optional); output [B, T, E].
void op_heads_out_projection(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out);

// Input k, which must be present.
const Value& arg(const Node& node, const std::vector<const Value*>& in, size_t k);
// Input k or nullptr when omitted (or beyond the given inputs).
const Value* opt(const std::vector<const Value*>& in, size_t k);
void expect_dtype(const Node& node, const Value& v, DType t, const char* what);
void expect_float(const Node& node, const Value& v, const char* what);
// Normalises a possibly negative axis into [0, rank); throws naming the node when out of range.
int norm_axis(const Node& node, int64_t axis, int rank);
// Numpy broadcast of two shapes; throws naming the node when incompatible.
Shape broadcast_shapes(const Node& node, const Shape& a, const Shape& b);
// A 2-D convolution's strides, dilations or pads attribute: `n` values (each `dflt` when
// absent), each in [lo, 2^20], so that the output size arithmetic cannot overflow.
std::vector<int64_t> conv_attr(const Node& node, const char* key, int64_t dflt, size_t n, int64_t lo);

// Iterates an output shape with per-input strides (0 on broadcast dimensions), calling
// row(offsets, n, inner_strides) for every run of the innermost (coalesced) dimension.
template <size_t N>
struct Broadcast {
    Shape dims;                                   // coalesced output dims
    std::array<std::vector<int64_t>, N> strides;  // per input, per coalesced dim

    Broadcast(const Node& node, const Shape& out, const std::array<const Shape*, N>& shapes) {
        int r = static_cast<int>(out.size());
        std::array<std::vector<int64_t>, N> full;
        for (size_t k = 0; k < N; ++k) {
            const Shape& s = *shapes[k];
            int off = r - static_cast<int>(s.size());
            full[k].assign(r, 0);
            int64_t st = 1;
            for (int d = r - 1; d >= 0; --d) {
                int64_t dim = d - off >= 0 ? s[d - off] : 1;
                full[k][d] = (dim == 1 && out[d] != 1) ? 0 : st;
                st *= dim;
            }
        }
        // Merge neighbouring dims whose broadcast pattern is the same for every input.
        for (int d = 0; d < r; ++d) {
            if (out[d] == 1) continue;
            bool merge = !dims.empty();
            for (size_t k = 0; merge && k < N; ++k) {
                int64_t prev = strides[k].back();
                merge = (prev == 0) == (full[k][d] == 0);
            }
            if (merge) {
                dims.back() *= out[d];
                for (size_t k = 0; k < N; ++k) strides[k].back() = full[k][d];
            } else {
                dims.push_back(out[d]);
                for (size_t k = 0; k < N; ++k) strides[k].push_back(full[k][d]);
            }
        }
        if (dims.empty()) {
            dims.push_back(1);
            for (size_t k = 0; k < N; ++k) strides[k].push_back(0);
        }
    }

    template <class F>
    void for_rows(F row) const {
        int r = static_cast<int>(dims.size());
        int64_t n = dims[r - 1];
        std::array<int64_t, N> inner;
        for (size_t k = 0; k < N; ++k) inner[k] = strides[k][r - 1];
        std::vector<int64_t> idx(r, 0);
        std::array<int64_t, N> off{};
        int64_t rows = 1;
        for (int d = 0; d < r - 1; ++d) rows *= dims[d];
        int64_t o = 0;
        for (int64_t i = 0; i < rows; ++i) {
            row(off, o, n, inner);
            o += n;
            for (int d = r - 2; d >= 0; --d) {
                for (size_t k = 0; k < N; ++k) off[k] += strides[k][d];
                if (++idx[d] < dims[d]) break;
                for (size_t k = 0; k < N; ++k) off[k] -= strides[k][d] * dims[d];
                idx[d] = 0;
            }
        }
    }

    // for_rows for element-wise work whose rows write disjoint outputs: a large output is cut
    // into pieces (whole rows, or parts of one long row) that run on all threads.
    template <class F>
    void for_row_pieces(F row) const {
        const int r = static_cast<int>(dims.size());
        const int64_t n = dims[r - 1];
        int64_t rows = 1;
        for (int d = 0; d < r - 1; ++d) rows *= dims[d];
        constexpr int64_t kPiece = int64_t(1) << 15;  // elements; smaller outputs stay on one thread
        if (rows * n < 2 * kPiece) return for_rows(row);
        std::array<int64_t, N> inner;
        for (size_t k = 0; k < N; ++k) inner[k] = strides[k][r - 1];
        const int64_t per_row = (n + kPiece - 1) / kPiece, len = (n + per_row - 1) / per_row;
#pragma omp parallel for schedule(static)
        for (int64_t p = 0; p < rows * per_row; ++p) {
            int64_t i = p / per_row;
            const int64_t j0 = p % per_row * len, m = std::min(len, n - j0);
            std::array<int64_t, N> off{};
            const int64_t o = i * n + j0;
            for (int d = r - 2; d >= 0; --d) {
                const int64_t id = i % dims[d];
                i /= dims[d];
                for (size_t k = 0; k < N; ++k) off[k] += id * strides[k][d];
            }
            for (size_t k = 0; k < N; ++k) off[k] += j0 * inner[k];
            if (m > 0) row(off, o, m, inner);
        }
    }
};

}  // namespace sam::onnx
