// A value flowing through an ONNX graph: an element type, a shape and a shared buffer.
// Values are immutable once produced, so Reshape-like operators share the buffer.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/tensor.hpp"

namespace sam::onnx {

// Thrown for anything wrong with an ONNX file or a graph run; the message names the node,
// operator, input or attribute at fault.
struct OnnxError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Numbering of onnx.TensorProto.DataType.
enum class DType : int { Float = 1, UInt8 = 2, Int8 = 3, Int32 = 6, Int64 = 7, Bool = 9 };

const char* dtype_name(DType t);
size_t dtype_size(DType t);
bool dtype_known(int onnx_type);

// Elements of a shape that a file or an operator declares. Throws OnnxError naming `what` for
// a negative dimension or a count whose bytes (at 8 per element) would not fit 63 bits, so no
// later size computation can overflow.
int64_t checked_numel(const Shape& shape, const std::string& what);

// While one is alive, Value::alloc on this thread refuses (OnnxError) any buffer larger than
// max_bytes. Constant folding and the load-time test run compute whatever the file describes;
// under this bound a tiny file cannot make the loader allocate gigabytes first.
class AllocationLimit {
public:
    explicit AllocationLimit(size_t max_bytes);
    ~AllocationLimit();
    AllocationLimit(const AllocationLimit&) = delete;
    AllocationLimit& operator=(const AllocationLimit&) = delete;

private:
    size_t previous_;
};
// The bound for loading: SAM decoders fold constants of a few MB at most.
constexpr size_t kMaxLoadValueBytes = size_t(256) << 20;

struct Value {
    DType dtype = DType::Float;
    Shape shape;
    std::shared_ptr<void> buf;  // keeps `ptr` alive
    void* ptr = nullptr;

    static Value alloc(DType t, Shape shape);  // uninitialised, 64-byte aligned
    static Value zeros(DType t, Shape shape);
    static Value from_tensor(const Tensor& t);  // shares t's storage
    static Value scalar_i64(int64_t v);
    static Value vec_i64(const std::vector<int64_t>& v);
    static Value scalar_f(float v);

    bool defined() const { return ptr != nullptr || shape_numel(shape) == 0; }
    int rank() const { return static_cast<int>(shape.size()); }
    int64_t numel() const { return shape_numel(shape); }
    int64_t dim(int i) const { return shape[i < 0 ? i + rank() : i]; }
    template <class T> T* data() { return static_cast<T*>(ptr); }
    template <class T> const T* data() const { return static_cast<const T*>(ptr); }
    // Same buffer, other shape.
    Value reshaped(Shape s) const;
    // A float view as a sam::Tensor sharing the buffer (dtype must be Float).
    Tensor tensor() const;
    // Element i converted (for shape inputs, indices, scalars of any integer or float type).
    int64_t get_i64(int64_t i) const;
    double get_f64(int64_t i) const;
    std::vector<int64_t> to_i64() const;
    std::string desc() const;  // e.g. "float[1,256,64,64]"
};

// Converts every element to `to` (ONNX Cast semantics: float to integer truncates).
Value cast(const Value& v, DType to);

}  // namespace sam::onnx
