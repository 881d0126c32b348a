// Little-endian float32 .npy files (C order) as numpy.save writes them, and arrays of .npz files:
// enough for benchmarks to read the golden arrays and to hand tensors to peer engines.
#pragma once

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/zip_archive.hpp"
#include "tensor/tensor.hpp"

namespace sambench {

// Parses a whole .npy held in memory; `what` names it in errors.
inline sam::Tensor parse_npy_f32(std::span<const uint8_t> bytes, const std::string& what) {
    std::string header;
    if (bytes.size() >= 10 && std::memcmp(bytes.data(), "\x93NUMPY", 6) == 0 && bytes[6] == 1) {
        const size_t len = bytes[8] | (bytes[9] << 8);
        if (bytes.size() >= 10 + len) header.assign(reinterpret_cast<const char*>(bytes.data()) + 10, len);
    }
    if (header.find("'descr': '<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos)
        throw std::runtime_error(what + ": not a C-order float32 .npy (version 1)");
    sam::Shape shape;
    const size_t open = header.find('(', header.find("'shape'")), close = header.find(')', open);
    for (size_t i = open + 1; i < close;) {
        shape.push_back(std::stoll(header.substr(i), nullptr));
        i = header.find(',', i);
        if (i == std::string::npos || i > close) break;
        while (++i < close && header[i] == ' ') {}
    }
    sam::Tensor t = sam::Tensor::empty(shape);
    const size_t data = 10 + header.size(), need = size_t(t.numel()) * sizeof(float);
    if (bytes.size() < data + need) throw std::runtime_error(what + ": shorter than its shape " + t.shape_string());
    std::memcpy(t.data, bytes.data() + data, need);
    return t;
}

inline sam::Tensor read_npy_f32(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in && !in.eof()) throw std::runtime_error("cannot read " + path);
    return parse_npy_f32(bytes, path);
}

// One array of an .npz (numpy.savez: a zip of stored .npy entries), e.g. "point_coords".
inline sam::Tensor read_npz_f32(const std::string& path, const std::string& name) {
    const auto zip = sam::io::ZipArchive::open(path);
    const auto* entry = zip.find(name + ".npy");
    if (!entry) throw std::runtime_error(path + " has no array " + name);
    return parse_npy_f32(zip.data(*entry), path + ":" + name);
}

inline void write_npy_f32(const std::string& path, const sam::Tensor& t) {
    std::string shape = "(";
    for (int64_t d : t.shape) shape += std::to_string(d) + ", ";
    if (t.rank() > 1) shape.resize(shape.size() - 2);
    shape += ")";
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
    header.append(63 - (10 + header.size()) % 64, ' ');  // data starts 64-byte aligned
    header += '\n';
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) throw std::runtime_error("cannot write " + path);
    const unsigned char magic[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(header.size() & 255),
                                     (unsigned char)(header.size() >> 8)};
    bool ok = std::fwrite(magic, 1, 10, f) == 10 && std::fwrite(header.data(), 1, header.size(), f) == header.size() &&
              std::fwrite(t.data, sizeof(float), t.numel(), f) == size_t(t.numel());
    ok = std::fclose(f) == 0 && ok;
    if (!ok) throw std::runtime_error("cannot write " + path);
}

}  // namespace sambench
