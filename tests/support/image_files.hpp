// Image files made with the reference libraries for tests (and fuzz seeds): JPEG through
// libjpeg (orientation tag, progressive, CMYK), PNG through libpng (any colour type, extra
// chunks), and libjpeg's own decoding of the stored pixels.
#pragma once

#include <png.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "io/image.hpp"

namespace samtest {

struct JpegOptions {
    int orientation = 0;  // EXIF orientation tag to write (APP1); 0 for none
    bool progressive = false;
    int quality = 95;
};

// A JPEG of w x h pixels with 3 (RGB) or 4 (CMYK, stored as libjpeg writes it) components.
std::vector<uint8_t> encode_jpeg(const uint8_t* pixels, int w, int h, int components, const JpegOptions& options = {});
std::vector<uint8_t> encode_jpeg(const sam::RgbImage& img, const JpegOptions& options = {});

// The stored pixels of a JPEG, no orientation applied (libjpeg defaults, as PIL uses them), in
// RGB or, for a CMYK file, its four raw channels.
sam::RgbImage decode_jpeg_raw(const std::vector<uint8_t>& bytes);
std::vector<uint8_t> decode_jpeg_raw_cmyk(const std::vector<uint8_t>& bytes);

// A PNG written by libpng, each row filled by row(y, buffer); `extra` may add chunks (PLTE,
// tRNS) before the header is written.
std::vector<uint8_t> encode_png(int w, int h, int color_type, int depth, const std::function<void(int, png_bytep)>& row,
                                const std::function<void(png_structp, png_infop)>& extra = nullptr,
                                int interlace = PNG_INTERLACE_NONE);

}  // namespace samtest
