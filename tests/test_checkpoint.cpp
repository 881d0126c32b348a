// PyTorch checkpoint reader: the golden checkpoints, corrupted copies of them, and tiny
// checkpoints built byte by byte here (fp16/bf16, strides, offsets, wrappers, ZIP64 fields).
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "io/checkpoint.hpp"
#include "io/pickle.hpp"
#include "io/zip_archive.hpp"
#include "support/golden.hpp"
#include "support/torch_files.hpp"

namespace fs = std::filesystem;
using namespace std::string_literals;
using sam::Shape;
using sam::io::Checkpoint;
using sam::io::CheckpointError;
using sam::io::DType;

namespace {

const char* kMobileSam = "checkpoints/mobile_sam_random.pt";
const char* kVitMini = "checkpoints/sam_vit_mini_random.pth";

using samtest::crc;
using samtest::float_bytes;
using samtest::get32;
using samtest::half_bytes;
using samtest::make_zip;
using samtest::Pickle;

class CheckpointTest : public ::testing::Test {
protected:
    fs::path dir;
    void SetUp() override {
        dir = fs::temp_directory_path() / ("sam_checkpoint_test_" + std::to_string(getpid()) + "_" +
                                           ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir);
    }
    void TearDown() override { fs::remove_all(dir); }

    std::string write(const std::string& name, const std::string& bytes) {
        std::string p = (dir / name).string();
        std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
        return p;
    }
    // The message of the CheckpointError that opening `path` throws ("" if it opens).
    static std::string open_error(const std::string& path) {
        try {
            Checkpoint::open(path);
        } catch (const CheckpointError& e) {
            return e.what();
        }
        return "";
    }
};

#define REQUIRE_GOLDEN() \
    if (!samtest::golden_available()) GTEST_SKIP() << "golden data not found"

// The raw bytes of a stored entry, found through its local header only (independent of the
// central-directory code under test).
std::string local_entry(const std::string& zip, const std::string& name, size_t* data_at = nullptr) {
    std::string sig("PK\x03\x04", 4);
    for (size_t p = zip.find(sig); p != std::string::npos; p = zip.find(sig, p + 1)) {
        uint16_t name_len, extra_len;
        std::memcpy(&name_len, zip.data() + p + 26, 2);
        std::memcpy(&extra_len, zip.data() + p + 28, 2);
        if (zip.compare(p + 30, name_len, name) != 0 || name_len != name.size()) continue;
        size_t at = p + 30 + name_len + extra_len;
        if (data_at) *data_at = at;
        return zip.substr(at);  // caller takes what it needs
    }
    return {};
}

// Offset of `name`'s central-directory record.
size_t central_record(const std::string& zip, const std::string& name) {
    std::string sig("PK\x01\x02", 4);
    for (size_t p = zip.find(sig); p != std::string::npos; p = zip.find(sig, p + 1))
        if (zip.compare(p + 46, name.size(), name) == 0) return p;
    return std::string::npos;
}

}  // namespace

TEST_F(CheckpointTest, MobileSamNamesShapesDtypes) {
    REQUIRE_GOLDEN();
    Checkpoint ck = Checkpoint::open(samtest::golden(kMobileSam));
    EXPECT_EQ(ck.path(), samtest::golden(kMobileSam));
    ASSERT_EQ(ck.names().size(), 439u);
    EXPECT_EQ(ck.names().front(), "image_encoder.patch_embed.seq.0.c.weight");
    EXPECT_EQ(ck.shape("image_encoder.patch_embed.seq.0.c.weight"), (Shape{32, 3, 3, 3}));
    EXPECT_EQ(ck.shape("mask_decoder.iou_prediction_head.layers.2.weight"), (Shape{4, 256}));
    EXPECT_EQ(ck.dtype("mask_decoder.iou_prediction_head.layers.2.weight"), DType::F32);
    // BatchNorm counters are 0-d int64 tensors.
    const std::string counter = "image_encoder.patch_embed.seq.0.bn.num_batches_tracked";
    ASSERT_TRUE(ck.contains(counter));
    EXPECT_EQ(ck.dtype(counter), DType::I64);
    EXPECT_EQ(ck.shape(counter), Shape{});
    EXPECT_EQ(ck.get(counter).numel(), 1);
    EXPECT_FALSE(ck.contains("image_encoder.no_such_tensor"));
    EXPECT_THROW(ck.shape("image_encoder.no_such_tensor"), CheckpointError);
}

TEST_F(CheckpointTest, VitMiniOpens) {
    REQUIRE_GOLDEN();
    Checkpoint ck = Checkpoint::open(samtest::golden(kVitMini));
    EXPECT_EQ(ck.names().front(), "image_encoder.pos_embed");
    EXPECT_EQ(ck.shape("image_encoder.pos_embed"), (Shape{1, 64, 64, 256}));
    EXPECT_EQ(ck.shape("image_encoder.blocks.1.attn.rel_pos_h"), (Shape{2 * 64 - 1, 64}));
    EXPECT_EQ(ck.shape("image_encoder.blocks.0.attn.rel_pos_h"), (Shape{2 * 14 - 1, 64}));
}

TEST_F(CheckpointTest, ValuesAreTheRawStorageBytesAndZeroCopy) {
    REQUIRE_GOLDEN();
    std::string raw = samtest::read_file(samtest::golden(kMobileSam));
    size_t at = 0;
    std::string storage = local_entry(raw, "mobile_sam_random/data/0", &at);
    ASSERT_GE(storage.size(), 864u * 4);
    EXPECT_EQ(at % 64, 0u);  // torch aligns storages

    Checkpoint ck = Checkpoint::open(samtest::golden(kMobileSam));
    sam::Tensor t = ck.get("image_encoder.patch_embed.seq.0.c.weight", {32, 3, 3, 3});
    ASSERT_EQ(t.numel(), 864);
    EXPECT_EQ(std::memcmp(t.data, storage.data(), 864 * 4), 0);
    // A view into the mapping, exactly at the entry's data offset.
    const auto* base = static_cast<const uint8_t*>(t.owner.get());
    EXPECT_EQ(reinterpret_cast<const uint8_t*>(t.data), base + at);
    // The view keeps the mapping alive after the checkpoint is gone.
    float first = t.data[0];
    {
        Checkpoint tmp = Checkpoint::open(samtest::golden(kMobileSam));
        t = tmp.get("image_encoder.patch_embed.seq.0.c.weight");
    }
    EXPECT_EQ(t.data[0], first);
    // Every float32 tensor lies inside the file.
    uint64_t size = fs::file_size(samtest::golden(kMobileSam));
    for (const auto& name : ck.names()) {
        if (ck.dtype(name) != DType::F32) continue;
        sam::Tensor v = ck.get(name);
        auto* p = reinterpret_cast<const uint8_t*>(v.data);
        auto* b = static_cast<const uint8_t*>(v.owner.get());
        ASSERT_TRUE(p >= b && p + v.numel() * 4 <= b + size) << name;
    }
}

TEST_F(CheckpointTest, MissingFile) {
    std::string p = (dir / "nope.pt").string();
    std::string err = open_error(p);
    EXPECT_NE(err.find(p), std::string::npos) << err;
    EXPECT_NE(err.find("No such file"), std::string::npos) << err;
    err = open_error(dir.string());
    EXPECT_NE(err.find("not a regular file"), std::string::npos) << err;
}

TEST_F(CheckpointTest, NotAZip) {
    std::string err = open_error(write("text.pt", "hello, this is not a checkpoint at all\n"));
    EXPECT_NE(err.find("text.pt: not a zip archive"), std::string::npos) << err;
    err = open_error(write("empty.pt", ""));
    EXPECT_NE(err.find("empty file"), std::string::npos) << err;
    err = open_error(write("legacy.pt", std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 14) +
                                           std::string(100, '\0')));
    EXPECT_NE(err.find("legacy"), std::string::npos) << err;
    // A zip without data.pkl.
    err = open_error(write("other.zip", make_zip({{"a/readme.txt", "hi"}})));
    EXPECT_NE(err.find("no <folder>/data.pkl"), std::string::npos) << err;
}

TEST_F(CheckpointTest, Truncated) {
    REQUIRE_GOLDEN();
    std::string raw = samtest::read_file(samtest::golden(kMobileSam));
    size_t cd = raw.find(std::string("PK\x01\x02", 4));
    ASSERT_NE(cd, std::string::npos);
    std::string p = write("cut.pt", raw);
    for (size_t cut : {raw.size() - 1, raw.size() - 22, cd + 1000, cd, cd - 1, raw.size() / 2, size_t(100)}) {
        fs::resize_file(p, cut);
        std::string err = open_error(p);
        EXPECT_NE(err.find(p + ": not a zip archive, or truncated"), std::string::npos) << "cut at " << cut << ": " << err;
    }
    // An intact end record whose central directory points past the end of the file.
    std::string shifted = raw.substr(0, cd) + raw.substr(raw.size() - 98);
    std::string err = open_error(write("shifted.pt", shifted));
    EXPECT_NE(err.find("beyond the end of the file"), std::string::npos) << err;
}

TEST_F(CheckpointTest, CorruptPickle) {
    REQUIRE_GOLDEN();
    std::string raw = samtest::read_file(samtest::golden(kMobileSam));
    const std::string pkl_name = "mobile_sam_random/data.pkl";
    size_t pkl_at = 0;
    local_entry(raw, pkl_name, &pkl_at);
    size_t cd = central_record(raw, pkl_name);
    ASSERT_NE(cd, std::string::npos);
    uint32_t pkl_size = get32(raw, cd + 20);

    // One copy, damaged in place: set pickle byte `off`, optionally fix the CRC so the
    // pickle reader sees the damage, open, then undo.
    std::string p = write("damaged.pt", raw);
    std::string pkl = raw.substr(pkl_at, pkl_size);
    auto patch = [&](size_t at, const char* bytes, size_t n) {
        std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(std::streamoff(at)), f.write(bytes, std::streamsize(n));
    };
    auto damaged_error = [&](size_t off, char value, bool fix_crc) {
        char old = pkl[off];
        pkl[off] = value;
        uint32_t c = fix_crc ? crc(pkl) : get32(raw, cd + 16);
        patch(pkl_at + off, &pkl[off], 1);
        patch(cd + 16, reinterpret_cast<const char*>(&c), 4);
        std::string err = open_error(p);
        pkl[off] = old;
        patch(pkl_at + off, &pkl[off], 1);
        return err;
    };

    // Without a CRC fix, any flip is caught by the CRC.
    std::string err = damaged_error(500, pkl[500] ^ 0x20, false);
    EXPECT_NE(err.find(p + ": mobile_sam_random/data.pkl fails its CRC-32 check"), std::string::npos) << err;
    // Specific damage, specific messages.
    err = damaged_error(2, char(0xfe), true);  // the first GLOBAL opcode
    EXPECT_NE(err.find(p + ": mobile_sam_random/data.pkl: corrupt pickle: offset 2: unsupported pickle opcode 0xfe"),
              std::string::npos)
        << err;
    err = damaged_error(38, char(0x7f), true);  // high byte of the first key's BINUNICODE length
    EXPECT_NE(err.find("offset 34: needs"), std::string::npos) << err;
    err = damaged_error(pkl_size - 1, 'N', true);  // STOP replaced
    EXPECT_NE(err.find("ends without a STOP"), std::string::npos) << err;

    // A sweep of single-byte flips: each either opens or throws a CheckpointError; never
    // anything else, never a crash or a hang.
    int failures = 0, opened = 0;
    for (size_t off = 0; off < pkl_size; off += 151) {
        err = damaged_error(off, pkl[off] ^ char(0xff), true);
        if (err.empty()) {
            ++opened;
        } else {
            ++failures;
            EXPECT_EQ(err.rfind(p + ": ", 0), 0u) << err;
        }
    }
    EXPECT_GT(failures, 100) << opened;
    EXPECT_GT(opened, 0);  // flips inside key names still give a valid pickle
}

TEST_F(CheckpointTest, StorageTooShort) {
    REQUIRE_GOLDEN();
    std::string raw = samtest::read_file(samtest::golden(kMobileSam));
    const std::string pkl_name = "mobile_sam_random/data.pkl";
    size_t pkl_at = 0;
    local_entry(raw, pkl_name, &pkl_at);
    size_t cd = central_record(raw, pkl_name);
    uint32_t pkl_size = get32(raw, cd + 20);
    // The first tensor's storage offset: "Q" (BINPERSID) then "K\0".
    size_t q = raw.find(std::string("QK\0", 3), pkl_at);
    ASSERT_LT(q, pkl_at + pkl_size);
    raw[q + 2] = 1;  // 864 floats from offset 1 need 865 of the 864 stored
    uint32_t c = crc32_z(0, reinterpret_cast<const uint8_t*>(raw.data()) + pkl_at, pkl_size);
    std::memcpy(raw.data() + cd + 16, &c, 4);
    std::string err = open_error(write("short.pt", raw));
    EXPECT_NE(err.find("tensor 'image_encoder.patch_embed.seq.0.c.weight' (float32, shape [32, 3, 3, 3], stride "
                       "[27, 9, 3, 1], offset 1) needs 3460 bytes of storage 'mobile_sam_random/data/0', which holds "
                       "only 3456"),
              std::string::npos)
        << err;
}

TEST_F(CheckpointTest, MissingKeyAndWrongShape) {
    REQUIRE_GOLDEN();
    std::string path = samtest::golden(kMobileSam);
    Checkpoint ck = Checkpoint::open(path);
    try {
        ck.get("mask_decoder.iou_prediction_head.layers.2.weight", {256, 4});
        FAIL() << "no error";
    } catch (const CheckpointError& e) {
        EXPECT_EQ(std::string(e.what()),
                  path + ": tensor 'mask_decoder.iou_prediction_head.layers.2.weight' has shape [4, 256], expected [256, 4]");
    }
    try {
        ck.get("mask_decoder.nothing", {4});
        FAIL() << "no error";
    } catch (const CheckpointError& e) {
        EXPECT_EQ(std::string(e.what()), path + ": missing tensor 'mask_decoder.nothing'");
    }
    EXPECT_EQ(ck.get("mask_decoder.iou_prediction_head.layers.2.weight", {4, 256}).numel(), 1024);
}

// fp16 / bf16 / f64 / int storages, storage offsets, non-contiguous strides, in a checkpoint
// built here (ZIP64 records, alignment padding, data descriptors as torch writes them).
TEST_F(CheckpointTest, HalfBFloat16AndStrides) {
    // Half: 1, -2, 0.5, 65504, smallest subnormal, 1/3 (rounded), -inf, 0, 1.5, 2, 3, 4.
    std::vector<uint16_t> half = {0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x3555,
                                  0xfc00, 0x0000, 0x3e00, 0x4000, 0x4200, 0x4400};
    std::vector<float> half_f = {1.f, -2.f, 0.5f, 65504.f, std::ldexp(1.f, -24), 0.333251953125f,
                                 -std::numeric_limits<float>::infinity(), 0.f, 1.5f, 2.f, 3.f, 4.f};
    // BFloat16: the top half of float32 bits.
    std::vector<uint16_t> bf = {0x3f80, 0xc0a0, 0x3e80, 0x4149, 0xbf00, 0x4780, 0x0000, 0x3f40, 0x4000};
    std::vector<float> bf_f = {1.f, -5.f, 0.25f, 12.5625f, -0.5f, 65536.f, 0.f, 0.75f, 2.f};
    std::vector<float> f32 = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    std::string f64;
    for (double d : {1.25, -3.5}) f64.append(reinterpret_cast<const char*>(&d), 8);
    std::string i64;
    for (int64_t v : {int64_t(7), int64_t(-9)}) i64.append(reinterpret_cast<const char*>(&v), 8);

    Pickle pk;
    pk.ordered_dict().op('q').b += char(0);
    pk.op('(');
    pk.str("h.contig").tensor("HalfStorage", "0", 12, 2, {2, 3}, {3, 1});
    pk.str("h.transposed").tensor("HalfStorage", "0", 12, 1, {3, 2}, {1, 3});
    pk.str("b.strided").tensor("BFloat16Storage", "1", 9, 1, {2, 2}, {4, 2});
    pk.str("f.view").tensor("FloatStorage", "2", 12, 4, {2, 4}, {4, 1});
    pk.str("f.transposed").tensor("FloatStorage", "2", 12, 0, {4, 3}, {1, 4});
    pk.str("f.scalar").tensor("FloatStorage", "2", 12, 5, {}, {});
    pk.str("d.vec").tensor("DoubleStorage", "3", 2, 0, {2}, {1});
    pk.str("l.vec").tensor("LongStorage", "4", 2, 0, {2}, {1});
    pk.str("f.empty").tensor("FloatStorage", "2", 12, 100, {0, 3}, {3, 1});  // empty: offset unchecked
    pk.op('u').op('.');
    std::string p = write("tiny.pt", make_zip({{"tiny/data.pkl", pk.b},
                                               {"tiny/data/0", half_bytes(half)},
                                               {"tiny/data/1", half_bytes(bf)},
                                               {"tiny/data/2", float_bytes(f32)},
                                               {"tiny/data/3", f64},
                                               {"tiny/data/4", i64},
                                               {"tiny/version", "3\n"}},
                                              /*zip64=*/true));
    Checkpoint ck = Checkpoint::open(p);
    ASSERT_EQ(ck.names(), (std::vector<std::string>{"h.contig", "h.transposed", "b.strided", "f.view", "f.transposed",
                                                    "f.scalar", "d.vec", "l.vec", "f.empty"}));
    EXPECT_EQ(ck.dtype("h.contig"), DType::F16);
    EXPECT_EQ(ck.dtype("b.strided"), DType::BF16);

    auto expect_values = [&](const std::string& name, const Shape& shape, const std::vector<float>& want) {
        sam::Tensor t = ck.get(name, shape);
        ASSERT_EQ(t.numel(), int64_t(want.size())) << name;
        for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(t.data[i], want[i]) << name << "[" << i << "]";
    };
    expect_values("h.contig", {2, 3}, {half_f[2], half_f[3], half_f[4], half_f[5], half_f[6], half_f[7]});
    // [i][j] = storage[1 + i + 3j]
    expect_values("h.transposed", {3, 2}, {half_f[1], half_f[4], half_f[2], half_f[5], half_f[3], half_f[6]});
    // [i][j] = storage[1 + 4i + 2j]
    expect_values("b.strided", {2, 2}, {bf_f[1], bf_f[3], bf_f[5], bf_f[7]});
    expect_values("f.transposed", {4, 3}, {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
    expect_values("f.scalar", {}, {5});
    expect_values("d.vec", {2}, {1.25f, -3.5f});
    expect_values("l.vec", {2}, {7, -9});
    expect_values("f.empty", {0, 3}, {});

    // Contiguous float32 with an offset: a view at storage + 4 floats; the transpose is a copy.
    sam::Tensor view = ck.get("f.view"), scalar = ck.get("f.scalar"), copy = ck.get("f.transposed");
    EXPECT_EQ(view.data[0], 4.f);
    EXPECT_EQ(scalar.data, view.data + 1);
    EXPECT_EQ(view.owner, scalar.owner);
    EXPECT_NE(copy.owner, view.owner);
}

TEST_F(CheckpointTest, UnwrapsModelAndStateDict) {
    for (const char* wrapper : {"model", "state_dict"}) {
        Pickle pk;
        pk.op('}').op('(').str("epoch").integer(3).str("lr").op('G');
        pk.b += std::string("\x3f\x50\x62\x4d\xd2\xf1\xa9\xfc", 8);  // 0.001, big-endian
        pk.str(wrapper).ordered_dict().op('(');
        pk.str("w").tensor("FloatStorage", "0", 3, 0, {3}, {1});
        pk.op('u').op('u').op('.');
        std::string p = write("wrapped.pt", make_zip({{"w/data.pkl", pk.b}, {"w/data/0", float_bytes({1, 2, 3})}}));
        Checkpoint ck = Checkpoint::open(p);
        ASSERT_EQ(ck.names(), std::vector<std::string>{"w"}) << wrapper;
        EXPECT_EQ(ck.get("w", {3}).data[2], 3.f);
    }
    // A dict of something else is refused with the offending entry named.
    Pickle pk;
    pk.op('}').op('(').str("epoch").integer(3).str("net").op('}').op('u').op('.');
    std::string err = open_error(write("odd.pt", make_zip({{"x/data.pkl", pk.b}})));
    EXPECT_NE(err.find("state dict entry 'epoch' is int 3, not a tensor"), std::string::npos) << err;
}

// Parameters and tensors with Python state are pickled through wrapper calls.
TEST_F(CheckpointTest, ParameterWrappers) {
    Pickle pk;
    pk.ordered_dict().op('(');
    pk.str("param").global("torch._utils", "_rebuild_parameter");
    pk.tensor("FloatStorage", "0", 4, 1, {3}, {1}).op('\x88').ordered_dict().op('\x87').op('R');
    pk.str("typed").global("torch._tensor", "_rebuild_from_type_v2").op('(');
    pk.global("torch._utils", "_rebuild_tensor_v2").global("torch", "Tensor").op('(');
    pk.op('(').str("storage").global("torch", "FloatStorage").str("0").str("cpu").integer(4).op('t').op('Q');
    pk.integer(0).tuple({2}).tuple({2}).op('\x89').ordered_dict().op('t').op('}').op('t').op('R');
    pk.op('u').op('.');
    std::string p = write("params.pt", make_zip({{"x/data.pkl", pk.b}, {"x/data/0", float_bytes({1, 2, 3, 4})}}));
    Checkpoint ck = Checkpoint::open(p);
    sam::Tensor param = ck.get("param", {3}), typed = ck.get("typed", {2});
    EXPECT_EQ(param.data[0], 2.f);
    EXPECT_EQ(param.data[2], 4.f);
    EXPECT_EQ(typed.data[0], 1.f);
    EXPECT_EQ(typed.data[1], 3.f);  // stride 2
}

TEST_F(CheckpointTest, UnknownGlobalsAreNamedNeverRun) {
    Pickle pk;
    pk.ordered_dict().op('(').str("w").global("os", "system").str("echo hi").op('\x85').op('R').op('u').op('.');
    std::string err = open_error(write("evil.pt", make_zip({{"x/data.pkl", pk.b}})));
    EXPECT_NE(err.find("state dict entry 'w' is os.system(...), not a tensor"), std::string::npos) << err;

    Pickle top;
    top.global("subprocess", "call").str("ls").op('\x85').op('R').op('.');
    err = open_error(write("evil2.pt", make_zip({{"x/data.pkl", top.b}})));
    EXPECT_NE(err.find("data.pkl holds subprocess.call(...), not a state dict"), std::string::npos) << err;

    Pickle storage;
    storage.ordered_dict().op('(').str("w").tensor("QInt8Storage", "0", 1, 0, {1}, {1}).op('u').op('.');
    err = open_error(write("qint.pt", make_zip({{"x/data.pkl", storage.b}, {"x/data/0", "\1"}})));
    EXPECT_NE(err.find("tensor 'w': unsupported storage type torch.QInt8Storage"), std::string::npos) << err;
}

TEST_F(CheckpointTest, MissingStorageAndBadZipEntries) {
    Pickle pk;
    pk.ordered_dict().op('(').str("w").tensor("FloatStorage", "7", 1, 0, {1}, {1}).op('u').op('.');
    std::string err = open_error(write("nostorage.pt", make_zip({{"x/data.pkl", pk.b}})));
    EXPECT_NE(err.find("tensor 'w': storage entry 'x/data/7' is missing from the zip"), std::string::npos) << err;

    // Compressed entries are found but not readable.
    std::string p = write("deflate.zip", make_zip({{"x/data.pkl", pk.b}}, false, /*method=*/8));
    sam::io::ZipArchive z = sam::io::ZipArchive::open(p);
    ASSERT_EQ(z.entries().size(), 1u);
    const auto* e = z.find("x/data.pkl");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(z.find("x/other"), nullptr);
    EXPECT_EQ(e->method, 8);
    EXPECT_THROW(z.data(*e), sam::io::ZipError);
    err = open_error(p);
    EXPECT_NE(err.find("entry 'x/data.pkl' is compressed (method 8)"), std::string::npos) << err;
}

TEST(Pickle, Values) {
    using sam::io::PickleValue;
    // (True, -2**40 via LONG1, 1.5, b"ab", [None], memo round trip)
    std::string b = "\x80\x02(\x88\x8a\x06\x00\x00\x00\x00\x00\xff" "G\x3f\xf8\x00\x00\x00\x00\x00\x00" "C\x02" "ab"
                    "]q\x05N" "ah\x05" "t."s;
    auto v = sam::io::parse_pickle({reinterpret_cast<const uint8_t*>(b.data()), b.size()});
    ASSERT_TRUE(v->is(PickleValue::Kind::Tuple));
    ASSERT_EQ(v->items.size(), 6u);
    EXPECT_TRUE(v->items[0]->boolean);
    EXPECT_EQ(v->items[1]->integer, -(int64_t(1) << 40));
    EXPECT_EQ(v->items[2]->number, 1.5);
    EXPECT_EQ(v->items[3]->text, "ab");
    EXPECT_EQ(v->items[4]->items.size(), 1u);
    EXPECT_EQ(v->items[4], v->items[5]);  // BINGET returns the same object
}

TEST(Pickle, Errors) {
    auto err = [](const std::string& b) -> std::string {
        try {
            sam::io::parse_pickle({reinterpret_cast<const uint8_t*>(b.data()), b.size()});
        } catch (const sam::io::PickleError& e) {
            return e.what();
        }
        return "";
    };
    EXPECT_EQ(err(""), "offset 0: pickle ends without a STOP opcode");
    EXPECT_EQ(err("\x80\x02t."), "offset 2: no MARK to pop to");
    EXPECT_EQ(err("\x80\x02\x85."), "offset 2: stack underflow");
    EXPECT_EQ(err("\x80\x02h\x07."), "offset 2: memo index 7 was never stored");
    EXPECT_EQ(err("\x80\x09."), "offset 0: unsupported pickle protocol 9");
    EXPECT_EQ(err("\x80\x02NN."), "offset 4: STOP with 2 values on the stack (expected 1)");
    EXPECT_EQ(err("\x80\x02X\xff\xff\xff\x7f" "abc."),
              "offset 2: needs 2147483647 bytes but only 4 remain (truncated or corrupt pickle)");
    EXPECT_EQ(err("\x80\x02K\x01K\x02R."), "offset 6: REDUCE of int, not of a global");
    EXPECT_EQ(err("\x80\x02" "cos\nsystem"), "offset 2: GLOBAL name without a terminating newline");
}
