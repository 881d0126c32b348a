// The Label Studio ML backend routes (DESIGN.md, "HTTP protocol") apart from the transport:
// each takes what the request carried and returns the answer, throwing ls::RequestError for a
// bad request. Where a route runs (event thread, request or image pool) is http_server.cpp's.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "models/segmenter.hpp"
#include "server/config.hpp"
#include "server/http_transport.hpp"
#include "server/image_fetcher.hpp"
#include "server/predict_handler.hpp"

namespace sam::server {

HttpResponse json_response(int status, const nlohmann::json& body);
// {"error": message}, the message made printable and cut to a bounded length.
HttpResponse error_response(int status, const std::string& message);

class Routes {
public:
    Routes(const ServerConfig& config, const Segmenter& model, ImageFetcher& fetcher, PredictHandler& predict);

    HttpResponse health() const;    // GET /health, GET /
    HttpResponse versions() const;  // GET /versions
    HttpResponse setup(const std::string& body);
    HttpResponse webhook(const std::string& body, std::string& note);
    // POST /predict with its parsed body; `note` gets the log line's cache and prefetch words.
    HttpResponse predict(const nlohmann::json& request, std::string& note);

private:
    const ServerConfig& config_;
    const Segmenter& model_;
    ImageFetcher& fetcher_;
    PredictHandler& predict_;
};

}  // namespace sam::server
