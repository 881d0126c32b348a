// An ImageEmbedding as bytes, for a store shared between processes (the server's Redis level):
// a small header, then the tensors' values in float16 or float32.
//
// Layout (little-endian):
//   "SEMB"  u8 version (1)  u8 dtype (1 float32, 2 float16)  u8 tensor count  u8 0
//   u32 orig_w, orig_h, input_w, input_h
//   u16 model key length, the model key (Segmenter::model_key)
//   per tensor: u8 role (0 features, 1 high_res_0, 2 high_res_1), u8 rank, u32 dims[rank]
//   u32 CRC-32 of every other byte of the value (header before it, data after it)
//   the tensors' values, in the order above
// Nothing but `features` is required; SAM 2's high-resolution maps come along when defined.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "models/segmenter.hpp"

namespace sam {

class EmbeddingCodecError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class EmbeddingPrecision { Float32, Float16 };

// The precision a shared store keeps this embedding in, measured on the golden cases
// (docs/DECISIONS.md, "Several replicas"): float16 for the SAM 1 family (MobileSAM, SAM ViT:
// no confident mask pixel moves); float32 for SAM 2 (embeddings with high-resolution maps),
// whose decoder turns float16's rounding into flipped confident pixels.
EmbeddingPrecision storage_precision(const ImageEmbedding& embedding);

std::string encode_embedding(const ImageEmbedding& embedding, const std::string& model_key,
                             EmbeddingPrecision precision);

// Checks everything before it allocates or trusts anything: magic, version, dtype, sizes and
// shapes against the value's length, the model key, the checksum. Throws EmbeddingCodecError
// saying which check failed.
ImageEmbedding decode_embedding(std::string_view bytes, const std::string& model_key);

// Rounds the values in place to what a value of this precision keeps, so that an embedding
// used here and the copy another process decodes give the same masks.
void round_embedding(ImageEmbedding& embedding, EmbeddingPrecision precision);

}  // namespace sam
