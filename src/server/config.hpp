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
    int threads = 8;                  // HTTP worker threads
    int64_t max_body_mb = 16;         // larger request bodies get 413
    int prefetch_queue = 4;           // background embeddings waiting; more are dropped
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

// Fills checkpoint paths left empty with the defaults under model_dir (as the Python example).
void apply_model_defaults(ServerConfig& config);

// "1", "true", "yes", "on" / "0", "false", "no", "off" (case-insensitive); throws otherwise.
bool parse_bool(const std::string& name, const std::string& value);

}  // namespace sam::server
