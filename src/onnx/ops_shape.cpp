// Operators that move data without arithmetic: Constant, Shape, Reshape, (Un)Squeeze, Flatten,
// Concat, Split, Slice, Gather, Expand, Transpose, ConstantOfShape, Range.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "onnx/op_util.hpp"

namespace sam::onnx {

static void op_constant(const Node& node, const std::vector<const Value*>&, std::vector<Value>& out) {
    if (node.has("value")) {
        out[0] = node.attr("value").t;
        if (!out[0].ptr) throw OnnxError(node.where() + ": attribute 'value' is not a tensor");
    } else if (node.has("value_float")) {
        out[0] = Value::scalar_f(node.attr("value_float").f);
    } else if (node.has("value_int")) {
        out[0] = Value::scalar_i64(node.attr("value_int").i);
    } else if (node.has("value_ints")) {
        out[0] = Value::vec_i64(node.attr("value_ints").ints);
    } else if (node.has("value_floats")) {
        const auto& f = node.attr("value_floats").floats;
        Value v = Value::alloc(DType::Float, {static_cast<int64_t>(f.size())});
        std::copy(f.begin(), f.end(), v.data<float>());
        out[0] = std::move(v);
    } else {
        throw OnnxError(node.where() + ": no value attribute (value, value_float, value_int, value_ints, value_floats)");
    }
}

static void op_shape(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    int r = x.rank();
    int64_t start = node.attr_i("start", 0), end = node.attr_i("end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::clamp<int64_t>(start, 0, r);
    end = std::clamp<int64_t>(end, start, r);
    out[0] = Value::vec_i64(Shape(x.shape.begin() + start, x.shape.begin() + end));
}

static void op_reshape(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    std::vector<int64_t> s = arg(node, in, 1).to_i64();
    bool allowzero = node.attr_i("allowzero", 0) != 0;
    int infer = -1;
    int64_t known = 1;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == 0 && !allowzero) {
            if (i >= x.shape.size())
                throw OnnxError(node.where() + ": shape " + shape_str(s) + " copies dimension " + std::to_string(i) +
                                " of " + x.desc() + ", which does not exist");
            s[i] = x.shape[i];
        }
        if (s[i] == -1) {
            if (infer >= 0) throw OnnxError(node.where() + ": shape " + shape_str(s) + " has more than one -1");
            infer = static_cast<int>(i);
        } else if (s[i] < 0) {
            throw OnnxError(node.where() + ": invalid target shape " + shape_str(s));
        } else if (__builtin_mul_overflow(known, s[i], &known)) {
            throw OnnxError(node.where() + ": target shape " + shape_str(s) + " overflows");
        }
    }
    if (infer >= 0) {
        if (known == 0 || x.numel() % known != 0)
            throw OnnxError(node.where() + ": cannot reshape " + x.desc() + " to " + shape_str(s));
        s[infer] = x.numel() / known;
    }
    if (checked_numel(s, node.where()) != x.numel())
        throw OnnxError(node.where() + ": cannot reshape " + x.desc() + " to " + shape_str(s));
    out[0] = x.reshaped(s);
}

// Axes from the second input (opset 13+) or the `axes` attribute (older opsets).
static std::vector<int64_t> axes_of(const Node& node, const std::vector<const Value*>& in, size_t k) {
    if (const Value* a = opt(in, k)) return a->to_i64();
    return node.attr_ints("axes");
}

static void op_unsqueeze(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    std::vector<int64_t> axes = axes_of(node, in, 1);
    int r = x.rank() + static_cast<int>(axes.size());
    std::vector<char> is_new(r, 0);
    for (int64_t a : axes) {
        int ax = norm_axis(node, a, r);
        if (is_new[ax]) throw OnnxError(node.where() + ": axis " + std::to_string(a) + " repeated");
        is_new[ax] = 1;
    }
    Shape s;
    size_t j = 0;
    for (int i = 0; i < r; ++i) s.push_back(is_new[i] ? 1 : x.shape[j++]);
    out[0] = x.reshaped(s);
}

static void op_squeeze(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    std::vector<int64_t> axes = axes_of(node, in, 1);
    std::vector<char> drop(x.rank(), 0);
    for (int64_t a : axes) {
        int ax = norm_axis(node, a, x.rank());
        if (x.shape[ax] != 1)
            throw OnnxError(node.where() + ": cannot squeeze axis " + std::to_string(a) + " of " + x.desc());
        drop[ax] = 1;
    }
    Shape s;
    for (int i = 0; i < x.rank(); ++i)
        if (!(axes.empty() ? x.shape[i] == 1 : drop[i])) s.push_back(x.shape[i]);
    out[0] = x.reshaped(s);
}

static void op_flatten(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    int64_t axis = node.attr_i("axis", 1);
    int r = x.rank();
    if (axis < -r || axis > r) throw OnnxError(node.where() + ": axis " + std::to_string(axis) + " out of range for " + x.desc());
    if (axis < 0) axis += r;
    int64_t outer = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= x.shape[i];
    out[0] = x.reshaped({outer, outer == 0 ? 0 : x.numel() / outer});
}

static void op_concat(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& first = arg(node, in, 0);
    int r = first.rank();
    int axis = norm_axis(node, node.attr("axis").i, r);
    Shape s = first.shape;
    s[axis] = 0;
    for (size_t k = 0; k < in.size(); ++k) {
        const Value& v = arg(node, in, k);
        bool ok = v.dtype == first.dtype && v.rank() == r;
        for (int d = 0; ok && d < r; ++d) ok = d == axis || v.shape[d] == first.shape[d];
        if (!ok) throw OnnxError(node.where() + ": cannot concatenate " + first.desc() + " and " + v.desc() +
                                 " on axis " + std::to_string(axis));
        s[axis] += v.shape[axis];
    }
    // SAM's export concatenates a single piece (repeat_interleave by 1): values are immutable, share it.
    for (size_t k = 0; k < in.size(); ++k)
        if (in[k]->shape[axis] == s[axis]) {
            out[0] = *in[k];
            return;
        }
    Value y = Value::alloc(first.dtype, s);
    size_t es = dtype_size(first.dtype);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= s[d];
    for (int d = axis + 1; d < r; ++d) inner *= s[d];
    auto* dst = static_cast<uint8_t*>(y.ptr);
    size_t row = static_cast<size_t>(s[axis] * inner) * es;
    size_t at = 0;
    for (size_t k = 0; k < in.size(); ++k) {
        size_t chunk = static_cast<size_t>(in[k]->shape[axis] * inner) * es;
        const auto* src = static_cast<const uint8_t*>(in[k]->ptr);
        for (int64_t o = 0; o < outer; ++o) std::memcpy(dst + o * row + at, src + o * chunk, chunk);
        at += chunk;
    }
    out[0] = std::move(y);
}

// Copies the block [offset, offset + len) of `axis` into a new value.
static Value take_range(const Value& x, int axis, int64_t offset, int64_t len) {
    if (len == x.shape[axis]) return x;  // the whole value: immutable, so shared
    Shape s = x.shape;
    s[axis] = len;
    Value y = Value::alloc(x.dtype, s);
    size_t es = dtype_size(x.dtype);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= s[d];
    for (int d = axis + 1; d < x.rank(); ++d) inner *= s[d];
    const auto* src = static_cast<const uint8_t*>(x.ptr);
    auto* dst = static_cast<uint8_t*>(y.ptr);
    size_t chunk = static_cast<size_t>(len * inner) * es;
    for (int64_t o = 0; o < outer; ++o)
        std::memcpy(dst + o * chunk, src + (o * x.shape[axis] + offset) * inner * es, chunk);
    return y;
}

static void op_split(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    int axis = norm_axis(node, node.attr_i("axis", 0), x.rank());
    int64_t total = x.shape[axis];
    std::vector<int64_t> sizes;
    if (const Value* s = opt(in, 1)) sizes = s->to_i64();
    else sizes = node.attr_ints("split");
    size_t n = out.size();
    if (sizes.empty()) {
        // Equal parts, the last one smaller when the axis does not divide evenly.
        int64_t part = (total + static_cast<int64_t>(n) - 1) / static_cast<int64_t>(n);
        for (size_t k = 0; k < n; ++k) sizes.push_back(std::min(part, total - part * static_cast<int64_t>(k)));
    }
    int64_t sum = 0;
    for (int64_t v : sizes) sum += v;
    if (sizes.size() != n || sum != total)
        throw OnnxError(node.where() + ": split sizes " + shape_str(sizes) + " do not divide axis " +
                        std::to_string(axis) + " of " + x.desc() + " into " + std::to_string(n) + " outputs");
    int64_t at = 0;
    for (size_t k = 0; k < n; ++k) {
        out[k] = take_range(x, axis, at, sizes[k]);
        at += sizes[k];
    }
}

static void op_slice(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    std::vector<int64_t> starts = arg(node, in, 1).to_i64();
    std::vector<int64_t> ends = arg(node, in, 2).to_i64();
    std::vector<int64_t> axes, steps;
    if (const Value* a = opt(in, 3)) axes = a->to_i64();
    else for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    if (const Value* s = opt(in, 4)) steps = s->to_i64();
    else steps.assign(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
        throw OnnxError(node.where() + ": starts, ends, axes and steps differ in length");
    int r = x.rank();
    std::vector<int64_t> begin(r, 0), step(r, 1);
    Shape s = x.shape;
    for (size_t i = 0; i < starts.size(); ++i) {
        int ax = norm_axis(node, axes[i], r);
        int64_t dim = x.shape[ax], st = steps[i];
        if (st == 0) throw OnnxError(node.where() + ": step 0 on axis " + std::to_string(axes[i]));
        int64_t b = starts[i] < 0 ? starts[i] + dim : starts[i];
        int64_t e = ends[i] < 0 ? ends[i] + dim : ends[i];
        // Counts in unsigned arithmetic: steps may be as large as int64 allows (INT64_MIN too).
        const uint64_t ust = st > 0 ? uint64_t(st) : uint64_t(0) - uint64_t(st);
        if (dim == 0) {
            b = 0;
            s[ax] = 0;
        } else if (st > 0) {
            b = std::clamp<int64_t>(b, 0, dim);
            e = std::clamp<int64_t>(e, 0, dim);
            s[ax] = e > b ? int64_t((uint64_t(e - b) - 1) / ust + 1) : 0;
        } else {
            b = std::clamp<int64_t>(b, 0, dim - 1);
            e = std::clamp<int64_t>(e, -1, dim - 1);
            s[ax] = b > e ? int64_t((uint64_t(b - e) - 1) / ust + 1) : 0;
        }
        begin[ax] = b;
        step[ax] = st;
    }
    Value y = Value::alloc(x.dtype, s);
    out[0] = y;
    if (y.numel() == 0) return;
    size_t es = dtype_size(x.dtype);
    std::vector<int64_t> xstride(r, 1);
    for (int d = r - 2; d >= 0; --d) xstride[d] = xstride[d + 1] * x.shape[d + 1];
    const auto* src = static_cast<const uint8_t*>(x.ptr);
    auto* dst = static_cast<uint8_t*>(y.ptr);
    int64_t inner = s[r - 1];
    int64_t rows = y.numel() / inner;
    std::vector<int64_t> idx(r, 0);
    for (int64_t row = 0; row < rows; ++row) {
        int64_t off = 0;
        for (int d = 0; d < r - 1; ++d) off += (begin[d] + idx[d] * step[d]) * xstride[d];
        off += begin[r - 1];
        if (step[r - 1] == 1) {
            std::memcpy(dst + row * inner * es, src + off * es, inner * es);
        } else {
            for (int64_t j = 0; j < inner; ++j)
                std::memcpy(dst + (row * inner + j) * es, src + (off + j * step[r - 1]) * es, es);
        }
        for (int d = r - 2; d >= 0; --d) {
            if (++idx[d] < s[d]) break;
            idx[d] = 0;
        }
    }
}

static void op_gather(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    const Value& ind = arg(node, in, 1);
    if (x.rank() == 0) throw OnnxError(node.where() + ": cannot gather from a scalar");
    int axis = norm_axis(node, node.attr_i("axis", 0), x.rank());
    Shape s(x.shape.begin(), x.shape.begin() + axis);
    s.insert(s.end(), ind.shape.begin(), ind.shape.end());
    s.insert(s.end(), x.shape.begin() + axis + 1, x.shape.end());
    Value y = Value::alloc(x.dtype, s);
    size_t es = dtype_size(x.dtype);
    int64_t outer = 1, inner = 1, dim = x.shape[axis], n = ind.numel();
    for (int d = 0; d < axis; ++d) outer *= x.shape[d];
    for (int d = axis + 1; d < x.rank(); ++d) inner *= x.shape[d];
    const auto* src = static_cast<const uint8_t*>(x.ptr);
    auto* dst = static_cast<uint8_t*>(y.ptr);
    size_t chunk = static_cast<size_t>(inner) * es;
    for (int64_t k = 0; k < n; ++k) {
        int64_t i = ind.get_i64(k);
        if (i < -dim || i >= dim)
            throw OnnxError(node.where() + ": index " + std::to_string(i) + " out of range for axis " +
                            std::to_string(axis) + " of " + x.desc());
        if (i < 0) i += dim;
        for (int64_t o = 0; o < outer; ++o)
            std::memcpy(dst + (o * n + k) * chunk, src + (o * dim + i) * chunk, chunk);
    }
    out[0] = std::move(y);
}

template <class T>
static void expand_loop(const Node& node, const Value& x, Value& y) {
    Broadcast<1> bc(node, y.shape, {&x.shape});
    const T* px = x.data<T>();
    T* py = y.data<T>();
    bc.for_row_pieces([&](const std::array<int64_t, 1>& off, int64_t o, int64_t n, const std::array<int64_t, 1>& st) {
        for (int64_t j = 0; j < n; ++j) py[o + j] = px[off[0] + j * st[0]];
    });
}

static void op_expand(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    Shape target = arg(node, in, 1).to_i64();
    Shape shape = broadcast_shapes(node, x.shape, target);
    if (shape == x.shape) {  // nothing to repeat (SAM's repeat_interleave by 1): share the buffer
        out[0] = x;
        return;
    }
    Value y = Value::alloc(x.dtype, shape);
    switch (dtype_size(x.dtype)) {
        case 1: expand_loop<uint8_t>(node, x, y); break;
        case 4: expand_loop<uint32_t>(node, x, y); break;
        default: expand_loop<uint64_t>(node, x, y); break;
    }
    out[0] = std::move(y);
}

// Strided gather for any permutation: one output row at a time.
template <class T>
static void transpose_loop(const T* px, const Shape& xshape, const std::vector<int64_t>& perm, const Shape& yshape, T* py) {
    int r = static_cast<int>(xshape.size());
    std::vector<int64_t> xs(r, 1), st(r);
    for (int d = r - 2; d >= 0; --d) xs[d] = xs[d + 1] * xshape[d + 1];
    for (int d = 0; d < r; ++d) st[d] = xs[perm[d]];
    int64_t inner = yshape[r - 1], sin = st[r - 1];
    int64_t rows = shape_numel(yshape) / inner;
    std::vector<int64_t> idx(r, 0);
    int64_t off = 0;
    for (int64_t row = 0; row < rows; ++row) {
        T* dst = py + row * inner;
        for (int64_t j = 0; j < inner; ++j) dst[j] = px[off + j * sin];
        for (int d = r - 2; d >= 0; --d) {
            off += st[d];
            if (++idx[d] < yshape[d]) break;
            off -= st[d] * yshape[d];
            idx[d] = 0;
        }
    }
}

// y[b] = x[b]^T for `batch` matrices [rows, cols], in cache-sized tiles.
template <class T>
static void transpose_tiled(const T* x, int64_t batch, int64_t rows, int64_t cols, T* y) {
    constexpr int64_t kTile = 32;
    for (int64_t b = 0; b < batch; ++b, x += rows * cols, y += rows * cols)
#pragma omp parallel for collapse(2) schedule(static) if (rows * cols > 65536)
        for (int64_t r0 = 0; r0 < rows; r0 += kTile)
            for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
                int64_t r1 = std::min(rows, r0 + kTile), c1 = std::min(cols, c0 + kTile);
                for (int64_t c = c0; c < c1; ++c)
                    for (int64_t r = r0; r < r1; ++r) y[c * rows + r] = x[r * cols + c];
            }
}

// Transposes by the permutation after merging input dimensions that stay neighbours (and
// dropping size-1 ones): most permutations then copy whole rows or are batched 2-D transposes.
template <class T>
static void transpose_any(const Value& x, const std::vector<int64_t>& perm, Value& y) {
    int r = x.rank();
    std::vector<int64_t> p;  // kept input dims, in output order
    for (int d = 0; d < r; ++d)
        if (x.shape[perm[d]] != 1) p.push_back(perm[d]);
    // Groups of input dims that appear consecutively in the output: [first, last] input dims.
    std::vector<std::pair<int64_t, int64_t>> groups;
    for (int64_t d : p) {
        if (!groups.empty()) {
            int64_t next = groups.back().second + 1;
            while (next < r && x.shape[next] == 1) ++next;
            if (next == d) { groups.back().second = d; continue; }
        }
        groups.push_back({d, d});
    }
    // Coalesced input shape (groups in input order) and the permutation over it.
    std::vector<size_t> order(groups.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return groups[a].first < groups[b].first; });
    Shape cx(groups.size());
    std::vector<int64_t> cperm(groups.size());
    for (size_t k = 0; k < order.size(); ++k) {
        int64_t n = 1;
        for (int64_t d = groups[order[k]].first; d <= groups[order[k]].second; ++d) n *= x.shape[d];
        cx[k] = n;
        cperm[order[k]] = static_cast<int64_t>(k);
    }
    const T* px = x.data<T>();
    T* py = y.data<T>();
    size_t cr = cx.size();
    bool identity = true;
    for (size_t k = 0; k < cr; ++k) identity = identity && cperm[k] == static_cast<int64_t>(k);
    if (identity) {
        std::memcpy(py, px, static_cast<size_t>(x.numel()) * sizeof(T));
        return;
    }
    Shape cy(cr);
    for (size_t k = 0; k < cr; ++k) cy[k] = cx[cperm[k]];
    if (cr == 2 || (cr == 3 && cperm[0] == 0)) {
        int64_t batch = cr == 3 ? cx[0] : 1;
        transpose_tiled(px, batch, cx[cr - 2], cx[cr - 1], py);
    } else if (cperm[cr - 1] == static_cast<int64_t>(cr) - 1) {
        // The innermost input dim stays innermost: copy contiguous runs of it.
        int64_t inner = cx[cr - 1];
        Shape xo(cx.begin(), cx.end() - 1), yo(cy.begin(), cy.end() - 1);
        std::vector<int64_t> po(cperm.begin(), cperm.end() - 1);
        int ro = static_cast<int>(xo.size());
        std::vector<int64_t> xs(ro, inner), st(ro);
        for (int d = ro - 2; d >= 0; --d) xs[d] = xs[d + 1] * xo[d + 1];
        for (int d = 0; d < ro; ++d) st[d] = xs[po[d]];
        const int64_t rows = shape_numel(yo);
        // Each output row's source offset from its index, so that rows can go to all threads.
#pragma omp parallel for schedule(static) if (rows * inner > 65536)
        for (int64_t row = 0; row < rows; ++row) {
            int64_t off = 0;
            for (int64_t d = ro - 1, i = row; d >= 0; --d) {
                off += i % yo[d] * st[d];
                i /= yo[d];
            }
            std::memcpy(py + row * inner, px + off, static_cast<size_t>(inner) * sizeof(T));
        }
    } else {
        transpose_loop(px, cx, cperm, cy, py);
    }
}

static void op_transpose(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& x = arg(node, in, 0);
    int r = x.rank();
    std::vector<int64_t> perm = node.attr_ints("perm");
    if (perm.empty()) for (int d = r - 1; d >= 0; --d) perm.push_back(d);
    std::vector<char> seen(r, 0);
    if (static_cast<int>(perm.size()) != r)
        throw OnnxError(node.where() + ": perm " + shape_str(perm) + " does not match " + x.desc());
    for (auto& p : perm) {
        p = norm_axis(node, p, r);
        if (seen[p]++) throw OnnxError(node.where() + ": perm " + shape_str(perm) + " repeats an axis");
    }
    Shape s(r);
    for (int d = 0; d < r; ++d) s[d] = x.shape[perm[d]];
    Value y = Value::alloc(x.dtype, s);
    if (y.numel() > 0 && r > 0) {
        switch (dtype_size(x.dtype)) {
            case 1: transpose_any<uint8_t>(x, perm, y); break;
            case 4: transpose_any<uint32_t>(x, perm, y); break;
            default: transpose_any<uint64_t>(x, perm, y); break;
        }
    } else if (r == 0) {
        std::memcpy(y.ptr, x.ptr, dtype_size(x.dtype));
    }
    out[0] = std::move(y);
}

static void op_constant_of_shape(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    Shape s = arg(node, in, 0).to_i64();
    for (int64_t d : s)
        if (d < 0) throw OnnxError(node.where() + ": negative dimension in shape " + shape_str(s));
    Value fill = node.has("value") ? node.attr("value").t : Value::scalar_f(0.0f);
    // An attribute 'value' of another type than tensor leaves an empty Value (no data).
    if (!fill.ptr || fill.numel() != 1) throw OnnxError(node.where() + ": value must be a tensor of exactly one element");
    Value y = Value::alloc(fill.dtype, s);
    size_t es = dtype_size(fill.dtype);
    for (int64_t i = 0; i < y.numel(); ++i) std::memcpy(static_cast<uint8_t*>(y.ptr) + i * es, fill.ptr, es);
    out[0] = std::move(y);
}

static void op_range(const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out) {
    const Value& a = arg(node, in, 0);
    const Value& b = arg(node, in, 1);
    const Value& c = arg(node, in, 2);
    if (a.numel() != 1 || b.numel() != 1 || c.numel() != 1)
        throw OnnxError(node.where() + ": start, limit and delta must be scalars");
    double start = a.get_f64(0), limit = b.get_f64(0), delta = c.get_f64(0);
    if (delta == 0) throw OnnxError(node.where() + ": delta is 0");
    int64_t n = std::max<int64_t>(static_cast<int64_t>(std::ceil((limit - start) / delta)), 0);
    Value y = Value::alloc(a.dtype, {n});
    for (int64_t i = 0; i < n; ++i) {
        double v = start + static_cast<double>(i) * delta;
        switch (a.dtype) {
            case DType::Float: y.data<float>()[i] = static_cast<float>(v); break;
            case DType::Int64: y.data<int64_t>()[i] = static_cast<int64_t>(v); break;
            case DType::Int32: y.data<int32_t>()[i] = static_cast<int32_t>(v); break;
            default: throw OnnxError(node.where() + ": unsupported type " + a.desc());
        }
    }
    out[0] = std::move(y);
}

void register_shape_ops(OpTable& t) {
    t["Constant"] = op_constant;
    t["Shape"] = op_shape;
    t["Reshape"] = op_reshape;
    t["Unsqueeze"] = op_unsqueeze;
    t["Squeeze"] = op_squeeze;
    t["Flatten"] = op_flatten;
    t["Concat"] = op_concat;
    t["Split"] = op_split;
    t["Slice"] = op_slice;
    t["Gather"] = op_gather;
    t["Expand"] = op_expand;
    t["Transpose"] = op_transpose;
    t["ConstantOfShape"] = op_constant_of_shape;
    t["Range"] = op_range;
}

}  // namespace sam::onnx
