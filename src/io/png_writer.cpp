#include "io/png_writer.hpp"

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <png.h>

#include "io/image.hpp"

namespace sam {

namespace {

struct PngSink {
    std::vector<uint8_t>* out;
    char message[256] = {};
};

[[noreturn]] void png_write_fail(png_structp png, png_const_charp msg) {
    auto* sink = static_cast<PngSink*>(png_get_error_ptr(png));
    std::snprintf(sink->message, sizeof sink->message, "%s", msg);
    png_longjmp(png, 1);
}

void png_write_quiet(png_structp, png_const_charp) {}

void png_write_mem(png_structp png, png_bytep data, png_size_t n) {
    auto* sink = static_cast<PngSink*>(png_get_io_ptr(png));
    sink->out->insert(sink->out->end(), data, data + n);
}

void png_flush_mem(png_structp) {}

// libpng longjmps here on error; no object with a destructor lives in this frame.
bool png_write_run(png_structp png, png_infop info, int w, int h, const uint8_t* pixels) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_set_IHDR(png, info, static_cast<png_uint_32>(w), static_cast<png_uint_32>(h), 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    // Masks are large flat areas: fast compression loses little here.
    png_set_compression_level(png, 3);
    png_write_info(png, info);
    for (int y = 0; y < h; ++y) png_write_row(png, pixels + static_cast<size_t>(y) * w);
    png_write_end(png, info);
    return true;
}

}  // namespace

std::vector<uint8_t> encode_png_gray(int w, int h, const uint8_t* pixels) {
    if (w <= 0 || h <= 0 || !pixels)
        throw ImageError("encode_png_gray: need a positive size and pixels, got " + std::to_string(w) + "x" +
                         std::to_string(h) + (pixels ? "" : " with no pixels"));
    std::vector<uint8_t> out;
    PngSink sink{&out};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, png_write_fail, png_write_quiet);
    png_infop info = png ? png_create_info_struct(png) : nullptr;
    if (!info) {
        png_destroy_write_struct(&png, nullptr);
        throw ImageError("encode_png_gray: out of memory creating the encoder");
    }
    png_set_write_fn(png, &sink, png_write_mem, png_flush_mem);
    const bool ok = png_write_run(png, info, w, h, pixels);
    png_destroy_write_struct(&png, &info);
    if (!ok) throw ImageError(std::string("encode_png_gray: ") + sink.message);
    return out;
}

void write_png_gray(const std::string& path, int w, int h, const uint8_t* pixels) {
    const std::vector<uint8_t> bytes = encode_png_gray(w, h, pixels);
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) throw ImageError("cannot create PNG file " + path + ": " + std::strerror(errno));
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    f.close();
    if (!f) throw ImageError("cannot write PNG file " + path + ": " + std::strerror(errno));
}

}  // namespace sam
