// The Label Studio ML backend HTTP API (DESIGN.md): /health, /, /setup, /predict, /webhook,
// /metrics, /versions on cpp-httplib with a fixed thread pool. Routes are thin: parse JSON,
// call the predict handler, serialise. Every answer is JSON (errors {"error": "..."}), every
// request gets one log line (route, status, duration, cache hit/miss) and a metrics sample.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "models/segmenter.hpp"
#include "server/config.hpp"
#include "server/embedding_cache.hpp"
#include "server/embedding_store.hpp"
#include "server/image_fetcher.hpp"
#include "server/metrics.hpp"
#include "server/predict_handler.hpp"
#include "server/prefetcher.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace sam::server {

class HttpServer {
public:
    HttpServer(const ServerConfig& config, std::shared_ptr<const Segmenter> model);
    ~HttpServer();  // stops and joins
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Binds config.host:config.port (port 0: a free one) and returns the port.
    // Throws std::runtime_error when the address cannot be bound.
    int bind();
    void serve();  // blocks until stop()
    void start();  // bind (if not yet) and serve on a background thread
    void stop();
    int port() const { return port_; }

    std::string metrics_text() const;

private:
    void routes();
    bool authorized(const httplib::Request& req) const;

    ServerConfig config_;
    std::shared_ptr<const Segmenter> model_;
    std::unique_ptr<httplib::Server> http_;
    EmbeddingCache cache_;
    ImageFetcher fetcher_;
    Metrics metrics_;
    std::unique_ptr<EmbeddingStore> store_;  // the shared level under cache_, or nullptr
    std::unique_ptr<Prefetcher> prefetcher_;
    std::unique_ptr<PredictHandler> predict_;
    std::thread thread_;
    int port_ = -1;
};

}  // namespace sam::server
