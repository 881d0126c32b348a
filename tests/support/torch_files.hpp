// PyTorch checkpoint files built byte by byte for tests: the zip container torch.save writes
// and the pickle opcodes it uses, so tests can make well-formed, odd and hostile files alike.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.hpp"

namespace samtest {

void put16(std::string& s, uint16_t v);
void put32(std::string& s, uint32_t v);
void put64(std::string& s, uint64_t v);
uint32_t get32(const std::string& s, size_t at);
uint32_t crc(const std::string& s);

// A zip shaped like PyTorch's: local headers without sizes (data descriptors follow the data),
// an "FB" extra field padding data to 64 bytes, the real sizes only in the central directory.
// With zip64, every size and offset goes through ZIP64 records.
std::string make_zip(const std::vector<std::pair<std::string, std::string>>& files, bool zip64 = false,
                     uint16_t method = 0);

// Pickle bytes as torch.save writes them (protocol 2).
struct Pickle {
    std::string b = "\x80\x02";
    Pickle& op(char c);
    Pickle& str(const std::string& s);
    Pickle& integer(int64_t v);
    Pickle& global(const std::string& module, const std::string& name);
    Pickle& tuple(const sam::Shape& v);
    Pickle& ordered_dict();
    // _rebuild_tensor_v2((storage, torch.<storage>, key, cpu, numel), offset, size, stride, False, OrderedDict())
    Pickle& tensor(const std::string& storage, const std::string& key, int64_t numel, int64_t offset,
                   const sam::Shape& size, const sam::Shape& stride);
};

std::string half_bytes(const std::vector<uint16_t>& v);
std::string float_bytes(const std::vector<float>& v);

// A state dict of float32 tensors, each with its own storage entry holding `storage_floats`
// zeros (at least what the shape and stride span): {"archive/data.pkl", ...} for make_zip.
struct TensorDecl {
    std::string name;
    sam::Shape shape, stride;  // empty stride: contiguous
    int64_t storage_floats = -1;  // -1: exactly what the view spans
};
std::vector<std::pair<std::string, std::string>> state_dict_files(const std::vector<TensorDecl>& tensors);

}  // namespace samtest
