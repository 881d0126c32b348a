// The brush RLE encoder (Label Studio's format) and its decoder. Input: a mode byte, width and
// height (one byte each, plus one), then the payload.
// Mode 0: the payload's bits are a mask: encoding must decode back to it, and the row-by-row
//         writer must give the same bytes.
// Mode 1: the payload is an RLE stream: decoding gives a mask of the size, or a RequestError.
// Mode 2: the payload is low-res logits: the streamed prediction encoding equals the encoding of
//         the full mask.
#include <cstring>

#include "labelstudio/brush_rle.hpp"
#include "labelstudio/errors.hpp"
#include "models/mask_postprocess.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 3) return 0;
    const int mode = data[0] % 3, w = data[1] + 1, h = data[2] + 1;
    const uint8_t* payload = data + 3;
    const size_t n = size - 3;
    if (mode == 0) {
        std::vector<uint8_t> mask(size_t(w) * h, 0);
        for (size_t i = 0; i < mask.size() && n; ++i) mask[i] = (payload[(i / 8) % n] >> (i % 8)) & 1;
        const std::vector<uint8_t> rle = sam::ls::encode_brush_rle(mask.data(), w, h);
        if (sam::ls::decode_brush_rle(rle, w, h) != mask) __builtin_trap();
        sam::ls::BrushRleWriter writer(w, h);
        for (int y = 0; y < h; ++y) writer.add_row(mask.data() + size_t(y) * w);
        if (writer.finish() != rle) __builtin_trap();
    } else if (mode == 1) {
        try {
            if (sam::ls::decode_brush_rle({payload, n}, w, h).size() != size_t(w) * h) __builtin_trap();
        } catch (const sam::ls::RequestError&) {
        }
    } else if (n >= 2) {
        sam::Prediction p;
        p.lowres = sam::Tensor::zeros({1, 256, 256});
        for (size_t i = 0; i < n && i < 256 * 256; ++i) p.lowres.data[i * 7919 % (256 * 256)] = float(int(payload[i]) - 128);
        // Any input size within the 1024 frame; small ones keep the runs fast.
        p.orig_w = w, p.orig_h = h;
        p.input_w = 1 + payload[0] % w, p.input_h = 1 + payload[1] % h;
        p.iou = {0.5f};
        const std::vector<uint8_t> mask = sam::binary_mask(p, 0);
        if (sam::ls::brush_rle_from_prediction(p, 0) != sam::ls::encode_brush_rle(mask.data(), p.orig_w, p.orig_h))
            __builtin_trap();
    }
    return 0;
}
