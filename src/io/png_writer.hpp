// 8-bit grayscale PNG output (masks: 0 or 255 per pixel).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sam {

// The encoder fed row by row, top to bottom, so a mask streamed from the upscaling never
// exists whole (at 1080p, writing a 2 MB mask costs as much as compressing it).
class PngGrayWriter {
public:
    // Throws ImageError on a bad size.
    PngGrayWriter(int w, int h);
    ~PngGrayWriter();
    PngGrayWriter(const PngGrayWriter&) = delete;
    PngGrayWriter& operator=(const PngGrayWriter&) = delete;

    // w bytes. Throws ImageError when libpng fails, std::logic_error past the last row.
    void add_row(const uint8_t* row);
    // The file's bytes; throws std::logic_error when fewer rows than h were added.
    std::vector<uint8_t> finish();

private:
    struct State;
    std::unique_ptr<State> s_;
};

// PNG file bytes of a w x h 8-bit gray image, rows top to bottom. Throws ImageError on a bad size.
std::vector<uint8_t> encode_png_gray(int w, int h, const uint8_t* pixels);
// Same, written to `path`. Throws ImageError when the file cannot be written.
void write_png_gray(const std::string& path, int w, int h, const uint8_t* pixels);

}  // namespace sam
