#include "support/image_files.hpp"

#include <cstdio>  // jpeglib.h needs FILE and size_t first
#include <cstdlib>

#include <jpeglib.h>

namespace samtest {

std::vector<uint8_t> encode_jpeg(const uint8_t* pixels, int w, int h, int components, const JpegOptions& o) {
    jpeg_compress_struct c;
    jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    unsigned char* mem = nullptr;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &mem, &size);
    c.image_width = w;
    c.image_height = h;
    c.input_components = components;
    c.in_color_space = components == 4 ? JCS_CMYK : JCS_RGB;
    jpeg_set_defaults(&c);
    if (components == 4) jpeg_set_colorspace(&c, JCS_CMYK);
    jpeg_set_quality(&c, o.quality, TRUE);
    if (o.progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    if (o.orientation) {
        // "Exif\0\0" + big-endian TIFF header + IFD0 holding one SHORT entry: Orientation.
        const uint8_t exif[] = {'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1,
                                0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, static_cast<uint8_t>(o.orientation), 0, 0,
                                0, 0, 0, 0};
        jpeg_write_marker(&c, JPEG_APP0 + 1, exif, sizeof exif);
    }
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = const_cast<uint8_t*>(pixels + size_t(c.next_scanline) * w * components);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    std::vector<uint8_t> v(mem, mem + size);
    std::free(mem);
    return v;
}

std::vector<uint8_t> encode_jpeg(const sam::RgbImage& img, const JpegOptions& o) {
    return encode_jpeg(img.pixels.data(), img.width, img.height, 3, o);
}

namespace {

std::vector<uint8_t> decode_raw(const std::vector<uint8_t>& bytes, J_COLOR_SPACE space, int& w, int& h) {
    jpeg_decompress_struct c;
    jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_decompress(&c);
    jpeg_mem_src(&c, bytes.data(), bytes.size());
    jpeg_read_header(&c, TRUE);
    c.out_color_space = space;
    jpeg_start_decompress(&c);
    w = static_cast<int>(c.output_width);
    h = static_cast<int>(c.output_height);
    const size_t stride = size_t(w) * c.output_components;
    std::vector<uint8_t> px(stride * h);
    while (c.output_scanline < c.output_height) {
        JSAMPROW row = px.data() + c.output_scanline * stride;
        jpeg_read_scanlines(&c, &row, 1);
    }
    jpeg_finish_decompress(&c);
    jpeg_destroy_decompress(&c);
    return px;
}

}  // namespace

sam::RgbImage decode_jpeg_raw(const std::vector<uint8_t>& bytes) {
    sam::RgbImage img;
    img.pixels = decode_raw(bytes, JCS_RGB, img.width, img.height);
    return img;
}

std::vector<uint8_t> decode_jpeg_raw_cmyk(const std::vector<uint8_t>& bytes) {
    int w, h;
    return decode_raw(bytes, JCS_CMYK, w, h);
}

std::vector<uint8_t> encode_png(int w, int h, int color_type, int depth, const std::function<void(int, png_bytep)>& row,
                                const std::function<void(png_structp, png_infop)>& extra, int interlace) {
    std::vector<uint8_t> out;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    png_infop info = png_create_info_struct(png);
    png_set_write_fn(
        png, &out,
        [](png_structp p, png_bytep d, png_size_t n) {
            auto* o = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(p));
            o->insert(o->end(), d, d + n);
        },
        nullptr);
    png_set_IHDR(png, info, w, h, depth, color_type, interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (extra) extra(png, info);
    png_write_info(png, info);
    std::vector<png_byte> buf(png_get_rowbytes(png, info) + 8);
    const int passes = png_set_interlace_handling(png);
    for (int pass = 0; pass < passes; ++pass)
        for (int y = 0; y < h; ++y) {
            row(y, buf.data());
            png_write_row(png, buf.data());
        }
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
    return out;
}

}  // namespace samtest
