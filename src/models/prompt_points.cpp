#include "models/prompt_points.hpp"

#include <stdexcept>
#include <string>

namespace sam {

namespace {

void check(const ImageEmbedding& e, const Prompt& prompt) {
    if (e.orig_w <= 0 || e.orig_h <= 0 || e.input_w <= 0 || e.input_h <= 0)
        throw std::invalid_argument("image embedding has bad sizes: original " + std::to_string(e.orig_w) + "x" +
                                    std::to_string(e.orig_h) + ", input " + std::to_string(e.input_w) + "x" +
                                    std::to_string(e.input_h));
    for (size_t i = 0; i < prompt.points.size(); ++i) {
        const int label = prompt.points[i].label;
        if (label != kNegative && label != kPositive)
            throw std::invalid_argument("prompt point " + std::to_string(i) + " has label " + std::to_string(label) +
                                        ", expected 1 (positive) or 0 (negative)");
    }
}

}  // namespace

DecoderPoints decoder_points(const ImageEmbedding& e, const Prompt& prompt, bool pad_always) {
    check(e, prompt);
    // apply_coords scales in double (numpy); the decoders then take float32.
    const double sx = static_cast<double>(e.input_w) / e.orig_w;
    const double sy = static_cast<double>(e.input_h) / e.orig_h;
    DecoderPoints d;
    for (const PromptPoint& p : prompt.points) {
        d.xy.insert(d.xy.end(), {static_cast<float>(p.x * sx), static_cast<float>(p.y * sy)});
        d.labels.push_back(p.label);
    }
    if (prompt.box) {
        const PromptBox& b = *prompt.box;
        d.xy.insert(d.xy.end(), {static_cast<float>(b.x0 * sx), static_cast<float>(b.y0 * sy),
                                 static_cast<float>(b.x1 * sx), static_cast<float>(b.y1 * sy)});
        d.labels.insert(d.labels.end(), {kBoxTopLeft, kBoxBottomRight});
    } else if (pad_always || !prompt.points.empty()) {
        d.xy.insert(d.xy.end(), {0.0f, 0.0f});
        d.labels.push_back(kPadPoint);
    }
    return d;
}

DecoderPoints sam2_decoder_points(const ImageEmbedding& e, const Prompt& prompt) {
    check(e, prompt);
    const float w = static_cast<float>(e.orig_w), h = static_cast<float>(e.orig_h), side = 1024.0f;
    DecoderPoints d;
    if (prompt.box) {
        const PromptBox& b = *prompt.box;
        d.xy.insert(d.xy.end(), {b.x0 / w * side, b.y0 / h * side, b.x1 / w * side, b.y1 / h * side});
        d.labels.insert(d.labels.end(), {kBoxTopLeft, kBoxBottomRight});
    }
    for (const PromptPoint& p : prompt.points) {
        d.xy.insert(d.xy.end(), {p.x / w * side, p.y / h * side});
        d.labels.push_back(p.label);
    }
    d.xy.insert(d.xy.end(), {0.0f, 0.0f});
    d.labels.push_back(kPadPoint);
    return d;
}

}  // namespace sam
