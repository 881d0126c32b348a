// Server configuration: the environment variables of the Python segment_anything_model
// example plus our own limits. Command-line flags (src/cli/serve.cpp) override the environment.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/model_loader.hpp"

namespace sam::server {

struct ServerConfig {
    std::string host = "0.0.0.0";
    int port = 9090;  // 0 picks a free port

    ModelChoice model;       // SAM_CHOICE and checkpoint paths (empty: default under model_dir)
    std::string model_checkpoint;  // MODEL_CHECKPOINT (Label Studio's SAM 2 backend): SAM 2 file name or path
    std::string model_dir = "models";
    std::string model_version = "SamMLBackend-v0.0.1";

    std::string label_studio_url;      // LABEL_STUDIO_URL / LABEL_STUDIO_HOST
    std::string label_studio_api_key;  // LABEL_STUDIO_API_KEY / LABEL_STUDIO_ACCESS_TOKEN
    std::string document_root;         // LOCAL_FILES_DOCUMENT_ROOT
    std::string basic_auth_user, basic_auth_pass;
    std::string log_level = "info";
    bool verify_ssl = true;

    int cache_size = 8;               // embeddings kept
    int64_t cache_max_mb = 512;       // and their bytes
    int64_t max_image_pixels = 100'000'000;
    int64_t max_image_mb = 50;        // download / file size limit
    int64_t decode_budget_mb = 1024;  // decoded images alive at once, all requests together
    double download_timeout = 30;     // seconds, whole transfer
    double connect_timeout = 5;       // seconds
    int threads = 8;                  // request workers (JSON, cached clicks, /setup)
    int image_workers = 4;            // downloads, decodes and encoder passes of new images
    int image_queue = 64;             // /predict requests waiting for them; more get 503
    int64_t max_body_mb = 16;         // larger request bodies get 413
    int prefetch_queue = 4;           // background embeddings waiting; more are dropped
    double header_timeout = 5;        // seconds for a request's line and headers, in total
    double body_timeout = 30;         // seconds for a request's body, in total
    double idle_timeout = 30;         // seconds a kept-alive connection may wait for its next request
    int max_connections = 1024;       // open connections in all
    int max_connections_per_ip = 512; // from one client address
    std::string allowed_image_hosts;  // ALLOWED_IMAGE_HOSTS: host names and CIDRs; empty: any

    // Shared embedding store (server/embedding_store.hpp); empty: memory only.
    std::string embedding_store;           // EMBEDDING_STORE: redis:// or rediss:// URL
    int64_t embedding_ttl = 86400;         // seconds a stored embedding lives
    int embedding_store_timeout_ms = 20;   // longest wait for Redis without progress
    double embedding_store_wait = 30;      // seconds to wait for another replica's encoding
    std::string embedding_store_tls_ca, embedding_store_tls_cert, embedding_store_tls_key;

    std::string output_tag;           // OUTPUT_TAG: the output control to answer into when a config has several
    double polygon_tolerance = 1.5;   // pixels, polygon simplification
    int polygon_max_points = 1000;    // vertices per polygon region
    int64_t polygon_min_area = 16;    // square pixels: smaller separate parts give no region
    int refine_memory = 32;           // remembered previous answers (256 KiB each)
    bool refine_with_previous_mask = true;
};

// One documented environment variable (for --help).
struct EnvDoc {
    const char* name;
    const char* help;
};
const std::vector<EnvDoc>& env_docs();

// Reads every variable of env_docs() that is set. Throws std::invalid_argument naming the
// variable when a value is not a valid number / boolean.
ServerConfig config_from_env();

// Refuses settings that cannot work together (std::invalid_argument with the message for the
// user): BASIC_AUTH_USER without BASIC_AUTH_PASS or the other way round.
void check_config(const ServerConfig& config);

// Fills checkpoint paths left empty with the defaults under model_dir (as the Python example).
void apply_model_defaults(ServerConfig& config);

// "1", "true", "yes", "on" / "0", "false", "no", "off" (case-insensitive); throws otherwise.
bool parse_bool(const std::string& name, const std::string& value);

}  // namespace sam::server
