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

#include "io/decode_budget.hpp"

namespace sam {

namespace {

std::string mpixel(double pixels) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", pixels / 1e6);
    return buf;
}

// Called with the size from the header, before any pixel is decoded or allocated.
void check_size(const char* format, int64_t w, int64_t h, const DecodeLimits& limits) {
    if (w <= 0 || h <= 0)
        throw ImageError(std::string(format) + ": image has zero size (" + std::to_string(w) + "x" +
                         std::to_string(h) + ")");
    int64_t pixels;
    if (__builtin_mul_overflow(w, h, &pixels) || pixels > limits.max_pixels)
        throw ImageError("image is " + std::to_string(w) + "x" + std::to_string(h) + " = " +
                         mpixel(static_cast<double>(w) * static_cast<double>(h)) + " Mpixel, over the limit of " +
                         mpixel(limits.max_pixels) + " Mpixel (MAX_IMAGE_PIXELS)");
}

// Reserves the decode's memory (checked sizes only) in the budget, if any; the image holds it.
void reserve(RgbImage& img, const char* format, int64_t w, int64_t h, int64_t extra_bytes, const DecodeLimits& limits) {
    if (!limits.budget) return;
    img.reservation = limits.budget->reserve(w * h * 3 + extra_bytes, std::string(format) + " image " +
                                                                           std::to_string(w) + "x" + std::to_string(h));
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

// Where EXIF orientation 1..8 puts a decoded row (PIL's ImageOps.exif_transpose): pixel sx of
// source row sy lands at (x0 + sx * dx, y0 + sx * dy) of the image as a viewer shows it.
struct RowPlacement {
    int64_t x0, y0, dx, dy;
};
RowPlacement place_row(int orientation, int64_t sy, int64_t W, int64_t H) {
    switch (orientation) {
        case 2: return {W - 1, sy, -1, 0};          // mirror
        case 3: return {W - 1, H - 1 - sy, -1, 0};  // rotate 180
        case 4: return {0, H - 1 - sy, 1, 0};       // flip vertically
        case 5: return {sy, 0, 0, 1};               // transpose
        case 6: return {H - 1 - sy, 0, 0, 1};       // rotate 90 clockwise
        case 7: return {H - 1 - sy, W - 1, 0, -1};  // transverse
        case 8: return {sy, W - 1, 0, -1};          // rotate 90 counter-clockwise
        default: return {0, sy, 1, 0};
    }
}

// ---------------------------------------------------------------------------------------------
// JPEG (libjpeg-turbo). Its default error handler calls exit(): ours longjmps back to the phase
// that called libjpeg. Those phases hold no object with a destructor (the jump would skip it);
// the decompressor itself is destroyed by its owner on every path.

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

// Every scan of a progressive JPEG runs over the whole image: a file of thousands of tiny scans
// takes minutes. libjpeg-turbo's own tools stop at 500 as well.
constexpr int kMaxJpegScans = 500;

void jpeg_progress(j_common_ptr cinfo) {
    auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
    if (d->input_scan_number > kMaxJpegScans) {
        auto* err = reinterpret_cast<JpegError*>(cinfo->err);
        std::snprintf(err->message, sizeof err->message, "more than %d scans", kMaxJpegScans);
        std::longjmp(err->jump, 1);
    }
}

struct Jpeg {
    jpeg_decompress_struct cinfo;
    JpegError err;
    jpeg_progress_mgr progress;
    bool created = false;
    int orientation = 1;
    ~Jpeg() {
        if (created) jpeg_destroy_decompress(&cinfo);
    }
};

// Phase 1: the header (size, colour space, scans so far) and the EXIF orientation.
bool jpeg_header(Jpeg& j, std::span<const uint8_t> bytes) {
    j.cinfo.err = jpeg_std_error(&j.err.mgr);
    j.err.mgr.error_exit = jpeg_fail;
    j.err.mgr.emit_message = jpeg_message;
    if (setjmp(j.err.jump)) return false;
    jpeg_create_decompress(&j.cinfo);
    j.created = true;
    j.progress.progress_monitor = jpeg_progress;
    j.cinfo.progress = &j.progress;
    jpeg_mem_src(&j.cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
    jpeg_save_markers(&j.cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&j.cinfo, TRUE);
    for (jpeg_saved_marker_ptr m = j.cinfo.marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && std::memcmp(m->data, "Exif\0\0", 6) == 0) {
            j.orientation = exif_orientation(m->data, m->data_length);
            break;
        }
    return true;
}

// Bytes libjpeg allocates for a whole-image coefficient buffer: needed by progressive files and
// by baseline files whose first scan lacks some components (known once the header is read).
int64_t jpeg_coefficient_bytes(const jpeg_decompress_struct& c) {
    if (!c.progressive_mode && c.comps_in_scan >= c.num_components) return 0;
    int max_h = 1, max_v = 1;
    for (int i = 0; i < c.num_components; ++i)
        max_h = std::max(max_h, c.comp_info[i].h_samp_factor), max_v = std::max(max_v, c.comp_info[i].v_samp_factor);
    int64_t bytes = 0;
    for (int i = 0; i < c.num_components; ++i) {
        const int64_t h = c.comp_info[i].h_samp_factor, v = c.comp_info[i].v_samp_factor;
        const int64_t bw = (int64_t(c.image_width) * h + 8 * max_h - 1) / (8 * max_h) + h;
        const int64_t bh = (int64_t(c.image_height) * v + 8 * max_v - 1) / (8 * max_v) + v;
        bytes += bw * bh * DCTSIZE2 * int64_t(sizeof(JCOEF));
    }
    return bytes;
}

// Phase 2: decodes batches of rows into `rows` and places each pixel where the orientation puts
// it, so a rotated image never exists twice; CMYK (stored Adobe-inverted, "CMYK;I" in PIL) goes
// to RGB as PIL converts it: r = (255 - k) - (c * (255 - k)) / 255, its rounded MULDIV255.
bool jpeg_pixels(Jpeg& j, RgbImage& img, uint8_t* rows, int batch) {
    if (setjmp(j.err.jump)) return false;
    jpeg_decompress_struct& c = j.cinfo;
    jpeg_start_decompress(&c);
    const int64_t W = c.output_width, H = c.output_height, comps = c.output_components;
    if (comps != 3 && comps != 4) jpeg_fail(reinterpret_cast<j_common_ptr>(&c));
    JSAMPROW pointers[16];
    while (c.output_scanline < c.output_height) {
        const int64_t first = c.output_scanline;
        int got = 0;
        while (got < batch && c.output_scanline < c.output_height) {
            for (int r = got; r < batch; ++r) pointers[r] = rows + r * W * comps;
            got += static_cast<int>(jpeg_read_scanlines(&c, pointers + got, static_cast<JDIMENSION>(batch - got)));
        }
        for (int r = 0; r < got; ++r) {
            uint8_t* src = rows + r * W * comps;
            if (comps == 4)
                for (int64_t x = 0; x < W; ++x) {
                    const int nk = src[x * 4 + 3];  // stored inverted: 255 - k
                    for (int ch = 0; ch < 3; ++ch) {
                        const int t = (255 - src[x * 4 + ch]) * nk + 128;
                        src[x * 3 + ch] = static_cast<uint8_t>(nk - (((t >> 8) + t) >> 8));
                    }
                }
            const RowPlacement p = place_row(j.orientation, first + r, W, H);
            uint8_t* dst = img.pixels.data();
            const int64_t step = (p.dy * img.width + p.dx) * 3;
            uint8_t* o = dst + (p.y0 * img.width + p.x0) * 3;
            for (int64_t x = 0; x < W; ++x, o += step) std::memcpy(o, src + x * 3, 3);
        }
    }
    jpeg_finish_decompress(&c);
    return true;
}

RgbImage decode_jpeg(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
    Jpeg j;
    if (!jpeg_header(j, bytes)) throw ImageError(std::string("JPEG: corrupt or truncated data: ") + j.err.message);
    jpeg_decompress_struct& c = j.cinfo;
    const int64_t W = c.image_width, H = c.image_height;
    check_size("JPEG", W, H, limits);
    const bool cmyk = c.jpeg_color_space == JCS_CMYK || c.jpeg_color_space == JCS_YCCK;
    c.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    const int batch = 16;
    const int64_t coefficients = jpeg_coefficient_bytes(c);
    RgbImage img;
    reserve(img, "JPEG", W, H, coefficients + batch * W * 4, limits);
    // libjpeg refuses (no backing store) rather than allocate beyond what was reserved.
    c.mem->max_memory_to_use = static_cast<long>(coefficients + (64 << 20));
    const bool swap = j.orientation >= 5;
    img.width = static_cast<int>(swap ? H : W);
    img.height = static_cast<int>(swap ? W : H);
    img.pixels.resize(static_cast<size_t>(W * H * 3));
    std::vector<uint8_t> rows(static_cast<size_t>(batch * W * 4));
    if (!jpeg_pixels(j, img, rows.data(), batch))
        throw ImageError(std::string("JPEG: corrupt or truncated data: ") + j.err.message);
    return img;
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

// Phase 1: the header chunks, the conversion to 8-bit RGB, the row size that results.
bool png_header(png_structp png, png_infop info) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_read_info(png, info);
    const int depth = png_get_bit_depth(png, info);
    const int color = png_get_color_type(png, info);
    // Everything to 8-bit RGB; transparency (alpha channel or tRNS) is dropped, not composited.
    // Palette expansion turns a tRNS chunk into an alpha channel: that is stripped too, so the
    // pixels are the palette's colours, as PIL's convert("RGB") gives them.
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS)) png_set_strip_alpha(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != static_cast<size_t>(png_get_image_width(png, info)) * 3)
        png_error(png, "unexpected row size after conversion to RGB");
    return true;
}

// Phase 2: the pixels, straight into the image's rows.
bool png_pixels(png_structp png, png_bytepp rows) {
    if (setjmp(png_jmpbuf(png))) return false;
    png_read_image(png, rows);
    return true;
}

RgbImage decode_png(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
    // IHDR is always the first chunk: read the size ourselves so that a header alone is enough
    // to refuse an over-large image.
    if (bytes.size() < 8 + 8 + 13 || std::memcmp(bytes.data() + 12, "IHDR", 4) != 0)
        throw ImageError("PNG: file is truncated or lacks the IHDR header chunk");
    const int64_t w = be32(bytes.data() + 16), h = be32(bytes.data() + 20);
    check_size("PNG", w, h, limits);
    RgbImage img;
    reserve(img, "PNG", w, h, 2 * w * 8, limits);  // libpng's own row buffers besides the pixels

    struct Png {  // libpng's state, destroyed on every path
        png_structp png = nullptr;
        png_infop info = nullptr;
        ~Png() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
    } p;
    PngReader reader{bytes};
    p.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, png_fail, png_quiet);
    p.info = p.png ? png_create_info_struct(p.png) : nullptr;
    if (!p.info) throw ImageError("PNG: out of memory creating the decoder");
    png_set_read_fn(p.png, &reader, png_read_mem);
    if (!png_header(p.png, p.info)) throw ImageError(std::string("PNG: corrupt or truncated data: ") + reader.message);
    if (png_get_image_width(p.png, p.info) != w || png_get_image_height(p.png, p.info) != h)
        throw ImageError("PNG: corrupt IHDR chunk");

    allocate(img, static_cast<int>(w), static_cast<int>(h));
    std::vector<png_bytep> rows(static_cast<size_t>(h));
    for (int64_t y = 0; y < h; ++y) rows[y] = img.pixels.data() + y * w * 3;
    if (!png_pixels(p.png, rows.data())) throw ImageError(std::string("PNG: corrupt or truncated data: ") + reader.message);
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
    const int64_t w = config.input.width, h = config.input.height;
    check_size("WebP", w, h, limits);
    RgbImage img;
    // Lossless (and mixed) files decode through a whole-image ARGB buffer, alpha planes take a
    // byte per pixel; lossy ones need a few macroblock rows only.
    const bool lossless = config.input.format != 1;
    reserve(img, "WebP", w, h, w * h * ((lossless ? 4 : 0) + (config.input.has_alpha ? 1 : 0)) + 64 * w, limits);
    allocate(img, static_cast<int>(w), static_cast<int>(h));
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
    reserve(img, "BMP", w, h, 0, limits);
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
