#include "models/model_loader.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "io/checkpoint.hpp"
#include "models/hiera_encoder.hpp"
#include "models/onnx_decoder.hpp"
#include "models/predictor.hpp"
#include "models/sam2_predictor.hpp"
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

// Segmenter::model_key() of every model: the architecture an embedding comes from (read from
// the tensors, never the file name), the file's content identity (io/file_identity.hpp) and
// the precision of the products when not float32. Embeddings depend on these and not on the
// decoder: an ONNX decoder with the same encoder file shares embeddings with the native one.
std::string model_key(const std::string& architecture, const io::Checkpoint& ckpt, Precision precision) {
    std::string key = architecture + ":" + ckpt.content_id();
    if (precision != Precision::f32) key += std::string(":") + precision_name(precision);
    return key;
}

// A SAM 1 image encoder and the model_key() of its embeddings.
std::unique_ptr<ImageEncoder> load_encoder(const io::Checkpoint& ckpt, Precision precision, std::string& key) {
    std::unique_ptr<ImageEncoder> encoder;
    std::string architecture;
    if (TinyVitEncoder::looks_like_tiny_vit(ckpt)) {
        encoder = TinyVitEncoder::load(ckpt, precision);
        architecture = "mobile_sam";
    } else if (looks_like_vit(ckpt)) {
        encoder = VitEncoder::load(ckpt, precision);
        const std::string name = encoder->name();  // "SAM ViT-B", ... or "SAM ViT (...)"
        architecture = name.rfind("SAM ViT-", 0) == 0 ? "sam_vit_" + lower(name.substr(8)) : "sam_vit";
    } else {
        throw ModelLoadError(ckpt.path() + " is neither a MobileSAM, a SAM ViT nor a SAM 2 checkpoint (no image_encoder."
                             "patch_embed tensors of any of them among its " + std::to_string(ckpt.names().size()) +
                             " tensors)");
    }
    key = model_key(architecture, ckpt, precision);
    return encoder;
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
std::unique_ptr<Segmenter> make(std::unique_ptr<ImageEncoder> encoder, Decoder decoder, const std::string& what,
                                const std::string& key) {
    return std::make_unique<Predictor<Decoder>>(std::move(encoder), std::move(decoder), what, key);
}

std::unique_ptr<Segmenter> load_sam2(const io::Checkpoint& ckpt, const ModelChoice& choice,
                                     std::vector<std::string>* warnings) {
    auto encoder = HieraEncoder::load(ckpt);
    const std::string size = encoder->config().name;
    if (choice.precision != Precision::f32 && warnings)
        warnings->push_back(std::string("PRECISION=") + precision_name(choice.precision) +
                            " applies to the MobileSAM and SAM ViT encoders; SAM 2 computes in float32");
    if (!choice.sam2_config.empty() && warnings) {
        const std::string want = sam2_config_size(choice.sam2_config);
        if (want.empty())
            warnings->push_back("MODEL_CONFIG '" + choice.sam2_config +
                                "' names no SAM 2 size (hiera _t, _s, _b+ or _l); the size comes from the checkpoint: " +
                                size);
        else if (want != size)
            warnings->push_back("MODEL_CONFIG '" + choice.sam2_config + "' is the " + want + " configuration but " +
                                ckpt.path() + " holds a " + size + " model; using " + size +
                                " (the size is read from the checkpoint)");
    }
    const std::string what = encoder->name() + " from " + ckpt.path();
    const std::string key = model_key(encoder->file_stem(), ckpt, Precision::f32);  // SAM 2 computes in float32
    return std::make_unique<Sam2Predictor>(std::move(encoder), Sam2Decoder::load(ckpt), what, key);
}

}  // namespace

std::string sam2_config_size(const std::string& config) {
    std::string name = lower(std::filesystem::path(config).filename().string());
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".yaml") == 0) name.resize(name.size() - 5);
    const size_t at = name.rfind("hiera_");
    if (at == std::string::npos) return "";
    const std::string size = name.substr(at + 6);
    if (size == "t" || size == "tiny") return "tiny";
    if (size == "s" || size == "small") return "small";
    if (size == "b+" || size == "base_plus" || size == "bplus") return "base_plus";
    if (size == "l" || size == "large") return "large";
    return "";
}

std::unique_ptr<Segmenter> load_segmenter(const ModelChoice& choice, std::vector<std::string>* warnings) {
    const std::string kind = lower(choice.sam_choice);
    try {
        require_precision(choice.precision);  // before anything is read: the message to act on
        if (kind == "mobilesam" || kind == "sam" || kind == "sam2") {
            const bool mobile = kind == "mobilesam", sam2 = kind == "sam2";
            const std::string& path =
                mobile ? choice.mobilesam_checkpoint : sam2 ? choice.sam2_checkpoint : choice.vith_checkpoint;
            require_file(path, mobile ? "MobileSAM checkpoint" : sam2 ? "SAM 2 checkpoint" : "SAM ViT checkpoint",
                         mobile ? "MOBILESAM_CHECKPOINT" : sam2 ? "SAM2_CHECKPOINT" : "VITH_CHECKPOINT");
            const auto ckpt = from_file(path, [&] { return io::Checkpoint::open(path); });
            if (looks_like_sam2(ckpt)) return from_file(path, [&] { return load_sam2(ckpt, choice, warnings); });
            std::string key;
            auto encoder = from_file(path, [&] { return load_encoder(ckpt, choice.precision, key); });
            std::string what = encoder->name() + " from " + path;
            if (choice.precision != Precision::f32) what += std::string(", ") + precision_name(choice.precision);
            return make(std::move(encoder), from_file(path, [&] { return SamDecoder::load(ckpt); }), what, key);
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
            if (looks_like_sam2(ckpt))
                throw ModelLoadError(enc_path + " is a SAM 2 checkpoint; ONNX mode pairs a SAM decoder export with a "
                                     "MobileSAM or SAM ViT encoder. Use SAM_CHOICE=SAM2 for SAM 2.");
            std::string key;
            auto encoder = from_file(enc_path, [&] { return load_encoder(ckpt, choice.precision, key); });
            std::string what = "ONNX decoder " + choice.onnx_checkpoint + " + " + encoder->name() +
                               " encoder from " + enc_path;
            if (choice.precision != Precision::f32) what += std::string(", ") + precision_name(choice.precision);
            auto decoder = from_file(choice.onnx_checkpoint, [&] { return OnnxDecoder::load(choice.onnx_checkpoint); });
            return make(std::move(encoder), std::move(decoder), what, key);
        }
    } catch (const ModelLoadError&) {
        throw;
    } catch (const std::exception& e) {
        throw ModelLoadError(e.what());
    }
    throw ModelLoadError("SAM_CHOICE '" + choice.sam_choice + "' is not one of MobileSAM, SAM, SAM2, ONNX");
}

}  // namespace sam
