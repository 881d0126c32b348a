#include "io/image.hpp"

#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>
#include <webp/decode.h>

namespace sam {

namespace {

std::string mpixel(int64_t pixels) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", static_cast<double>(pixels) / 1e6);
    return buf;
}

// Called with the size from the header, before any pixel is decoded or allocated.
void check_size(const char* format, int64_t w, int64_t h, const DecodeLimits& limits) {
    if (w <= 0 || h <= 0)
        throw ImageError(std::string(format) + ": image has zero size (" + std::to_string(w) + "x" +
                         std::to_string(h) + ")");
    const int64_t pixels = w * h;
    if (pixels > limits.max_pixels)
        throw ImageError("image is " + std::to_string(w) + "x" + std::to_string(h) + " = " + mpixel(pixels) +
                         " Mpixel, over the limit of " + mpixel(limits.max_pixels) +
                         " Mpixel (MAX_IMAGE_PIXELS)");
}

void allocate(RgbImage& img, int w, int h) {
    img.width = w;
    img.height = h;
    img.pixels.resize(static_cast<size_t>(w) * h * 3);
}

uint32_t be16(const uint8_t* p) { return (p[0] << 8) | p[1]; }
uint32_t be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }
uint32_t le16(const uint8_t* p) { return p[0] | (p[1] << 8); }
uint32_t le32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t(p[3]) << 24); }

// ---------------------------------------------------------------------------------------------
// EXIF orientation

// Orientation tag (1..8) of an APP1 "Exif" payload; 1 when absent or unreadable, as viewers do.
int exif_orientation(const uint8_t* p, size_t n) {
    if (n < 14 || std::memcmp(p, "Exif\0\0", 6) != 0) return 1;
    const uint8_t* t = p + 6;  // TIFF header: byte order, 42, offset of IFD0
    n -= 6;
    const bool le = t[0] == 'I' && t[1] == 'I';
    if (!le && !(t[0] == 'M' && t[1] == 'M')) return 1;
    auto u16 = [&](size_t off) { return le ? le16(t + off) : be16(t + off); };
    auto u32 = [&](size_t off) { return le ? le32(t + off) : be32(t + off); };
    if (u16(2) != 42) return 1;
    const size_t ifd = u32(4);
    if (ifd + 2 > n) return 1;
    const size_t count = u16(ifd);
    for (size_t i = 0; i < count; ++i) {
        const size_t e = ifd + 2 + 12 * i;
        if (e + 12 > n) return 1;
        if (u16(e) == 0x0112 && u16(e + 2) == 3) {  // Orientation, SHORT
            const int v = static_cast<int>(u16(e + 8));
            return v >= 1 && v <= 8 ? v : 1;
        }
    }
    return 1;
}

// The image as a viewer shows it, for EXIF orientation 2..8 (PIL's ImageOps.exif_transpose).
RgbImage apply_orientation(const RgbImage& src, int orientation) {
    const int W = src.width, H = src.height;
    const bool swap = orientation >= 5;
    RgbImage out;
    allocate(out, swap ? H : W, swap ? W : H);
    for (int y = 0; y < out.height; ++y) {
        uint8_t* o = out.pixels.data() + static_cast<size_t>(y) * out.width * 3;
        for (int x = 0; x < out.width; ++x) {
            int sx = x, sy = y;
            switch (orientation) {
                case 2: sx = W - 1 - x; break;                      // mirror
                case 3: sx = W - 1 - x; sy = H - 1 - y; break;      // rotate 180
                case 4: sy = H - 1 - y; break;                      // flip vertically
                case 5: sx = y; sy = x; break;                      // transpose
                case 6: sx = y; sy = H - 1 - x; break;              // rotate 90 clockwise
                case 7: sx = W - 1 - y; sy = H - 1 - x; break;      // transverse
                case 8: sx = W - 1 - y; sy = x; break;              // rotate 90 counter-clockwise
                default: break;
            }
            const uint8_t* s = src.row(sy) + static_cast<size_t>(sx) * 3;
            o[x * 3 + 0] = s[0];
            o[x * 3 + 1] = s[1];
            o[x * 3 + 2] = s[2];
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// JPEG (libjpeg-turbo). Its default error handler calls exit(): ours longjmps back to decode_jpeg.
// Objects with destructors live outside the setjmp region so that the jump skips none.

struct JpegError {
    jpeg_error_mgr mgr;
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_fail(j_common_ptr cinfo) {
    auto* err = reinterpret_cast<JpegError*>(cinfo->err);
    (*cinfo->err->format_message)(cinfo, err->message);
    std::longjmp(err->jump, 1);
}

// libjpeg only warns on a truncated file and pads it with gray; PIL refuses it, and so do we.
void jpeg_message(j_common_ptr cinfo, int level) {
    if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_fail(cinfo);
}

struct JpegJob {
    std::span<const uint8_t> bytes;
    const DecodeLimits* limits;
    RgbImage* image;
    std::vector<uint8_t>* cmyk;  // scratch for CMYK input
    int orientation = 1;
    bool over_limit = false;     // header read, size refused: error thrown by the caller
    bool is_cmyk = false;
};

// Returns false with err.message set on a libjpeg error.
bool jpeg_run(JpegJob& job, jpeg_decompress_struct& cinfo, JpegError& err) {
    if (setjmp(err.jump)) return false;
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, job.bytes.data(), static_cast<unsigned long>(job.bytes.size()));
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);
    for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && std::memcmp(m->data, "Exif\0\0", 6) == 0) {
            job.orientation = exif_orientation(m->data, m->data_length);
            break;
        }
    job.image->width = static_cast<int>(cinfo.image_width);
    job.image->height = static_cast<int>(cinfo.image_height);
    if (static_cast<int64_t>(cinfo.image_width) * cinfo.image_height > job.limits->max_pixels ||
        cinfo.image_width == 0 || cinfo.image_height == 0) {
        job.over_limit = true;
        return true;
    }
    job.is_cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = job.is_cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    const int w = static_cast<int>(cinfo.output_width), h = static_cast<int>(cinfo.output_height);
    const size_t stride = static_cast<size_t>(w) * cinfo.output_components;
    allocate(*job.image, w, h);
    uint8_t* base = job.image->pixels.data();
    if (job.is_cmyk) {
        job.cmyk->resize(stride * h);
        base = job.cmyk->data();
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = base + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    return true;
}

// PIL reads CMYK JPEGs as Adobe-inverted ("CMYK;I") and converts CMYK to RGB with
// r = (255 - k) - (c * (255 - k)) / 255, its rounded MULDIV255.
void cmyk_to_rgb(const std::vector<uint8_t>& cmyk, RgbImage& img) {
    const size_t n = static_cast<size_t>(img.width) * img.height;
    for (size_t i = 0; i < n; ++i) {
        const int nk = cmyk[i * 4 + 3];  // stored inverted: 255 - k
        for (int c = 0; c < 3; ++c) {
            const int v = 255 - cmyk[i * 4 + c];
            const int t = v * nk + 128;
            img.pixels[i * 3 + c] = static_cast<uint8_t>(nk - (((t >> 8) + t) >> 8));
        }
    }
}

RgbImage decode_jpeg(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
    RgbImage img;
    std::vector<uint8_t> cmyk;
    JpegJob job{bytes, &limits, &img, &cmyk};
    jpeg_decompress_struct cinfo;
    JpegError err;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_fail;
    err.mgr.emit_message = jpeg_message;
    const bool ok = jpeg_run(job, cinfo, err);
    jpeg_destroy_decompress(&cinfo);
    if (!ok) throw ImageError(std::string("JPEG: corrupt or truncated data: ") + err.message);
    if (job.over_limit) check_size("JPEG", img.width, img.height, limits);
    if (job.is_cmyk) cmyk_to_rgb(cmyk, img);
    return job.orientation == 1 ? img : apply_orientation(img, job.orientation);
}

// ---------------------------------------------------------------------------------------------
// PNG (libpng), same longjmp discipline as JPEG.

struct PngReader {
    std::span<const uint8_t> bytes;
    size_t pos = 0;
    char message[256] = {};
};

[[noreturn]] void png_fail(png_structp png, png_const_charp msg) {
    auto* r = static_cast<PngReader*>(png_get_error_ptr(png));
    std::snprintf(r->message, sizeof r->message, "%s", msg);
    png_longjmp(png, 1);
}

void png_quiet(png_structp, png_const_charp) {}

void png_read_mem(png_structp png, png_bytep out, png_size_t n) {
    auto* r = static_cast<PngReader*>(png_get_io_ptr(png));
    if (n > r->bytes.size() - r->pos) png_error(png, "file is truncated");
    std::memcpy(out, r->bytes.data() + r->pos, n);
    r->pos += n;
}

bool png_run(png_structp png, png_infop info, RgbImage& img, std::vector<png_bytep>& rows) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_read_info(png, info);
    const int depth = png_get_bit_depth(png, info);
    const int color = png_get_color_type(png, info);
    // Everything to 8-bit RGB; transparency (alpha channel or tRNS) is dropped, not composited.
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);
    if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const int w = static_cast<int>(png_get_image_width(png, info));
    const int h = static_cast<int>(png_get_image_height(png, info));
    if (png_get_rowbytes(png, info) != static_cast<size_t>(w) * 3) png_error(png, "unexpected row size after conversion to RGB");
    allocate(img, w, h);
    rows.resize(h);
    for (int y = 0; y < h; ++y) rows[y] = img.pixels.data() + static_cast<size_t>(y) * w * 3;
    png_read_image(png, rows.data());
    return true;
}

RgbImage decode_png(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
    // IHDR is always the first chunk: read the size ourselves so that a header alone is enough
    // to refuse an over-large image.
    if (bytes.size() < 8 + 8 + 13 || std::memcmp(bytes.data() + 12, "IHDR", 4) != 0)
        throw ImageError("PNG: file is truncated or lacks the IHDR header chunk");
    check_size("PNG", be32(bytes.data() + 16), be32(bytes.data() + 20), limits);

    RgbImage img;
    std::vector<png_bytep> rows;
    PngReader reader{bytes};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, png_fail, png_quiet);
    png_infop info = png ? png_create_info_struct(png) : nullptr;
    if (!info) {
        png_destroy_read_struct(&png, nullptr, nullptr);
        throw ImageError("PNG: out of memory creating the decoder");
    }
    png_set_read_fn(png, &reader, png_read_mem);
    const bool ok = png_run(png, info, img, rows);
    png_destroy_read_struct(&png, &info, nullptr);
    if (!ok) throw ImageError(std::string("PNG: corrupt or truncated data: ") + reader.message);
    return img;
}

// ---------------------------------------------------------------------------------------------
// WebP (libwebp)

const char* webp_status(VP8StatusCode s) {
    switch (s) {
        case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
        case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
        case VP8_STATUS_BITSTREAM_ERROR: return "corrupt bitstream";
        case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
        case VP8_STATUS_SUSPENDED: return "decoding suspended";
        case VP8_STATUS_USER_ABORT: return "decoding aborted";
        case VP8_STATUS_NOT_ENOUGH_DATA: return "file is truncated";
        default: return "unknown error";
    }
}

RgbImage decode_webp(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config)) throw ImageError("WebP: libwebp version mismatch");
    VP8StatusCode s = WebPGetFeatures(bytes.data(), bytes.size(), &config.input);
    if (s != VP8_STATUS_OK) throw ImageError(std::string("WebP: cannot read header: ") + webp_status(s));
    if (config.input.has_animation) throw ImageError("WebP: animated images are not supported");
    check_size("WebP", config.input.width, config.input.height, limits);
    RgbImage img;
    allocate(img, config.input.width, config.input.height);
    // MODE_RGB drops alpha, if any, keeping the stored colour values.
    config.output.colorspace = MODE_RGB;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = img.pixels.data();
    config.output.u.RGBA.stride = img.width * 3;
    config.output.u.RGBA.size = img.pixels.size();
    s = WebPDecode(bytes.data(), bytes.size(), &config);
    WebPFreeDecBuffer(&config.output);
    if (s != VP8_STATUS_OK) throw ImageError(std::string("WebP: cannot decode pixels: ") + webp_status(s));
    return img;
}

// ---------------------------------------------------------------------------------------------
// BMP: the common uncompressed kinds (24/32-bit, 8-bit palette); others are refused clearly.

RgbImage decode_bmp(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
    const uint8_t* p = bytes.data();
    const size_t n = bytes.size();
    if (n < 14 + 40) throw ImageError("BMP: file is truncated (no complete header)");
    const uint32_t offset = le32(p + 10), header = le32(p + 14);
    if (header < 40) throw ImageError("BMP: OS/2 bitmap headers (" + std::to_string(header) + " bytes) are not supported");
    const int32_t w = static_cast<int32_t>(le32(p + 18));
    const int32_t hs = static_cast<int32_t>(le32(p + 22));
    const int bpp = static_cast<int>(le16(p + 28));
    const uint32_t compression = le32(p + 30);
    const bool top_down = hs < 0;
    const int64_t h = top_down ? -static_cast<int64_t>(hs) : hs;
    check_size("BMP", w, h, limits);
    if (compression != 0 || (bpp != 8 && bpp != 24 && bpp != 32))
        throw ImageError("BMP: " + std::to_string(bpp) + "-bit images with compression " + std::to_string(compression) +
                         " are not supported (supported: uncompressed 8, 24 and 32 bits)");
    const size_t stride = (static_cast<size_t>(bpp) * w + 31) / 32 * 4;
    if (offset > n || stride * h > n - offset) throw ImageError("BMP: file is truncated (pixel data incomplete)");
    uint8_t palette[256][3] = {};
    if (bpp == 8) {
        uint32_t colors = le32(p + 46);
        if (colors == 0 || colors > 256) colors = 256;
        const size_t pal = 14 + static_cast<size_t>(header);
        if (pal + colors * 4 > offset) throw ImageError("BMP: palette overlaps the pixel data or is truncated");
        for (uint32_t i = 0; i < colors; ++i) {
            palette[i][0] = p[pal + i * 4 + 2];
            palette[i][1] = p[pal + i * 4 + 1];
            palette[i][2] = p[pal + i * 4 + 0];
        }
    }
    RgbImage img;
    allocate(img, w, static_cast<int>(h));
    for (int y = 0; y < img.height; ++y) {
        const uint8_t* s = p + offset + stride * (top_down ? y : img.height - 1 - y);
        uint8_t* o = img.pixels.data() + static_cast<size_t>(y) * w * 3;
        for (int x = 0; x < w; ++x) {
            if (bpp == 8) {
                std::memcpy(o + x * 3, palette[s[x]], 3);
            } else {
                const uint8_t* q = s + static_cast<size_t>(x) * (bpp / 8);  // BGR(X)
                o[x * 3 + 0] = q[2];
                o[x * 3 + 1] = q[1];
                o[x * 3 + 2] = q[0];
            }
        }
    }
    return img;
}

bool starts_with(std::span<const uint8_t> b, const char* magic, size_t n, size_t at = 0) {
    return b.size() >= at + n && std::memcmp(b.data() + at, magic, n) == 0;
}

}  // namespace

RgbImage decode_image(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
    if (bytes.empty()) throw ImageError("image data is empty");
    if (starts_with(bytes, "\xFF\xD8\xFF", 3)) return decode_jpeg(bytes, limits);
    if (starts_with(bytes, "\x89PNG\r\n\x1A\n", 8)) return decode_png(bytes, limits);
    if (starts_with(bytes, "RIFF", 4) && starts_with(bytes, "WEBP", 4, 8)) return decode_webp(bytes, limits);
    if (starts_with(bytes, "BM", 2)) return decode_bmp(bytes, limits);
    if (starts_with(bytes, "II*\0", 4) || starts_with(bytes, "MM\0*", 4))
        throw ImageError("unsupported image format TIFF (supported: JPEG, PNG, WebP, BMP)");
    if (starts_with(bytes, "GIF8", 4))
        throw ImageError("unsupported image format GIF (supported: JPEG, PNG, WebP, BMP)");
    // The bytes themselves stay out of the message: they may be an internal service's answer.
    throw ImageError("unknown image format (" + std::to_string(bytes.size()) +
                     " bytes; supported: JPEG, PNG, WebP, BMP)");
}

RgbImage read_image_file(const std::string& path, const DecodeLimits& limits) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw ImageError("cannot open image file " + path + ": " + std::strerror(errno));
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (f.bad()) throw ImageError("cannot read image file " + path);
    try {
        return decode_image(bytes, limits);
    } catch (const ImageError& e) {
        throw ImageError(path + ": " + e.what());
    }
}

}  // namespace sam
