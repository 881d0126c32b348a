// `sam-ml-backend serve`: configuration from the environment, flags on top, load the model
// once, then serve HTTP until SIGINT/SIGTERM.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <pthread.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "models/model_loader.hpp"
#include "server/config.hpp"
#include "server/http_server.hpp"
#include "tensor/isa.hpp"
#include "tensor/threads.hpp"

using sam::server::ServerConfig;

namespace {

std::string env_footer() {
    std::string s = "\nEnvironment (flags override):\n";
    for (const auto& e : sam::server::env_docs()) {
        char line[256];
        std::snprintf(line, sizeof line, "  %-40s %s\n", e.name, e.help);
        s += line;
    }
    return s;
}

void add_flags(CLI::App& app, ServerConfig& c, std::string& verify_ssl, std::string& refine, std::string& precision) {
    app.add_option("--host", c.host, "address to listen on [HOST]");
    app.add_option("--port", c.port, "port to listen on, 0 for any free one [PORT]")->check(CLI::Range(0, 65535));
    app.add_option("--sam-choice", c.model.sam_choice, "MobileSAM, SAM, SAM2 or ONNX [SAM_CHOICE]");
    app.add_option("--mobilesam-checkpoint", c.model.mobilesam_checkpoint, "[MOBILESAM_CHECKPOINT]");
    app.add_option("--vith-checkpoint", c.model.vith_checkpoint, "SAM ViT-B/L/H checkpoint [VITH_CHECKPOINT]");
    app.add_option("--onnx-checkpoint", c.model.onnx_checkpoint, "[ONNX_CHECKPOINT]");
    app.add_option("--sam2-checkpoint", c.model.sam2_checkpoint, "SAM 2.1 checkpoint, any size [SAM2_CHECKPOINT]");
    app.add_option("--model-dir", c.model_dir, "folder of the default checkpoints [MODEL_DIR]");
    app.add_option("--precision", precision, "fp32 or bf16: the image encoder's products [PRECISION]");
    app.add_option("--model-version", c.model_version, "[MODEL_VERSION]");
    app.add_option("--label-studio-url", c.label_studio_url, "[LABEL_STUDIO_URL, LABEL_STUDIO_HOST]");
    app.add_option("--label-studio-api-key", c.label_studio_api_key, "[LABEL_STUDIO_API_KEY, LABEL_STUDIO_ACCESS_TOKEN]");
    app.add_option("--document-root", c.document_root,
                   "[LOCAL_FILES_DOCUMENT_ROOT, LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT]");
    app.add_option("--basic-auth-user", c.basic_auth_user, "[BASIC_AUTH_USER]");
    app.add_option("--basic-auth-pass", c.basic_auth_pass, "[BASIC_AUTH_PASS]");
    app.add_option("--log-level", c.log_level, "trace, debug, info, warning, error [LOG_LEVEL]");
    app.add_option("--verify-ssl", verify_ssl, "true or false [VERIFY_SSL]");
    app.add_option("--cache-size", c.cache_size, "embeddings kept [CACHE_SIZE]")->check(CLI::PositiveNumber);
    app.add_option("--cache-max-mb", c.cache_max_mb, "MiB of embeddings kept [CACHE_MAX_MB]")->check(CLI::PositiveNumber);
    app.add_option("--max-image-pixels", c.max_image_pixels, "[MAX_IMAGE_PIXELS]")->check(CLI::PositiveNumber);
    app.add_option("--max-image-mb", c.max_image_mb, "[MAX_IMAGE_MB]")->check(CLI::PositiveNumber);
    app.add_option("--decode-budget-mb", c.decode_budget_mb, "[DECODE_BUDGET_MB]")->check(CLI::PositiveNumber);
    app.add_option("--download-timeout", c.download_timeout, "seconds [DOWNLOAD_TIMEOUT]")->check(CLI::PositiveNumber);
    app.add_option("--connect-timeout", c.connect_timeout, "seconds [CONNECT_TIMEOUT]")->check(CLI::PositiveNumber);
    app.add_option("--threads", c.threads, "request worker threads [THREADS]")->check(CLI::PositiveNumber);
    app.add_option("--image-workers", c.image_workers, "[IMAGE_WORKERS]")->check(CLI::PositiveNumber);
    app.add_option("--image-queue", c.image_queue, "[IMAGE_QUEUE]")->check(CLI::NonNegativeNumber);
    app.add_option("--max-body-mb", c.max_body_mb, "[MAX_BODY_MB]")->check(CLI::PositiveNumber);
    app.add_option("--prefetch-queue", c.prefetch_queue, "[PREFETCH_QUEUE]")->check(CLI::NonNegativeNumber);
    app.add_option("--header-timeout", c.header_timeout, "seconds [HEADER_TIMEOUT]")->check(CLI::PositiveNumber);
    app.add_option("--body-timeout", c.body_timeout, "seconds [BODY_TIMEOUT]")->check(CLI::PositiveNumber);
    app.add_option("--idle-timeout", c.idle_timeout, "seconds [IDLE_TIMEOUT]")->check(CLI::PositiveNumber);
    app.add_option("--max-connections", c.max_connections, "[MAX_CONNECTIONS]")->check(CLI::PositiveNumber);
    app.add_option("--max-connections-per-ip", c.max_connections_per_ip, "[MAX_CONNECTIONS_PER_IP]")
        ->check(CLI::PositiveNumber);
    app.add_option("--allowed-image-hosts", c.allowed_image_hosts, "host names and CIDRs [ALLOWED_IMAGE_HOSTS]");
    app.add_option("--embedding-store", c.embedding_store, "redis:// or rediss:// URL [EMBEDDING_STORE]");
    app.add_option("--embedding-ttl", c.embedding_ttl, "seconds [EMBEDDING_TTL]")->check(CLI::PositiveNumber);
    app.add_option("--embedding-store-timeout-ms", c.embedding_store_timeout_ms, "[EMBEDDING_STORE_TIMEOUT_MS]")
        ->check(CLI::PositiveNumber);
    app.add_option("--embedding-store-wait", c.embedding_store_wait, "seconds [EMBEDDING_STORE_WAIT]")
        ->check(CLI::PositiveNumber);
    app.add_option("--embedding-store-tls-ca", c.embedding_store_tls_ca, "[EMBEDDING_STORE_TLS_CA]");
    app.add_option("--embedding-store-tls-cert", c.embedding_store_tls_cert, "[EMBEDDING_STORE_TLS_CERT]");
    app.add_option("--embedding-store-tls-key", c.embedding_store_tls_key, "[EMBEDDING_STORE_TLS_KEY]");
    app.add_option("--output-tag", c.output_tag, "output tag name [OUTPUT_TAG]");
    app.add_option("--polygon-tolerance", c.polygon_tolerance, "pixels [POLYGON_TOLERANCE]")->check(CLI::PositiveNumber);
    app.add_option("--polygon-max-points", c.polygon_max_points, "[POLYGON_MAX_POINTS]")->check(CLI::Range(3, 1 << 30));
    app.add_option("--polygon-min-area", c.polygon_min_area, "pixels [POLYGON_MIN_AREA]")->check(CLI::NonNegativeNumber);
    app.add_option("--refine-memory", c.refine_memory, "[REFINE_MEMORY]")->check(CLI::NonNegativeNumber);
    app.add_option("--refine-with-previous-mask", refine, "true or false [REFINE_WITH_PREVIOUS_MASK]");
}

}  // namespace

int serve_main(int argc, char** argv) {
    // SIGINT and SIGTERM are taken by sigwait below, never by a handler on an arbitrary thread:
    // blocked here, before any thread starts, so every thread inherits the mask.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up is an error on its socket, not our end

    ServerConfig config;
    try {
        config = sam::server::config_from_env();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sam-ml-backend: bad environment: %s\n", e.what());
        return 2;
    }
    CLI::App app{"sam-ml-backend: Segment Anything for Label Studio (ML backend API)", "sam-ml-backend serve"};
    app.footer(env_footer());
    std::string verify_ssl, refine, precision;
    add_flags(app, config, verify_ssl, refine, precision);
    try {
        app.parse(argc, argv);
        if (!verify_ssl.empty()) config.verify_ssl = sam::server::parse_bool("--verify-ssl", verify_ssl);
        if (!refine.empty()) config.refine_with_previous_mask = sam::server::parse_bool("--refine-with-previous-mask", refine);
        if (!precision.empty()) config.model.precision = sam::parse_precision(precision);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sam-ml-backend: %s\n", e.what());
        return 2;
    }
    try {
        sam::server::check_config(config);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sam-ml-backend: %s\n", e.what());
        return 1;
    }
    sam::server::apply_model_defaults(config);
    auto level = spdlog::level::from_str(config.log_level == "warn" ? "warning" : config.log_level);
    if (level == spdlog::level::off && config.log_level != "off") {
        std::fprintf(stderr, "sam-ml-backend: LOG_LEVEL '%s' is not one of trace, debug, info, warning, error\n",
                     config.log_level.c_str());
        return 2;
    }
    spdlog::set_level(level);

    std::shared_ptr<const sam::Segmenter> model;
    try {
        auto t0 = std::chrono::steady_clock::now();
        std::vector<std::string> warnings;
        model = sam::load_segmenter(config.model, &warnings);
        for (const std::string& w : warnings) spdlog::warn("{}", w);
        double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        spdlog::info("loaded {} in {:.2f} s", model->description(), dt);
        spdlog::info("compute: {}; {}", sam::threads::describe(), sam::isa::describe());
    } catch (const std::exception& e) {
        spdlog::error("cannot load the model: {}", e.what());
        return 1;
    }

    try {
        sam::server::HttpServer server(config, model);
        server.start();
        spdlog::info("listening on {}:{} ({} request threads, {} image workers, cache {} embeddings / {} MiB)",
                     config.host, server.port(), config.threads, config.image_workers, config.cache_size,
                     config.cache_max_mb);
        int signal = 0;
        sigwait(&stop_signals, &signal);
        spdlog::info("{}: stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
        server.stop();
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        return 1;
    }
    return 0;
}
