#include "models/embedding_codec.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "tensor/half.hpp"

namespace sam {

namespace {

constexpr char kMagic[4] = {'S', 'E', 'M', 'B'};
constexpr uint8_t kVersion = 1;
constexpr uint8_t kFloat32 = 1, kFloat16 = 2;
constexpr int kMaxRank = 4;
constexpr uint32_t kMaxSide = 1 << 20;  // image sides and tensor dimensions

struct Role {
    uint8_t id;
    Tensor ImageEmbedding::*tensor;
};
constexpr std::array<Role, 3> kRoles = {
    Role{0, &ImageEmbedding::features}, Role{1, &ImageEmbedding::high_res_0}, Role{2, &ImageEmbedding::high_res_1}};

void put8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
void put16(std::string& out, uint16_t v) { out.append(reinterpret_cast<const char*>(&v), 2); }
void put32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }

uint32_t crc_of(std::string_view a, std::string_view b) {
    uLong crc = crc32_z(0, reinterpret_cast<const Bytef*>(a.data()), a.size());
    return static_cast<uint32_t>(crc32_z(crc, reinterpret_cast<const Bytef*>(b.data()), b.size()));
}

// Bounds-checked reads from the front of a value.
struct Reader {
    std::string_view bytes;
    size_t pos = 0;
    const char* take(size_t n, const char* what) {
        if (bytes.size() - pos < n) throw EmbeddingCodecError(std::string("value ends inside the ") + what);
        const char* p = bytes.data() + pos;
        pos += n;
        return p;
    }
    uint8_t u8(const char* what) { return static_cast<uint8_t>(*take(1, what)); }
    uint16_t u16(const char* what) {
        uint16_t v;
        std::memcpy(&v, take(2, what), 2);
        return v;
    }
    uint32_t u32(const char* what) {
        uint32_t v;
        std::memcpy(&v, take(4, what), 4);
        return v;
    }
};

uint32_t side(Reader& r, const char* what) {
    uint32_t v = r.u32(what);
    if (v == 0 || v > kMaxSide) throw EmbeddingCodecError(std::string(what) + " " + std::to_string(v) + " is out of range");
    return v;
}

// float16 values at any byte offset of a value <-> floats, through a small aligned block.
constexpr size_t kBlock = 4096;
void halves_from_bytes(const char* src, float* dst, size_t n) {
    uint16_t block[kBlock];
    for (size_t i = 0; i < n; i += kBlock) {
        const size_t m = std::min(kBlock, n - i);
        std::memcpy(block, src + 2 * i, 2 * m);
        halves_to_floats(block, dst + i, m);
    }
}
void halves_to_bytes(const float* src, char* dst, size_t n) {
    uint16_t block[kBlock];
    for (size_t i = 0; i < n; i += kBlock) {
        const size_t m = std::min(kBlock, n - i);
        floats_to_halves(src + i, block, m);
        std::memcpy(dst + 2 * i, block, 2 * m);
    }
}

}  // namespace

EmbeddingPrecision storage_precision(const ImageEmbedding& e) {
    const bool sam2 = e.high_res_0.defined() || e.high_res_1.defined();
    return sam2 ? EmbeddingPrecision::Float32 : EmbeddingPrecision::Float16;
}

std::string encode_embedding(const ImageEmbedding& e, const std::string& model_key, EmbeddingPrecision precision) {
    if (!e.features.defined()) throw std::invalid_argument("embedding has no features");
    if (model_key.size() > 0xffff) throw std::invalid_argument("model key longer than 65535 bytes");
    const bool half = precision == EmbeddingPrecision::Float16;
    std::vector<const Role*> present;
    int64_t values = 0;
    for (const Role& role : kRoles) {
        const Tensor& t = e.*role.tensor;
        if (!t.defined()) continue;
        if (t.rank() > kMaxRank) throw std::invalid_argument("embedding tensor of rank " + std::to_string(t.rank()));
        present.push_back(&role);
        values += t.numel();
    }

    std::string out;
    out.reserve(64 + model_key.size() + static_cast<size_t>(values) * (half ? 2 : 4));
    out.append(kMagic, 4);
    put8(out, kVersion);
    put8(out, half ? kFloat16 : kFloat32);
    put8(out, static_cast<uint8_t>(present.size()));
    put8(out, 0);
    for (int v : {e.orig_w, e.orig_h, e.input_w, e.input_h}) put32(out, static_cast<uint32_t>(v));
    put16(out, static_cast<uint16_t>(model_key.size()));
    out += model_key;
    for (const Role* role : present) {
        const Tensor& t = e.*role->tensor;
        put8(out, role->id);
        put8(out, static_cast<uint8_t>(t.rank()));
        for (int64_t d : t.shape) put32(out, static_cast<uint32_t>(d));
    }
    const size_t crc_at = out.size();
    put32(out, 0);
    for (const Role* role : present) {
        const Tensor& t = e.*role->tensor;
        const size_t n = static_cast<size_t>(t.numel()), at = out.size();
        out.resize(at + n * (half ? 2 : 4));
        if (half) {
            halves_to_bytes(t.data, out.data() + at, n);
        } else {
            std::memcpy(out.data() + at, t.data, n * 4);
        }
    }
    const std::string_view all(out);
    const uint32_t crc = crc_of(all.substr(0, crc_at), all.substr(crc_at + 4));
    std::memcpy(out.data() + crc_at, &crc, 4);
    return out;
}

ImageEmbedding decode_embedding(std::string_view bytes, const std::string& model_key) {
    Reader r{bytes};
    if (std::memcmp(r.take(4, "magic"), kMagic, 4) != 0) throw EmbeddingCodecError("not an embedding value (magic)");
    const uint8_t version = r.u8("header");
    if (version != kVersion) throw EmbeddingCodecError("embedding format version " + std::to_string(version));
    const uint8_t dtype = r.u8("header");
    if (dtype != kFloat32 && dtype != kFloat16) throw EmbeddingCodecError("unknown dtype " + std::to_string(dtype));
    const size_t elem = dtype == kFloat16 ? 2 : 4;
    const uint8_t count = r.u8("header");
    if (count < 1 || count > kRoles.size()) throw EmbeddingCodecError("tensor count " + std::to_string(count));
    r.u8("header");

    ImageEmbedding e;
    e.orig_w = static_cast<int>(side(r, "orig_w"));
    e.orig_h = static_cast<int>(side(r, "orig_h"));
    e.input_w = static_cast<int>(side(r, "input_w"));
    e.input_h = static_cast<int>(side(r, "input_h"));
    const uint16_t key_len = r.u16("model key");
    if (std::string_view(r.take(key_len, "model key"), key_len) != model_key)
        throw EmbeddingCodecError("value of another model");

    struct Planned {
        const Role* role;
        Shape shape;
        size_t numel;
    };
    std::vector<Planned> plan;
    size_t data_bytes = 0;
    for (uint8_t i = 0; i < count; ++i) {
        const uint8_t id = r.u8("tensor header");
        if (id >= kRoles.size()) throw EmbeddingCodecError("unknown tensor role " + std::to_string(id));
        for (const Planned& p : plan)
            if (p.role->id == id) throw EmbeddingCodecError("tensor role " + std::to_string(id) + " twice");
        const uint8_t rank = r.u8("tensor header");
        if (rank < 1 || rank > kMaxRank) throw EmbeddingCodecError("tensor rank " + std::to_string(rank));
        Planned p{&kRoles[id], {}, 1};
        for (uint8_t d = 0; d < rank; ++d) {
            const uint32_t dim = side(r, "tensor dimension");
            p.shape.push_back(dim);
            p.numel *= dim;
            // Every dimension checked against the bytes left keeps the products from overflowing.
            if (p.numel > bytes.size()) throw EmbeddingCodecError("tensor larger than the value");
        }
        data_bytes += p.numel * elem;
        if (data_bytes > bytes.size()) throw EmbeddingCodecError("tensors larger than the value");
        plan.push_back(std::move(p));
    }
    if (plan.front().role->id != 0) throw EmbeddingCodecError("first tensor is not the features");
    const size_t crc_at = r.pos;
    const uint32_t stored_crc = r.u32("checksum");
    if (bytes.size() - r.pos != data_bytes)
        throw EmbeddingCodecError("value has " + std::to_string(bytes.size() - r.pos) + " data bytes, header says " +
                                  std::to_string(data_bytes));
    if (crc_of(bytes.substr(0, crc_at), bytes.substr(crc_at + 4)) != stored_crc)
        throw EmbeddingCodecError("checksum mismatch");

    for (const Planned& p : plan) {
        Tensor t = Tensor::empty(p.shape);
        const char* src = r.take(p.numel * elem, "data");
        if (elem == 2) {
            halves_from_bytes(src, t.data, p.numel);
        } else {
            std::memcpy(t.data, src, p.numel * 4);
        }
        e.*(p.role->tensor) = std::move(t);
    }
    return e;
}

void round_embedding(ImageEmbedding& e, EmbeddingPrecision precision) {
    if (precision == EmbeddingPrecision::Float32) return;
    for (const Role& role : kRoles) {
        Tensor& t = e.*role.tensor;
        if (!t.defined()) continue;
        uint16_t block[kBlock];
        const size_t n = static_cast<size_t>(t.numel());
        for (size_t i = 0; i < n; i += kBlock) {
            const size_t m = std::min(kBlock, n - i);
            floats_to_halves(t.data + i, block, m);
            halves_to_floats(block, t.data + i, m);
        }
    }
}

}  // namespace sam
