// Image decoding (JPEG, PNG, WebP, BMP by magic bytes; EXIF orientation) and the resize to the
// encoder's input. Anything but an ImageError escaping is a finding, and so is a decoded image
// whose pixel buffer does not match its size.
#include "io/image.hpp"
#include "io/image_resize.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    sam::DecodeLimits limits;
    limits.max_pixels = 1 << 20;  // keeps every run fast; the limit logic is the same at any value
    try {
        const sam::RgbImage img = sam::decode_image({data, size}, limits);
        if (img.width <= 0 || img.height <= 0 || img.width * int64_t(img.height) > limits.max_pixels ||
            img.pixels.size() != size_t(img.width) * img.height * 3)
            __builtin_trap();
        int w, h;
        sam::longest_side_size(img.width, img.height, 64, w, h);
        const sam::RgbImage small = sam::resize_bilinear_antialias(img, w, h);
        if (small.pixels.size() != size_t(w) * h * 3) __builtin_trap();
    } catch (const sam::ImageError&) {
    }
    return 0;
}
