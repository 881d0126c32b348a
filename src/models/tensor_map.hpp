// Tensors by state-dict name ("image_encoder.blocks.0.attn.qkv.weight", ...), for weights built in
// memory (benchmarks, tests) or gathered from a checkpoint.
#pragma once

#include <map>
#include <string>

#include "tensor/tensor.hpp"

namespace sam {

using TensorMap = std::map<std::string, Tensor>;

}  // namespace sam
