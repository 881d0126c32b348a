#include "io/checkpoint.hpp"

#include <zlib.h>

#include <cstring>
#include <string_view>

#include "io/file_identity.hpp"
#include "io/pickle.hpp"
#include "tensor/half.hpp"

namespace sam::io {

namespace {

using Kind = PickleValue::Kind;

[[noreturn]] void fail(const std::string& path, const std::string& what) { throw CheckpointError(path + ": " + what); }

constexpr size_t kMaxRank = 16;  // model weights have at most 5 dimensions

struct StorageType {
    const char* global;
    DType dtype;
};
constexpr StorageType kStorageTypes[] = {
    {"torch.FloatStorage", DType::F32}, {"torch.HalfStorage", DType::F16},  {"torch.BFloat16Storage", DType::BF16},
    {"torch.DoubleStorage", DType::F64}, {"torch.LongStorage", DType::I64}, {"torch.IntStorage", DType::I32},
    {"torch.ShortStorage", DType::I16}, {"torch.CharStorage", DType::I8},   {"torch.ByteStorage", DType::U8},
    {"torch.BoolStorage", DType::Bool},
};

bool is_dict(const PickleValue& v) {
    return v.is(Kind::Dict) || (v.is_object_of("collections.OrderedDict") && v.args->items.empty());
}

float bf16_to_float(uint16_t h) {
    uint32_t bits = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

template <typename T>
T load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

bool is_contiguous(const Shape& shape, const Shape& stride) {
    int64_t expected = 1;
    for (size_t d = shape.size(); d-- > 0;) {
        if (shape[d] == 0) return true;
        if (shape[d] != 1 && stride[d] != expected) return false;
        expected *= shape[d];
    }
    return true;
}

// Walks the strided tensor in row-major order, converting each element with `cvt`.
template <typename Cvt>
void gather(const Shape& shape, const Shape& stride, const uint8_t* src, size_t elem, float* dst, Cvt cvt) {
    int64_t n = shape_numel(shape);
    if (n == 0) return;
    if (is_contiguous(shape, stride)) {
        for (int64_t i = 0; i < n; ++i) dst[i] = cvt(src + i * elem);
        return;
    }
    int rank = static_cast<int>(shape.size());
    std::vector<int64_t> idx(rank, 0);
    int64_t off = 0;
    for (int64_t i = 0; i < n; ++i) {
        dst[i] = cvt(src + off * static_cast<int64_t>(elem));
        for (int d = rank - 1; d >= 0; --d) {
            if (++idx[d] < shape[d]) {
                off += stride[d];
                break;
            }
            off -= stride[d] * (shape[d] - 1);
            idx[d] = 0;
        }
    }
}

// The arguments of the _rebuild_tensor_v2 call that makes `v`, looking through the wrappers
// torch pickles for Parameters and for tensors carrying Python state; nullptr if `v` is
// anything else.
const std::vector<PickleRef>* rebuild_args(const PickleValue& v, int depth = 0) {
    if (depth > 4) return nullptr;
    static const std::vector<PickleRef> no_args;
    const std::vector<PickleRef>& a = v.is(Kind::Object) ? v.args->items : no_args;
    if (v.is_object_of("torch._utils._rebuild_tensor_v2")) return &v.args->items;
    if ((v.is_object_of("torch._utils._rebuild_parameter") || v.is_object_of("torch._utils._rebuild_parameter_with_state")) &&
        !a.empty())
        return rebuild_args(*a[0], depth + 1);
    // _rebuild_from_type_v2(func, new_type, args, state): func(*args), then a type change.
    if (v.is_object_of("torch._tensor._rebuild_from_type_v2") && a.size() >= 3 && a[0]->is(Kind::Global) &&
        a[0]->text == "torch._utils._rebuild_tensor_v2" && a[2]->is(Kind::Tuple))
        return &a[2]->items;
    return nullptr;
}

// Reads the tuple of non-negative ints that is a tensor's size or stride.
Shape int_tuple(const std::string& path, const std::string& name, const char* what, const PickleValue& v) {
    if (!v.is(Kind::Tuple)) fail(path, "tensor '" + name + "': " + what + " is " + describe(v) + ", not a tuple");
    if (v.items.size() > kMaxRank)
        fail(path, "tensor '" + name + "': " + what + " has " + std::to_string(v.items.size()) + " dimensions (at most " +
                       std::to_string(kMaxRank) + ")");
    Shape out;
    for (const auto& x : v.items) {
        if (!x->is(Kind::Int) || x->integer < 0)
            fail(path, "tensor '" + name + "': " + what + " holds " + describe(*x) + ", not a non-negative int");
        out.push_back(x->integer);
    }
    return out;
}

}  // namespace

const char* dtype_name(DType t) {
    switch (t) {
        case DType::F32: return "float32";
        case DType::F16: return "float16";
        case DType::BF16: return "bfloat16";
        case DType::F64: return "float64";
        case DType::I64: return "int64";
        case DType::I32: return "int32";
        case DType::I16: return "int16";
        case DType::I8: return "int8";
        case DType::U8: return "uint8";
        case DType::Bool: return "bool";
    }
    return "?";
}

size_t dtype_size(DType t) {
    switch (t) {
        case DType::F64:
        case DType::I64: return 8;
        case DType::F32:
        case DType::I32: return 4;
        case DType::F16:
        case DType::BF16:
        case DType::I16: return 2;
        case DType::I8:
        case DType::U8:
        case DType::Bool: return 1;
    }
    return 1;
}

Checkpoint Checkpoint::open(const std::string& path) {
    Checkpoint ck;
    try {
        ck.zip_ = ZipArchive::open(path);
    } catch (const ZipError& e) {
        throw CheckpointError(e.what());
    }
    const ZipArchive& zip = ck.zip_;

    // <prefix>/data.pkl: the prefix is whatever folder name torch.save chose.
    const ZipArchive::Entry* pkl = nullptr;
    for (const auto& e : zip.entries()) {
        std::string_view n = e.name;
        if (n == "data.pkl" || (n.ends_with("/data.pkl") && n.find('/') == n.size() - 9)) {
            pkl = &e;
            break;
        }
    }
    if (!pkl) fail(path, "no <folder>/data.pkl entry in the zip: not a PyTorch checkpoint");
    const std::string prefix = pkl->name.substr(0, pkl->name.size() - 8);

    std::span<const uint8_t> pkl_bytes;
    try {
        if (const auto* bo = zip.find(prefix + "byteorder")) {
            auto b = zip.data(*bo);
            std::string order(reinterpret_cast<const char*>(b.data()), b.size());
            if (order != "little") fail(path, "storages are saved in '" + order + "' byte order; only little-endian is supported");
        }
        pkl_bytes = zip.data(*pkl);
    } catch (const ZipError& e) {
        throw CheckpointError(e.what());
    }
    if (crc32_z(0, pkl_bytes.data(), pkl_bytes.size()) != pkl->crc32)
        fail(path, pkl->name + " fails its CRC-32 check: the file is corrupt");

    std::shared_ptr<const PickleValue> root;
    try {
        root = parse_pickle(pkl_bytes);
    } catch (const PickleError& e) {
        fail(path, pkl->name + ": corrupt pickle: " + e.what());
    }

    const PickleValue* dict = root.get();
    if (!is_dict(*dict)) fail(path, "data.pkl holds " + describe(*dict) + ", not a state dict");
    for (const char* key : {"model", "state_dict"}) {
        const PickleValue* inner = dict->find(key);
        if (inner && is_dict(*inner)) {
            dict = inner;
            break;
        }
    }

    for (const auto& [k, v] : dict->entries) {
        if (!k->is(Kind::String)) fail(path, "state dict key is " + describe(*k) + ", not a string");
        const std::string& name = k->text;
        const std::vector<PickleRef>* rebuild = rebuild_args(*v);
        if (!rebuild)
            fail(path, "state dict entry '" + name + "' is " + describe(*v) +
                           ", not a tensor (torch._utils._rebuild_tensor_v2); expected a state dict, "
                           "or a dict holding one under \"model\" or \"state_dict\"");
        const auto& args = *rebuild;
        if (args.size() < 4) fail(path, "tensor '" + name + "': _rebuild_tensor_v2 with " + std::to_string(args.size()) + " arguments");

        // Persistent id: ('storage', torch.<Type>Storage, key, location, numel).
        const PickleValue& pid = *args[0];
        const auto* id = pid.is(Kind::PersistentId) ? pid.args : nullptr;
        if (!id || !id->is(Kind::Tuple) || id->items.size() != 5 || !id->items[0]->is(Kind::String) ||
            id->items[0]->text != "storage" || !id->items[1]->is(Kind::Global) || !id->items[2]->is(Kind::String))
            fail(path, "tensor '" + name + "': storage is " + describe(pid) +
                           ", not a ('storage', type, key, location, numel) persistent id");
        const std::string& type = id->items[1]->text;
        const StorageType* st = nullptr;
        for (const auto& s : kStorageTypes)
            if (type == s.global) st = &s;
        if (!st) fail(path, "tensor '" + name + "': unsupported storage type " + type);

        Info in;
        in.name = name;
        in.dtype = st->dtype;
        if (!args[1]->is(Kind::Int) || args[1]->integer < 0)
            fail(path, "tensor '" + name + "': storage offset is " + describe(*args[1]));
        in.offset = args[1]->integer;
        in.shape = int_tuple(path, name, "size", *args[2]);
        in.stride = int_tuple(path, name, "stride", *args[3]);
        if (in.shape.size() != in.stride.size())
            fail(path, "tensor '" + name + "': size " + shape_str(in.shape) + " and stride " + shape_str(in.stride) +
                           " differ in rank");

        const std::string entry_name = prefix + "data/" + id->items[2]->text;
        const ZipArchive::Entry* entry = zip.find(entry_name);
        if (!entry) fail(path, "tensor '" + name + "': storage entry '" + entry_name + "' is missing from the zip");
        std::span<const uint8_t> storage;
        try {
            storage = zip.data(*entry);
        } catch (const ZipError& e) {
            throw CheckpointError(e.what());
        }

        // Elements the view spans: offset + 1 + sum((size - 1) * stride), none if a size is 0.
        // Every value comes from the file, so overflow is an error, not a wrap-around.
        bool overflow = false;
        int64_t numel = 1, last = 0;
        for (size_t d = 0; d < in.shape.size(); ++d) {
            int64_t step;
            overflow |= __builtin_mul_overflow(numel, in.shape[d], &numel);
            if (in.shape[d] > 0) {
                overflow |= __builtin_mul_overflow(in.shape[d] - 1, in.stride[d], &step);
                overflow |= __builtin_add_overflow(last, step, &last);
            }
        }
        int64_t needed_bytes = 0;
        if (numel > 0) {
            int64_t end;
            overflow |= __builtin_add_overflow(in.offset, last + 1, &end);
            overflow |= __builtin_mul_overflow(end, static_cast<int64_t>(dtype_size(in.dtype)), &needed_bytes);
        }
        if (overflow || static_cast<uint64_t>(needed_bytes) > storage.size())
            fail(path, "tensor '" + name + "' (" + dtype_name(in.dtype) + ", shape " + shape_str(in.shape) + ", stride " +
                           shape_str(in.stride) + ", offset " + std::to_string(in.offset) + ") needs " +
                           (overflow ? std::string("more") : std::to_string(needed_bytes)) + " bytes of storage '" +
                           entry_name + "', which holds only " + std::to_string(storage.size()));
        // Zero or overlapping strides would let a few stored bytes declare a tensor of any size,
        // which get() then converts into a fresh block: a saved weight never repeats elements.
        if (static_cast<uint64_t>(numel) > storage.size() / dtype_size(in.dtype))
            fail(path, "tensor '" + name + "' (shape " + shape_str(in.shape) + ", stride " + shape_str(in.stride) +
                           ") has " + std::to_string(numel) + " elements but its storage '" + entry_name +
                           "' holds only " + std::to_string(storage.size() / dtype_size(in.dtype)) +
                           ": zero or overlapping strides repeat elements, which no saved weight does");
        in.storage = storage.data();

        auto it = ck.index_.find(name);
        if (it != ck.index_.end()) {  // a repeated key: the later value wins, as in Python
            ck.infos_[it->second] = std::move(in);
            continue;
        }
        ck.index_.emplace(name, ck.infos_.size());
        ck.names_.push_back(name);
        ck.infos_.push_back(std::move(in));
    }
    return ck;
}

const Checkpoint::Info& Checkpoint::info(const std::string& name) const {
    auto it = index_.find(name);
    if (it == index_.end()) fail(path(), "missing tensor '" + name + "'");
    return infos_[it->second];
}

std::string Checkpoint::content_id() const { return zip_content_id(zip_); }

Shape Checkpoint::shape(const std::string& name) const { return info(name).shape; }

DType Checkpoint::dtype(const std::string& name) const { return info(name).dtype; }

Tensor Checkpoint::get(const std::string& name) const {
    const Info& in = info(name);
    if (shape_numel(in.shape) == 0) return Tensor::empty(in.shape);  // its offset may lie anywhere
    const size_t elem = dtype_size(in.dtype);
    const uint8_t* src = in.storage + in.offset * static_cast<int64_t>(elem);
    if (in.dtype == DType::F32 && is_contiguous(in.shape, in.stride) &&
        reinterpret_cast<uintptr_t>(src) % alignof(float) == 0)
        return Tensor::wrap(reinterpret_cast<float*>(const_cast<uint8_t*>(src)), in.shape, zip_.mapping());

    Tensor out = Tensor::empty(in.shape);
    auto run = [&](auto cvt) { gather(in.shape, in.stride, src, elem, out.data, cvt); };
    switch (in.dtype) {
        case DType::F32: run([](const uint8_t* p) { return load<float>(p); }); break;
        case DType::F16: run([](const uint8_t* p) { return half_to_float(load<uint16_t>(p)); }); break;
        case DType::BF16: run([](const uint8_t* p) { return bf16_to_float(load<uint16_t>(p)); }); break;
        case DType::F64: run([](const uint8_t* p) { return static_cast<float>(load<double>(p)); }); break;
        case DType::I64: run([](const uint8_t* p) { return static_cast<float>(load<int64_t>(p)); }); break;
        case DType::I32: run([](const uint8_t* p) { return static_cast<float>(load<int32_t>(p)); }); break;
        case DType::I16: run([](const uint8_t* p) { return static_cast<float>(load<int16_t>(p)); }); break;
        case DType::I8: run([](const uint8_t* p) { return static_cast<float>(load<int8_t>(p)); }); break;
        case DType::U8: run([](const uint8_t* p) { return static_cast<float>(*p); }); break;
        case DType::Bool: run([](const uint8_t* p) { return *p ? 1.0f : 0.0f; }); break;
    }
    return out;
}

Tensor Checkpoint::get(const std::string& name, const Shape& expected) const {
    const Info& in = info(name);
    if (in.shape != expected)
        fail(path(), "tensor '" + name + "' has shape " + shape_str(in.shape) + ", expected " + shape_str(expected));
    return get(name);
}

}  // namespace sam::io
