#include "onnx/graph.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <unordered_map>

#include <onnx/onnx_pb.h>

#include "onnx/op_util.hpp"
#include "onnx/shape_inference.hpp"

namespace sam::onnx {

int64_t Node::attr_i(const std::string& key, int64_t dflt) const {
    auto it = attrs.find(key);
    return it == attrs.end() ? dflt : it->second.i;
}
float Node::attr_f(const std::string& key, float dflt) const {
    auto it = attrs.find(key);
    return it == attrs.end() ? dflt : it->second.f;
}
std::string Node::attr_s(const std::string& key, const std::string& dflt) const {
    auto it = attrs.find(key);
    return it == attrs.end() ? dflt : it->second.s;
}
std::vector<int64_t> Node::attr_ints(const std::string& key) const {
    auto it = attrs.find(key);
    return it == attrs.end() ? std::vector<int64_t>{} : it->second.ints;
}
const Attribute& Node::attr(const std::string& key) const {
    auto it = attrs.find(key);
    if (it == attrs.end()) throw OnnxError(where() + ": missing attribute '" + key + "'");
    return it->second;
}
std::string Node::where() const { return op + " node '" + name + "'"; }

// TensorProto -> Value: raw_data or the typed repeated fields; external data is not supported.
static Value tensor_from_proto(const ::onnx::TensorProto& tp, const std::string& what) {
    if (!dtype_known(tp.data_type()))
        throw OnnxError(what + ": tensor '" + tp.name() + "' has unsupported data type " +
                        std::to_string(tp.data_type()));
    if (tp.data_location() == ::onnx::TensorProto::EXTERNAL)
        throw OnnxError(what + ": tensor '" + tp.name() + "' uses external data, which is not supported");
    DType t = static_cast<DType>(tp.data_type());
    Shape shape(tp.dims().begin(), tp.dims().end());
    // The declared shape must match the data the file holds before anything is allocated.
    const std::string desc = std::string(dtype_name(t)) + shape_str(shape);
    size_t n = static_cast<size_t>(checked_numel(shape, what + ": tensor '" + tp.name() + "'"));
    size_t bytes = n * dtype_size(t);
    if (tp.has_raw_data()) {
        if (tp.raw_data().size() != bytes)
            throw OnnxError(what + ": tensor '" + tp.name() + "' " + desc + " has " +
                            std::to_string(tp.raw_data().size()) + " bytes of data, expected " +
                            std::to_string(bytes));
        Value v = Value::alloc(t, shape);
        std::memcpy(v.ptr, tp.raw_data().data(), bytes);
        return v;
    }
    size_t got = t == DType::Float   ? tp.float_data_size()
                 : t == DType::Int64 ? tp.int64_data_size()
                                     : tp.int32_data_size();  // int32_data carries every smaller integer type
    if (got != n)
        throw OnnxError(what + ": tensor '" + tp.name() + "' " + desc + " has " + std::to_string(got) +
                        " values, expected " + std::to_string(n));
    Value v = Value::alloc(t, shape);
    switch (t) {
        case DType::Float:
            std::copy(tp.float_data().begin(), tp.float_data().end(), v.data<float>());
            break;
        case DType::Int64:
            std::copy(tp.int64_data().begin(), tp.int64_data().end(), v.data<int64_t>());
            break;
        default:
            for (size_t i = 0; i < n; ++i) {
                int32_t x = tp.int32_data(static_cast<int>(i));
                if (t == DType::Int32) v.data<int32_t>()[i] = x;
                else if (t == DType::Int8) v.data<int8_t>()[i] = static_cast<int8_t>(x);
                else v.data<uint8_t>()[i] = static_cast<uint8_t>(x);
            }
    }
    return v;
}

static GraphIO io_from_proto(const ::onnx::ValueInfoProto& vi, const std::string& what) {
    GraphIO io;
    io.name = vi.name();
    if (!vi.type().has_tensor_type())
        throw OnnxError(what + ": graph input/output '" + vi.name() + "' is not a tensor");
    const auto& tt = vi.type().tensor_type();
    if (!dtype_known(tt.elem_type()))
        throw OnnxError(what + ": graph input/output '" + vi.name() + "' has unsupported element type " +
                        std::to_string(tt.elem_type()));
    io.dtype = static_cast<DType>(tt.elem_type());
    for (const auto& d : tt.shape().dim()) io.dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    return io;
}

static void read_attributes(const ::onnx::NodeProto& np, Node& node, const std::string& what) {
    for (const auto& a : np.attribute()) {
        Attribute at;
        at.i = a.i();
        at.f = a.f();
        at.s = a.s();
        at.ints.assign(a.ints().begin(), a.ints().end());
        at.floats.assign(a.floats().begin(), a.floats().end());
        if (a.has_t()) at.t = tensor_from_proto(a.t(), what + ": " + node.where() + " attribute '" + a.name() + "'");
        if (a.type() == ::onnx::AttributeProto::GRAPH || a.type() == ::onnx::AttributeProto::GRAPHS)
            throw OnnxError(what + ": " + node.where() + " has a subgraph attribute '" + a.name() +
                            "', which is not supported");
        node.attrs[a.name()] = std::move(at);
    }
}

std::vector<Value> run_node(const Node& node, const std::vector<const Value*>& in, size_t num_outputs) {
    if (num_outputs == 0) throw OnnxError(node.where() + " has no outputs");
    std::vector<Value> out(num_outputs);
    node.fn(node, in, out);
    return out;
}

// True when `slot` is a folded float scalar equal to `want` (to float rounding).
static bool is_scalar(const std::vector<Value>& constants, const std::vector<char>& is_const, int slot, float want) {
    if (slot < 0 || !is_const[slot]) return false;
    const Value& v = constants[slot];
    return v.dtype == DType::Float && v.numel() == 1 && std::fabs(v.data<float>()[0] - want) <= 1e-6f * std::fabs(want);
}

// Who reads each value slot: the loader's rewrites may only drop intermediates nothing else
// reads (no other node, no graph output).
struct Readers {
    std::vector<std::vector<int>> of;  // per slot: the nodes reading it
    std::vector<char> is_output;

    Readers(const std::vector<Node>& nodes, size_t num_slots, const std::vector<GraphIO>& outputs)
        : of(num_slots), is_output(num_slots, 0) {
        for (size_t i = 0; i < nodes.size(); ++i)
            for (int s : nodes[i].inputs)
                if (s >= 0) of[s].push_back(static_cast<int>(i));
        for (const auto& o : outputs) is_output[o.slot] = 1;
    }
    // The one node reading node n's only output, when it is of type `op` and nothing else reads it.
    int only_reader(const std::vector<Node>& nodes, int n, const char* op) const {
        if (n < 0 || nodes[n].outputs.size() != 1 || nodes[n].outputs[0] < 0) return -1;
        int s = nodes[n].outputs[0];
        if (is_output[s] || of[s].size() != 1 || nodes[of[s][0]].op != op) return -1;
        return of[s][0];
    }
};

// The input of binary node n other than node `from`'s output (-1 when n reads it twice).
static int other_input(const std::vector<Node>& nodes, int n, int from) {
    const Node& node = nodes[n];
    int s = nodes[from].outputs[0];
    if (node.inputs.size() != 2 || (node.inputs[0] == s && node.inputs[1] == s)) return -1;
    return node.inputs[0] == s ? node.inputs[1] : node.inputs[0];
}

static void drop_removed(std::vector<Node>& nodes, const std::vector<char>& removed) {
    size_t kept = 0;
    for (size_t i = 0; i < nodes.size(); ++i) {
        if (removed[i]) continue;
        if (kept != i) nodes[kept] = std::move(nodes[i]);
        ++kept;
    }
    nodes.resize(kept);
}

// PyTorch exports nn.GELU (before opset 20) as Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5):
// five passes over the tensor with a scalar erf. Each such chain whose intermediates nothing
// else reads becomes one Gelu node (ONNX opset 20), one vectorised pass.
void Graph::fuse_gelu(std::vector<Node>& nodes, const std::vector<Value>& constants, const std::vector<char>& is_const,
                      const std::vector<GraphIO>& outputs) {
    Readers r(nodes, constants.size(), outputs);
    const float sqrt2 = std::sqrt(2.0f);
    std::vector<char> removed(nodes.size(), 0);
    for (size_t i = 0; i < nodes.size(); ++i) {
        const Node& div = nodes[i];
        if (div.op != "Div" || div.inputs.size() != 2 || !is_scalar(constants, is_const, div.inputs[1], sqrt2)) continue;
        int x = div.inputs[0];
        int erf = r.only_reader(nodes, static_cast<int>(i), "Erf");
        int add = r.only_reader(nodes, erf, "Add");
        if (add < 0 || !is_scalar(constants, is_const, other_input(nodes, add, erf), 1.0f)) continue;
        int mul = r.only_reader(nodes, add, "Mul");
        if (mul < 0 || other_input(nodes, mul, add) != x) continue;
        int half = r.only_reader(nodes, mul, "Mul");
        if (half < 0 || !is_scalar(constants, is_const, other_input(nodes, half, mul), 0.5f)) continue;
        Node& gelu = nodes[half];
        gelu.op = "Gelu";
        gelu.inputs = {x};
        gelu.attrs.clear();
        gelu.fn = find_op("Gelu");
        removed[i] = removed[erf] = removed[add] = removed[mul] = 1;
    }
    drop_removed(nodes, removed);

    // A ConvTranspose (SAM's output upscaling) whose only reader is an exact Gelu applies it to
    // its own fresh output: no copy of megabytes for the Gelu's new value.
    Readers after(nodes, constants.size(), outputs);
    removed.assign(nodes.size(), 0);
    for (size_t i = 0; i < nodes.size(); ++i) {
        int gelu = after.only_reader(nodes, static_cast<int>(i), "Gelu");
        if (nodes[i].op != "ConvTranspose" || gelu < 0 || nodes[gelu].attr_s("approximate", "none") != "none") continue;
        Node fused = std::move(nodes[i]);
        fused.op = "ConvTransposeGelu";
        fused.fn = op_conv_transpose_gelu;
        fused.outputs = nodes[gelu].outputs;
        fused.name = nodes[gelu].name;
        nodes[gelu] = std::move(fused);
        removed[i] = 1;
    }
    drop_removed(nodes, removed);
}

// Turns a MatMul node into the loader's FusedMatMul (same result until bias/addend are set).
static void make_fused_matmul(Node& n) {
    if (n.op == "FusedMatMul") return;
    n.op = "FusedMatMul";
    n.fn = op_fused_matmul;
    n.inputs.resize(4, -1);
    n.attrs["trans_b"] = Attribute{};
}

// Matrix products around SAM's attention, each pass over a tensor saved:
// - a Transpose that brings its input's last dim to the next-to-last place of a MatMul's B
//   becomes the product reading B transposed (trans_b): the Transpose goes when it swapped only
//   the last two dims, else it keeps the other moves (whole rows copied, not a 2-D transpose);
// - the Add of a bias row (a constant of N values) and then the Add of another value (a
//   residual) after a MatMul go into the product as oneDNN's bias and sum post-op.
void Graph::fuse_matmul(std::vector<Node>& nodes, const std::vector<Value>& constants, const std::vector<char>& is_const,
                        const std::vector<GraphIO>& outputs) {
    {
        Readers r(nodes, constants.size(), outputs);
        std::vector<char> removed(nodes.size(), 0);
        for (size_t i = 0; i < nodes.size(); ++i) {
            Node& tr = nodes[i];
            int mm = r.only_reader(nodes, static_cast<int>(i), "MatMul");
            if (tr.op != "Transpose" || mm < 0 || tr.inputs.size() != 1 || nodes[mm].inputs.size() != 2 ||
                nodes[mm].inputs[1] != tr.outputs[0] || nodes[mm].inputs[0] == tr.outputs[0])
                continue;
            std::vector<int64_t> perm = tr.attr_ints("perm");
            int rank = static_cast<int>(perm.size());
            // Only when the swap leaves the input's last dim in place (a copy of whole rows, or no
            // copy at all) instead of moving it (a strided 2-D transpose).
            if (rank < 2 || perm[rank - 2] != rank - 1) continue;
            std::swap(perm[rank - 2], perm[rank - 1]);
            bool identity = true;
            for (int d = 0; d < rank; ++d) identity = identity && perm[d] == d;
            Node& m = nodes[mm];
            make_fused_matmul(m);
            m.attrs["trans_b"].i = 1;
            if (identity) {
                m.inputs[1] = tr.inputs[0];
                removed[i] = 1;
            } else {
                tr.attrs["perm"].ints = perm;
            }
        }
        drop_removed(nodes, removed);
    }
    Readers r(nodes, constants.size(), outputs);
    std::vector<char> removed(nodes.size(), 0);
    for (size_t i = 0; i < nodes.size(); ++i) {
        if (removed[i] || (nodes[i].op != "MatMul" && nodes[i].op != "FusedMatMul")) continue;
        int cur = static_cast<int>(i);
        // Fold Adds while the product's only reader is one; the fused node takes the Add's place
        // (its other input may be computed after the product).
        for (int add; (add = r.only_reader(nodes, cur, "Add")) >= 0;) {
            int x = other_input(nodes, add, cur);
            if (x < 0) break;
            const Node& m = nodes[cur];
            bool bias = is_const[x] && constants[x].dtype == DType::Float && constants[x].rank() == 1 &&
                        constants[x].numel() > 1;
            bool has_bias = m.op == "FusedMatMul" && m.inputs[2] >= 0;
            bool has_add = m.op == "FusedMatMul" && m.inputs[3] >= 0;
            if (bias ? has_bias || has_add : has_add) break;
            Node fused = std::move(nodes[cur]);
            make_fused_matmul(fused);
            fused.inputs[bias ? 2 : 3] = x;
            fused.outputs = nodes[add].outputs;
            fused.name = nodes[add].name;
            nodes[add] = std::move(fused);
            removed[cur] = 1;
            cur = add;
        }
    }
    drop_removed(nodes, removed);
}

// Which node writes each slot, for the attention folds' pattern matching.
struct Producers {
    std::vector<int> of;
    Producers(const std::vector<Node>& nodes, size_t slots) : of(slots, -1) {
        for (size_t i = 0; i < nodes.size(); ++i)
            for (int s : nodes[i].outputs)
                if (s >= 0) of[s] = static_cast<int>(i);
    }
    // The node writing `slot` when it is a single-output `op` node, else -1.
    int single(const std::vector<Node>& nodes, int slot, const char* op) const {
        const int n = slot >= 0 ? of[slot] : -1;
        return n >= 0 && nodes[n].op == op && nodes[n].outputs.size() == 1 ? n : -1;
    }
};

int Graph::add_constant(Value v) {
    constants_.push_back(std::move(v));
    is_const_.push_back(1);
    return static_cast<int>(num_slots_++);
}

// The attention pattern of SAM's token-to-image layers, after fuse_matmul: keys and values
// projected from T image tokens (FusedMatMul with constant weight and bias, Reshape to heads,
// Transpose), scores = FusedMatMul(q, keys, trans_b), Div by a constant, Softmax, MatMul by the
// values. With T in the thousands and a few queries, projecting the queries instead is cheaper
// (op_projected_attention); the weights are rearranged once here.
void Graph::fold_attention_projections() {
    const Producers producers(nodes_, num_slots_);
    Readers r(nodes_, num_slots_, outputs_);
    auto from = [&](int slot, const char* op) { return producers.single(nodes_, slot, op); };
    auto perm_is = [&](int n, std::vector<int64_t> want) { return nodes_[n].attr_ints("perm") == want; };
    // A projection to heads: Transpose(0,2,1,3) <- Reshape(constant [b, T, H, d]) <- FusedMatMul(x, W, bias).
    struct Heads {
        int transpose = -1, reshape = -1, product = -1;
        int64_t T = 0, H = 0, d = 0;
    };
    auto heads_of = [&](int slot, int reader) -> std::optional<Heads> {
        Heads h;
        h.transpose = from(slot, "Transpose");
        if (h.transpose < 0 || !perm_is(h.transpose, {0, 2, 1, 3}) || r.only_reader(nodes_, h.transpose, nodes_[reader].op.c_str()) != reader)
            return std::nullopt;
        h.reshape = from(nodes_[h.transpose].inputs[0], "Reshape");
        if (h.reshape < 0 || r.only_reader(nodes_, h.reshape, "Transpose") != h.transpose) return std::nullopt;
        const int shape = nodes_[h.reshape].inputs.size() == 2 ? nodes_[h.reshape].inputs[1] : -1;
        if (shape < 0 || !is_const_[shape] || constants_[shape].numel() != 4) return std::nullopt;
        const std::vector<int64_t> dims = constants_[shape].to_i64();
        h.T = dims[1], h.H = dims[2], h.d = dims[3];
        h.product = from(nodes_[h.reshape].inputs[0], "FusedMatMul");
        if (h.product < 0 || r.only_reader(nodes_, h.product, "Reshape") != h.reshape) return std::nullopt;
        const Node& p = nodes_[h.product];
        const int w = p.inputs[1], b = p.inputs[2];
        if (p.attr_i("trans_b", 0) != 0 || p.inputs[3] >= 0 || w < 0 || b < 0 || !is_const_[w] || !is_const_[b] ||
            h.T < 256 || h.H <= 0 || h.d <= 0)
            return std::nullopt;
        const Value& wv = constants_[w];
        if (wv.dtype != DType::Float || wv.rank() != 2 || wv.dim(1) != h.H * h.d || constants_[b].dtype != DType::Float ||
            constants_[b].numel() != h.H * h.d)
            return std::nullopt;
        return h;
    };
    std::vector<char> removed(nodes_.size(), 0);
    for (size_t i = 0; i < nodes_.size(); ++i) {
        Node& out = nodes_[i];
        if (out.op != "MatMul" || out.inputs.size() != 2) continue;
        const int softmax = from(out.inputs[0], "Softmax");
        if (softmax < 0 || r.only_reader(nodes_, softmax, "MatMul") != static_cast<int>(i)) continue;
        const int div = from(nodes_[softmax].inputs[0], "Div");
        if (div < 0 || r.only_reader(nodes_, div, "Softmax") != softmax) continue;
        const int divisor = nodes_[div].inputs.size() == 2 ? nodes_[div].inputs[1] : -1;
        if (divisor < 0 || !is_const_[divisor] || constants_[divisor].dtype != DType::Float || constants_[divisor].numel() != 1)
            continue;
        const int scores = from(nodes_[div].inputs[0], "FusedMatMul");
        if (scores < 0 || r.only_reader(nodes_, scores, "Div") != div) continue;
        const Node& sc = nodes_[scores];
        if (sc.attr_i("trans_b", 0) != 1 || sc.inputs[2] >= 0 || sc.inputs[3] >= 0) continue;
        const int softmax_axis = static_cast<int>(nodes_[softmax].attr_i("axis", -1));
        if (softmax_axis != -1 && softmax_axis != 3) continue;
        auto keys = heads_of(sc.inputs[1], scores);
        auto values = heads_of(out.inputs[1], static_cast<int>(i));
        if (!keys || !values || keys->T != values->T || keys->H != values->H || keys->d != values->d) continue;
        const Value& wk = constants_[nodes_[keys->product].inputs[1]];
        const Value& wv = constants_[nodes_[values->product].inputs[1]];
        const int64_t E = wk.dim(0), H = keys->H, d = keys->d;
        if (wv.dim(0) != E) continue;
        // WkT [H*d, E] (head h's rows are Wk_h^T); Wv per head [H, E, d].
        Value wkt = Value::alloc(DType::Float, {H * d, E}), wvh = Value::alloc(DType::Float, {H, E, d});
        for (int64_t e = 0; e < E; ++e)
            for (int64_t j = 0; j < H * d; ++j) {
                wkt.data<float>()[j * E + e] = wk.data<float>()[e * H * d + j];
                wvh.data<float>()[((j / d) * E + e) * d + j % d] = wv.data<float>()[e * H * d + j];
            }
        Node fused;
        fused.op = "ProjectedAttention";
        fused.name = out.name;
        fused.fn = op_projected_attention;
        fused.inputs = {sc.inputs[0], nodes_[keys->product].inputs[0], add_constant(std::move(wkt)),
                        nodes_[values->product].inputs[0], add_constant(std::move(wvh)), nodes_[values->product].inputs[2], divisor};
        fused.outputs = out.outputs;
        for (int n : {softmax, div, scores, keys->transpose, keys->reshape, keys->product, values->transpose, values->reshape,
                      values->product})
            removed[n] = 1;
        out = std::move(fused);
    }
    drop_removed(nodes_, removed);
    fold_image_to_token_attention();
    finish_folding();
}

// SAM's image-to-token layers: 4096 image tokens attend to a few prompt tokens. Their queries'
// projection (FusedMatMul with constant weight and bias, Reshape to heads, Transpose) feeds
// scores = FusedMatMul(q, k, trans_b), and the heads' output goes Transpose -> Reshape ->
// output projection. Both big products are moved onto the few keys and values:
// ProjectedScores (q = x Wq + bq: scores_h = x (Wq_h k_h^T) + bq_h k_h^T) and
// HeadsOutProjection (sum_h P_h (v_h Wo_h) instead of (P v) Wo), as the native decoder folds them.
void Graph::fold_image_to_token_attention() {
    const Producers producers(nodes_, num_slots_);
    Readers r(nodes_, num_slots_, outputs_);
    auto from = [&](int slot, const char* op) { return producers.single(nodes_, slot, op); };
    auto const_float = [&](int slot, int rank) {
        return slot >= 0 && is_const_[slot] && constants_[slot].dtype == DType::Float && constants_[slot].rank() == rank;
    };
    // A constant [4] or [3] shape whose token count (dim 1) is in the thousands.
    auto many_tokens = [&](int reshape, size_t dims) -> std::vector<int64_t> {
        const int shape = nodes_[reshape].inputs.size() == 2 ? nodes_[reshape].inputs[1] : -1;
        if (shape < 0 || !is_const_[shape] || constants_[shape].numel() != static_cast<int64_t>(dims)) return {};
        std::vector<int64_t> v = constants_[shape].to_i64();
        return v[1] >= 256 ? v : std::vector<int64_t>{};
    };
    std::vector<char> removed(nodes_.size(), 0);
    for (size_t i = 0; i < nodes_.size(); ++i) {
        Node& sc = nodes_[i];
        if (sc.op != "FusedMatMul" || sc.attr_i("trans_b", 0) != 1 || sc.inputs[2] >= 0 || sc.inputs[3] >= 0) continue;
        const int tr = from(sc.inputs[0], "Transpose");
        if (tr < 0 || nodes_[tr].attr_ints("perm") != std::vector<int64_t>{0, 2, 1, 3} ||
            r.only_reader(nodes_, tr, "FusedMatMul") != static_cast<int>(i))
            continue;
        const int rs = from(nodes_[tr].inputs[0], "Reshape");
        if (rs < 0 || r.only_reader(nodes_, rs, "Transpose") != tr || many_tokens(rs, 4).empty()) continue;
        const int pr = from(nodes_[rs].inputs[0], "FusedMatMul");
        if (pr < 0 || r.only_reader(nodes_, pr, "Reshape") != rs) continue;
        const Node& p = nodes_[pr];
        const int64_t heads = many_tokens(rs, 4)[2], d = many_tokens(rs, 4)[3];
        if (p.attr_i("trans_b", 0) != 0 || p.inputs[3] >= 0 || !const_float(p.inputs[1], 2) || !const_float(p.inputs[2], 1) ||
            heads <= 0 || d <= 0 || constants_[p.inputs[1]].dim(1) != heads * d || constants_[p.inputs[2]].numel() != heads * d)
            continue;
        // Wq^T by head: [H * d, E], row h * d + j = column h * d + j of Wq [E, H * d].
        const Value& wq = constants_[p.inputs[1]];
        const int64_t E = wq.dim(0);
        Value wqt = Value::alloc(DType::Float, {heads * d, E});
        for (int64_t e = 0; e < E; ++e)
            for (int64_t j = 0; j < heads * d; ++j) wqt.data<float>()[j * E + e] = wq.data<float>()[e * heads * d + j];
        Node fused;
        fused.op = "ProjectedScores";
        fused.name = sc.name;
        fused.fn = op_projected_scores;
        fused.inputs = {p.inputs[0], add_constant(std::move(wqt)), p.inputs[2], sc.inputs[1]};
        fused.outputs = sc.outputs;
        removed[tr] = removed[rs] = removed[pr] = 1;
        sc = std::move(fused);
    }
    for (size_t i = 0; i < nodes_.size(); ++i) {
        Node& op = nodes_[i];
        if (op.op != "FusedMatMul" || op.attr_i("trans_b", 0) != 0 || !const_float(op.inputs[1], 2) ||
            (op.inputs[2] >= 0 && !const_float(op.inputs[2], 1)))
            continue;
        const int rs = from(op.inputs[0], "Reshape");
        if (rs < 0 || r.only_reader(nodes_, rs, "FusedMatMul") != static_cast<int>(i)) continue;
        const std::vector<int64_t> merged = many_tokens(rs, 3);
        if (merged.empty() || merged[2] != constants_[op.inputs[1]].dim(0)) continue;
        const int tr = from(nodes_[rs].inputs[0], "Transpose");
        if (tr < 0 || nodes_[tr].attr_ints("perm") != std::vector<int64_t>{0, 2, 1, 3} ||
            r.only_reader(nodes_, tr, "Reshape") != rs)
            continue;
        const int mm = from(nodes_[tr].inputs[0], "MatMul");
        if (mm < 0 || nodes_[mm].inputs.size() != 2 || r.only_reader(nodes_, mm, "Transpose") != tr) continue;
        Node fused;
        fused.op = "HeadsOutProjection";
        fused.name = op.name;
        fused.fn = op_heads_out_projection;
        fused.inputs = {nodes_[mm].inputs[0], nodes_[mm].inputs[1], op.inputs[1], op.inputs[2], op.inputs[3]};
        fused.outputs = op.outputs;
        removed[mm] = removed[tr] = removed[rs] = 1;
        op = std::move(fused);
    }
    drop_removed(nodes_, removed);
}

Graph Graph::load(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw OnnxError("cannot open ONNX file '" + path + "'");
    std::stringstream ss;
    ss << f.rdbuf();
    return parse(ss.str(), path);
}

Graph Graph::parse(const std::string& bytes, const std::string& what) {
    ::onnx::ModelProto model;
    if (bytes.empty() || !model.ParseFromString(bytes))
        throw OnnxError(what + ": not an ONNX model (the file is not a valid ModelProto protobuf)");
    if (model.ir_version() <= 0 || !model.has_graph() || model.graph().node_size() == 0)
        throw OnnxError(what + ": not an ONNX model (no IR version or no graph nodes)");
    const auto& gp = model.graph();

    Graph g;
    g.what_ = what;
    std::unordered_map<std::string, int> slot;
    auto new_slot = [&](const std::string& name) {
        int s = static_cast<int>(g.constants_.size());
        slot[name] = s;
        g.constants_.emplace_back();
        g.is_const_.push_back(0);
        return s;
    };

    for (const auto& init : gp.initializer()) {
        int s = new_slot(init.name());
        g.constants_[s] = tensor_from_proto(init, what + ": initializer");
        g.is_const_[s] = 1;
    }
    for (const auto& vi : gp.input()) {
        if (slot.count(vi.name())) continue;  // older exports list initializers as inputs too
        GraphIO io = io_from_proto(vi, what);
        io.slot = new_slot(vi.name());
        g.inputs_.push_back(io);
    }

    for (const auto& np : gp.node()) {
        Node node;
        node.op = np.op_type();
        node.name = np.name().empty() ? (np.output_size() ? np.output(0) : np.op_type()) : np.name();
        if (!np.domain().empty() && np.domain() != "ai.onnx")
            throw OnnxError(what + ": unsupported operator '" + np.domain() + "::" + node.op + "' (node '" +
                            node.name + "')");
        node.fn = find_op(node.op);
        if (!node.fn)
            throw OnnxError(what + ": unsupported operator '" + node.op + "' (node '" + node.name + "')");
        read_attributes(np, node, what);
        bool all_const = true;
        for (const auto& name : np.input()) {
            if (name.empty()) { node.inputs.push_back(-1); continue; }
            auto it = slot.find(name);
            if (it == slot.end())
                throw OnnxError(what + ": " + node.where() + " reads '" + name +
                                "', which no initializer, graph input or earlier node provides");
            node.inputs.push_back(it->second);
            all_const = all_const && g.is_const_[it->second];
        }
        if (np.output_size() == 0) throw OnnxError(what + ": " + node.where() + " has no outputs");
        for (const auto& name : np.output()) node.outputs.push_back(name.empty() ? -1 : new_slot(name));

        if (all_const) {
            g.fold(node, what);  // depends on initializers only: compute it once now
            continue;
        }
        g.nodes_.push_back(std::move(node));
    }

    for (const auto& vi : gp.output()) {
        GraphIO io = io_from_proto(vi, what);
        auto it = slot.find(vi.name());
        if (it == slot.end()) throw OnnxError(what + ": graph output '" + vi.name() + "' is never produced");
        io.slot = it->second;
        g.outputs_.push_back(io);
    }
    g.num_slots_ = g.constants_.size();
    g.finish_folding();
    return g;
}

const GraphIO* Graph::input(const std::string& name) const {
    for (const auto& io : inputs_) if (io.name == name) return &io;
    return nullptr;
}
const GraphIO* Graph::output(const std::string& name) const {
    for (const auto& io : outputs_) if (io.name == name) return &io;
    return nullptr;
}

void Graph::check_feed(const GraphIO& io, const Value& v) const {
    bool ok = v.dtype == io.dtype && v.rank() == static_cast<int>(io.dims.size());
    for (size_t d = 0; ok && d < io.dims.size(); ++d) ok = io.dims[d] < 0 || io.dims[d] == v.shape[d];
    if (ok) return;
    std::string want = std::string(dtype_name(io.dtype)) + "[";
    for (size_t d = 0; d < io.dims.size(); ++d)
        want += (d ? "," : "") + (io.dims[d] < 0 ? std::string("?") : std::to_string(io.dims[d]));
    throw OnnxError(what_ + ": graph input '" + io.name + "' is " + v.desc() + ", expected " + want + "]");
}

void Graph::fold_known() {
    std::vector<Known> known(num_slots_);
    for (size_t s = 0; s < num_slots_; ++s)
        if (is_const_[s]) known[s] = known_of(constants_[s]);
    for (const auto& io : inputs_) known[io.slot] = known_of(io);
    std::vector<Node> kept;
    for (auto& node : nodes_) {
        bool all_const = true;
        for (int s : node.inputs) all_const = all_const && (s < 0 || is_const_[s]);
        if (all_const) {
            fold(node, what_);
            for (int s : node.outputs)
                if (s >= 0) known[s] = known_of(constants_[s]);
            continue;
        }
        std::vector<const Known*> in;
        for (int s : node.inputs) in.push_back(s < 0 ? nullptr : &known[s]);
        std::vector<Known> out = infer_known(node, in);
        bool decided = true;
        for (size_t k = 0; k < node.outputs.size(); ++k) decided = decided && (node.outputs[k] < 0 || out[k].constant());
        for (size_t k = 0; k < node.outputs.size(); ++k) {
            const int s = node.outputs[k];
            if (s < 0) continue;
            if (decided) {
                constants_[s] = out[k].value();
                is_const_[s] = 1;
            }
            known[s] = std::move(out[k]);
        }
        if (!decided) kept.push_back(std::move(node));
    }
    nodes_ = std::move(kept);
}

void Graph::finish_folding() {
    fold_known();
    fuse_gelu(nodes_, constants_, is_const_, outputs_);
    fuse_matmul(nodes_, constants_, is_const_, outputs_);
    // Constants that only folded nodes read are dead (initializers a fused node repacked, the
    // intermediates of a folded branch): dropped, so a graph holds what its runs read.
    std::vector<char> live(num_slots_, 0);
    for (const auto& node : nodes_)
        for (int s : node.inputs)
            if (s >= 0) live[s] = 1;
    for (const auto& io : outputs_) live[io.slot] = 1;
    for (size_t s = 0; s < num_slots_; ++s)
        if (is_const_[s] && !live[s]) constants_[s] = Value{};
}

Graph Graph::specialize(const std::map<std::string, Value>& constant_inputs) const {
    Graph g = *this;
    for (const auto& [name, v] : constant_inputs) {
        const GraphIO* io = input(name);
        if (!io) throw OnnxError(what_ + ": cannot specialize '" + name + "': it is not an input of the graph");
        check_feed(*io, v);
        g.constants_[io->slot] = v;
        g.is_const_[io->slot] = 1;
    }
    std::string fixed;
    for (const auto& [name, v] : constant_inputs) fixed += (fixed.empty() ? "" : ", ") + name;
    g.what_ = what_ + " (with " + fixed + " fixed)";
    g.inputs_.clear();
    for (const auto& io : inputs_)
        if (!constant_inputs.count(io.name)) g.inputs_.push_back(io);

    // Folds every node whose inputs became constant (or whose result the shapes now decide);
    // newly constant scalars and bias rows may complete patterns the loader could not match.
    g.finish_folding();
    return g;
}

// SAM_ONNX_PROFILE=1: at exit, the time per run of each operator type, per graph and set of
// wanted outputs (a load-time test run is kept apart from the clicks); =2 also every node.
// Averages over the runs, so a benchmark's many clicks read as one.
namespace {

struct RunProfile {
    int runs = 0;
    std::map<std::string, std::pair<int, double>> ops;  // op -> nodes per run, seconds in all
    std::vector<std::string> node_lines;                 // "op name -> shape", in execution order
    std::vector<double> node_seconds;
};

class ProfileTable {
public:
    void add(const std::string& key, const std::vector<Node>& nodes, const std::vector<char>& needed,
             const std::vector<double>& seconds, const std::vector<std::string>& outs) {
        std::lock_guard<std::mutex> lock(mutex_);
        RunProfile& p = runs_[key];
        if (p.runs == 0) {
            for (size_t i = 0; i < nodes.size(); ++i) {
                if (!needed[i]) continue;
                p.ops[nodes[i].op].first++;
                if (!outs.empty()) {
                    p.node_lines.push_back(nodes[i].op + " " + nodes[i].name + " -> " + outs[i]);
                    p.node_seconds.push_back(0.0);
                }
            }
        }
        p.runs++;
        size_t k = 0;
        for (size_t i = 0; i < nodes.size(); ++i) {
            if (!needed[i]) continue;
            p.ops[nodes[i].op].second += seconds[i];
            if (!outs.empty() && k < p.node_seconds.size()) p.node_seconds[k++] += seconds[i];
        }
    }

    ~ProfileTable() {
        for (const auto& [key, p] : runs_) {
            std::vector<std::pair<double, std::string>> ops;
            double total = 0;
            for (const auto& [op, t] : p.ops) {
                ops.push_back({t.second / p.runs, op});
                total += t.second / p.runs;
            }
            std::sort(ops.rbegin(), ops.rend());
            std::fprintf(stderr, "onnx profile: %s: %d runs, %.3f ms per run in operators\n", key.c_str(), p.runs, total * 1e3);
            for (const auto& [t, op] : ops)
                std::fprintf(stderr, "onnx profile: %-20s %4d nodes %8.3f ms per run\n", op.c_str(), p.ops.at(op).first, t * 1e3);
            for (size_t k = 0; k < p.node_lines.size(); ++k)
                std::fprintf(stderr, "onnx node: %8.3f ms per run  %s\n", p.node_seconds[k] / p.runs * 1e3,
                             p.node_lines[k].c_str());
        }
    }

private:
    std::mutex mutex_;
    std::map<std::string, RunProfile> runs_;
};

void profile_add(const std::string& key, const std::vector<Node>& nodes, const std::vector<char>& needed,
                 const std::vector<double>& seconds, const std::vector<std::string>& outs) {
    static ProfileTable table;
    table.add(key, nodes, needed, seconds, outs);
}

}  // namespace

void Graph::fold(const Node& node, const std::string& context) {
    std::vector<const Value*> in;
    for (int s : node.inputs) in.push_back(s < 0 ? nullptr : &constants_[s]);
    std::vector<Value> out;
    try {
        AllocationLimit limit(kMaxLoadValueBytes);
        out = run_node(node, in, node.outputs.size());
    } catch (const OnnxError& e) {
        std::string msg = e.what();
        if (msg.find(node.where()) == std::string::npos) msg = "folding " + node.where() + ": " + msg;
        throw OnnxError(context + ": " + msg);
    }
    for (size_t k = 0; k < node.outputs.size(); ++k) {
        if (node.outputs[k] < 0) continue;
        constants_[node.outputs[k]] = std::move(out[k]);
        is_const_[node.outputs[k]] = 1;
    }
}

std::vector<Value> Graph::run(const std::map<std::string, Value>& feeds) const {
    std::vector<std::string> all;
    for (const auto& o : outputs_) all.push_back(o.name);
    return run(feeds, all);
}

std::vector<Value> Graph::run(const std::map<std::string, Value>& feeds, const std::vector<std::string>& wanted) const {
    std::vector<int> out_slots;
    for (const auto& name : wanted) {
        const GraphIO* o = output(name);
        if (!o) throw OnnxError(what_ + ": '" + name + "' is not an output of the graph");
        out_slots.push_back(o->slot);
    }
    std::vector<Value> vals(num_slots_);
    for (const auto& io : inputs_) {
        auto it = feeds.find(io.name);
        if (it == feeds.end()) throw OnnxError(what_ + ": graph input '" + io.name + "' was not given");
        check_feed(io, it->second);
        vals[io.slot] = it->second;
    }
    for (const auto& [name, v] : feeds)
        if (!input(name)) throw OnnxError(what_ + ": '" + name + "' is not an input of the graph");

    // Only the nodes the wanted outputs depend on run; each intermediate is dropped after its
    // last reader to keep peak memory low.
    std::vector<char> needed_slot(num_slots_, 0), needed(nodes_.size(), 0);
    for (int s : out_slots) needed_slot[s] = 1;
    for (size_t i = nodes_.size(); i-- > 0;) {
        for (int s : nodes_[i].outputs) needed[i] = needed[i] || (s >= 0 && needed_slot[s]);
        if (needed[i])
            for (int s : nodes_[i].inputs)
                if (s >= 0) needed_slot[s] = 1;
    }
    std::vector<int> last_use(num_slots_, -1);
    for (size_t i = 0; i < nodes_.size(); ++i)
        if (needed[i])
            for (int s : nodes_[i].inputs)
                if (s >= 0 && !is_const_[s]) last_use[s] = static_cast<int>(i);
    for (int s : out_slots) last_use[s] = -1;

    static const int profile = std::getenv("SAM_ONNX_PROFILE") ? std::atoi(std::getenv("SAM_ONNX_PROFILE")) : 0;
    std::vector<double> node_time(profile ? nodes_.size() : 0, 0.0);
    std::vector<std::string> node_out(profile > 1 ? nodes_.size() : 0);
    std::vector<const Value*> in;
    std::vector<Value> out;
    for (size_t i = 0; i < nodes_.size(); ++i) {
        if (!needed[i]) continue;
        const Node& node = nodes_[i];
        in.clear();
        for (int s : node.inputs) in.push_back(s < 0 ? nullptr : is_const_[s] ? &constants_[s] : &vals[s]);
        out.assign(node.outputs.size(), Value{});
        auto t0 = std::chrono::steady_clock::now();
        node.fn(node, in, out);
        if (profile) {
            node_time[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (profile > 1 && !out.empty()) node_out[i] = out[0].desc();
        }
        for (size_t k = 0; k < node.outputs.size(); ++k)
            if (node.outputs[k] >= 0) vals[node.outputs[k]] = std::move(out[k]);
        for (int s : node.inputs)
            if (s >= 0 && last_use[s] == static_cast<int>(i)) vals[s] = Value{};
    }
    if (profile) {
        std::string key = what_ + " ->";
        for (const auto& name : wanted) key += " " + name;
        profile_add(key, nodes_, needed, node_time, node_out);
    }
    std::vector<Value> result;
    for (int s : out_slots) result.push_back(is_const_[s] ? constants_[s] : vals[s]);
    return result;
}

}  // namespace sam::onnx
