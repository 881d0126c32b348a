// 8-bit grayscale PNG output (masks: 0 or 255 per pixel).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sam {

// PNG file bytes of a w x h 8-bit gray image, rows top to bottom. Throws ImageError on a bad size.
std::vector<uint8_t> encode_png_gray(int w, int h, const uint8_t* pixels);
// Same, written to `path`. Throws ImageError when the file cannot be written.
void write_png_gray(const std::string& path, int w, int h, const uint8_t* pixels);

}  // namespace sam
