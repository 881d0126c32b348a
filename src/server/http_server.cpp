#include "server/http_server.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

#include "io/decode_budget.hpp"
#include "labelstudio/errors.hpp"
#include "labelstudio/image_url.hpp"
#include "labelstudio/request_json.hpp"
#include "server/basic_auth.hpp"

namespace sam::server {

using nlohmann::json;
using ls::RequestError;

namespace {

bool is_get(const std::string& method) { return method == "GET" || method == "HEAD"; }
bool get_route(const std::string& path) { return path == "/health" || path == "/" || path == "/metrics" || path == "/versions"; }
bool post_route(const std::string& path) { return path == "/setup" || path == "/predict" || path == "/webhook"; }

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

struct HttpServer::Call {
    std::string route;  // a known route, or "other": a bounded set of metrics labels
    std::string method, path;
    std::chrono::steady_clock::time_point arrived;
    Responder responder;
};

HttpServer::HttpServer(const ServerConfig& config, std::shared_ptr<const Segmenter> model)
    : config_(config),
      model_(std::move(model)),
      cache_(static_cast<size_t>(config.cache_size), static_cast<size_t>(config.cache_max_mb) << 20),
      fetcher_(ls::UrlContext{config.document_root, config.label_studio_url, 0}, config.label_studio_api_key,
               FetchOptions{config.connect_timeout, config.download_timeout, config.max_image_mb << 20,
                            config.verify_ssl, 5, HostAllowlist(config.allowed_image_hosts)}),
      prefetcher_(std::make_unique<Prefetcher>(static_cast<size_t>(config.prefetch_queue))) {
    if (!model_) throw std::invalid_argument("HttpServer needs a model");
    store_ = open_embedding_store(config, model_->model_key());
    predict_ = std::make_unique<PredictHandler>(model_, fetcher_, cache_, *prefetcher_, config, store_.get());
    routes_ = std::make_unique<Routes>(config_, *model_, fetcher_, *predict_);
    // Every waiting request holds a connection: the connection limit bounds this queue.
    requests_ = std::make_unique<WorkerPool>("request", config_.threads, static_cast<size_t>(config_.max_connections));
    images_ = std::make_unique<WorkerPool>("image", config_.image_workers, static_cast<size_t>(config_.image_queue));
    TransportOptions options;
    options.host = config_.host;
    options.port = config_.port;
    options.max_body_bytes = config_.max_body_mb << 20;
    options.max_bodies_bytes = options.max_body_bytes * 4;
    options.header_timeout = config_.header_timeout;
    options.body_timeout = config_.body_timeout;
    options.idle_timeout = config_.idle_timeout;
    options.max_connections = config_.max_connections;
    options.max_connections_per_ip = config_.max_connections_per_ip;
    transport_ = std::make_unique<HttpTransport>(
        options, [this](const HttpRequest& head) { return check_head(head); },
        [this](HttpRequest&& request, Responder responder) { dispatch(std::move(request), std::move(responder)); });
}

HttpServer::~HttpServer() {
    stop();
    prefetcher_.reset();  // its worker uses the handler, the cache and the model: stop it first
}

bool HttpServer::authorized(const std::string& authorization) const {
    return basic_auth_allows(config_.basic_auth_user, config_.basic_auth_pass, authorization);
}

std::optional<HttpResponse> HttpServer::check_head(const HttpRequest& head) {
    const bool known = get_route(head.path) || post_route(head.path);
    Call call{known ? head.path : "other", head.method, head.path, head.arrived, {}};
    std::string error;
    HttpResponse r;
    if (!authorized(head.authorization)) {
        error = "authentication required (HTTP basic auth)";
        r = error_response(401, error);
        r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"sam-ml-backend\"");
    } else if (is_get(head.method) ? get_route(head.path) : head.method == "POST" && post_route(head.path)) {
        return std::nullopt;
    } else if (known) {
        error = "method " + ls::printable(head.method, 16) + " is not allowed on " + head.path;
        r = error_response(405, error);
        r.headers.emplace_back("Allow", get_route(head.path) ? "GET, HEAD" : "POST");
    } else {
        error = "no such route: " + ls::printable(head.method, 16) + " " + ls::printable(head.path, 200);
        r = error_response(404, error);
    }
    finish(call, r, "", error);
    return r;
}

void HttpServer::dispatch(HttpRequest&& request, Responder responder) {
    Call call{request.path, request.method, request.path, request.arrived, std::move(responder)};
    if (is_get(request.method)) {  // cheap and never blocking: answered on the event thread
        run(call, [&](std::string&) -> std::optional<HttpResponse> {
            if (request.path == "/versions") return routes_->versions();
            if (request.path != "/metrics") return routes_->health();
            HttpResponse r;
            r.content_type = "text/plain; version=0.0.4";
            r.body = metrics_text();
            return r;
        });
        return;
    }
    const bool queued = requests_->submit([this, call, body = std::move(request.body)] {
        if (call.route == "/predict") return predict(call, body);
        run(call, [&](std::string& note) -> std::optional<HttpResponse> {
            return call.route == "/setup" ? routes_->setup(body) : routes_->webhook(body, note);
        });
    });
    if (!queued) {
        const std::string error = "server busy: every request worker is taken and the queue is full";
        finish(call, error_response(503, error), "", error);
    }
}

// On a request worker. A click on a cached image is answered here; one that needs a download
// or an encoder pass continues on the image pool, so those never hold the request workers.
void HttpServer::predict(const Call& call, const std::string& body) {
    run(call, [&](std::string& note) -> std::optional<HttpResponse> {
        json request = ls::parse_request_json(body);
        if (predict_->ready(request)) return routes_->predict(request, note);
        auto job = [this, call, request = std::move(request)] {
            run(call, [&](std::string& n) -> std::optional<HttpResponse> { return routes_->predict(request, n); });
        };
        if (!images_->submit(std::move(job)))
            throw RequestError(503, "server busy: " + std::to_string(images_->threads()) + " images are being fetched " +
                                        "or encoded and " + std::to_string(images_->capacity()) +
                                        " wait (IMAGE_WORKERS, IMAGE_QUEUE); try again shortly");
        return std::nullopt;  // the image pool answers
    });
}

template <typename Fn>
void HttpServer::run(const Call& call, Fn&& fn) {
    std::string note, error;
    std::optional<HttpResponse> r;
    try {
        r = fn(note);
        if (!r) return;
    } catch (const RequestError& e) {
        error = e.what();
        r = error_response(e.status(), error);
    } catch (const std::exception& e) {
        error = std::string("internal error: ") + e.what();
        r = error_response(500, error);
    }
    finish(call, std::move(*r), note, error);
}

void HttpServer::finish(const Call& call, HttpResponse response, const std::string& note, const std::string& error) {
    const double dt = seconds_since(call.arrived);
    const int status = response.status;
    call.responder.send(std::move(response));
    metrics_.observe(call.route, status, dt);
    auto level = status >= 500 ? spdlog::level::err : status >= 400 ? spdlog::level::warn : spdlog::level::info;
    spdlog::log(level, "{} {} {} {:.1f} ms{}{}", ls::printable(call.method, 16), ls::printable(call.path, 200), status,
                dt * 1000, note, error.empty() ? "" : " error: " + ls::printable(error, 1000));
}

std::string HttpServer::metrics_text() const {
    const PoolStats images = images_->stats();
    const StoreStats store = store_ ? store_->stats() : StoreStats{};
    return metrics_.render(cache_.stats(), PrefetchStats{prefetcher_->queued(), prefetcher_->dropped()},
                           store_ ? &store : nullptr) +
           Metrics::render_load(transport_->stats(), requests_->stats(), images);
}

int HttpServer::bind() {
    if (port_ < 0) port_ = transport_->bind();
    return port_;
}

void HttpServer::serve() {
    start();
    std::unique_lock lock(state_mutex_);
    stopped_.wait(lock, [&] { return !running_; });
}

void HttpServer::start() {
    bind();
    transport_->start();
    std::lock_guard lock(state_mutex_);
    running_ = true;
}

void HttpServer::stop() {
    transport_->stop_accepting();
    fetcher_.cancel_transfers();  // downloads end now instead of at DOWNLOAD_TIMEOUT
    requests_->shutdown();        // running requests answer; waiting ones get 503
    images_->shutdown();
    transport_->stop();
    {
        std::lock_guard lock(state_mutex_);
        running_ = false;
    }
    stopped_.notify_all();
}

}  // namespace sam::server
