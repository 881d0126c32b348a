#include "support/torch_files.hpp"

#include <zlib.h>

#include <cstring>

namespace samtest {

void put16(std::string& s, uint16_t v) { s.append({char(v & 0xff), char(v >> 8)}); }
void put32(std::string& s, uint32_t v) { put16(s, uint16_t(v)), put16(s, uint16_t(v >> 16)); }
void put64(std::string& s, uint64_t v) { put32(s, uint32_t(v)), put32(s, uint32_t(v >> 32)); }
uint32_t get32(const std::string& s, size_t at) {
    uint32_t v;
    std::memcpy(&v, s.data() + at, 4);
    return v;
}
uint32_t crc(const std::string& s) { return crc32_z(0, reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

std::string make_zip(const std::vector<std::pair<std::string, std::string>>& files, bool zip64, uint16_t method) {
    std::string out, central;
    for (const auto& [name, data] : files) {
        uint64_t local = out.size();
        size_t pad = (64 - (local + 30 + name.size() + 4) % 64) % 64;
        put32(out, 0x04034b50), put16(out, 20), put16(out, 0x0808), put16(out, method), put32(out, 0);
        put32(out, 0), put32(out, 0), put32(out, 0);  // crc and sizes: in the descriptor
        put16(out, uint16_t(name.size())), put16(out, uint16_t(4 + pad));
        out += name;
        put16(out, 0x4246), put16(out, uint16_t(pad));  // "FB" padding
        out.append(pad, 'Z');
        out += data;
        put32(out, 0x08074b50), put32(out, crc(data));
        if (zip64) put64(out, data.size()), put64(out, data.size());
        else put32(out, uint32_t(data.size())), put32(out, uint32_t(data.size()));

        put32(central, 0x02014b50), put16(central, 45), put16(central, 45), put16(central, 0x0808);
        put16(central, method), put32(central, 0), put32(central, crc(data));
        uint32_t small_size = zip64 ? 0xffffffff : uint32_t(data.size());
        put32(central, small_size), put32(central, small_size);
        put16(central, uint16_t(name.size())), put16(central, zip64 ? 28 : 0), put16(central, 0);
        put16(central, 0), put16(central, 0), put32(central, 0);
        put32(central, zip64 ? 0xffffffff : uint32_t(local));
        central += name;
        if (zip64) put16(central, 1), put16(central, 24), put64(central, data.size()), put64(central, data.size()),
            put64(central, local);
    }
    uint64_t cd_offset = out.size();
    out += central;
    if (zip64) {
        uint64_t end64 = out.size();
        put32(out, 0x06064b50), put64(out, 44), put16(out, 45), put16(out, 45), put32(out, 0), put32(out, 0);
        put64(out, files.size()), put64(out, files.size()), put64(out, central.size()), put64(out, cd_offset);
        put32(out, 0x07064b50), put32(out, 0), put64(out, end64), put32(out, 1);
    }
    put32(out, 0x06054b50), put16(out, 0), put16(out, 0);
    put16(out, zip64 ? 0xffff : uint16_t(files.size())), put16(out, zip64 ? 0xffff : uint16_t(files.size()));
    put32(out, zip64 ? 0xffffffff : uint32_t(central.size())), put32(out, zip64 ? 0xffffffff : uint32_t(cd_offset));
    put16(out, 0);
    return out;
}

Pickle& Pickle::op(char c) { return b += c, *this; }
Pickle& Pickle::str(const std::string& s) { return op('X'), put32(b, uint32_t(s.size())), b += s, *this; }
Pickle& Pickle::integer(int64_t v) {
    if (v >= 0 && v < 256) return op('K'), b += char(v), *this;
    if (v >= INT32_MIN && v <= INT32_MAX) return op('J'), put32(b, uint32_t(int32_t(v))), *this;
    op('\x8a'), b += char(8), put64(b, uint64_t(v));  // LONG1 with 8 bytes
    return *this;
}
Pickle& Pickle::global(const std::string& module, const std::string& name) {
    return op('c'), b += module + "\n" + name + "\n", *this;
}
Pickle& Pickle::tuple(const sam::Shape& v) {
    op('(');
    for (int64_t x : v) integer(x);
    return op('t');
}
Pickle& Pickle::ordered_dict() { return global("collections", "OrderedDict"), op(')'), op('R'); }
Pickle& Pickle::tensor(const std::string& storage, const std::string& key, int64_t numel, int64_t offset,
                       const sam::Shape& size, const sam::Shape& stride) {
    global("torch._utils", "_rebuild_tensor_v2").op('(');
    op('(').str("storage").global("torch", storage).str(key).str("cpu").integer(numel).op('t').op('Q');
    integer(offset).tuple(size).tuple(stride).op('\x89').ordered_dict().op('t').op('R');
    return *this;
}

std::string half_bytes(const std::vector<uint16_t>& v) {
    std::string s;
    for (uint16_t x : v) put16(s, x);
    return s;
}
std::string float_bytes(const std::vector<float>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

std::vector<std::pair<std::string, std::string>> state_dict_files(const std::vector<TensorDecl>& tensors) {
    Pickle pk;
    pk.ordered_dict().op('(');
    std::vector<std::pair<std::string, std::string>> files;
    for (size_t i = 0; i < tensors.size(); ++i) {
        const TensorDecl& t = tensors[i];
        sam::Shape stride = t.stride;
        if (stride.empty()) {
            stride.resize(t.shape.size());
            int64_t s = 1;
            for (size_t d = t.shape.size(); d-- > 0;) stride[d] = s, s *= t.shape[d];
        }
        int64_t span = sam::shape_numel(t.shape) == 0 ? 0 : 1;
        for (size_t d = 0; span && d < t.shape.size(); ++d) span += (t.shape[d] - 1) * stride[d];
        const int64_t floats = t.storage_floats >= 0 ? t.storage_floats : span;
        const std::string key = std::to_string(i);
        pk.str(t.name).tensor("FloatStorage", key, floats, 0, t.shape, stride);
        files.push_back({"archive/data/" + key, std::string(size_t(floats) * 4, '\0')});
    }
    pk.op('u').op('.');
    files.insert(files.begin(), {"archive/data.pkl", pk.b});
    return files;
}

}  // namespace samtest
