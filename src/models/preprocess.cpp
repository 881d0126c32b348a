#include "models/preprocess.hpp"

#include <cstring>

#include "io/image_resize.hpp"

namespace sam {

Tensor preprocess_image(const RgbImage& image, int* input_w, int* input_h) {
    int w, h;
    longest_side_size(image.width, image.height, kEncoderInputSize, w, h);
    const RgbImage resized = resize_bilinear_antialias(image, w, h);
    // float32 arithmetic in the reference's order: (x - mean) / std.
    const float mean[3] = {123.675f, 116.28f, 103.53f};
    const float std_[3] = {58.395f, 57.12f, 57.375f};
    const int S = kEncoderInputSize;
    Tensor t = Tensor::empty({S, S, 3});
#pragma omp parallel for schedule(static)
    for (int y = 0; y < S; ++y) {
        float* dst = t.data + static_cast<int64_t>(y) * S * 3;
        if (y >= h) {
            std::memset(dst, 0, sizeof(float) * S * 3);
            continue;
        }
        const uint8_t* src = resized.row(y);
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c) dst[x * 3 + c] = (float(src[x * 3 + c]) - mean[c]) / std_[c];
        std::memset(dst + w * 3, 0, sizeof(float) * (S - w) * 3);
    }
    *input_w = w;
    *input_h = h;
    return t;
}

Tensor preprocess_image_square(const RgbImage& image) {
    Tensor t = resize_bilinear_antialias_float(image, kEncoderInputSize, kEncoderInputSize);
    const float mean[3] = {0.485f, 0.456f, 0.406f};
    const float std_[3] = {0.229f, 0.224f, 0.225f};
    const int64_t pixels = int64_t(kEncoderInputSize) * kEncoderInputSize;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < pixels; ++i)
        for (int c = 0; c < 3; ++c) t.data[i * 3 + c] = (t.data[i * 3 + c] - mean[c]) / std_[c];
    return t;
}

}  // namespace sam
