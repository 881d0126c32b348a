// Picks and loads the model the configuration asks for (SAM_CHOICE and checkpoint paths),
// detecting the architecture from the checkpoint's tensors, never from its file name.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/segmenter.hpp"
#include "tensor/precision.hpp"

namespace sam {

class ModelLoadError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct ModelChoice {
    std::string sam_choice = "MobileSAM";  // MobileSAM | SAM | SAM2 | ONNX (case-insensitive)
    std::string mobilesam_checkpoint;      // MOBILESAM_CHECKPOINT
    std::string vith_checkpoint;           // VITH_CHECKPOINT: any SAM ViT (B, L, H)
    std::string onnx_checkpoint;           // ONNX_CHECKPOINT
    std::string sam2_checkpoint;           // SAM2_CHECKPOINT (or Label Studio's MODEL_CHECKPOINT)
    std::string sam2_config;               // MODEL_CONFIG: only checked against the checkpoint's size
    Precision precision = Precision::f32;  // PRECISION: the image encoder's products
};

// SAM_CHOICE picks which checkpoint variable is read; what the file holds (MobileSAM, SAM ViT
// or SAM 2) is read from its tensors. Throws ModelLoadError with a message a user can act on
// (which file is missing or wrong, and how to get one: scripts/download_models.sh). Problems
// that do not stop loading (a MODEL_CONFIG naming another size) are appended to `warnings`.
std::unique_ptr<Segmenter> load_segmenter(const ModelChoice& choice, std::vector<std::string>* warnings = nullptr);

// The SAM 2 size a configuration name stands for, from its file name as Label Studio's SAM 2
// backend and Meta's repository name them ("configs/sam2.1/sam2.1_hiera_l.yaml" -> "large";
// _t, _s, _b+, _l): "tiny", "small", "base_plus", "large", or "" when it names none.
std::string sam2_config_size(const std::string& config);

}  // namespace sam
