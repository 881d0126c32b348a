#include "server/routes.hpp"

#include <spdlog/spdlog.h>

#include "labelstudio/errors.hpp"
#include "labelstudio/label_config.hpp"
#include "labelstudio/request_json.hpp"

namespace sam::server {

using nlohmann::json;
using ls::RequestError;

namespace {

// Messages quote request values already cut short; this bounds whatever else they carry.
constexpr size_t kMaxErrorBytes = 1000;

json object_body(const std::string& body) {
    json j = ls::parse_request_json(body);
    if (!j.is_object()) throw RequestError(400, "request body must be a JSON object");
    return j;
}

// An optional string field: absent or null gives "", another type is a 400.
std::string optional_string(const json& body, const char* key) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return "";
    if (!it->is_string()) throw RequestError(400, std::string("'") + key + "' must be a string, got " + it->type_name());
    return it->get<std::string>();
}

}  // namespace

HttpResponse json_response(int status, const json& body) {
    HttpResponse r;
    r.status = status;
    r.body = ls::to_json_text(body);
    return r;
}

HttpResponse error_response(int status, const std::string& message) {
    HttpResponse r = json_response(status, {{"error", ls::printable(message, kMaxErrorBytes)}});
    if (status == 503) r.headers.emplace_back("Retry-After", "1");
    return r;
}

Routes::Routes(const ServerConfig& config, const Segmenter& model, ImageFetcher& fetcher, PredictHandler& predict)
    : config_(config), model_(model), fetcher_(fetcher), predict_(predict) {}

HttpResponse Routes::health() const {
    return json_response(200, {{"status", "UP"}, {"model_class", "SamMLBackend"}, {"model_dir", config_.model_dir},
                               {"model", model_.description()}, {"model_version", config_.model_version}});
}

HttpResponse Routes::versions() const {
    return json_response(200, {{"versions", json::array({config_.model_version})}, {"model_class", "SamMLBackend"},
                               {"model", model_.description()}});
}

HttpResponse Routes::setup(const std::string& body) {
    json j = object_body(body);
    std::string hostname = optional_string(j, "hostname"), token = optional_string(j, "access_token");
    fetcher_.adopt_label_studio(hostname, token);
    // Any other answer than 200 makes Label Studio mark the model failed, so a template this
    // backend cannot serve (its default <View></View>, no output tag) is only logged here;
    // /predict answers its 422 with the same words.
    std::string schema = optional_string(j, "schema");
    try {
        if (!schema.empty()) {
            const ls::LabelConfig config = ls::parse_label_config(schema);
            if (config.outputs.empty()) config.output_for("");  // throws the click's 422, to log it now
        }
    } catch (const RequestError& e) {
        if (e.status() != 422) throw;
        spdlog::warn("/setup for project {}: {}; predictions fail until the labeling interface is fixed",
                     ls::quote(j.value("project", json())), ls::printable(e.what(), 300));
    }
    return json_response(200, {{"model_version", config_.model_version}});
}

HttpResponse Routes::webhook(const std::string& body, std::string& note) {
    json j = object_body(body);
    std::string action = optional_string(j, "action");
    if (action.empty()) throw RequestError(400, "webhook has no 'action'");
    note = " action=" + ls::printable(action, 60);
    return json_response(200, {{"status", "ignored: Segment Anything does not train"}, {"action", action}});
}

HttpResponse Routes::predict(const json& request, std::string& note) {
    PredictOutcome out = predict_.handle(request);
    if (out.cache_hits || out.cache_misses) note = out.cache_misses ? " cache=miss" : " cache=hit";
    if (out.store_hits) note += " store=hit";
    if (out.prefetched) note += " prefetch=" + std::to_string(out.prefetched);
    return json_response(200, out.body);
}

}  // namespace sam::server
