// Decoded images: 8-bit RGB, rows top to bottom, as a viewer shows them (EXIF orientation
// applied, alpha dropped, gray expanded).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace sam {

class DecodeBudget;  // io/decode_budget.hpp

struct RgbImage {
    int width = 0, height = 0;
    std::vector<uint8_t> pixels;  // height * width * 3, interleaved RGB
    // This image's share of a DecodeBudget, held while it (or a copy) lives; empty without one.
    std::shared_ptr<const void> reservation;
    const uint8_t* row(int y) const { return pixels.data() + static_cast<size_t>(y) * width * 3; }
};

class ImageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct DecodeLimits {
    int64_t max_pixels = 100'000'000;  // larger images are refused before decoding pixels
    // When set, every decode reserves its memory here first (one budget for the process).
    std::shared_ptr<DecodeBudget> budget;
};

// Detects JPEG, PNG, WebP, BMP, TIFF by magic bytes. Throws ImageError with a clear message
// for empty, truncated, corrupt, unsupported or over-large input; DecodeBusyError when the
// budget stays full. Sizes come from the header and are checked, and the memory the decode
// will take reserved, before any pixel is allocated.
RgbImage decode_image(std::span<const uint8_t> bytes, const DecodeLimits& limits = {});
RgbImage read_image_file(const std::string& path, const DecodeLimits& limits = {});

}  // namespace sam
