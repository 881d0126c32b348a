// A float32 tensor: a shape and a pointer into storage that someone keeps alive.
// Storage is either our own 64-byte aligned heap block or a view into a memory-mapped
// checkpoint; `owner` holds whichever it is. Row-major (last dimension contiguous).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace sam {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& shape);
int64_t shape_numel(const Shape& shape);

struct Tensor {
    Shape shape;
    float* data = nullptr;
    std::shared_ptr<const void> owner;

    static Tensor empty(Shape shape);   // uninitialised, 64-byte aligned
    static Tensor zeros(Shape shape);
    // A tensor over memory someone else owns; `owner` keeps it alive.
    static Tensor wrap(float* data, Shape shape, std::shared_ptr<const void> owner);

    bool defined() const { return data != nullptr; }
    int rank() const { return static_cast<int>(shape.size()); }
    int64_t numel() const { return shape_numel(shape); }
    int64_t dim(int i) const { return shape[i < 0 ? i + rank() : i]; }
    // Same storage, other shape (numel must match).
    Tensor reshaped(Shape new_shape) const;
    // A deep copy into a fresh aligned block.
    Tensor clone() const;
    std::string shape_string() const { return shape_str(shape); }
};

}  // namespace sam
