// Writes a state dict as torch.save(model.state_dict()) does (PyTorch >= 1.6): a stored
// (uncompressed) zip with <prefix>/data/<i> raw storages aligned to 64 bytes, then
// <prefix>/data.pkl (a protocol-2 pickled OrderedDict of _rebuild_tensor_v2 calls) and
// <prefix>/version; or, as SAM 2's checkpoints, torch.save({"model": state_dict}). Float32 or
// float16 storages. Tensors are streamed to the file one by one, so a checkpoint of hundreds of
// MB never sits in memory. For tests and benchmarks: product code reads checkpoints, never
// writes. Plain zip (no ZIP64): files up to 4 GiB, enough for ViT-B-sized checkpoints.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/tensor.hpp"

namespace samtest {

class CheckpointWriter {
public:
    // wrap_in_model: the pickle is {"model": state_dict} (SAM 2's layout).
    CheckpointWriter(const std::string& path, const std::string& prefix, bool wrap_in_model = false)
        : path_(path), prefix_(prefix), wrap_(wrap_in_model) {
        f_ = std::fopen(path.c_str(), "wb");
        if (!f_) throw std::runtime_error("checkpoint writer: cannot create " + path);
        pickle_ = "\x80\x02";
        if (wrap_) op('}'), str("model");  // an empty dict, then the key its one item goes under
        global("collections", "OrderedDict");
        op(')'), op('R'), op('(');  // empty OrderedDict, then a mark for SETITEMS
    }
    ~CheckpointWriter() {
        if (f_) std::fclose(f_);
    }
    CheckpointWriter(const CheckpointWriter&) = delete;
    CheckpointWriter& operator=(const CheckpointWriter&) = delete;

    // Appends one contiguous float32 tensor as its own storage.
    void add(const std::string& name, const sam::Shape& shape, const float* data) {
        add_storage(name, shape, data, "FloatStorage", 4);
    }
    // The same for a float16 tensor (IEEE half bit patterns).
    void add_half(const std::string& name, const sam::Shape& shape, const uint16_t* data) {
        add_storage(name, shape, data, "HalfStorage", 2);
    }

    // Writes data.pkl, version and the central directory; the file is complete afterwards.
    void finish() {
        op('u');
        if (wrap_) op('s');
        op('.');
        entry(prefix_ + "/data.pkl", pickle_.data(), pickle_.size());
        entry(prefix_ + "/version", "3\n", 2);
        const uint64_t cd_offset = offset_;
        std::string cd;
        for (const Entry& e : entries_) {
            put32(cd, 0x02014b50), put16(cd, 20), put16(cd, 20), put16(cd, 0x0808), put16(cd, 0);
            put32(cd, 0), put32(cd, e.crc), put32(cd, e.size), put32(cd, e.size);
            put16(cd, uint16_t(e.name.size())), put16(cd, 0), put16(cd, 0), put16(cd, 0), put16(cd, 0);
            put32(cd, 0), put32(cd, e.local_offset);
            cd += e.name;
        }
        std::string end;
        put32(end, 0x06054b50), put16(end, 0), put16(end, 0);
        put16(end, uint16_t(entries_.size())), put16(end, uint16_t(entries_.size()));
        put32(end, uint32_t(cd.size())), put32(end, uint32_t(cd_offset)), put16(end, 0);
        if (entries_.size() > 0xffff || cd_offset + cd.size() > 0xffffffffull)
            throw std::runtime_error("checkpoint writer: " + path_ + " needs ZIP64 (over 65535 entries or 4 GiB)");
        write(cd.data(), cd.size());
        write(end.data(), end.size());
        if (std::fclose(f_) != 0) throw std::runtime_error("checkpoint writer: cannot finish " + path_);
        f_ = nullptr;
    }

private:
    void add_storage(const std::string& name, const sam::Shape& shape, const void* data, const char* storage,
                     size_t elem) {
        int64_t numel = 1;
        for (int64_t d : shape) numel *= d;
        const std::string key = std::to_string(entries_.size());
        entry(prefix_ + "/data/" + key, data, size_t(numel) * elem);
        sam::Shape stride(shape.size());
        int64_t s = 1;
        for (size_t i = shape.size(); i-- > 0;) stride[i] = s, s *= shape[i];
        // _rebuild_tensor_v2((storage, <type>Storage, key, cpu, numel), 0, size, stride, False, OrderedDict())
        str(name);
        global("torch._utils", "_rebuild_tensor_v2"), op('(');
        op('('), str("storage"), global("torch", storage), str(key), str("cpu"), integer(numel), op('t');
        op('Q');  // BINPERSID: the tuple above names the storage entry
        integer(0), tuple(shape), tuple(stride), op('\x89');
        global("collections", "OrderedDict"), op(')'), op('R');
        op('t'), op('R');
    }

    struct Entry {
        std::string name;
        uint32_t crc, size, local_offset;
    };

    static void put16(std::string& s, uint16_t v) { s += char(v & 0xff), s += char(v >> 8); }
    static void put32(std::string& s, uint32_t v) { put16(s, uint16_t(v)), put16(s, uint16_t(v >> 16)); }

    void write(const void* p, size_t n) {
        if (n && std::fwrite(p, 1, n, f_) != n) throw std::runtime_error("checkpoint writer: cannot write " + path_);
        offset_ += n;
    }

    // A stored entry as torch writes it: local header without sizes, an "FB" extra field that
    // pads the data to 64 bytes, the data, then a data descriptor with crc and sizes.
    void entry(const std::string& name, const void* data, size_t n) {
        if (offset_ + n > 0xffffffffull)
            throw std::runtime_error("checkpoint writer: " + path_ + " needs ZIP64 (over 4 GiB)");
        const uint64_t local = offset_;
        const size_t pad = (64 - (local + 30 + name.size() + 4) % 64) % 64;
        const uint32_t crc = uint32_t(crc32_z(0, static_cast<const Bytef*>(data), n));
        std::string h;
        put32(h, 0x04034b50), put16(h, 20), put16(h, 0x0808), put16(h, 0), put32(h, 0);
        put32(h, 0), put32(h, 0), put32(h, 0);
        put16(h, uint16_t(name.size())), put16(h, uint16_t(4 + pad));
        h += name;
        put16(h, 0x4246), put16(h, uint16_t(pad));
        h.append(pad, 'Z');
        write(h.data(), h.size());
        write(data, n);
        std::string d;
        put32(d, 0x08074b50), put32(d, crc), put32(d, uint32_t(n)), put32(d, uint32_t(n));
        write(d.data(), d.size());
        entries_.push_back({name, crc, uint32_t(n), uint32_t(local)});
    }

    void op(char c) { pickle_ += c; }
    void str(const std::string& s) { op('X'), put32(pickle_, uint32_t(s.size())), pickle_ += s; }
    void integer(int64_t v) {
        if (v < 0 || v > 0x7fffffff) throw std::runtime_error("checkpoint writer: integer out of range");
        if (v < 256) op('K'), pickle_ += char(v);
        else op('J'), put32(pickle_, uint32_t(v));
    }
    void global(const char* module, const char* name) { op('c'), pickle_ += std::string(module) + "\n" + name + "\n"; }
    void tuple(const sam::Shape& v) {
        op('(');
        for (int64_t x : v) integer(x);
        op('t');
    }

    std::string path_, prefix_, pickle_;
    bool wrap_ = false;
    std::FILE* f_ = nullptr;
    uint64_t offset_ = 0;
    std::vector<Entry> entries_;
};

}  // namespace samtest
