// PyTorch checkpoints as torch.save(model.state_dict()) writes them (PyTorch >= 1.6): a zip
// with <prefix>/data.pkl (the pickled OrderedDict of tensors), <prefix>/data/<key> (raw
// little-endian storages) and <prefix>/version. The file is memory-mapped; float32 tensors
// stored contiguously are returned as zero-copy views, everything else is converted.
// A dict that holds the state dict under "model" or "state_dict" (fine-tuned files) is unwrapped.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/zip_archive.hpp"
#include "tensor/tensor.hpp"

namespace sam::io {

class CheckpointError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, Bool };
const char* dtype_name(DType t);  // "float32", "float16", ...
size_t dtype_size(DType t);       // bytes per element
float half_to_float(uint16_t h);  // IEEE half -> float, exactly (subnormals, inf and NaN included)

class Checkpoint {
public:
    // Opens, parses data.pkl and checks every tensor against its storage entry. Throws
    // CheckpointError "<file>: <problem>" (missing file, not a zip, truncated, corrupt pickle,
    // unsupported object, storage too short for a tensor, ...).
    static Checkpoint open(const std::string& path);

    const std::string& path() const { return zip_.path(); }
    // The file's content identity (ZipArchive::content_digest), for cache keys.
    std::string content_digest() const { return zip_.content_digest(); }
    const std::vector<std::string>& names() const { return names_; }  // tensor names in file order
    bool contains(const std::string& name) const { return index_.count(name) != 0; }
    Shape shape(const std::string& name) const;  // throws CheckpointError if missing
    DType dtype(const std::string& name) const;
    // Float32 tensor. Zero-copy view into the mapping when stored as contiguous float32
    // (Tensor::owner keeps the mapping alive; treat it as read-only: every get() of that name
    // shares it, and a write never reaches the file); otherwise converted (f16/bf16/f64/ints/
    // bool -> f32, strides honoured) into a fresh block.
    Tensor get(const std::string& name) const;
    // Same, but first checks the shape: "<file>: missing tensor '<key>'" /
    // "<file>: tensor '<key>' has shape [a, b], expected [c, d]".
    Tensor get(const std::string& name, const Shape& expected) const;

private:
    struct Info {
        std::string name;
        DType dtype;
        Shape shape, stride;     // in elements
        int64_t offset;          // storage offset, in elements
        const uint8_t* storage;  // start of the storage entry's bytes in the mapping
    };
    const Info& info(const std::string& name) const;

    ZipArchive zip_;
    std::vector<std::string> names_;
    std::vector<Info> infos_;
    std::unordered_map<std::string, size_t> index_;
};

}  // namespace sam::io
