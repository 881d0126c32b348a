#include "server/http_server.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <chrono>

#include "io/decode_budget.hpp"
#include "labelstudio/errors.hpp"
#include "labelstudio/image_url.hpp"
#include "labelstudio/label_config.hpp"

namespace sam::server {

using nlohmann::json;
using ls::RequestError;

namespace {

// Standard base64 (Basic auth) from the URL-safe alphabet the presign URLs use.
std::string base64(const std::string& in) {
    std::string out = ls::base64url_encode(in);
    for (char& c : out) c = c == '-' ? '+' : c == '_' ? '/' : c;
    return out;
}

// Compares every byte whatever the first difference, so timing does not reveal the secret.
bool constant_time_equal(const std::string& a, const std::string& b) {
    size_t n = std::max(a.size(), b.size());
    unsigned diff = a.size() != b.size();
    for (size_t i = 0; i < n; ++i) diff |= uint8_t(i < a.size() ? a[i] : 0) ^ uint8_t(i < b.size() ? b[i] : 0);
    return diff == 0;
}

void send_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump(), "application/json");
}

json parse_body(const httplib::Request& req) {
    if (req.body.empty()) throw RequestError(400, "empty request body: expected JSON");
    try {
        return json::parse(req.body);
    } catch (const json::parse_error& e) {
        throw RequestError(400, std::string("malformed JSON: ") + e.what());
    }
}

// An optional string field: absent or null gives "", another type is a 400.
std::string optional_string(const json& body, const char* key) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return "";
    if (!it->is_string()) throw RequestError(400, std::string("'") + key + "' must be a string, got " + it->type_name());
    return it->get<std::string>();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

HttpServer::HttpServer(const ServerConfig& config, std::shared_ptr<const Segmenter> model)
    : config_(config),
      model_(std::move(model)),
      http_(std::make_unique<httplib::Server>()),
      cache_(static_cast<size_t>(config.cache_size), static_cast<size_t>(config.cache_max_mb) << 20),
      fetcher_(ls::UrlContext{config.document_root, config.label_studio_url, 0}, config.label_studio_api_key,
               FetchOptions{config.connect_timeout, config.download_timeout, config.max_image_mb << 20,
                            config.verify_ssl, 5}),
      prefetcher_(std::make_unique<Prefetcher>(static_cast<size_t>(config.prefetch_queue))) {
    if (!model_) throw std::invalid_argument("HttpServer needs a model");
    // A decode waits up to 20 s for images ahead of it in the budget before answering 503.
    const DecodeLimits limits{config.max_image_pixels,
                              DecodeBudget::create(config.decode_budget_mb << 20, std::chrono::seconds(20))};
    predict_ = std::make_unique<PredictHandler>(model_, fetcher_, cache_, *prefetcher_, limits, config.model_version);
    routes();
}

HttpServer::~HttpServer() {
    stop();
    prefetcher_.reset();  // its worker uses the handler, the cache and the model: stop it first
}

bool HttpServer::authorized(const httplib::Request& req) const {
    if (config_.basic_auth_user.empty() && config_.basic_auth_pass.empty()) return true;
    std::string expected = "Basic " + base64(config_.basic_auth_user + ":" + config_.basic_auth_pass);
    return constant_time_equal(req.get_header_value("Authorization"), expected);
}

void HttpServer::routes() {
    using Fn = std::function<void(const httplib::Request&, httplib::Response&, std::string& note)>;
    // Auth, errors as JSON, one log line and one metrics sample around every route.
    auto wrap = [this](std::string route, Fn fn) {
        return [this, route, fn](const httplib::Request& req, httplib::Response& res) {
            auto t0 = std::chrono::steady_clock::now();
            std::string note, error;
            if (!authorized(req)) {
                error = "authentication required (HTTP basic auth)";
                res.set_header("WWW-Authenticate", "Basic realm=\"sam-ml-backend\"");
                send_json(res, 401, {{"error", error}});
            } else {
                try {
                    fn(req, res, note);
                } catch (const RequestError& e) {
                    error = e.what();
                    send_json(res, e.status(), {{"error", error}});
                } catch (const std::exception& e) {
                    error = std::string("internal error: ") + e.what();
                    send_json(res, 500, {{"error", error}});
                }
            }
            double dt = seconds_since(t0);
            metrics_.observe(route, res.status, dt);
            auto level = res.status >= 500 ? spdlog::level::err
                         : res.status >= 400 ? spdlog::level::warn
                                             : spdlog::level::info;
            spdlog::log(level, "{} {} {} {:.1f} ms{}{}", req.method, route, res.status, dt * 1000, note,
                        error.empty() ? "" : " error: " + error);
        };
    };

    auto health = [this](const httplib::Request&, httplib::Response& res, std::string&) {
        send_json(res, 200, {{"status", "UP"}, {"model_class", "SamMLBackend"}, {"model_dir", config_.model_dir},
                             {"model", model_->description()}, {"model_version", config_.model_version}});
    };
    http_->Get("/health", wrap("/health", health));
    http_->Get("/", wrap("/", health));

    http_->Post("/setup", wrap("/setup", [this](const httplib::Request& req, httplib::Response& res, std::string&) {
        json body = parse_body(req);
        if (!body.is_object()) throw RequestError(400, "request body must be a JSON object");
        std::string hostname = optional_string(body, "hostname"), token = optional_string(body, "access_token");
        if (!hostname.empty() && !token.empty()) fetcher_.adopt_label_studio(hostname, token);
        std::string schema = optional_string(body, "schema");
        if (!schema.empty()) ls::parse_label_config(schema);  // tells the user now if the template cannot work
        send_json(res, 200, {{"model_version", config_.model_version}});
    }));

    http_->Post("/predict", wrap("/predict", [this](const httplib::Request& req, httplib::Response& res, std::string& note) {
        PredictOutcome out = predict_->handle(parse_body(req));
        if (out.cache_hits || out.cache_misses)
            note = out.cache_misses ? " cache=miss" : " cache=hit";
        if (out.prefetched) note += " prefetch=" + std::to_string(out.prefetched);
        send_json(res, 200, out.body);
    }));

    http_->Post("/webhook", wrap("/webhook", [](const httplib::Request& req, httplib::Response& res, std::string& note) {
        json body = parse_body(req);
        if (!body.is_object()) throw RequestError(400, "request body must be a JSON object");
        std::string action = optional_string(body, "action");
        if (action.empty()) throw RequestError(400, "webhook has no 'action'");
        note = " action=" + action;
        send_json(res, 200, {{"status", "ignored: Segment Anything does not train"}, {"action", action}});
    }));

    http_->Get("/metrics", wrap("/metrics", [this](const httplib::Request&, httplib::Response& res, std::string&) {
        res.status = 200;
        res.set_content(metrics_text(), "text/plain; version=0.0.4");
    }));

    http_->Get("/versions", wrap("/versions", [this](const httplib::Request&, httplib::Response& res, std::string&) {
        send_json(res, 200, {{"versions", json::array({config_.model_version})}, {"model_class", "SamMLBackend"},
                             {"model", model_->description()}});
    }));

    // Unknown routes and bodies over the limit (httplib answers those before any route).
    http_->set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req,
                                                                         httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // a route's own error
        std::string error = res.status == 413 ? "request body larger than " + std::to_string(config_.max_body_mb) +
                                                    " MiB (MAX_BODY_MB)"
                            : res.status == 404 ? "no such route: " + req.method + " " + req.path
                                                : "HTTP " + std::to_string(res.status);
        send_json(res, res.status, {{"error", error}});
        metrics_.observe("other", res.status, 0);
        spdlog::warn("{} {} {} error: {}", req.method, req.path, res.status, error);
        return httplib::Server::HandlerResponse::Handled;
    }));

    int threads = config_.threads;
    http_->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
    // Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm holds
    // the body back until the client's delayed ACK (tens of ms on every keep-alive click).
    http_->set_tcp_nodelay(true);
    http_->set_payload_max_length(static_cast<size_t>(config_.max_body_mb) << 20);
    http_->set_read_timeout(30);
    http_->set_write_timeout(30);
}

std::string HttpServer::metrics_text() const {
    return metrics_.render(cache_.stats(), PrefetchStats{prefetcher_->queued(), prefetcher_->dropped()});
}

int HttpServer::bind() {
    if (port_ >= 0) return port_;
    int listen_fd = -1;
    http_->set_socket_options([&listen_fd](socket_t fd) {
        int yes = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        listen_fd = fd;
    });
    if (config_.port == 0) {
        port_ = http_->bind_to_any_port(config_.host);
    } else {
        port_ = http_->bind_to_port(config_.host, config_.port) ? config_.port : -1;
    }
    if (port_ < 0)
        throw std::runtime_error("cannot listen on " + config_.host + ":" + std::to_string(config_.port) +
                                 " (address in use or not available)");
    // cpp-httplib 0.11 listens with a backlog of 5: a burst of clicks from many annotators would
    // see resets. listen() again on the bound socket raises it.
    if (listen_fd >= 0) ::listen(listen_fd, 512);
    return port_;
}

void HttpServer::serve() {
    bind();
    http_->listen_after_bind();
}

void HttpServer::start() {
    bind();
    // Bound already: connections wait in the backlog until the loop starts accepting.
    thread_ = std::thread([this] { http_->listen_after_bind(); });
}

void HttpServer::stop() {
    http_->stop();
    if (thread_.joinable()) thread_.join();
}

}  // namespace sam::server
