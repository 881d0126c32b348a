// Picks and loads the model the configuration asks for (SAM_CHOICE and checkpoint paths),
// detecting the architecture from the checkpoint's tensors, never from its file name.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include "models/segmenter.hpp"
#include "tensor/precision.hpp"

namespace sam {

class ModelLoadError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct ModelChoice {
    std::string sam_choice = "MobileSAM";  // MobileSAM | SAM | ONNX (case-insensitive)
    std::string mobilesam_checkpoint;      // MOBILESAM_CHECKPOINT
    std::string vith_checkpoint;           // VITH_CHECKPOINT: any SAM ViT (B, L, H)
    std::string onnx_checkpoint;           // ONNX_CHECKPOINT
    Precision precision = Precision::f32;  // PRECISION: the image encoder's products
};

// Throws ModelLoadError with a message a user can act on (which file is missing or wrong, and
// how to get one: scripts/download_models.sh).
std::unique_ptr<Segmenter> load_segmenter(const ModelChoice& choice);

}  // namespace sam
