#include "models/model_loader.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "io/checkpoint.hpp"
#include "models/onnx_decoder.hpp"
#include "models/predictor.hpp"
#include "models/sam_decoder.hpp"
#include "models/tiny_vit.hpp"
#include "models/vit_encoder.hpp"

namespace sam {
namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

void require_file(const std::string& path, const std::string& what, const std::string& variable) {
    std::error_code ec;
    if (path.empty() || !std::filesystem::is_regular_file(path, ec))
        throw ModelLoadError(what + " not found: '" + path + "'. Download it with scripts/download_models.sh, or set " +
                             variable + " to the file's path.");
}

// The architecture comes from the tensors, never from the file name.
std::unique_ptr<ImageEncoder> load_encoder(const io::Checkpoint& ckpt, Precision precision) {
    if (TinyVitEncoder::looks_like_tiny_vit(ckpt)) return TinyVitEncoder::load(ckpt, precision);
    if (looks_like_vit(ckpt)) return VitEncoder::load(ckpt, precision);
    throw ModelLoadError(ckpt.path() + " is neither a MobileSAM nor a SAM ViT checkpoint (no image_encoder."
                         "patch_embed tensors of either kind among its " + std::to_string(ckpt.names().size()) +
                         " tensors)");
}

template <class Decoder>
std::unique_ptr<Segmenter> make(std::unique_ptr<ImageEncoder> encoder, Decoder decoder, const std::string& what) {
    return std::make_unique<Predictor<Decoder>>(std::move(encoder), std::move(decoder), what);
}

}  // namespace

std::unique_ptr<Segmenter> load_segmenter(const ModelChoice& choice) {
    const std::string kind = lower(choice.sam_choice);
    try {
        require_precision(choice.precision);  // before anything is read: the message to act on
        if (kind == "mobilesam" || kind == "sam") {
            const bool mobile = kind == "mobilesam";
            const std::string& path = mobile ? choice.mobilesam_checkpoint : choice.vith_checkpoint;
            require_file(path, mobile ? "MobileSAM checkpoint" : "SAM ViT checkpoint",
                         mobile ? "MOBILESAM_CHECKPOINT" : "VITH_CHECKPOINT");
            const auto ckpt = io::Checkpoint::open(path);
            auto encoder = load_encoder(ckpt, choice.precision);
            std::string what = encoder->name() + " from " + path;
            if (choice.precision != Precision::f32) what += std::string(", ") + precision_name(choice.precision);
            return make(std::move(encoder), SamDecoder::load(ckpt), what);
        }
        if (kind == "onnx") {
            require_file(choice.onnx_checkpoint, "ONNX decoder", "ONNX_CHECKPOINT");
            // The embedding must come from the model the decoder was exported from: VITH_CHECKPOINT
            // as in the Python example, or the MobileSAM checkpoint when no ViT file is there.
            std::error_code ec;
            const std::string& enc_path = std::filesystem::is_regular_file(choice.vith_checkpoint, ec)
                                              ? choice.vith_checkpoint
                                              : choice.mobilesam_checkpoint;
            require_file(enc_path, "encoder checkpoint for ONNX mode (VITH_CHECKPOINT or MOBILESAM_CHECKPOINT)",
                         "VITH_CHECKPOINT");
            const auto ckpt = io::Checkpoint::open(enc_path);
            auto encoder = load_encoder(ckpt, choice.precision);
            std::string what = "ONNX decoder " + choice.onnx_checkpoint + " + " + encoder->name() +
                               " encoder from " + enc_path;
            if (choice.precision != Precision::f32) what += std::string(", ") + precision_name(choice.precision);
            return make(std::move(encoder), OnnxDecoder::load(choice.onnx_checkpoint), what);
        }
    } catch (const ModelLoadError&) {
        throw;
    } catch (const std::exception& e) {
        throw ModelLoadError(e.what());
    }
    throw ModelLoadError("SAM_CHOICE '" + choice.sam_choice + "' is not one of MobileSAM, SAM, ONNX");
}

}  // namespace sam
