// Writes the seed corpus of every harness from the golden reference data (never copied into
// the repository) plus small files made here for the formats the golden data lacks.
// Usage: make_seeds <golden dir> <examples dir> <corpus dir>  ->  <corpus dir>/<harness>/...
#include <cstdio>  // jpeglib.h needs FILE and size_t first

#include <jpeglib.h>
#include <png.h>
#include <webp/encode.h>

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

// Small images in the formats and layouts the golden images do not cover.
std::string png_palette_trns() {
    std::string out;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    png_infop info = png_create_info_struct(png);
    png_set_write_fn(png, &out, [](png_structp p, png_bytep d, png_size_t n) {
        static_cast<std::string*>(png_get_io_ptr(p))->append(reinterpret_cast<const char*>(d), n); }, nullptr);
    png_set_IHDR(png, info, 7, 5, 4, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_ADAM7, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_color palette[3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
    png_set_PLTE(png, info, palette, 3);
    png_byte alpha[2] = {0, 128};
    png_set_tRNS(png, info, alpha, 2, nullptr);
    png_write_info(png, info);
    png_set_packing(png);
    std::vector<png_byte> row(7);
    for (int pass = 0; pass < png_set_interlace_handling(png); ++pass)
        for (int y = 0; y < 5; ++y) {
            for (int x = 0; x < 7; ++x) row[x] = png_byte((x + y) % 3);
            png_write_row(png, row.data());
        }
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
    return out;
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

// A JPEG of `img`, progressive or baseline, with an EXIF orientation tag when not 1.
std::string jpeg(const sam::RgbImage& img, bool progressive, int orientation) {
    jpeg_compress_struct c;
    jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    unsigned char* mem = nullptr;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &mem, &size);
    c.image_width = img.width;
    c.image_height = img.height;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    if (orientation != 1) {
        const uint8_t exif[] = {'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0,
                                0x12, 0x01, 3, 0, 1, 0, 0, 0, uint8_t(orientation), 0, 0, 0, 0, 0, 0, 0};
        jpeg_write_marker(&c, JPEG_APP0 + 1, exif, sizeof exif);
    }
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = const_cast<uint8_t*>(img.row(int(c.next_scanline)));
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    std::string s(reinterpret_cast<const char*>(mem), size);
    free(mem);
    return s;
}

std::string png_rgb(const sam::RgbImage& img) {
    std::string out;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    png_infop info = png_create_info_struct(png);
    png_set_write_fn(png, &out, [](png_structp p, png_bytep d, png_size_t n) {
        static_cast<std::string*>(png_get_io_ptr(p))->append(reinterpret_cast<const char*>(d), n); }, nullptr);
    png_set_IHDR(png, info, img.width, img.height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < img.height; ++y) png_write_row(png, const_cast<png_bytep>(img.row(y)));
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
    return out;
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
        write(out, stem + ".jpg", jpeg(t, false, 1));
        write(out, stem + "_progressive_o6.jpg", jpeg(t, true, 6));
        write(out, stem + "_o3.jpg", jpeg(t, false, 3));
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
