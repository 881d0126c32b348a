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
std::unique_ptr<ImageEncoder> load_encoder(const io::Checkpoint& ckpt) {
    if (TinyVitEncoder::looks_like_tiny_vit(ckpt)) return TinyVitEncoder::load(ckpt);
    if (looks_like_vit(ckpt)) return VitEncoder::load(ckpt);
    throw ModelLoadError(ckpt.path() + " is neither a MobileSAM nor a SAM ViT checkpoint (no image_encoder."
                         "patch_embed tensors of either kind among its " + std::to_string(ckpt.names().size()) +
                         " tensors)");
}

// One loading step on `path`: every error names the file, also out of memory and the errors
// of layers that do not know it.
template <class F>
auto from_file(const std::string& path, F&& load) -> decltype(load()) {
    try {
        return load();
    } catch (const std::bad_alloc&) {
        throw ModelLoadError(path + ": out of memory while loading the model");
    } catch (const std::exception& e) {
        const std::string msg = e.what();
        throw ModelLoadError(msg.find(path) == std::string::npos ? path + ": " + msg : msg);
    }
}

template <class Decoder>
std::unique_ptr<Segmenter> make(std::unique_ptr<ImageEncoder> encoder, Decoder decoder, const std::string& what) {
    return std::make_unique<Predictor<Decoder>>(std::move(encoder), std::move(decoder), what);
}

}  // namespace

std::unique_ptr<Segmenter> load_segmenter(const ModelChoice& choice) {
    const std::string kind = lower(choice.sam_choice);
    try {
        if (kind == "mobilesam" || kind == "sam") {
            const bool mobile = kind == "mobilesam";
            const std::string& path = mobile ? choice.mobilesam_checkpoint : choice.vith_checkpoint;
            require_file(path, mobile ? "MobileSAM checkpoint" : "SAM ViT checkpoint",
                         mobile ? "MOBILESAM_CHECKPOINT" : "VITH_CHECKPOINT");
            const auto ckpt = from_file(path, [&] { return io::Checkpoint::open(path); });
            auto encoder = from_file(path, [&] { return load_encoder(ckpt); });
            const std::string what = encoder->name() + " from " + path;
            return make(std::move(encoder), from_file(path, [&] { return SamDecoder::load(ckpt); }), what);
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
            const auto ckpt = from_file(enc_path, [&] { return io::Checkpoint::open(enc_path); });
            auto encoder = from_file(enc_path, [&] { return load_encoder(ckpt); });
            const std::string what = "ONNX decoder " + choice.onnx_checkpoint + " + " + encoder->name() +
                                     " encoder from " + enc_path;
            auto decoder = from_file(choice.onnx_checkpoint, [&] { return OnnxDecoder::load(choice.onnx_checkpoint); });
            return make(std::move(encoder), std::move(decoder), what);
        }
    } catch (const ModelLoadError&) {
        throw;
    } catch (const std::exception& e) {
        throw ModelLoadError(e.what());
    }
    throw ModelLoadError("SAM_CHOICE '" + choice.sam_choice + "' is not one of MobileSAM, SAM, ONNX");
}

}  // namespace sam
