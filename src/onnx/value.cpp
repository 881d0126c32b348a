#include "onnx/value.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <type_traits>
#include <unordered_map>

namespace sam::onnx {

const char* dtype_name(DType t) {
    switch (t) {
        case DType::Float: return "float";
        case DType::UInt8: return "uint8";
        case DType::Int8: return "int8";
        case DType::Int32: return "int32";
        case DType::Int64: return "int64";
        case DType::Bool: return "bool";
    }
    return "?";
}

size_t dtype_size(DType t) {
    switch (t) {
        case DType::Float: case DType::Int32: return 4;
        case DType::Int64: return 8;
        case DType::UInt8: case DType::Int8: case DType::Bool: return 1;
    }
    return 0;
}

bool dtype_known(int t) { return t == 1 || t == 2 || t == 3 || t == 6 || t == 7 || t == 9; }

int64_t checked_numel(const Shape& shape, const std::string& what) {
    constexpr int64_t kMaxElements = (int64_t(1) << 60);  // 8 bytes each still fit 63 bits
    int64_t n = 1;
    bool zero = false;
    for (int64_t d : shape) {
        if (d < 0) throw OnnxError(what + ": shape " + shape_str(shape) + " has a negative dimension");
        zero = zero || d == 0;
    }
    if (zero) return 0;
    for (int64_t d : shape)
        if (__builtin_mul_overflow(n, d, &n) || n > kMaxElements)
            throw OnnxError(what + ": shape " + shape_str(shape) + " has more than 2^60 elements");
    return n;
}

namespace {
thread_local size_t t_alloc_limit = SIZE_MAX;
}  // namespace

AllocationLimit::AllocationLimit(size_t max_bytes) : previous_(t_alloc_limit) {
    t_alloc_limit = std::min(t_alloc_limit, max_bytes);
}
AllocationLimit::~AllocationLimit() { t_alloc_limit = previous_; }

namespace {

// Freed blocks of 64 KiB and more are kept for reuse, up to 64 MiB in all: every click of a
// graph allocates the same sizes again, and a fresh large block from the OS costs a page fault
// per 4 KiB touched. Never destroyed, so values in static storage may outlive everything else.
class BufferPool {
public:
    static constexpr size_t kMinBytes = 64 << 10, kMaxHeld = 64 << 20;

    void* take(size_t bytes) {
        if (bytes >= kMinBytes) {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = free_.find(bytes);
            if (it != free_.end()) {
                void* p = it->second;
                free_.erase(it);
                held_ -= bytes;
                return p;
            }
        }
        return std::aligned_alloc(64, bytes);
    }

    void give(void* p, size_t bytes) {
        if (bytes >= kMinBytes) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (held_ + bytes <= kMaxHeld) {
                free_.emplace(bytes, p);
                held_ += bytes;
                return;
            }
        }
        std::free(p);
    }

private:
    std::mutex mutex_;
    std::unordered_multimap<size_t, void*> free_;
    size_t held_ = 0;
};

BufferPool& pool() {
    static BufferPool* p = new BufferPool;
    return *p;
}

}  // namespace

Value Value::alloc(DType t, Shape shape) {
    Value v;
    v.dtype = t;
    v.shape = std::move(shape);
    size_t bytes = static_cast<size_t>(checked_numel(v.shape, std::string("a value of ") + dtype_name(t))) * dtype_size(t);
    if (bytes > t_alloc_limit)
        throw OnnxError(v.desc() + " needs " + std::to_string(bytes) + " bytes, more than the " +
                        std::to_string(t_alloc_limit >> 20) + " MiB a value may take while an ONNX file is loaded");
    bytes = (bytes + 63) / 64 * 64;
    if (bytes == 0) bytes = 64;  // empty tensors still get a valid pointer
    void* p = pool().take(bytes);
    if (!p) throw OnnxError("out of memory allocating " + v.desc());
    v.buf = std::shared_ptr<void>(p, [bytes](void* q) { pool().give(q, bytes); });
    v.ptr = p;
    return v;
}

Value Value::zeros(DType t, Shape shape) {
    Value v = alloc(t, std::move(shape));
    std::memset(v.ptr, 0, static_cast<size_t>(v.numel()) * dtype_size(t));
    return v;
}

Value Value::from_tensor(const Tensor& t) {
    Value v;
    v.dtype = DType::Float;
    v.shape = t.shape;
    v.buf = std::const_pointer_cast<void>(t.owner);
    v.ptr = t.data;
    return v;
}

Value Value::scalar_i64(int64_t x) {
    Value v = alloc(DType::Int64, {});
    *v.data<int64_t>() = x;
    return v;
}

Value Value::vec_i64(const std::vector<int64_t>& x) {
    Value v = alloc(DType::Int64, {static_cast<int64_t>(x.size())});
    if (!x.empty()) std::memcpy(v.ptr, x.data(), x.size() * sizeof(int64_t));
    return v;
}

Value Value::scalar_f(float x) {
    Value v = alloc(DType::Float, {});
    *v.data<float>() = x;
    return v;
}

Value Value::reshaped(Shape s) const {
    if (checked_numel(s, "reshape of " + desc()) != numel())
        throw OnnxError("cannot reshape " + desc() + " to " + shape_str(s));
    Value v = *this;
    v.shape = std::move(s);
    return v;
}

Tensor Value::tensor() const {
    if (dtype != DType::Float) throw OnnxError("expected a float tensor, got " + desc());
    return Tensor::wrap(static_cast<float*>(ptr), shape, buf);
}

template <class F>
static auto visit(const Value& v, int64_t i, F f) {
    switch (v.dtype) {
        case DType::Float: return f(v.data<float>()[i]);
        case DType::UInt8: return f(v.data<uint8_t>()[i]);
        case DType::Int8: return f(v.data<int8_t>()[i]);
        case DType::Int32: return f(v.data<int32_t>()[i]);
        case DType::Int64: return f(v.data<int64_t>()[i]);
        case DType::Bool: return f(v.data<uint8_t>()[i]);
    }
    return f(0);
}

int64_t Value::get_i64(int64_t i) const {
    return visit(*this, i, [&](auto x) {
        if constexpr (std::is_floating_point_v<decltype(x)>) {
            // A float where a size or an index is read: truncated, as Cast does, when it fits.
            if (!(x > -9.2e18f && x < 9.2e18f))
                throw OnnxError(desc() + ": element " + std::to_string(i) + " (" + std::to_string(x) +
                                ") is not a usable integer");
        }
        return static_cast<int64_t>(x);
    });
}

double Value::get_f64(int64_t i) const {
    return visit(*this, i, [](auto x) { return static_cast<double>(x); });
}

std::vector<int64_t> Value::to_i64() const {
    std::vector<int64_t> r(static_cast<size_t>(numel()));
    for (int64_t i = 0; i < numel(); ++i) r[i] = get_i64(i);
    return r;
}

std::string Value::desc() const { return std::string(dtype_name(dtype)) + shape_str(shape); }

template <class To>
static void cast_into(const Value& v, To* y) {
    int64_t n = v.numel();
    switch (v.dtype) {
        case DType::Float: { const float* x = v.data<float>(); for (int64_t i = 0; i < n; ++i) y[i] = static_cast<To>(x[i]); break; }
        case DType::UInt8: case DType::Bool: { const uint8_t* x = v.data<uint8_t>(); for (int64_t i = 0; i < n; ++i) y[i] = static_cast<To>(x[i]); break; }
        case DType::Int8: { const int8_t* x = v.data<int8_t>(); for (int64_t i = 0; i < n; ++i) y[i] = static_cast<To>(x[i]); break; }
        case DType::Int32: { const int32_t* x = v.data<int32_t>(); for (int64_t i = 0; i < n; ++i) y[i] = static_cast<To>(x[i]); break; }
        case DType::Int64: { const int64_t* x = v.data<int64_t>(); for (int64_t i = 0; i < n; ++i) y[i] = static_cast<To>(x[i]); break; }
    }
}

Value cast(const Value& v, DType to) {
    if (v.dtype == to) return v;
    Value y = Value::alloc(to, v.shape);
    switch (to) {
        case DType::Float: cast_into(v, y.data<float>()); break;
        case DType::UInt8: cast_into(v, y.data<uint8_t>()); break;
        case DType::Int8: cast_into(v, y.data<int8_t>()); break;
        case DType::Int32: cast_into(v, y.data<int32_t>()); break;
        case DType::Int64: cast_into(v, y.data<int64_t>()); break;
        case DType::Bool: {
            // Any non-zero value is true.
            uint8_t* p = y.data<uint8_t>();
            for (int64_t i = 0; i < v.numel(); ++i) p[i] = v.get_f64(i) != 0.0;
            break;
        }
    }
    return y;
}

}  // namespace sam::onnx
