#include "server/config.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace sam::server {

const std::vector<EnvDoc>& env_docs() {
    static const std::vector<EnvDoc> docs = {
        {"PORT", "port to listen on (default 9090)"},
        {"HOST", "address to listen on (default 0.0.0.0)"},
        {"SAM_CHOICE", "MobileSAM (default), SAM, SAM2 or ONNX"},
        {"MOBILESAM_CHECKPOINT", "MobileSAM checkpoint (default $MODEL_DIR/mobile_sam.pt)"},
        {"VITH_CHECKPOINT", "SAM ViT-B/L/H checkpoint (default $MODEL_DIR/sam_vit_h_4b8939.pth)"},
        {"ONNX_CHECKPOINT", "SAM ONNX decoder (default $MODEL_DIR/sam_onnx_quantized_example.onnx)"},
        {"SAM2_CHECKPOINT", "SAM 2.1 checkpoint, any size (default $MODEL_DIR/sam2.1_hiera_tiny.pt)"},
        {"MODEL_CHECKPOINT", "Label Studio's SAM 2 backend name: SAM 2 checkpoint, a file name under $MODEL_DIR or a "
                             "path (used when SAM2_CHECKPOINT is not set; alone it also selects SAM2)"},
        {"MODEL_CONFIG", "Label Studio's SAM 2 backend name: its config (e.g. configs/sam2.1/sam2.1_hiera_t.yaml), "
                         "only checked against the checkpoint's size"},
        {"MODEL_DIR", "folder of the default checkpoints (default models)"},
        {"PRECISION", "fp32 (default) or bf16: the image encoder's products (bf16 needs AVX512-BF16 or AMX)"},
        {"MODEL_VERSION", "model version reported to Label Studio (default SamMLBackend-v0.0.1)"},
        {"LABEL_STUDIO_URL", "Label Studio base URL, for uploaded and cloud images; set with LABEL_STUDIO_API_KEY"},
        {"LABEL_STUDIO_HOST", "same as LABEL_STUDIO_URL (older name)"},
        {"LABEL_STUDIO_API_KEY", "Label Studio token (legacy or personal access token); set with LABEL_STUDIO_URL"},
        {"LABEL_STUDIO_ACCESS_TOKEN", "same as LABEL_STUDIO_API_KEY"},
        {"LOCAL_FILES_DOCUMENT_ROOT", "local-storage root: /data/local-files/?d= paths are read under it"},
        {"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", "same as LOCAL_FILES_DOCUMENT_ROOT"},
        {"BASIC_AUTH_USER", "require HTTP basic auth with this user (set BASIC_AUTH_PASS too)"},
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
        {"THREADS", "request worker threads: JSON, clicks on cached images, /setup (default 8)"},
        {"IMAGE_WORKERS", "threads that download, decode and encode new images (default 4)"},
        {"IMAGE_QUEUE", "predictions waiting for an image worker; more get 503 (default 64)"},
        {"OMP_NUM_THREADS", "compute threads (default: the CPUs this process may use, cgroup quota included)"},
        {"SAM_ISA", "v2, v3 or v4: force the instruction set of the compute kernels (default: the CPU's best)"},
        {"MAX_BODY_MB", "larger request bodies get 413, in MiB (default 16)"},
        {"PREFETCH_QUEUE", "images waiting for a background embedding; more are dropped (default 4)"},
        {"HEADER_TIMEOUT", "seconds a client has for a request's line and headers, in total (default 5)"},
        {"BODY_TIMEOUT", "seconds a client has for a request's body, in total (default 30)"},
        {"IDLE_TIMEOUT", "seconds a kept-alive connection may wait for its next request (default 30)"},
        {"MAX_CONNECTIONS", "open connections in all (default 1024)"},
        {"MAX_CONNECTIONS_PER_IP", "open connections from one client address (default 512)"},
        {"ALLOWED_IMAGE_HOSTS", "comma-separated host names and CIDRs images may come from (default: any)"},
        {"EMBEDDING_STORE", "redis://[user:pass@]host:port[/db] or rediss://: embeddings shared between replicas"},
        {"EMBEDDING_TTL", "seconds an embedding stays in the store (default 86400)"},
        {"EMBEDDING_STORE_TIMEOUT_MS", "longest wait for the store without progress, ms (default 20)"},
        {"EMBEDDING_STORE_WAIT", "seconds to wait for another replica encoding the same image (default 30)"},
        {"EMBEDDING_STORE_TLS_CA", "rediss://: CA certificates (PEM) to check the server with (default: the system's)"},
        {"EMBEDDING_STORE_TLS_CERT", "rediss://: client certificate (PEM), when Redis asks for one"},
        {"EMBEDDING_STORE_TLS_KEY", "rediss://: the client certificate's key (PEM)"},
        {"OUTPUT_TAG", "name of the output tag to answer into when the config has several (default: by the README's rule)"},
        {"POLYGON_TOLERANCE", "polygon simplification tolerance, pixels (default 1.5)"},
        {"POLYGON_MAX_POINTS", "vertices per polygon; the tolerance is raised until it fits (default 1000, at least 3)"},
        {"POLYGON_MIN_AREA", "separate mask parts smaller than this many pixels give no polygon (default 16)"},
        {"REFINE_MEMORY", "previous answers remembered to refine the next click (default 32, 256 KiB each)"},
        {"REFINE_WITH_PREVIOUS_MASK", "feed the previous answer's mask to a click that adds points (default true)"},
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
    set_str(c.model.sam2_checkpoint, "SAM2_CHECKPOINT");
    set_str(c.model_checkpoint, "MODEL_CHECKPOINT");
    set_str(c.model.sam2_config, "MODEL_CONFIG");
    // Label Studio's SAM 2 backend has no SAM_CHOICE: its MODEL_CHECKPOINT alone means SAM 2.
    if (!env("SAM_CHOICE") && !c.model_checkpoint.empty()) c.model.sam_choice = "SAM2";
    set_str(c.model_dir, "MODEL_DIR");
    if (const char* v = env("PRECISION")) c.model.precision = parse_precision(v);
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
    set_int(c.image_workers, "IMAGE_WORKERS", 1);
    set_int(c.image_queue, "IMAGE_QUEUE", 0);
    set_int(c.max_body_mb, "MAX_BODY_MB", 1);
    set_int(c.prefetch_queue, "PREFETCH_QUEUE", 0);
    if (const char* v = env("HEADER_TIMEOUT")) c.header_timeout = to_double("HEADER_TIMEOUT", v);
    if (const char* v = env("BODY_TIMEOUT")) c.body_timeout = to_double("BODY_TIMEOUT", v);
    if (const char* v = env("IDLE_TIMEOUT")) c.idle_timeout = to_double("IDLE_TIMEOUT", v);
    set_int(c.max_connections, "MAX_CONNECTIONS", 1);
    set_int(c.max_connections_per_ip, "MAX_CONNECTIONS_PER_IP", 1);
    set_str(c.allowed_image_hosts, "ALLOWED_IMAGE_HOSTS");
    set_str(c.embedding_store, "EMBEDDING_STORE");
    set_int(c.embedding_ttl, "EMBEDDING_TTL", 1);
    set_int(c.embedding_store_timeout_ms, "EMBEDDING_STORE_TIMEOUT_MS", 1);
    if (const char* v = env("EMBEDDING_STORE_WAIT")) c.embedding_store_wait = to_double("EMBEDDING_STORE_WAIT", v);
    set_str(c.embedding_store_tls_ca, "EMBEDDING_STORE_TLS_CA");
    set_str(c.embedding_store_tls_cert, "EMBEDDING_STORE_TLS_CERT");
    set_str(c.embedding_store_tls_key, "EMBEDDING_STORE_TLS_KEY");
    set_str(c.output_tag, "OUTPUT_TAG");
    if (const char* v = env("POLYGON_TOLERANCE")) c.polygon_tolerance = to_double("POLYGON_TOLERANCE", v);
    set_int(c.polygon_max_points, "POLYGON_MAX_POINTS", 3);
    set_int(c.polygon_min_area, "POLYGON_MIN_AREA", 0);
    set_int(c.refine_memory, "REFINE_MEMORY", 0);
    if (const char* v = env("REFINE_WITH_PREVIOUS_MASK"))
        c.refine_with_previous_mask = parse_bool("REFINE_WITH_PREVIOUS_MASK", v);
    return c;
}

void check_config(const ServerConfig& c) {
    // One half alone would turn auth on with an empty user or password, which Label Studio's
    // connection form cannot send: the model could never be connected.
    if (c.basic_auth_user.empty() != c.basic_auth_pass.empty())
        throw std::invalid_argument(std::string(c.basic_auth_user.empty() ? "BASIC_AUTH_PASS" : "BASIC_AUTH_USER") +
                                    " is set but " + (c.basic_auth_user.empty() ? "BASIC_AUTH_USER" : "BASIC_AUTH_PASS") +
                                    " is not: set both to require basic auth (and enter the same in Label Studio's "
                                    "model connection settings), or neither");
}

void apply_model_defaults(ServerConfig& c) {
    auto under = [&](const std::string& name) { return c.model_dir.empty() ? name : c.model_dir + "/" + name; };
    if (c.model.mobilesam_checkpoint.empty()) c.model.mobilesam_checkpoint = under("mobile_sam.pt");
    if (c.model.vith_checkpoint.empty()) c.model.vith_checkpoint = under("sam_vit_h_4b8939.pth");
    if (c.model.onnx_checkpoint.empty()) c.model.onnx_checkpoint = under("sam_onnx_quantized_example.onnx");
    if (c.model.sam2_checkpoint.empty()) {
        // As Label Studio's SAM 2 backend joins it to its checkpoint folder: a relative
        // MODEL_CHECKPOINT is under MODEL_DIR, an absolute one stays as it is.
        const std::string& m = c.model_checkpoint;
        c.model.sam2_checkpoint = m.empty() ? under("sam2.1_hiera_tiny.pt") : m.front() == '/' ? m : under(m);
    }
}

}  // namespace sam::server
