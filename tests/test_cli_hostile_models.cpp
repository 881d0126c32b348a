// Hostile model files: each is refused with a clear error naming the file, before the loader
// allocates what the file declares; the real binary (serve and segment) exits 1 with that
// message under a 6 GiB address-space limit, using little memory.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "io/checkpoint.hpp"
#include "io/pickle.hpp"
#include "models/vit_encoder.hpp"
#include "onnx/graph.hpp"
#include "support/child_process.hpp"
#include "support/golden.hpp"
#include "support/onnx_files.hpp"
#include "support/torch_files.hpp"

namespace fs = std::filesystem;
using sam::Shape;

namespace {

constexpr uint64_t kAddressSpace = uint64_t(6) << 30;
constexpr int64_t kMaxRssKb = 1 << 20;  // 1 GiB: far above a refused load, far below what the files declare

std::string write_file(const std::string& name, const std::string& bytes) {
    const fs::path dir = fs::temp_directory_path() / ("sam_hostile_" + std::to_string(getpid()));
    fs::create_directories(dir);
    const std::string path = (dir / name).string();
    std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    return path;
}

std::shared_ptr<const sam::io::PickleValue> parse(const std::string& b) {
    return sam::io::parse_pickle({reinterpret_cast<const uint8_t*>(b.data()), b.size()});
}

// ---------------------------------------------------------------------------------------------
// The files

// A pickle whose value is a million tuples, each holding the next.
std::string nested_tuples_pickle(int depth) {
    std::string b = "\x80\x02)";
    b.append(size_t(depth), '\x85');  // TUPLE1
    return b + ".";
}

// A list that holds itself: EMPTY_LIST, BINPUT 0, BINGET 0, APPEND.
const std::string kSelfListPickle = std::string("\x80\x02]q\x00h\x00" "a.", 9);

std::string checkpoint_with_pickle(const std::string& pickle) { return samtest::make_zip({{"archive/data.pkl", pickle}}); }

// A SAM ViT checkpoint whose patch embedding declares 2^20 x 3 x 16 x 16 floats (3 GiB) with
// stride 0 over a storage of one float.
std::string vit_stride0_checkpoint() {
    const int64_t E = 1 << 20;
    return samtest::make_zip(samtest::state_dict_files({
        {"image_encoder.patch_embed.proj.weight", {E, 3, 16, 16}, {0, 0, 0, 0}, 1},
        {"image_encoder.blocks.0.attn.rel_pos_h", {27, 64}, {}, -1},
        {"image_encoder.neck.0.weight", {256, E, 1, 1}, {0, 0, 0, 0}, 1},
    }));
}

std::string onnx_huge_initializer() {
    samtest::OnnxModel m;
    m.init_f("big", {int64_t(1) << 32, int64_t(1) << 32}, {});
    m.node("Identity", {"big"}, {"y"});
    return m.output("y").bytes();
}

std::string onnx_expand() {
    samtest::OnnxModel m;
    m.init_f("x", {1}, {1.0f}).init_i64("shape", {2}, {int64_t(1) << 31, int64_t(1) << 31});
    m.node("Expand", {"x", "shape"}, {"y"});
    return m.output("y").bytes();
}

std::string onnx_no_outputs() {
    samtest::OnnxModel m;
    m.init_f("a", {1}, {1.0f}).init_f("b", {1}, {2.0f});
    m.node("Add", {"a", "b"}, {});
    m.node("Identity", {"a"}, {"y"});
    return m.output("y").bytes();
}

std::string onnx_constant_of_shape() {
    samtest::OnnxModel m;
    m.init_i64("shape", {2}, {23170, 23170});
    m.node("ConstantOfShape", {"shape"}, {"y"});
    return m.output("y").bytes();
}

std::string load_error(const std::function<void()>& load) {
    try {
        load();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

#define EXPECT_HAS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

// ---------------------------------------------------------------------------------------------
// In-process: the readers

TEST(HostilePickle, MillionNestedTuplesParseAndFreeWithoutRecursion) {
    const std::string b = nested_tuples_pickle(1'000'000);
    auto root = parse(b);
    const sam::io::PickleValue* v = root.get();
    int depth = 0;
    while (v->is(sam::io::PickleValue::Kind::Tuple) && !v->items.empty()) v = &*v->items[0], ++depth;
    EXPECT_EQ(depth, 1'000'000);
    root.reset();  // freed flat: a recursive destructor overflows the stack here

    const std::string path = write_file("nested.pt", checkpoint_with_pickle(b));
    const std::string err = load_error([&] { sam::io::Checkpoint::open(path); });
    EXPECT_HAS(err, path);
    EXPECT_HAS(err, "not a state dict");
}

TEST(HostilePickle, SelfReferencingListIsFreed) {
    auto root = parse(kSelfListPickle);
    ASSERT_TRUE(root->is(sam::io::PickleValue::Kind::List));
    ASSERT_EQ(root->items.size(), 1u);
    EXPECT_EQ(&*root->items[0], root.get());
    std::weak_ptr<const sam::io::PickleValue> watch = root;
    root.reset();
    EXPECT_TRUE(watch.expired()) << "the cycle keeps the list alive: a leak per load";
}

TEST(HostilePickle, BoundedWorkPerByte) {
    // Two bytes per value: None, POP, forever. The values alone would be ~100 bytes each.
    std::string b = "\x80\x02";
    for (int i = 0; i < 1'100'000; ++i) b += "N0";
    b += "N.";
    EXPECT_HAS(load_error([&] { parse(b); }), "more than 1048576 values");
    // A memoised string joined into GLOBAL names again and again.
    std::string g = "\x80\x02X" + std::string("\x00\x00\x01\x00", 4) + std::string(65536, 'm') + std::string("q\x00", 2);
    for (int i = 0; i < 100; ++i) g += std::string("h\x00h\x00\x93" "0", 6);
    g += "N.";
    EXPECT_HAS(load_error([&] { parse(g); }), "more text than twice the pickle's size");
}

TEST(HostileCheckpoint, ZeroStridesCannotDeclareHugeTensors) {
    const std::string path = write_file("stride0.pt", samtest::make_zip(samtest::state_dict_files({
                                                          {"w", {1 << 20, 3, 16, 16}, {0, 0, 0, 0}, 1},
                                                      })));
    const std::string err = load_error([&] { sam::io::Checkpoint::open(path); });
    EXPECT_HAS(err, path);
    EXPECT_HAS(err, "tensor 'w'");
    EXPECT_HAS(err, "holds only 1");
    // An ordinary transposed view (strides permuted, no repetition) still opens.
    const std::string ok = write_file("transposed.pt", samtest::make_zip(samtest::state_dict_files({
                                                           {"t", {3, 2}, {1, 3}, 6},
                                                       })));
    EXPECT_EQ(sam::io::Checkpoint::open(ok).shape("t"), (Shape{3, 2}));
}

// A SAM ViT's tensors as shapes only (no data): enough for infer_vit_config.
sam::TensorMap vit_shapes(int64_t E, int64_t patch, int depth, int64_t neck) {
    auto t = [](Shape s) { return sam::Tensor::wrap(nullptr, std::move(s), nullptr); };
    sam::TensorMap m;
    const std::string p = "image_encoder.";
    m[p + "patch_embed.proj.weight"] = t({E, 3, patch, patch});
    for (int i = 0; i < depth; ++i) m[p + "blocks." + std::to_string(i) + ".attn.rel_pos_h"] = t({27, 64});
    m[p + "neck.0.weight"] = t({neck, E, 1, 1});
    return m;
}

TEST(HostileCheckpoint, VitArchitectureBoundsAreCheckedFirst) {
    EXPECT_NO_THROW(sam::infer_vit_config(vit_shapes(768, 16, 12, 256)));
    EXPECT_HAS(load_error([] { sam::infer_vit_config(vit_shapes(1 << 20, 16, 1, 256)); }), "embed dim 1048576 is outside 1..4096");
    EXPECT_HAS(load_error([] { sam::infer_vit_config(vit_shapes(768, 1, 1, 256)); }), "patch size 1");
    EXPECT_HAS(load_error([] { sam::infer_vit_config(vit_shapes(768, 16, 200, 256)); }), "200 blocks");
    EXPECT_HAS(load_error([] { sam::infer_vit_config(vit_shapes(768, 16, 1, 1 << 20)); }), "256-channel");
}

TEST(HostileOnnx, DeclaredShapesAreCheckedBeforeAllocation) {
    using sam::onnx::Graph;
    EXPECT_HAS(load_error([] { Graph::parse(onnx_huge_initializer(), "huge.onnx"); }), "more than 2^60 elements");
    const std::string expand = load_error([] { Graph::parse(onnx_expand(), "expand.onnx"); });
    EXPECT_HAS(expand, "expand.onnx");
    EXPECT_HAS(expand, "Expand node");
    EXPECT_HAS(expand, "[2147483648, 2147483648] has more than 2^60 elements");
    EXPECT_HAS(load_error([] { Graph::parse(onnx_no_outputs(), "noout.onnx"); }), "Add node 'Add_1' has no outputs");
    const std::string cos = load_error([] { Graph::parse(onnx_constant_of_shape(), "cos.onnx"); });
    EXPECT_HAS(cos, "folding ConstantOfShape node");
    EXPECT_HAS(cos, "float[23170, 23170] needs 2147395600 bytes");
    EXPECT_LT(onnx_constant_of_shape().size(), 200u);
}

// Operators folded at load with attributes a file chooses: every one ends in an OnnxError.
TEST(HostileOnnx, OperatorAttributesAreChecked) {
    using sam::onnx::Graph;
    auto ints = [](::onnx::NodeProto* n, const char* name, std::vector<int64_t> v) {
        auto* a = n->add_attribute();
        a->set_name(name);
        a->set_type(::onnx::AttributeProto::INTS);
        for (int64_t x : v) a->add_ints(x);
    };
    auto conv = [&](const char* op, const char* attr, std::vector<int64_t> v) {
        samtest::OnnxModel m;
        m.init_f("x", {1, 1, 4, 4}, std::vector<float>(16, 1.0f)).init_f("w", {1, 1, 2, 2}, {1, 1, 1, 1});
        ints(m.node(op, {"x", "w"}, {"y"}), attr, v);
        return load_error([&] { Graph::parse(m.output("y").bytes(), "conv.onnx"); });
    };
    EXPECT_HAS(conv("Conv", "strides", {0, 0}), "attribute 'strides' [0, 0] must hold values in 1..1048576");
    EXPECT_HAS(conv("Conv", "dilations", {1, INT64_MAX}), "attribute 'dilations'");
    EXPECT_HAS(conv("Conv", "pads", {0, 0, -5, 0}), "attribute 'pads'");
    EXPECT_HAS(conv("ConvTranspose", "strides", {0, 1}), "attribute 'strides'");
    EXPECT_HAS(conv("ConvTranspose", "output_padding", {INT64_MAX / 2, 0}), "output_padding");

    samtest::OnnxModel r;  // Resize by a scale whose size does not fit any integer
    r.init_f("x", {1, 1, 2, 2}, {1, 2, 3, 4}).init_f("scales", {4}, {1.0f, 1.0f, 1e30f, 1.0f});
    r.node("Resize", {"x", "", "scales"}, {"y"});
    EXPECT_HAS(load_error([&] { Graph::parse(r.output("y").bytes(), "resize.onnx"); }), "gives no usable size");

    for (int64_t step : {INT64_MIN, INT64_MAX}) {  // Slice steps at the ends of int64
        samtest::OnnxModel sl;
        sl.init_f("x", {5}, {1, 2, 3, 4, 5}).init_i64("b", {1}, {step < 0 ? -1 : 0});
        sl.init_i64("e", {1}, {step < 0 ? INT64_MIN : INT64_MAX}).init_i64("ax", {1}, {0}).init_i64("st", {1}, {step});
        sl.node("Slice", {"x", "b", "e", "ax", "st"}, {"y"});
        sl.output("y");
        EXPECT_NO_THROW(Graph::parse(sl.bytes(), "slice.onnx")) << step;
    }
}

// ---------------------------------------------------------------------------------------------
// The binary: serve and segment

struct Case {
    const char* name;
    std::string bytes;
    bool onnx;
    const char* why;  // a phrase the error must contain
};

std::vector<Case> cases() {
    return {
        {"nested_tuples.pt", checkpoint_with_pickle(nested_tuples_pickle(1'000'000)), false, "not a state dict"},
        {"self_list.pt", checkpoint_with_pickle(kSelfListPickle), false, "not a state dict"},
        {"vit_stride0.pth", vit_stride0_checkpoint(), false, "holds only 1"},
        {"huge_initializer.onnx", onnx_huge_initializer(), true, "more than 2^60 elements"},
        {"expand.onnx", onnx_expand(), true, "has more than 2^60 elements"},
        {"no_outputs.onnx", onnx_no_outputs(), true, "has no outputs"},
        {"constant_of_shape.onnx", onnx_constant_of_shape(), true, "MiB a value may take"},
    };
}

void expect_refused(const samtest::ChildResult& r, const std::string& path, const char* why, const std::string& how) {
    EXPECT_EQ(r.status, 1) << how << "\n" << r.output;
    EXPECT_HAS(r.output, path) ;
    EXPECT_HAS(r.output, why);
    EXPECT_LT(r.max_rss_kb, kMaxRssKb) << how << ": peak RSS " << r.max_rss_kb << " KiB";
}

TEST(HostileModels, ServeAndSegmentExitOneNamingTheFile) {
    if (!samtest::golden_available()) GTEST_SKIP() << "golden data not found";
    const std::string mobile = samtest::golden("checkpoints/mobile_sam_random.pt");
    const std::string image = samtest::golden("images/tiny.png");
    const std::string out = write_file("mask.png", "");
    for (const Case& c : cases()) {
        SCOPED_TRACE(c.name);
        const std::string path = write_file(c.name, c.bytes);
        std::vector<std::pair<std::string, std::string>> env = {{"PORT", "0"}, {"HOST", "127.0.0.1"}};
        if (c.onnx) {
            env.insert(env.end(), {{"SAM_CHOICE", "ONNX"}, {"ONNX_CHECKPOINT", path}, {"MOBILESAM_CHECKPOINT", mobile},
                                   {"VITH_CHECKPOINT", "/nonexistent.pth"}});
        } else {
            env.insert(env.end(), {{"SAM_CHOICE", "SAM"}, {"VITH_CHECKPOINT", path}});
        }
        expect_refused(samtest::run_binary({"serve"}, env, kAddressSpace, 120), path, c.why, "serve");

        std::vector<std::string> args = {"segment", "--image", image, "--point", "3,3", "--out", out};
        if (c.onnx) args.insert(args.end(), {"--checkpoint", mobile, "--onnx", path});
        else args.insert(args.end(), {"--checkpoint", path});
        expect_refused(samtest::run_binary(args, {}, kAddressSpace, 120), path, c.why, "segment");
    }
}

}  // namespace
