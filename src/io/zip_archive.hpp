// A read-only view of a zip archive: the file is memory-mapped and its central directory
// parsed (ZIP64 included). Only stored (uncompressed) entries can be read, which is what
// PyTorch writes; their bytes are spans into the mapping, never copies.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sam::io {

class ZipError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class ZipArchive {
public:
    struct Entry {
        std::string name;
        uint64_t data_offset;  // where the entry's bytes start in the file
        uint64_t size;         // bytes in the file (compressed size; equal to the real size when stored)
        uint16_t method;       // 0 stored, 8 deflate, ...
        uint32_t crc32 = 0;    // from the central directory
        uint16_t flags = 0;    // general purpose bit flags (bit 0: encrypted)
    };

    // mmap the file (private, copy-on-write where the system allows it: writes through a
    // view never reach the file) and parse the central directory. Throws ZipError naming
    // the file and what is wrong.
    static ZipArchive open(const std::string& path);

    const std::string& path() const { return path_; }
    const std::vector<Entry>& entries() const { return entries_; }
    const Entry* find(std::string_view name) const;  // nullptr if absent
    // The entry's bytes; stored (method 0), unencrypted entries only, else ZipError.
    std::span<const uint8_t> data(const Entry& e) const;
    // Keeps the mapping alive (used as Tensor::owner for zero-copy views).
    std::shared_ptr<const void> mapping() const { return mapping_; }
    // The whole mapped file.
    const uint8_t* bytes() const { return static_cast<const uint8_t*>(mapping_.get()); }
    uint64_t file_size() const { return file_size_; }
    // Names the content without reading it: a 64-bit FNV-1a digest of the central directory
    // (each entry's name, CRC-32 and size, in order), as 16 hex digits. The same for a copy of
    // the file anywhere (path and modification time play no part); a changed entry changes it.
    std::string content_digest() const;

private:
    std::string path_;
    std::shared_ptr<const void> mapping_;
    uint64_t file_size_ = 0;
    std::vector<Entry> entries_;
    std::unordered_map<std::string, size_t> by_name_;  // name -> index in entries_ (last wins)
};

}  // namespace sam::io
