// Writes the seed corpus of every harness from the golden reference data (never copied into
// the repository) plus small files made here for the formats the golden data lacks.
// Usage: make_seeds <golden dir> <examples dir> <corpus dir>  ->  <corpus dir>/<harness>/...
#include <webp/encode.h>

#include <cstring>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include "io/image.hpp"
#include "io/image_resize.hpp"
#include "io/zip_archive.hpp"
#include "support/image_files.hpp"
#include "support/torch_files.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write(const fs::path& dir, const std::string& name, const std::string& bytes) {
    fs::create_directories(dir);
    std::ofstream(dir / name, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

void checkpoint_seeds(const fs::path& golden, const fs::path& out) {
    // data.pkl of each golden checkpoint (the harness wraps a pickle in a zip itself).
    for (const auto& e : fs::directory_iterator(golden / "checkpoints")) {
        const auto zip = sam::io::ZipArchive::open(e.path().string());
        for (const auto& entry : zip.entries())
            if (entry.name.ends_with("/data.pkl")) {
                auto b = zip.data(entry);
                write(out, e.path().stem().string() + ".pkl", std::string(reinterpret_cast<const char*>(b.data()), b.size()));
            }
    }
    // Whole small checkpoints: float32 views, a float16 tensor, a wrapped state dict.
    write(out, "small.pt", samtest::make_zip(samtest::state_dict_files({{"a", {2, 3}, {}, -1}, {"b", {3, 2}, {1, 3}, 6}})));
    samtest::Pickle pk;
    pk.op('}').str("model").ordered_dict().op('(').str("h");
    pk.tensor("HalfStorage", "0", 4, 0, {2, 2}, {2, 1}).op('u').op('s').op('.');
    write(out, "half_in_model.pt",
          samtest::make_zip({{"archive/data.pkl", pk.b}, {"archive/data/0", samtest::half_bytes({0x3c00, 0, 0x8001, 0x7c00})}}));
}

std::string str(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }

// Small images in the formats and layouts the golden images do not cover.
std::string png_palette_trns() {
    return str(samtest::encode_png(
        7, 5, PNG_COLOR_TYPE_PALETTE, 4, [](int y, png_bytep r) { for (int x = 0; x < 4; ++x) r[x] = png_byte(((x + y) % 3) << 4 | ((x + y + 1) % 3)); },
        [](png_structp png, png_infop info) {
            png_color palette[3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
            png_set_PLTE(png, info, palette, 3);
            png_byte alpha[2] = {0, 128};
            png_set_tRNS(png, info, alpha, 2, nullptr);
        },
        PNG_INTERLACE_ADAM7));
}

std::string bmp24(int w, int h) {
    const int stride = (w * 3 + 3) / 4 * 4;
    std::string b = "BM";
    samtest::put32(b, uint32_t(54 + stride * h)), samtest::put32(b, 0), samtest::put32(b, 54), samtest::put32(b, 40);
    samtest::put32(b, uint32_t(w)), samtest::put32(b, uint32_t(h)), samtest::put16(b, 1), samtest::put16(b, 24);
    for (int i = 0; i < 6; ++i) samtest::put32(b, 0);
    for (int i = 0; i < stride * h; ++i) b += char(i * 37);
    return b;
}

std::string webp(const sam::RgbImage& img, bool lossless) {
    uint8_t* out = nullptr;
    const int w = img.width, h = img.height;
    size_t n = lossless ? WebPEncodeLosslessRGB(img.pixels.data(), w, h, w * 3, &out)
                        : WebPEncodeRGB(img.pixels.data(), w, h, w * 3, 80, &out);
    std::string s(reinterpret_cast<const char*>(out), n);
    WebPFree(out);
    return s;
}

std::string png_rgb(const sam::RgbImage& img) {
    return str(samtest::encode_png(img.width, img.height, PNG_COLOR_TYPE_RGB, 8, [&](int y, png_bytep r) {
        std::memcpy(r, img.row(y), size_t(img.width) * 3);
    }));
}

// Small seeds run fast: the golden images as 48-pixel thumbnails in every format and layout
// the decoder reads, plus the golden files that are small already.
void image_seeds(const fs::path& golden, const fs::path& out) {
    for (const auto& e : fs::directory_iterator(golden / "images")) {
        const std::string stem = e.path().stem().string();
        if (fs::file_size(e.path()) < 4096) write(out, e.path().filename().string(), read(e.path()));
        const sam::RgbImage img = sam::read_image_file(e.path().string());
        int w, h;
        sam::longest_side_size(img.width, img.height, 48, w, h);
        const sam::RgbImage t = sam::resize_bilinear_antialias(img, w, h);
        write(out, stem + ".jpg", str(samtest::encode_jpeg(t)));
        write(out, stem + "_progressive_o6.jpg", str(samtest::encode_jpeg(t, {.orientation = 6, .progressive = true})));
        write(out, stem + "_o3.jpg", str(samtest::encode_jpeg(t, {.orientation = 3})));
        write(out, stem + ".png", png_rgb(t));
        write(out, stem + ".webp", webp(t, false));
        write(out, stem + "_lossless.webp", webp(t, true));
    }
    write(out, "palette_trns_interlaced.png", png_palette_trns());
    write(out, "small.bmp", bmp24(5, 3));
}

// The golden decoder export cut into one small model per kind of node: the node, its small
// initializers, and graph inputs for the rest, typed as ONNX's shape inference says with every
// dimension cut to at most 8 (so the harness runs them).
void onnx_seeds(const fs::path& golden, const fs::path& out) {
    ::onnx::ModelProto full;
    if (!full.ParseFromString(read(golden / "onnx" / "mobile_sam_decoder_single.onnx"))) return;
    ::onnx::shape_inference::InferShapes(full);
    std::map<std::string, const ::onnx::TypeProto*> types;
    for (const auto* list : {&full.graph().input(), &full.graph().value_info(), &full.graph().output()})
        for (const auto& vi : *list) types[vi.name()] = &vi.type();
    std::map<std::string, const ::onnx::TensorProto*> inits;
    for (const auto& t : full.graph().initializer()) inits[t.name()] = &t;
    std::set<std::string> seen_ops;
    int k = 0;
    for (const auto& node : full.graph().node()) {
        std::string key = node.op_type() + std::to_string(node.input_size()) + std::to_string(node.attribute_size());
        if (!seen_ops.insert(key).second) continue;
        ::onnx::ModelProto m;
        m.set_ir_version(full.ir_version());
        *m.mutable_opset_import() = full.opset_import();
        auto* g = m.mutable_graph();
        *g->add_node() = node;
        for (const auto& in : node.input()) {
            if (in.empty()) continue;
            auto it = inits.find(in);
            int64_t n = 1;
            if (it != inits.end())
                for (int64_t d : it->second->dims()) n *= d;
            if (it != inits.end() && n <= 4096) {
                *g->add_initializer() = *it->second;
                continue;
            }
            auto* gi = g->add_input();
            gi->set_name(in);
            auto* tt = gi->mutable_type()->mutable_tensor_type();
            tt->set_elem_type(it != inits.end() ? it->second->data_type() : 1);
            if (it != inits.end()) {
                for (int64_t d : it->second->dims()) tt->mutable_shape()->add_dim()->set_dim_value(std::min<int64_t>(d, 8));
            } else if (auto t = types.find(in); t != types.end() && t->second->has_tensor_type()) {
                tt->set_elem_type(t->second->tensor_type().elem_type());
                for (const auto& d : t->second->tensor_type().shape().dim())
                    if (d.has_dim_value()) tt->mutable_shape()->add_dim()->set_dim_value(std::min<int64_t>(d.dim_value(), 8));
                    else tt->mutable_shape()->add_dim()->set_dim_param("n");
            }
        }
        for (const auto& o : node.output()) {
            auto* go = g->add_output();
            go->set_name(o);
            go->mutable_type()->mutable_tensor_type()->set_elem_type(1);
        }
        write(out, "node" + std::to_string(k++) + "_" + node.op_type() + ".onnx", m.SerializeAsString());
    }
}

void labelstudio_seeds(const fs::path& golden, const fs::path& examples, const fs::path& predict, const fs::path& config) {
    const json f = json::parse(read(golden / "labelstudio" / "fixtures.json"));
    int k = 0;
    for (const char* list : {"predict", "predict_sam2"})
        for (const auto& c : f[list]) {
            write(predict, "req" + std::to_string(k) + ".json", c["request"].dump());
            write(config, "config" + std::to_string(k++) + ".xml", c["request"]["label_config"].get<std::string>());
        }
    write(predict, "setup.json", f["setup_request"].dump());
    write(config, "setup_schema.xml", f["setup_request"]["schema"].get<std::string>());
    for (const auto& e : fs::directory_iterator(examples))
        if (e.path().extension() == ".xml") write(config, e.path().filename().string(), read(e.path()));
}

void rle_seeds(const fs::path& golden, const fs::path& out) {
    const json cases = json::parse(read(golden / "rle" / "cases.json"));
    for (const auto& c : cases) {
        const int w = c["width"], h = c["height"];
        if (w > 256 || h > 256) continue;
        const sam::RgbImage img = sam::read_image_file((golden / "rle" / c["mask_file"].get<std::string>()).string());
        std::string mask = {char(0), char(w - 1), char(h - 1)};
        mask.resize(3 + (size_t(w) * h + 7) / 8, '\0');
        for (size_t i = 0; i < size_t(w) * h; ++i)
            if (img.pixels[i * 3] > 127) mask[3 + i / 8] = char(mask[3 + i / 8] | (1 << (i % 8)));
        write(out, c["name"].get<std::string>() + "_mask", mask);
        if (c.contains("rle")) {
            std::string rle = {char(1), char(w - 1), char(h - 1)};
            for (int b : c["rle"]) rle += char(b);
            write(out, c["name"].get<std::string>() + "_rle", rle);
        }
    }
    write(out, "prediction", std::string("\x02\x3f\x2f", 3) + std::string(512, '\x90'));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: make_seeds <golden dir> <examples dir> <corpus dir>\n";
        return 2;
    }
    const fs::path golden = argv[1], examples = argv[2], out = argv[3];
    try {
        checkpoint_seeds(golden, out / "fuzz_checkpoint");
        image_seeds(golden, out / "fuzz_image");
        onnx_seeds(golden, out / "fuzz_onnx");
        labelstudio_seeds(golden, examples, out / "fuzz_predict_request", out / "fuzz_label_config");
        rle_seeds(golden, out / "fuzz_brush_rle");
    } catch (const std::exception& e) {
        std::cerr << "make_seeds: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
