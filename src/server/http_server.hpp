// The Label Studio ML backend server: the transport (http_transport.hpp), the routes
// (routes.hpp) and where each runs. Basic auth and the route are checked on a request's head,
// before its body is read. Cheap GETs (/health, /, /metrics, /versions) are answered on the
// event thread; POSTs run on the request pool (THREADS); a /predict whose image is not in the
// embedding cache moves on to the image pool (IMAGE_WORKERS, IMAGE_QUEUE waiting, then 503),
// so downloads and encoder passes never hold the workers that answer clicks on cached images.
// Every answer is JSON (errors {"error": "..."}) and gets one log line and a metrics sample.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "models/segmenter.hpp"
#include "server/config.hpp"
#include "server/embedding_cache.hpp"
#include "server/http_transport.hpp"
#include "server/embedding_store.hpp"
#include "server/image_fetcher.hpp"
#include "server/metrics.hpp"
#include "server/predict_handler.hpp"
#include "server/prefetcher.hpp"
#include "server/routes.hpp"
#include "server/worker_pool.hpp"

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
    void serve();  // start() and block until stop()
    void start();  // bind (if not yet) and accept; connections are accepted once it returns
    void stop();   // answers what runs, 503 to what waits, then closes every connection
    int port() const { return port_; }

    std::string metrics_text() const;

private:
    struct Call;
    std::optional<HttpResponse> check_head(const HttpRequest& head);
    void dispatch(HttpRequest&& request, Responder responder);
    void predict(const Call& call, const std::string& body);
    template <typename Fn>
    void run(const Call& call, Fn&& fn);
    void finish(const Call& call, HttpResponse response, const std::string& note, const std::string& error);
    bool authorized(const std::string& authorization) const;

    ServerConfig config_;
    std::shared_ptr<const Segmenter> model_;
    EmbeddingCache cache_;
    ImageFetcher fetcher_;
    Metrics metrics_;
    std::unique_ptr<EmbeddingStore> store_;  // the shared level under cache_, or nullptr
    std::unique_ptr<Prefetcher> prefetcher_;
    std::unique_ptr<PredictHandler> predict_;
    std::unique_ptr<Routes> routes_;
    std::unique_ptr<WorkerPool> requests_, images_;
    std::unique_ptr<HttpTransport> transport_;
    int port_ = -1;

    std::mutex state_mutex_;
    std::condition_variable stopped_;
    bool running_ = false;
};

}  // namespace sam::server
