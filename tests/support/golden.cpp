#include "support/golden.hpp"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "io/checkpoint.hpp"
#include "tensor/half.hpp"

namespace samtest {

std::string golden(const std::string& relative) { return std::string(SAM_GOLDEN_DIR) + "/" + relative; }

bool golden_available() {
    std::ifstream f(golden("manifest.json"));
    return f.good();
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot open " + path);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

nlohmann::json load_json(const std::string& path) { return nlohmann::json::parse(read_file(path)); }

sam::Prompt case_prompt(const nlohmann::json& c) {
    sam::Prompt p;
    if (!c["points"].is_null())
        for (size_t i = 0; i < c["points"].size(); ++i)
            p.points.push_back({c["points"][i][0].get<float>(), c["points"][i][1].get<float>(), c["labels"][i].get<int>()});
    if (!c["box"].is_null())
        p.box = sam::PromptBox{c["box"][0].get<float>(), c["box"][1].get<float>(), c["box"][2].get<float>(),
                               c["box"][3].get<float>()};
    p.multimask = c["multimask"].get<bool>();
    return p;
}

sam::Tensor parse_npy(const uint8_t* data, size_t size, const std::string& what) {
    if (size < 10 || std::memcmp(data, "\x93NUMPY", 6) != 0) throw std::runtime_error(what + ": not an .npy file");
    int major = data[6];
    size_t header_len, offset;
    if (major == 1) {
        header_len = data[8] | (data[9] << 8);
        offset = 10;
    } else {
        header_len = data[8] | (data[9] << 8) | (data[10] << 16) | (static_cast<size_t>(data[11]) << 24);
        offset = 12;
    }
    std::string header(reinterpret_cast<const char*>(data + offset), header_len);
    auto field = [&](const std::string& key) {
        auto p = header.find("'" + key + "'");
        if (p == std::string::npos) throw std::runtime_error(what + ": npy header lacks " + key);
        return header.substr(header.find(':', p) + 1);
    };
    std::string descr = field("descr");
    descr = descr.substr(descr.find('\'') + 1);
    descr = descr.substr(0, descr.find('\''));
    if (field("fortran_order").find("True") < 6) throw std::runtime_error(what + ": fortran order unsupported");
    std::string shape_s = field("shape");
    shape_s = shape_s.substr(shape_s.find('(') + 1, shape_s.find(')') - shape_s.find('(') - 1);
    sam::Shape shape;
    std::stringstream ss(shape_s);
    std::string tok;
    while (std::getline(ss, tok, ','))
        if (tok.find_first_not_of(' ') != std::string::npos) shape.push_back(std::stoll(tok));
    sam::Tensor t = sam::Tensor::empty(shape);
    const uint8_t* p = data + offset + header_len;
    size_t n = static_cast<size_t>(t.numel());
    auto need = [&](size_t bytes) {
        if (offset + header_len + bytes * n > size) throw std::runtime_error(what + ": truncated npy");
    };
    if (descr == "<f4") {
        need(4);
        std::memcpy(t.data, p, n * 4);
    } else if (descr == "<f2") {
        need(2);
        for (size_t i = 0; i < n; ++i) { uint16_t v; std::memcpy(&v, p + 2 * i, 2); t.data[i] = sam::half_to_float(v); }
    } else if (descr == "<f8") {
        need(8);
        for (size_t i = 0; i < n; ++i) { double v; std::memcpy(&v, p + 8 * i, 8); t.data[i] = float(v); }
    } else if (descr == "<i8") {
        need(8);
        for (size_t i = 0; i < n; ++i) { int64_t v; std::memcpy(&v, p + 8 * i, 8); t.data[i] = float(v); }
    } else if (descr == "<i4") {
        need(4);
        for (size_t i = 0; i < n; ++i) { int32_t v; std::memcpy(&v, p + 4 * i, 4); t.data[i] = float(v); }
    } else if (descr == "|u1" || descr == "|b1") {
        need(1);
        for (size_t i = 0; i < n; ++i) t.data[i] = p[i];
    } else {
        throw std::runtime_error(what + ": unsupported npy dtype " + descr);
    }
    return t;
}

sam::Tensor load_npy(const std::string& path) {
    std::string bytes = read_file(path);
    return parse_npy(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path);
}

// numpy.savez writes a plain zip of stored (uncompressed) .npy members; walk local headers.
std::map<std::string, sam::Tensor> load_npz(const std::string& path) {
    std::string bytes = read_file(path);
    const auto* d = reinterpret_cast<const uint8_t*>(bytes.data());
    auto u16 = [&](size_t o) { return uint32_t(d[o] | (d[o + 1] << 8)); };
    auto u32 = [&](size_t o) { return uint32_t(d[o] | (d[o + 1] << 8) | (d[o + 2] << 16) | (uint32_t(d[o + 3]) << 24)); };
    std::map<std::string, sam::Tensor> out;
    size_t o = 0;
    while (o + 30 <= bytes.size() && u32(o) == 0x04034b50) {
        uint32_t method = u16(o + 8), csize = u32(o + 18);
        uint32_t name_len = u16(o + 26), extra_len = u16(o + 28);
        std::string name = bytes.substr(o + 30, name_len);
        size_t data_off = o + 30 + name_len + extra_len;
        uint64_t size = csize;
        if (csize == 0xffffffffu) {  // zip64 extra field holds the sizes
            size_t e = o + 30 + name_len;
            while (e + 4 <= o + 30 + name_len + extra_len) {
                if (u16(e) == 1) { size = u32(e + 4 + 8) | (uint64_t(u32(e + 4 + 12)) << 32); break; }
                e += 4 + u16(e + 2);
            }
        }
        if (method != 0) throw std::runtime_error(path + ": compressed npz members unsupported");
        if (name.size() > 4 && name.substr(name.size() - 4) == ".npy") name.resize(name.size() - 4);
        out[name] = parse_npy(d + data_off, size, path + ":" + name);
        o = data_off + size;
    }
    return out;
}

namespace {
struct PngData {
    int width, height, channels;
    std::vector<uint8_t> pixels;
};
PngData read_png(const std::string& path) {
    png_image img;
    std::memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path.c_str())) throw std::runtime_error("cannot read PNG " + path);
    // RGBA then drop alpha: asking libpng's simplified reader for RGB would blend onto black.
    img.format = PNG_FORMAT_RGBA;
    std::vector<uint8_t> rgba(PNG_IMAGE_SIZE(img));
    if (!png_image_finish_read(&img, nullptr, rgba.data(), 0, nullptr)) {
        png_image_free(&img);
        throw std::runtime_error("cannot decode PNG " + path);
    }
    PngData p{int(img.width), int(img.height), 3, std::vector<uint8_t>(rgba.size() / 4 * 3)};
    for (size_t i = 0; i < rgba.size() / 4; ++i)
        for (int c = 0; c < 3; ++c) p.pixels[3 * i + c] = rgba[4 * i + c];
    return p;
}
}  // namespace

GrayImage load_png_gray(const std::string& path) {
    PngData p = read_png(path);
    GrayImage g{p.width, p.height, std::vector<uint8_t>(size_t(p.width) * p.height)};
    for (size_t i = 0; i < g.pixels.size(); ++i) g.pixels[i] = p.pixels[3 * i];
    return g;
}

RgbPng load_png_rgb(const std::string& path) {
    PngData p = read_png(path);
    return RgbPng{p.width, p.height, std::move(p.pixels)};
}

Stats stats_of(const float* x, int64_t n) {
    double sum = 0, sq = 0;
    Stats s;
    for (int64_t i = 0; i < n; ++i) {
        sum += x[i];
        sq += double(x[i]) * x[i];
        s.absmax = std::max(s.absmax, double(std::fabs(x[i])));
    }
    s.mean = sum / n;
    s.std = std::sqrt(std::max(0.0, (sq - sum * sum / n) / (n - 1)));
    s.l2 = std::sqrt(sq);
    return s;
}

DiffStats diff(const float* a, const float* b, int64_t n) {
    DiffStats s;
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
        double d = std::fabs(double(a[i]) - double(b[i]));
        if (!(d <= s.max_abs)) s.max_abs = d;  // NaN propagates as a failure
        sum += d;
    }
    s.mean_abs = n ? sum / n : 0;
    return s;
}

namespace {

struct Taps {
    int i0, i1;
    double w0, w1;
};
Taps taps(int in, int out, int j) {
    double src = std::max(0.0, static_cast<double>(in) / out * (j + 0.5) - 0.5);
    int i0 = static_cast<int>(src);
    return {i0, i0 + (i0 < in - 1 ? 1 : 0), 1 - (src - i0), src - i0};
}

}  // namespace

std::vector<double> full_logits(const float* lowres, int input_h, int input_w, int orig_h, int orig_w) {
    std::vector<double> frame(static_cast<size_t>(input_h) * input_w);
    for (int y = 0; y < input_h; ++y)
        for (int x = 0; x < input_w; ++x) {
            Taps ty = taps(256, 1024, y), tx = taps(256, 1024, x);
            auto at = [&](int r, int c) { return static_cast<double>(lowres[r * 256 + c]); };
            frame[static_cast<size_t>(y) * input_w + x] = (at(ty.i0, tx.i0) * tx.w0 + at(ty.i0, tx.i1) * tx.w1) * ty.w0 +
                                                          (at(ty.i1, tx.i0) * tx.w0 + at(ty.i1, tx.i1) * tx.w1) * ty.w1;
        }
    std::vector<double> out(static_cast<size_t>(orig_h) * orig_w);
    for (int y = 0; y < orig_h; ++y)
        for (int x = 0; x < orig_w; ++x) {
            Taps ty = taps(input_h, orig_h, y), tx = taps(input_w, orig_w, x);
            auto at = [&](int r, int c) { return frame[static_cast<size_t>(r) * input_w + c]; };
            out[static_cast<size_t>(y) * orig_w + x] = (at(ty.i0, tx.i0) * tx.w0 + at(ty.i0, tx.i1) * tx.w1) * ty.w0 +
                                                       (at(ty.i1, tx.i0) * tx.w0 + at(ty.i1, tx.i1) * tx.w1) * ty.w1;
        }
    return out;
}

sam::ImageEmbedding golden_embedding(const std::string& dir, const nlohmann::json& info) {
    sam::ImageEmbedding e;
    e.features = load_npy(dir + "embedding.npy").reshaped({256, 64, 64});
    e.orig_h = info["original_size_hw"][0];
    e.orig_w = info["original_size_hw"][1];
    e.input_h = info["input_size_hw"][0];
    e.input_w = info["input_size_hw"][1];
    return e;
}

sam::Prompt golden_prompt(const std::string& dir, const nlohmann::json& info, const nlohmann::json& c) {
    sam::Prompt p = case_prompt(c);
    if (c.contains("mask_input_from")) {
        // The best mask (highest predicted IoU) of the named case's reference low-res logits.
        for (const auto& other : info["cases"]) {
            if (other["name"] != c["mask_input_from"]) continue;
            const sam::Tensor lowres = load_npy(dir + other["lowres_file"].get<std::string>());
            const auto& iou = other["iou_predictions"];
            int best = 0;
            for (size_t i = 1; i < iou.size(); ++i)
                if (iou[i].get<double>() > iou[best].get<double>()) best = static_cast<int>(i);
            p.mask_input = sam::Tensor::empty({1, 256, 256});
            std::memcpy(p.mask_input.data, lowres.data + best * 256 * 256, 256 * 256 * sizeof(float));
        }
        if (!p.mask_input.defined()) throw std::runtime_error("no case named " + c["mask_input_from"].dump());
    }
    return p;
}

sam::Tensor sam_input_from_png(const std::string& path) {
    const RgbPng png = load_png_rgb(path);
    const float mean[3] = {123.675f, 116.28f, 103.53f}, std[3] = {58.395f, 57.12f, 57.375f};
    sam::Tensor t = sam::Tensor::zeros({1024, 1024, 3});
    for (int y = 0; y < png.height; ++y)
        for (int x = 0; x < png.width; ++x)
            for (int c = 0; c < 3; ++c)
                t.data[(y * 1024 + x) * 3 + c] = (png.pixels[(y * png.width + x) * 3 + c] - mean[c]) / std[c];
    return t;
}

}  // namespace samtest
