// An image encoder: the normalised, padded 1024x1024 image in, the 256x64x64 embedding out.
// TinyVitEncoder (MobileSAM) and VitEncoder (SAM ViT-B/L/H) implement it.
#pragma once

#include <string>

#include "tensor/tensor.hpp"

namespace sam {

class ImageEncoder {
public:
    virtual ~ImageEncoder() = default;
    // input: [1024, 1024, 3] channels-last, already normalised and zero-padded.
    // returns: [256, 64, 64] (channels first, as the reference's embedding).
    virtual Tensor encode(const Tensor& input) const = 0;
    virtual std::string name() const = 0;  // e.g. "TinyViT-5M", "ViT-B (768 dim, 12 blocks)"
};

}  // namespace sam
