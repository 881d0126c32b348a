#include "onnx/shape_inference.hpp"

#include <algorithm>
#include <functional>

namespace sam::onnx {

namespace {

using Elem = std::optional<int64_t>;
using Dims = std::vector<int64_t>;

bool integral(DType t) {
    return t == DType::Int64 || t == DType::Int32 || t == DType::Int8 || t == DType::UInt8 || t == DType::Bool;
}

int64_t known_numel(const Known& k) {
    if (k.rank < 0) return -1;
    int64_t n = 1;
    for (int64_t d : k.dims) {
        if (d < 0) return -1;
        n *= d;
        if (n > Known::kMaxKnownElems) return -1;  // big: its elements are never tracked
    }
    return n;
}

// A value of these dims; its elements are tracked (all unknown for now) when it is small and integral.
Known shaped(DType t, Dims dims) {
    Known k;
    k.dtype = t;
    k.rank = static_cast<int>(dims.size());
    k.dims = std::move(dims);
    const int64_t n = known_numel(k);
    if (integral(t) && n >= 0) k.elems.assign(static_cast<size_t>(n), std::nullopt);
    return k;
}

Known unknown(DType t = DType::Float) {
    Known k;
    k.dtype = t;
    return k;
}

bool has_elems(const Known* k) { return k && known_numel(*k) >= 0 && static_cast<int64_t>(k->elems.size()) == known_numel(*k); }

// Every element of a fully known input, as integers.
std::optional<std::vector<int64_t>> ints_of(const Known* k) {
    if (!k || !k->constant()) return std::nullopt;
    std::vector<int64_t> v;
    for (const Elem& e : k->elems) v.push_back(*e);
    return v;
}

// -1 for an axis outside [-rank, rank): every caller treats that as unknown.
int normalize_axis(int64_t axis, int rank) {
    if (axis < -rank || axis >= rank) return -1;
    return static_cast<int>(axis < 0 ? axis + rank : axis);
}

// Multidirectional broadcasting of the inputs' dims; nullopt when a rank is unknown.
std::optional<Dims> broadcast(const std::vector<const Known*>& in) {
    int rank = 0;
    for (const Known* k : in) {
        if (!k || k->rank < 0) return std::nullopt;
        rank = std::max(rank, k->rank);
    }
    Dims out(static_cast<size_t>(rank), 1);
    for (int i = 0; i < rank; ++i) {
        int64_t d = 1;
        bool some_unknown = false;
        for (const Known* k : in) {
            const int j = k->rank - (rank - i);
            if (j < 0) continue;
            const int64_t v = k->dims[static_cast<size_t>(j)];
            if (v < 0) some_unknown = true;
            else if (v != 1) {
                if (d != 1 && d != v) return std::nullopt;  // the run will refuse it
                d = v;
            }
        }
        // An unknown dim broadcast with a known d > 1 is d (or the graph fails at run time).
        out[static_cast<size_t>(i)] = some_unknown && d == 1 ? -1 : d;
    }
    return out;
}

// Elementwise over broadcast inputs whose elements are tracked: f of the inputs' elements.
void elementwise_elems(Known& out, const std::vector<const Known*>& in, const std::function<Elem(const std::vector<Elem>&)>& f) {
    if (!has_elems(&out)) return;
    for (const Known* k : in)
        if (!has_elems(k)) return;
    const int rank = out.rank;
    std::vector<Elem> args(in.size());
    for (size_t flat = 0; flat < out.elems.size(); ++flat) {
        // The output's index, then each input's flat index under broadcasting.
        Dims idx(static_cast<size_t>(rank));
        size_t rest = flat;
        for (int d = rank - 1; d >= 0; --d) {
            idx[static_cast<size_t>(d)] = static_cast<int64_t>(rest % static_cast<size_t>(out.dims[static_cast<size_t>(d)]));
            rest /= static_cast<size_t>(out.dims[static_cast<size_t>(d)]);
        }
        for (size_t a = 0; a < in.size(); ++a) {
            const Known& k = *in[a];
            int64_t at = 0;
            for (int d = 0; d < k.rank; ++d) {
                const int64_t dim = k.dims[static_cast<size_t>(d)];
                at = at * dim + (dim == 1 ? 0 : idx[static_cast<size_t>(d + rank - k.rank)]);
            }
            args[a] = k.elems[static_cast<size_t>(at)];
        }
        out.elems[flat] = f(args);
    }
}

Known elementwise(const Node& n, const std::vector<const Known*>& in, DType out_type) {
    auto dims = broadcast(in);
    if (!dims) return unknown(out_type);
    Known out = shaped(out_type, *dims);
    auto all = [](const std::vector<Elem>& a) { return std::all_of(a.begin(), a.end(), [](const Elem& e) { return e.has_value(); }); };
    if (n.op == "Add") elementwise_elems(out, in, [&](const std::vector<Elem>& a) { return all(a) ? Elem(*a[0] + *a[1]) : std::nullopt; });
    if (n.op == "Sub") elementwise_elems(out, in, [&](const std::vector<Elem>& a) { return all(a) ? Elem(*a[0] - *a[1]) : std::nullopt; });
    if (n.op == "Mul") elementwise_elems(out, in, [&](const std::vector<Elem>& a) { return all(a) ? Elem(*a[0] * *a[1]) : std::nullopt; });
    if (n.op == "Equal")
        elementwise_elems(out, in, [&](const std::vector<Elem>& a) { return all(a) ? Elem(*a[0] == *a[1] ? 1 : 0) : std::nullopt; });
    if (n.op == "Where")
        elementwise_elems(out, in, [](const std::vector<Elem>& a) -> Elem {
            if (a[0]) return *a[0] ? a[1] : a[2];
            return a[1] && a[2] && *a[1] == *a[2] ? a[1] : std::nullopt;
        });
    return out;
}

// Axes from the second input (opset 13) or the attribute.
std::optional<std::vector<int64_t>> axes_of(const Node& n, const std::vector<const Known*>& in, size_t input) {
    if (in.size() > input && in[input]) return ints_of(in[input]);
    if (n.has("axes")) return n.attr_ints("axes");
    return std::nullopt;
}

Known matmul(const Known* a, const Known* b, bool trans_b) {
    if (!a || !b || a->rank < 2 || b->rank < 2) return unknown();
    Known ab = *a, bb = *b;
    ab.dims.resize(ab.dims.size() - 2);
    bb.dims.resize(bb.dims.size() - 2);
    ab.rank -= 2;
    bb.rank -= 2;
    auto batch = broadcast({&ab, &bb});
    if (!batch) return unknown();
    Dims dims = *batch;
    dims.push_back(a->dims[static_cast<size_t>(a->rank - 2)]);
    dims.push_back(b->dims[static_cast<size_t>(b->rank - (trans_b ? 2 : 1))]);
    return shaped(a->dtype, dims);
}

Known infer_one(const Node& n, const std::vector<const Known*>& in, size_t num_outputs, std::vector<Known>& extra) {
    const Known* x = in.empty() ? nullptr : in[0];
    const std::string& op = n.op;
    static const char* kSameShape[] = {"Identity", "Relu", "Sqrt", "Sin", "Cos", "Neg", "Erf", "Gelu", "Softmax", "Exp",
                                       "Tanh", "Sigmoid", "Abs", "Reciprocal", "Floor", "Ceil", "LayerNormalization"};
    for (const char* same : kSameShape)
        if (op == same) {
            if (!x || x->rank < 0) return unknown(x ? x->dtype : DType::Float);
            return op == "Identity" ? *x : shaped(x->dtype, x->dims);
        }
    static const char* kBinary[] = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"};
    for (const char* bin : kBinary)
        if (op == bin) return in.size() == 2 && x ? elementwise(n, in, x->dtype) : unknown();
    if (op == "Equal" || op == "Less" || op == "Greater" || op == "And" || op == "Or")
        return in.size() == 2 ? elementwise(n, in, DType::Bool) : unknown(DType::Bool);
    if (op == "Where") return in.size() == 3 && in[1] ? elementwise(n, in, in[1]->dtype) : unknown();
    if (op == "Not") {
        if (!x || x->rank < 0) return unknown(DType::Bool);
        Known k = shaped(DType::Bool, x->dims);
        elementwise_elems(k, {x}, [](const std::vector<Elem>& a) { return a[0] ? Elem(*a[0] ? 0 : 1) : std::nullopt; });
        return k;
    }
    if (op == "Cast") {
        const DType to = static_cast<DType>(n.attr_i("to", 1));
        if (!x || x->rank < 0) return unknown(to);
        Known k = shaped(to, x->dims);
        if (integral(x->dtype) && integral(to) && to != DType::Bool && has_elems(x) && has_elems(&k)) k.elems = x->elems;
        return k;
    }
    if (op == "Shape") {
        if (!x || x->rank < 0) return unknown(DType::Int64);
        auto clamp_axis = [&](int64_t a) {
            const int64_t r = x->rank;
            return static_cast<int>(std::clamp<int64_t>(a < 0 ? a + r : a, 0, r));
        };
        const int start = clamp_axis(n.attr_i("start", 0)), end = std::max(start, clamp_axis(n.attr_i("end", x->rank)));
        Known k = shaped(DType::Int64, {end - start});
        for (int i = start; i < end; ++i) {
            const int64_t d = x->dims[static_cast<size_t>(i)];
            if (d >= 0 && has_elems(&k)) k.elems[static_cast<size_t>(i - start)] = d;
        }
        return k;
    }
    if (op == "Gather") {
        const Known* idx = in.size() > 1 ? in[1] : nullptr;
        if (!x || !idx || x->rank < 0 || idx->rank < 0) return unknown(x ? x->dtype : DType::Float);
        const int axis = normalize_axis(n.attr_i("axis", 0), x->rank);
        if (axis < 0 || axis >= x->rank) return unknown(x->dtype);
        Dims dims(x->dims.begin(), x->dims.begin() + axis);
        dims.insert(dims.end(), idx->dims.begin(), idx->dims.end());
        dims.insert(dims.end(), x->dims.begin() + axis + 1, x->dims.end());
        Known k = shaped(x->dtype, dims);
        auto picks = ints_of(idx);
        if (x->rank == 1 && has_elems(x) && picks && has_elems(&k))
            for (size_t i = 0; i < picks->size(); ++i) {
                const int64_t at = (*picks)[i] < 0 ? (*picks)[i] + x->dims[0] : (*picks)[i];
                if (at >= 0 && at < static_cast<int64_t>(x->elems.size())) k.elems[i] = x->elems[static_cast<size_t>(at)];
            }
        return k;
    }
    if (op == "Unsqueeze" || op == "Squeeze") {
        auto axes = axes_of(n, in, 1);
        if (!x || x->rank < 0 || !axes) return unknown(x ? x->dtype : DType::Float);
        Dims dims;
        if (op == "Unsqueeze") {
            const int rank = x->rank + static_cast<int>(axes->size());
            std::vector<char> inserted(static_cast<size_t>(rank), 0);
            for (int64_t a : *axes) {
                const int at = normalize_axis(a, rank);
                if (at < 0 || inserted[static_cast<size_t>(at)]) return unknown(x->dtype);
                inserted[static_cast<size_t>(at)] = 1;
            }
            size_t from = 0;
            for (int i = 0; i < rank; ++i) dims.push_back(inserted[static_cast<size_t>(i)] ? 1 : x->dims[from++]);
        } else {
            std::vector<char> removed(static_cast<size_t>(x->rank), 0);
            for (int64_t a : *axes) {
                const int at = normalize_axis(a, x->rank);
                if (at < 0 || at >= x->rank) return unknown(x->dtype);
                removed[static_cast<size_t>(at)] = 1;
            }
            for (int i = 0; i < x->rank; ++i)
                if (!removed[static_cast<size_t>(i)]) dims.push_back(x->dims[static_cast<size_t>(i)]);
        }
        Known k = shaped(x->dtype, dims);
        if (has_elems(x) && has_elems(&k)) k.elems = x->elems;
        return k;
    }
    if (op == "Concat") {
        if (in.empty()) return unknown();
        for (const Known* k : in)
            if (!k || k->rank < 0 || k->rank != in[0]->rank) return unknown(in[0] ? in[0]->dtype : DType::Float);
        const int rank = in[0]->rank;
        const int axis = normalize_axis(n.attr_i("axis", 0), rank);
        if (axis < 0 || axis >= rank) return unknown(in[0]->dtype);
        Dims dims(static_cast<size_t>(rank), -1);
        int64_t total = 0;
        for (const Known* k : in) {
            const int64_t d = k->dims[static_cast<size_t>(axis)];
            total = total < 0 || d < 0 ? -1 : total + d;
            for (int i = 0; i < rank; ++i)
                if (i != axis && k->dims[static_cast<size_t>(i)] >= 0) dims[static_cast<size_t>(i)] = k->dims[static_cast<size_t>(i)];
        }
        dims[static_cast<size_t>(axis)] = total;
        Known out = shaped(in[0]->dtype, dims);
        if (rank == 1 && has_elems(&out)) {
            std::vector<Elem> all;
            for (const Known* k : in) {
                if (!has_elems(k)) return out;
                all.insert(all.end(), k->elems.begin(), k->elems.end());
            }
            out.elems = all;
        }
        return out;
    }
    if (op == "Reshape") {
        const Known* shape = in.size() > 1 ? in[1] : nullptr;
        if (!x || !shape || shape->rank != 1 || shape->dims[0] < 0 || !has_elems(shape)) return unknown(x ? x->dtype : DType::Float);
        Dims dims;
        int infer_at = -1;
        for (size_t i = 0; i < shape->elems.size(); ++i) {
            const Elem& e = shape->elems[i];
            if (!e) dims.push_back(-1);
            else if (*e == 0 && n.attr_i("allowzero", 0) == 0)
                dims.push_back(x->rank > static_cast<int>(i) ? x->dims[i] : -1);
            else if (*e == -1) {
                infer_at = static_cast<int>(i);
                dims.push_back(-1);
            } else dims.push_back(*e);
        }
        if (infer_at >= 0 && x->rank >= 0) {
            int64_t total = 1, rest = 1;
            for (int64_t d : x->dims) total = total < 0 || d < 0 ? -1 : total * d;
            for (size_t i = 0; i < dims.size(); ++i)
                if (static_cast<int>(i) != infer_at) rest = rest < 0 || dims[i] < 0 ? -1 : rest * dims[i];
            if (total >= 0 && rest > 0 && total % rest == 0) dims[static_cast<size_t>(infer_at)] = total / rest;
        }
        Known k = shaped(x->dtype, dims);
        if (has_elems(x) && has_elems(&k) && k.elems.size() == x->elems.size()) k.elems = x->elems;
        return k;
    }
    if (op == "Expand") {
        const Known* shape = in.size() > 1 ? in[1] : nullptr;
        if (!x || x->rank < 0 || !shape || shape->rank != 1 || !has_elems(shape)) return unknown(x ? x->dtype : DType::Float);
        Known target = shaped(DType::Int64, {});
        target.rank = static_cast<int>(shape->elems.size());
        target.dims.clear();
        for (const Elem& e : shape->elems) target.dims.push_back(e ? *e : -1);
        auto dims = broadcast({x, &target});
        if (!dims) return unknown(x->dtype);
        Known k = shaped(x->dtype, *dims);
        elementwise_elems(k, {x}, [](const std::vector<Elem>& a) { return a[0]; });
        return k;
    }
    if (op == "ConstantOfShape") {
        auto dims = ints_of(x);
        DType t = DType::Float;
        int64_t fill = 0;
        if (n.has("value")) {
            const Value& v = n.attr("value").t;
            t = v.dtype;
            if (integral(t) && v.ptr && v.numel() == 1) fill = v.get_i64(0);
        }
        if (!dims) return unknown(t);
        Known k = shaped(t, *dims);
        for (Elem& e : k.elems) e = fill;
        return k;
    }
    if (op == "Split") {
        if (!x || x->rank < 0) return unknown(x ? x->dtype : DType::Float);
        const int axis = normalize_axis(n.attr_i("axis", 0), x->rank);
        if (axis < 0 || axis >= x->rank) return unknown(x->dtype);
        std::optional<std::vector<int64_t>> sizes;
        if (in.size() > 1 && in[1]) sizes = ints_of(in[1]);
        else if (n.has("split")) sizes = n.attr_ints("split");
        else if (x->dims[static_cast<size_t>(axis)] >= 0 && x->dims[static_cast<size_t>(axis)] % static_cast<int64_t>(num_outputs) == 0)
            sizes = std::vector<int64_t>(num_outputs, x->dims[static_cast<size_t>(axis)] / static_cast<int64_t>(num_outputs));
        if (!sizes || sizes->size() != num_outputs) return unknown(x->dtype);
        int64_t sum = 0;
        for (int64_t size : *sizes) {
            if (size < 0) return unknown(x->dtype);
            sum += size;
        }
        const int64_t whole = x->dims[static_cast<size_t>(axis)];
        if (whole >= 0 && sum != whole) return unknown(x->dtype);
        int64_t offset = 0;
        for (size_t o = 0; o < num_outputs; ++o) {
            Dims dims = x->dims;
            dims[static_cast<size_t>(axis)] = (*sizes)[o];
            Known k = shaped(x->dtype, dims);
            if (x->rank == 1 && has_elems(x) && has_elems(&k))
                for (size_t i = 0; i < k.elems.size(); ++i) k.elems[i] = x->elems[static_cast<size_t>(offset) + i];
            offset += (*sizes)[o];
            extra.push_back(k);
        }
        Known first = extra.front();
        extra.erase(extra.begin());
        return first;
    }
    if (op == "Transpose") {
        if (!x || x->rank < 0) return unknown(x ? x->dtype : DType::Float);
        std::vector<int64_t> perm = n.attr_ints("perm");
        if (perm.empty())
            for (int i = x->rank - 1; i >= 0; --i) perm.push_back(i);
        if (static_cast<int>(perm.size()) != x->rank) return unknown(x->dtype);
        Dims dims;
        for (int64_t p : perm) {
            if (p < 0 || p >= x->rank) return unknown(x->dtype);
            dims.push_back(x->dims[static_cast<size_t>(p)]);
        }
        return shaped(x->dtype, dims);
    }
    if (op == "MatMul") return in.size() == 2 ? matmul(in[0], in[1], false) : unknown();
    if (op == "FusedMatMul") return in.size() >= 2 ? matmul(in[0], in[1], n.attr_i("trans_b", 0) != 0) : unknown();
    if (op == "Gemm") {
        const Known* b = in.size() > 1 ? in[1] : nullptr;
        if (!x || !b || x->rank != 2 || b->rank != 2) return unknown();
        const bool ta = n.attr_i("transA", 0) != 0, tb = n.attr_i("transB", 0) != 0;
        return shaped(x->dtype, {x->dims[ta ? 1 : 0], b->dims[tb ? 0 : 1]});
    }
    if (op == "ReduceMean") {
        auto axes = axes_of(n, in, 1);
        if (!x || x->rank < 0 || !axes) return unknown(x ? x->dtype : DType::Float);
        const bool keep = n.attr_i("keepdims", 1) != 0;
        std::vector<char> reduced(static_cast<size_t>(x->rank), 0);
        for (int64_t a : *axes) {
            const int at = normalize_axis(a, x->rank);
            if (at < 0 || at >= x->rank) return unknown(x->dtype);
            reduced[static_cast<size_t>(at)] = 1;
        }
        Dims dims;
        for (int i = 0; i < x->rank; ++i)
            if (!reduced[static_cast<size_t>(i)]) dims.push_back(x->dims[static_cast<size_t>(i)]);
            else if (keep) dims.push_back(1);
        return shaped(x->dtype, dims);
    }
    return unknown(x ? x->dtype : DType::Float);
}

}  // namespace

bool Known::constant() const {
    if (rank < 0 || !integral(dtype)) return false;
    int64_t n = 1;
    for (int64_t d : dims) {
        if (d < 0) return false;
        n *= d;
        if (n > kMaxKnownElems) return false;
    }
    if (static_cast<int64_t>(elems.size()) != n) return false;
    return std::all_of(elems.begin(), elems.end(), [](const Elem& e) { return e.has_value(); });
}

Value Known::value() const {
    Value v = Value::alloc(dtype, Shape(dims.begin(), dims.end()));
    for (size_t i = 0; i < elems.size(); ++i) {
        const int64_t e = *elems[i];
        switch (dtype) {
            case DType::Int64: v.data<int64_t>()[i] = e; break;
            case DType::Int32: v.data<int32_t>()[i] = static_cast<int32_t>(e); break;
            case DType::Int8: v.data<int8_t>()[i] = static_cast<int8_t>(e); break;
            default: v.data<uint8_t>()[i] = static_cast<uint8_t>(e); break;  // UInt8, Bool
        }
    }
    return v;
}

Known known_of(const Value& v) {
    Known k = shaped(v.dtype, Dims(v.shape.begin(), v.shape.end()));
    for (size_t i = 0; i < k.elems.size(); ++i) k.elems[i] = v.get_i64(static_cast<int64_t>(i));
    return k;
}

Known known_of(const GraphIO& io) { return shaped(io.dtype, io.dims); }

std::vector<Known> infer_known(const Node& node, const std::vector<const Known*>& in) {
    std::vector<Known> extra;
    Known first = infer_one(node, in, node.outputs.size(), extra);
    std::vector<Known> out{first};
    out.insert(out.end(), extra.begin(), extra.end());
    while (out.size() < node.outputs.size()) out.push_back(unknown());  // e.g. LayerNormalization's mean and variance
    out.resize(node.outputs.size());
    return out;
}

}  // namespace sam::onnx
