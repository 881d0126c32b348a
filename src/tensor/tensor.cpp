#include "tensor/tensor.hpp"

#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

namespace sam {

std::string shape_str(const Shape& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

int64_t shape_numel(const Shape& shape) {
    // A zero dimension first: the other dimensions of an empty shape may multiply past int64
    // (an empty ONNX initializer of a hostile file, found by fuzz_onnx), and the count is 0.
    for (int64_t d : shape)
        if (d == 0) return 0;
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

Tensor Tensor::empty(Shape shape) {
    for (int64_t d : shape)
        if (d < 0) throw std::invalid_argument("negative dimension in shape " + shape_str(shape));
    Tensor t;
    t.shape = std::move(shape);
    size_t bytes = (static_cast<size_t>(t.numel()) * sizeof(float) + 63) / 64 * 64;
    if (bytes == 0) bytes = 64;
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    t.data = static_cast<float*>(p);
    t.owner = std::shared_ptr<const void>(p, [](const void* q) { std::free(const_cast<void*>(q)); });
    return t;
}

Tensor Tensor::zeros(Shape shape) {
    Tensor t = empty(std::move(shape));
    std::memset(t.data, 0, static_cast<size_t>(t.numel()) * sizeof(float));
    return t;
}

Tensor Tensor::wrap(float* data, Shape shape, std::shared_ptr<const void> owner) {
    Tensor t;
    t.shape = std::move(shape);
    t.data = data;
    t.owner = std::move(owner);
    return t;
}

Tensor Tensor::reshaped(Shape new_shape) const {
    if (shape_numel(new_shape) != numel())
        throw std::invalid_argument("cannot reshape " + shape_str(shape) + " to " + shape_str(new_shape));
    Tensor t = *this;
    t.shape = std::move(new_shape);
    return t;
}

Tensor Tensor::clone() const {
    Tensor t = empty(shape);
    std::memcpy(t.data, data, static_cast<size_t>(numel()) * sizeof(float));
    return t;
}

}  // namespace sam
