#include "server/config.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace sam::server {

const std::vector<EnvDoc>& env_docs() {
    static const std::vector<EnvDoc> docs = {
        {"PORT", "port to listen on (default 9090)"},
        {"HOST", "address to listen on (default 0.0.0.0)"},
        {"SAM_CHOICE", "MobileSAM (default), SAM or ONNX"},
        {"MOBILESAM_CHECKPOINT", "MobileSAM checkpoint (default $MODEL_DIR/mobile_sam.pt)"},
        {"VITH_CHECKPOINT", "SAM ViT-B/L/H checkpoint (default $MODEL_DIR/sam_vit_h_4b8939.pth)"},
        {"ONNX_CHECKPOINT", "SAM ONNX decoder (default $MODEL_DIR/sam_onnx_quantized_example.onnx)"},
        {"MODEL_DIR", "folder of the default checkpoints (default models)"},
        {"MODEL_VERSION", "model version reported to Label Studio (default SamMLBackend-v0.0.1)"},
        {"LABEL_STUDIO_URL", "Label Studio base URL, for uploaded and cloud images"},
        {"LABEL_STUDIO_HOST", "same as LABEL_STUDIO_URL (older name)"},
        {"LABEL_STUDIO_API_KEY", "Label Studio token (legacy token or JWT)"},
        {"LABEL_STUDIO_ACCESS_TOKEN", "same as LABEL_STUDIO_API_KEY"},
        {"LOCAL_FILES_DOCUMENT_ROOT", "local-storage root: /data/local-files/?d= paths are read under it"},
        {"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", "same as LOCAL_FILES_DOCUMENT_ROOT"},
        {"BASIC_AUTH_USER", "require HTTP basic auth with this user (and BASIC_AUTH_PASS)"},
        {"BASIC_AUTH_PASS", "password for BASIC_AUTH_USER"},
        {"LOG_LEVEL", "trace, debug, info (default), warning, error"},
        {"VERIFY_SSL", "verify TLS certificates of image downloads (default true)"},
        {"CACHE_SIZE", "embeddings kept in the cache (default 8)"},
        {"CACHE_MAX_MB", "bytes of cached embeddings, in MiB (default 512)"},
        {"MAX_IMAGE_PIXELS", "larger images are refused (default 100000000)"},
        {"MAX_IMAGE_MB", "larger image files and downloads are refused, in MiB (default 50)"},
        {"DECODE_BUDGET_MB", "memory all images being decoded or encoded may take at once, in MiB (default 1024)"},
        {"DOWNLOAD_TIMEOUT", "seconds for a whole image download (default 30)"},
        {"CONNECT_TIMEOUT", "seconds to connect for an image download (default 5)"},
        {"THREADS", "HTTP worker threads (default 8)"},
        {"MAX_BODY_MB", "larger request bodies get 413, in MiB (default 16)"},
        {"PREFETCH_QUEUE", "images waiting for a background embedding; more are dropped (default 4)"},
    };
    return docs;
}

namespace {

const char* env(const char* name) {
    const char* v = std::getenv(name);
    return v && *v ? v : nullptr;
}

void set_str(std::string& out, const char* name) {
    if (const char* v = env(name)) out = v;
}

int64_t to_int(const char* name, const std::string& v, int64_t lo) {
    size_t used = 0;
    int64_t x = 0;
    try {
        x = std::stoll(v, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != v.size() || x < lo)
        throw std::invalid_argument(std::string(name) + ": expected an integer >= " + std::to_string(lo) +
                                    ", got '" + v + "'");
    return x;
}

double to_double(const char* name, const std::string& v) {
    size_t used = 0;
    double x = 0;
    try {
        x = std::stod(v, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != v.size() || !(x > 0))
        throw std::invalid_argument(std::string(name) + ": expected a positive number, got '" + v + "'");
    return x;
}

template <typename T>
void set_int(T& out, const char* name, int64_t lo) {
    if (const char* v = env(name)) out = static_cast<T>(to_int(name, v, lo));
}

}  // namespace

bool parse_bool(const std::string& name, const std::string& value) {
    std::string v = value;
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
    if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
    if (v == "0" || v == "false" || v == "no" || v == "off") return false;
    throw std::invalid_argument(name + ": expected true or false, got '" + value + "'");
}

ServerConfig config_from_env() {
    ServerConfig c;
    set_str(c.host, "HOST");
    set_int(c.port, "PORT", 0);
    set_str(c.model.sam_choice, "SAM_CHOICE");
    set_str(c.model.mobilesam_checkpoint, "MOBILESAM_CHECKPOINT");
    set_str(c.model.vith_checkpoint, "VITH_CHECKPOINT");
    set_str(c.model.onnx_checkpoint, "ONNX_CHECKPOINT");
    set_str(c.model_dir, "MODEL_DIR");
    set_str(c.model_version, "MODEL_VERSION");
    // The first name is the one the Python example documents; the second is its older alias.
    set_str(c.label_studio_url, "LABEL_STUDIO_HOST");
    set_str(c.label_studio_url, "LABEL_STUDIO_URL");
    set_str(c.label_studio_api_key, "LABEL_STUDIO_ACCESS_TOKEN");
    set_str(c.label_studio_api_key, "LABEL_STUDIO_API_KEY");
    set_str(c.document_root, "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT");
    set_str(c.document_root, "LOCAL_FILES_DOCUMENT_ROOT");
    set_str(c.basic_auth_user, "BASIC_AUTH_USER");
    set_str(c.basic_auth_pass, "BASIC_AUTH_PASS");
    set_str(c.log_level, "LOG_LEVEL");
    if (const char* v = env("VERIFY_SSL")) c.verify_ssl = parse_bool("VERIFY_SSL", v);
    set_int(c.cache_size, "CACHE_SIZE", 1);
    set_int(c.cache_max_mb, "CACHE_MAX_MB", 1);
    set_int(c.max_image_pixels, "MAX_IMAGE_PIXELS", 1);
    set_int(c.max_image_mb, "MAX_IMAGE_MB", 1);
    set_int(c.decode_budget_mb, "DECODE_BUDGET_MB", 1);
    if (const char* v = env("DOWNLOAD_TIMEOUT")) c.download_timeout = to_double("DOWNLOAD_TIMEOUT", v);
    if (const char* v = env("CONNECT_TIMEOUT")) c.connect_timeout = to_double("CONNECT_TIMEOUT", v);
    set_int(c.threads, "THREADS", 1);
    set_int(c.max_body_mb, "MAX_BODY_MB", 1);
    set_int(c.prefetch_queue, "PREFETCH_QUEUE", 0);
    return c;
}

void apply_model_defaults(ServerConfig& c) {
    auto under = [&](const std::string& name) { return c.model_dir.empty() ? name : c.model_dir + "/" + name; };
    if (c.model.mobilesam_checkpoint.empty()) c.model.mobilesam_checkpoint = under("mobile_sam.pt");
    if (c.model.vith_checkpoint.empty()) c.model.vith_checkpoint = under("sam_vit_h_4b8939.pth");
    if (c.model.onnx_checkpoint.empty()) c.model.onnx_checkpoint = under("sam_onnx_quantized_example.onnx");
}

}  // namespace sam::server
