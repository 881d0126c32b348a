// `sam-ml-backend serve`: configuration from the environment, flags on top, load the model
// once, then serve HTTP until SIGINT/SIGTERM.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <cstdio>

#include "models/model_loader.hpp"
#include "server/config.hpp"
#include "server/http_server.hpp"

using sam::server::ServerConfig;

namespace {

sam::server::HttpServer* g_server = nullptr;

void on_signal(int) {
    if (g_server) g_server->stop();
}

std::string env_footer() {
    std::string s = "\nEnvironment (flags override):\n";
    for (const auto& e : sam::server::env_docs()) {
        char line[256];
        std::snprintf(line, sizeof line, "  %-40s %s\n", e.name, e.help);
        s += line;
    }
    return s;
}

void add_flags(CLI::App& app, ServerConfig& c, std::string& verify_ssl) {
    app.add_option("--host", c.host, "address to listen on [HOST]");
    app.add_option("--port", c.port, "port to listen on, 0 for any free one [PORT]")->check(CLI::Range(0, 65535));
    app.add_option("--sam-choice", c.model.sam_choice, "MobileSAM, SAM or ONNX [SAM_CHOICE]");
    app.add_option("--mobilesam-checkpoint", c.model.mobilesam_checkpoint, "[MOBILESAM_CHECKPOINT]");
    app.add_option("--vith-checkpoint", c.model.vith_checkpoint, "SAM ViT-B/L/H checkpoint [VITH_CHECKPOINT]");
    app.add_option("--onnx-checkpoint", c.model.onnx_checkpoint, "[ONNX_CHECKPOINT]");
    app.add_option("--model-dir", c.model_dir, "folder of the default checkpoints [MODEL_DIR]");
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
    app.add_option("--threads", c.threads, "HTTP worker threads [THREADS]")->check(CLI::PositiveNumber);
    app.add_option("--max-body-mb", c.max_body_mb, "[MAX_BODY_MB]")->check(CLI::PositiveNumber);
    app.add_option("--prefetch-queue", c.prefetch_queue, "[PREFETCH_QUEUE]")->check(CLI::NonNegativeNumber);
}

}  // namespace

int serve_main(int argc, char** argv) {
    ServerConfig config;
    try {
        config = sam::server::config_from_env();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sam-ml-backend: bad environment: %s\n", e.what());
        return 2;
    }
    CLI::App app{"sam-ml-backend: Segment Anything for Label Studio (ML backend API)", "sam-ml-backend serve"};
    app.footer(env_footer());
    std::string verify_ssl;
    add_flags(app, config, verify_ssl);
    try {
        app.parse(argc, argv);
        if (!verify_ssl.empty()) config.verify_ssl = sam::server::parse_bool("--verify-ssl", verify_ssl);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sam-ml-backend: %s\n", e.what());
        return 2;
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
        model = sam::load_segmenter(config.model);
        double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        spdlog::info("loaded {} in {:.2f} s", model->description(), dt);
    } catch (const std::exception& e) {
        spdlog::error("cannot load the model: {}", e.what());
        return 1;
    }

    try {
        sam::server::HttpServer server(config, model);
        int port = server.bind();
        g_server = &server;
        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);
        spdlog::info("listening on {}:{} ({} threads, cache {} embeddings / {} MiB)", config.host, port,
                     config.threads, config.cache_size, config.cache_max_mb);
        server.serve();
        g_server = nullptr;
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        return 1;
    }
    return 0;
}
