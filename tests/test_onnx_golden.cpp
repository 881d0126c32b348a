// The ONNX decoder exports in ../shared/golden/onnx against the reference outputs: the graph
// executor on the recorded inputs, OnnxDecoder::predict on prompts that reproduce them, and the
// load-time errors for files that are not usable SAM decoder exports.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include <onnx/onnx_pb.h>

#include "models/mask_postprocess.hpp"
#include "models/onnx_decoder.hpp"
#include "support/golden.hpp"

using sam::onnx::Graph;
using sam::onnx::OnnxError;
using sam::onnx::Value;

namespace {

struct Export {
    std::string file;
    int masks;
};
const Export kExports[] = {{"mobile_sam_decoder_single", 1}, {"mobile_sam_decoder_multi", 4}};

const sam::Tensor& embedding() {
    static sam::Tensor e = samtest::load_npy(samtest::golden("cases/mobile_sam/photo/embedding.npy"));
    return e;
}

// Full-size masks (logit > 0) against the reference PNGs: pixels may differ only where the
// logit is within float noise of 0.
void expect_masks(const float* logits, int channels, int h, int w, const std::string& prefix, int first_file) {
    for (int c = 0; c < channels; ++c) {
        std::string png = samtest::golden("onnx/" + prefix + "_mask" + std::to_string(first_file + c) + ".png");
        samtest::GrayImage ref = samtest::load_png_gray(png);
        ASSERT_EQ(ref.width, w) << png;
        ASSERT_EQ(ref.height, h) << png;
        int64_t confident_mismatch = 0, near_zero_mismatch = 0;
        for (int64_t i = 0; i < int64_t(h) * w; ++i) {
            float v = logits[c * int64_t(h) * w + i];
            if ((v > 0) != (ref.pixels[i] > 127)) (std::fabs(v) < 1e-3f ? near_zero_mismatch : confident_mismatch)++;
        }
        EXPECT_EQ(confident_mismatch, 0) << png;
        EXPECT_LE(near_zero_mismatch, 20) << png;
    }
}

struct Case {
    std::map<std::string, sam::Tensor> npz;
    std::string prefix;
    std::vector<Value> graph_out;  // masks, iou_predictions, low_res_masks of the graph on the case's inputs
};

// Loads each export once (the decoder's graph serves the graph tests too) and runs the graph
// once per recorded case: every test of the suite reads them.
class OnnxGolden : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (!samtest::golden_available()) return;
        for (const auto& ex : kExports) {
            decoders_.emplace(ex.file, sam::OnnxDecoder::load(samtest::golden("onnx/" + ex.file + ".onnx")));
            for (int k = 0; k < 3; ++k) {
                Case c;
                c.prefix = ex.file + "_case" + std::to_string(k);
                c.npz = samtest::load_npz(samtest::golden("onnx/" + c.prefix + ".npz"));
                std::map<std::string, Value> feeds;
                feeds["image_embeddings"] = Value::from_tensor(embedding());
                for (const char* name : {"point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size"})
                    if (c.npz.count(name)) feeds[name] = Value::from_tensor(c.npz.at(name));
                c.graph_out = decoders_.at(ex.file).graph().run(feeds);
                cases_[ex.file].push_back(std::move(c));
            }
        }
    }
    static void TearDownTestSuite() {
        cases_.clear();
        decoders_.clear();
    }
    void SetUp() override {
        if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    }

    static std::map<std::string, sam::OnnxDecoder> decoders_;
    static std::map<std::string, std::vector<Case>> cases_;
};
std::map<std::string, sam::OnnxDecoder> OnnxGolden::decoders_;
std::map<std::string, std::vector<Case>> OnnxGolden::cases_;

TEST_F(OnnxGolden, GraphReproducesEveryCase) {
    for (const auto& ex : kExports)
        for (int k = 0; k < 3; ++k) {
            SCOPED_TRACE(ex.file + " case " + std::to_string(k));
            const Case& c = cases_.at(ex.file)[k];
            for (const char* name : {"point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size"})
                ASSERT_TRUE(c.npz.count(name)) << name;
            const std::vector<Value>& out = c.graph_out;
            ASSERT_EQ(out.size(), 3u);
            const Value& masks = out[0];
            const Value& iou = out[1];
            const Value& low = out[2];
            const sam::Tensor& ref_iou = c.npz.at("iou_predictions");
            const sam::Tensor& ref_low = c.npz.at("low_res_masks");
            ASSERT_EQ(iou.shape, ref_iou.shape);
            ASSERT_EQ(low.shape, ref_low.shape);
            EXPECT_LT(samtest::diff(iou.data<float>(), ref_iou.data, ref_iou.numel()).max_abs, 1e-4);
            EXPECT_LT(samtest::diff(low.data<float>(), ref_low.data, ref_low.numel()).max_abs, 1e-3);
            int h = int(c.npz.at("orig_im_size").data[0]), w = int(c.npz.at("orig_im_size").data[1]);
            ASSERT_EQ(masks.shape, (sam::Shape{1, ex.masks, h, w}));
            expect_masks(masks.data<float>(), ex.masks, h, w, c.prefix, 0);
        }
}

TEST_F(OnnxGolden, GraphRunsOnlyTheWantedOutputs) {
    const Case& c = cases_.at("mobile_sam_decoder_multi")[1];
    std::map<std::string, Value> feeds;
    feeds["image_embeddings"] = Value::from_tensor(embedding());
    for (const char* name : {"point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size"})
        feeds[name] = Value::from_tensor(c.npz.at(name));
    const Graph& g = decoders_.at("mobile_sam_decoder_multi").graph();
    // Asked in another order than declared: returned in the order asked, equal to the full run.
    std::vector<Value> out = g.run(feeds, {"low_res_masks", "iou_predictions"});
    ASSERT_EQ(out.size(), 2u);
    ASSERT_EQ(out[0].shape, c.graph_out[2].shape);
    ASSERT_EQ(out[1].shape, c.graph_out[1].shape);
    EXPECT_EQ(samtest::diff(out[0].data<float>(), c.graph_out[2].data<float>(), out[0].numel()).max_abs, 0.0);
    EXPECT_EQ(samtest::diff(out[1].data<float>(), c.graph_out[1].data<float>(), out[1].numel()).max_abs, 0.0);
    try {
        g.run(feeds, {"low_res_masks", "scores"});
        ADD_FAILURE() << "an unknown output name was accepted";
    } catch (const OnnxError& e) {
        EXPECT_NE(std::string(e.what()).find("'scores' is not an output of the graph"), std::string::npos) << e.what();
    }
}

// A prompt that gives the case's inputs: coordinates back to original pixels, box corners from
// labels 2/3, padding point dropped, the mask input when has_mask_input is 1.
sam::Prompt prompt_of(const Case& c, const sam::ImageEmbedding& e) {
    sam::Prompt p;
    const sam::Tensor& pc = c.npz.at("point_coords");
    const sam::Tensor& pl = c.npz.at("point_labels");
    float fx = float(e.orig_w) / float(e.input_w), fy = float(e.orig_h) / float(e.input_h);
    sam::PromptBox box;
    for (int64_t i = 0; i < pl.numel(); ++i) {
        float x = pc.data[2 * i] * fx, y = pc.data[2 * i + 1] * fy;
        int label = int(pl.data[i]);
        if (label == 2) { box.x0 = x; box.y0 = y; p.box = box; }
        else if (label == 3) { p.box->x1 = x; p.box->y1 = y; }
        else if (label >= 0) p.points.push_back({x, y, label});
    }
    if (c.npz.at("has_mask_input").data[0] > 0.5f) p.mask_input = c.npz.at("mask_input").reshaped({1, 256, 256});
    return p;
}

TEST_F(OnnxGolden, DecoderPredictMatchesCases) {
    for (const auto& ex : kExports)
        for (int k = 0; k < 3; ++k) {
            SCOPED_TRACE(ex.file + " case " + std::to_string(k));
            const Case& c = cases_.at(ex.file)[k];
            sam::ImageEmbedding e;
            e.features = embedding().reshaped({256, 64, 64});
            e.orig_h = int(c.npz.at("orig_im_size").data[0]);
            e.orig_w = int(c.npz.at("orig_im_size").data[1]);
            int long_side = std::max(e.orig_w, e.orig_h);
            e.input_w = int(e.orig_w * 1024.0 / long_side + 0.5);
            e.input_h = int(e.orig_h * 1024.0 / long_side + 0.5);
            const sam::OnnxDecoder& d = decoders_.at(ex.file);
            EXPECT_EQ(d.multimask_export(), ex.masks == 4);
            sam::Tensor ref_iou = c.npz.at("iou_predictions");
            sam::Tensor ref_low = c.npz.at("low_res_masks");
            const sam::Tensor& labels = c.npz.at("point_labels");
            bool padded_or_box = false;
            for (int64_t i = 0; i < labels.numel(); ++i) padded_or_box |= labels.data[i] == -1 || labels.data[i] == 2;
            bool check_files = padded_or_box;
            if (!padded_or_box) {
                // The case's prompt has no padding point, which a Prompt always gets without a box:
                // the reference is then the graph on the case's inputs plus the padding point.
                std::map<std::string, Value> feeds;
                feeds["image_embeddings"] = Value::from_tensor(embedding());
                for (const char* name : {"mask_input", "has_mask_input", "orig_im_size"})
                    feeds[name] = Value::from_tensor(c.npz.at(name));
                int64_t n = labels.numel();
                Value pc = Value::zeros(sam::onnx::DType::Float, {1, n + 1, 2});
                Value pl = Value::alloc(sam::onnx::DType::Float, {1, n + 1});
                std::copy(c.npz.at("point_coords").data, c.npz.at("point_coords").data + 2 * n, pc.data<float>());
                std::copy(labels.data, labels.data + n, pl.data<float>());
                pl.data<float>()[n] = -1.0f;
                feeds["point_coords"] = pc;
                feeds["point_labels"] = pl;
                std::vector<Value> out = d.graph().run(feeds, {"iou_predictions", "low_res_masks"});
                ref_iou = out[0].tensor();
                ref_low = out[1].tensor();
            }
            // Single export: its one mask. Multi export: mask 0 for a plain prompt, 1..3 for an ambiguous one.
            for (bool multi : ex.masks == 4 ? std::vector<bool>{false, true} : std::vector<bool>{false}) {
                sam::Prompt p = prompt_of(c, e);
                p.multimask = multi;
                sam::Prediction pred = d.predict(e, p);
                int first = multi ? 1 : 0, count = multi ? 3 : 1;
                ASSERT_EQ(int(pred.iou.size()), count);
                ASSERT_EQ(pred.lowres.shape, (sam::Shape{count, 256, 256}));
                EXPECT_FALSE(pred.full.defined());  // masks come from upscaling lowres, as for the native decoder
                EXPECT_EQ(pred.orig_w, e.orig_w);
                EXPECT_EQ(pred.input_h, e.input_h);
                for (int i = 0; i < count; ++i) EXPECT_NEAR(pred.iou[i], ref_iou.data[first + i], 1e-4);
                EXPECT_LT(samtest::diff(pred.lowres.data, ref_low.data + first * 256 * 256, count * 256 * 256).max_abs, 1e-3);
                if (!check_files) continue;
                // binary_mask of the low-res logits gives the export's full-size masks: pixels may differ
                // only where the export's own full-size logit is within float noise of 0.
                const Value& full = c.graph_out[0];
                const int64_t plane = int64_t(e.orig_h) * e.orig_w;
                for (int i = 0; i < count; ++i) {
                    std::string png = samtest::golden("onnx/" + c.prefix + "_mask" + std::to_string(first + i) + ".png");
                    samtest::GrayImage ref = samtest::load_png_gray(png);
                    ASSERT_EQ(int64_t(ref.width) * ref.height, plane) << png;
                    std::vector<uint8_t> mask = sam::binary_mask(pred, i);
                    ASSERT_EQ(int64_t(mask.size()), plane);
                    const float* logit = full.data<float>() + (first + i) * plane;
                    int64_t confident_mismatch = 0, near_zero_mismatch = 0;
                    for (int64_t j = 0; j < plane; ++j)
                        if ((mask[j] != 0) != (ref.pixels[j] > 127))
                            (std::fabs(logit[j]) < 1e-3f ? near_zero_mismatch : confident_mismatch)++;
                    EXPECT_EQ(confident_mismatch, 0) << png;
                    EXPECT_LE(near_zero_mismatch, 20) << png;
                }
            }
        }
}

// The decoder keeps a graph specialised to the embedding clicked last: clicks that alternate
// between two images, and a view of an embedding without an owner (never specialised), give
// what the plain graph gives on each image.
TEST_F(OnnxGolden, PerImageGraphFollowsTheEmbedding) {
    const sam::OnnxDecoder& d = decoders_.at("mobile_sam_decoder_multi");
    // A second image: the photo's embedding mirrored left to right.
    const sam::Tensor& photo = embedding();
    sam::Tensor other = sam::Tensor::empty(photo.shape);
    for (int64_t row = 0; row < 256 * 64; ++row)
        for (int64_t x = 0; x < 64; ++x) other.data[row * 64 + x] = photo.data[row * 64 + 63 - x];
    auto image = [](const sam::Tensor& features) {
        sam::ImageEmbedding e;
        e.features = features.reshaped({256, 64, 64});
        e.orig_w = e.input_w = 1024;
        e.orig_h = e.input_h = 768;
        return e;
    };
    sam::Prompt p;
    p.points.push_back({400.0f, 300.0f, 1});
    p.multimask = true;
    // The plain graph on the same feeds (image_embeddings given, no mask input).
    auto reference = [&](const sam::Tensor& features) {
        std::map<std::string, Value> feeds;
        feeds["image_embeddings"] = Value::from_tensor(features).reshaped({1, 256, 64, 64});
        Value pc = Value::alloc(sam::onnx::DType::Float, {1, 2, 2});
        const float xy[4] = {400.0f, 300.0f, 0.0f, 0.0f};
        std::copy(xy, xy + 4, pc.data<float>());
        Value pl = Value::alloc(sam::onnx::DType::Float, {1, 2});
        pl.data<float>()[0] = 1.0f;
        pl.data<float>()[1] = -1.0f;
        feeds["point_coords"] = pc;
        feeds["point_labels"] = pl;
        feeds["mask_input"] = Value::zeros(sam::onnx::DType::Float, {1, 1, 256, 256});
        feeds["has_mask_input"] = Value::scalar_f(0.0f).reshaped({1});
        Value size = Value::alloc(sam::onnx::DType::Float, {2});
        size.data<float>()[0] = 768.0f;
        size.data<float>()[1] = 1024.0f;
        feeds["orig_im_size"] = size;
        return d.graph().run(feeds, {"iou_predictions", "low_res_masks"});
    };
    const std::vector<Value> ref_a = reference(photo), ref_b = reference(other);
    ASSERT_GT(samtest::diff(ref_a[1].data<float>(), ref_b[1].data<float>(), 4 * 256 * 256).max_abs, 0.1)
        << "the two images must give different logits for the test to tell them apart";
    sam::Tensor unowned = sam::Tensor::wrap(other.data, other.shape, nullptr);
    const sam::Tensor* order[] = {&photo, &other, &photo, &unowned, &other};
    for (const sam::Tensor* features : order) {
        const std::vector<Value>& ref = features == &photo ? ref_a : ref_b;
        const sam::Prediction pred = d.predict(image(*features), p);
        ASSERT_EQ(pred.iou.size(), 3u);
        for (int i = 0; i < 3; ++i) EXPECT_NEAR(pred.iou[i], ref[0].data<float>()[1 + i], 1e-5);
        EXPECT_LT(samtest::diff(pred.lowres.data, ref[1].data<float>() + 256 * 256, 3 * 256 * 256).max_abs, 1e-4);
    }
}

std::string temp_file(const std::string& name, const std::string& bytes) {
    std::string path = ::testing::TempDir() + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

// A tiny model: every listed input is passed through Identity (or `op`) to an output of the same name + "_out".
std::string tiny_model(const std::vector<std::string>& inputs, const std::string& op) {
    ::onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(17);
    auto* g = m.mutable_graph();
    g->set_name("tiny");
    for (const auto& name : inputs) {
        auto* in = g->add_input();
        in->set_name(name);
        auto* tt = in->mutable_type()->mutable_tensor_type();
        tt->set_elem_type(1);
        tt->mutable_shape()->add_dim()->set_dim_value(1);
        auto* n = g->add_node();
        n->set_op_type(op);
        n->set_name(op + "_" + name);
        n->add_input(name);
        n->add_output(name + "_out");
        auto* out = g->add_output();
        out->set_name(name + "_out");
        out->mutable_type()->mutable_tensor_type()->set_elem_type(1);
    }
    return m.SerializeAsString();
}

std::string load_error(const std::string& path) {
    try {
        sam::OnnxDecoder::load(path);
    } catch (const OnnxError& e) {
        return e.what();
    }
    return "";
}

TEST(OnnxLoadErrors, NotOnnx) {
    std::string path = temp_file("not_onnx.onnx", "this is a text file, not a protobuf model\n");
    std::string msg = load_error(path);
    EXPECT_NE(msg.find("not an ONNX model"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(load_error("/nonexistent/decoder.onnx").find("cannot open"), std::string::npos);
}

TEST(OnnxLoadErrors, UnknownOperator) {
    std::string path = temp_file("unknown_op.onnx", tiny_model({"image_embeddings"}, "FancyAttention"));
    std::string msg = load_error(path);
    EXPECT_NE(msg.find("unsupported operator 'FancyAttention'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("FancyAttention_image_embeddings"), std::string::npos) << msg;
}

TEST(OnnxLoadErrors, WrongInputNames) {
    std::string path = temp_file("wrong_inputs.onnx", tiny_model({"image_embeddings", "points", "labels"}, "Identity"));
    std::string msg = load_error(path);
    EXPECT_NE(msg.find("no input 'point_coords'"), std::string::npos) << msg;
}

TEST(OnnxLoadErrors, WrongInputRank) {
    // Every input present, but each declared with rank 1.
    std::string path = temp_file("wrong_rank.onnx", tiny_model({"image_embeddings", "point_coords", "point_labels",
                                                                "mask_input", "has_mask_input", "orig_im_size"}, "Identity"));
    std::string msg = load_error(path);
    EXPECT_NE(msg.find("input 'image_embeddings' must be a float tensor of rank 4"), std::string::npos) << msg;
}

}  // namespace
