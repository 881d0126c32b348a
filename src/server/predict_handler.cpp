#include "server/predict_handler.hpp"

#include <algorithm>
#include <random>

#include <spdlog/spdlog.h>

#include "io/decode_budget.hpp"
#include "labelstudio/brush_result.hpp"
#include "labelstudio/brush_rle.hpp"
#include "labelstudio/context_prompt.hpp"
#include "labelstudio/errors.hpp"
#include "tensor/allocator.hpp"

namespace sam::server {

using nlohmann::json;
using ls::RequestError;

namespace {

// Region ids only need to be unique within a task, as Label Studio's own short ids.
std::string region_id() {
    static const char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    thread_local std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int> pick(0, sizeof(digits) - 2);
    std::string id(10, ' ');
    for (char& c : id) c = digits[pick(rng)];
    return id;
}

const json& tasks_of(const json& request) {
    if (!request.is_object()) throw RequestError(400, "request body must be a JSON object");
    auto it = request.find("tasks");
    if (it == request.end()) throw RequestError(400, "request has no 'tasks'");
    if (!it->is_array()) throw RequestError(400, "'tasks' must be an array, got " + std::string(it->type_name()));
    for (const json& task : *it)
        if (!task.is_object()) throw RequestError(400, "every task must be a JSON object, got " + std::string(task.type_name()));
    return *it;
}

std::string label_config_of(const json& request) {
    auto it = request.find("label_config");
    if (it == request.end() || it->is_null()) throw RequestError(400, "request has no 'label_config'");
    if (!it->is_string()) throw RequestError(400, "'label_config' must be a string, got " + std::string(it->type_name()));
    return it->get<std::string>();
}

int64_t task_id_of(const json& task) {
    auto it = task.find("id");
    if (it == task.end() || it->is_null()) return 0;
    if (!it->is_number_integer()) throw RequestError(400, "task 'id' must be an integer, got " + it->dump());
    return it->get<int64_t>();
}

std::string image_url_of(const json& task, const ls::BrushTarget& target) {
    std::string who = "task " + std::to_string(task_id_of(task));
    auto data = task.find("data");
    if (data == task.end() || !data->is_object()) throw RequestError(400, who + " has no 'data' object");
    auto url = data->find(target.data_key);
    if (url == data->end())
        throw RequestError(400, who + ": data has no '" + target.data_key + "' (the Image tag's value)");
    if (!url->is_string() || url->get_ref<const std::string&>().empty())
        throw RequestError(400, who + ": data." + target.data_key + " must be a non-empty string, got " + url->dump());
    return url->get<std::string>();
}

// The prompt in the decoded image's pixels: Label Studio's percent coordinates were scaled by
// the size it displayed; if the decoded size differs (it should not), rescale.
void check_prompt(ls::ContextPrompt& cp, const ImageEmbedding& e, const ls::BrushTarget& target) {
    if (!target.labels.empty() &&
        std::find(target.labels.begin(), target.labels.end(), cp.label) == target.labels.end()) {
        std::string known;
        for (const auto& l : target.labels) known += (known.empty() ? "" : ", ") + l;
        throw RequestError(422, "label '" + cp.label + "' is not a label of BrushLabels '" + target.from_name +
                                    "' (" + known + ")");
    }
    if (cp.original_width != e.orig_w || cp.original_height != e.orig_h) {
        spdlog::warn("context says {}x{}, image is {}x{}: rescaling the prompt", cp.original_width,
                     cp.original_height, e.orig_w, e.orig_h);
        float sx = static_cast<float>(e.orig_w) / cp.original_width, sy = static_cast<float>(e.orig_h) / cp.original_height;
        for (auto& p : cp.prompt.points) p.x *= sx, p.y *= sy;
        if (auto& b = cp.prompt.box) b->x0 *= sx, b->x1 *= sx, b->y0 *= sy, b->y1 *= sy;
    }
    const float w = static_cast<float>(e.orig_w), h = static_cast<float>(e.orig_h);
    for (const auto& p : cp.prompt.points)
        if (!(p.x >= 0 && p.x <= w && p.y >= 0 && p.y <= h))
            throw RequestError(422, "point (" + std::to_string(p.x) + ", " + std::to_string(p.y) +
                                        ") is outside the " + std::to_string(e.orig_w) + "x" +
                                        std::to_string(e.orig_h) + " image");
    if (const auto& b = cp.prompt.box) {
        if (!(b->x1 > b->x0 && b->y1 > b->y0))
            throw RequestError(422, "rectangle has zero size: [" + std::to_string(b->x0) + ", " + std::to_string(b->y0) +
                                        ", " + std::to_string(b->x1) + ", " + std::to_string(b->y1) + "]");
        if (b->x1 < 0 || b->y1 < 0 || b->x0 > w || b->y0 > h)
            throw RequestError(422, "rectangle lies outside the " + std::to_string(e.orig_w) + "x" +
                                        std::to_string(e.orig_h) + " image");
    }
}

}  // namespace

PredictHandler::PredictHandler(std::shared_ptr<const Segmenter> model, ImageFetcher& fetcher, EmbeddingCache& cache,
                               Prefetcher& prefetcher, const DecodeLimits& limits, std::string model_version)
    : model_(std::move(model)),
      fetcher_(fetcher),
      cache_(cache),
      prefetcher_(prefetcher),
      limits_(limits),
      model_version_(std::move(model_version)) {}

CacheLookup PredictHandler::lookup(const ls::ImageSource& source, const std::string& key) {
    return cache_.get_or_compute(key, [&] {
        std::vector<uint8_t> bytes = fetcher_.fetch(source);
        RgbImage image;
        try {
            image = decode_image(bytes, limits_);
        } catch (const DecodeBusyError& e) {
            throw RequestError(503, "cannot decode image " + source.location + " now: " + e.what());
        } catch (const ImageError& e) {
            throw RequestError(422, "cannot use image " + source.location + ": " + e.what());
        }
        ImageEmbedding embedding = model_->embed(image);
        release_free_memory();  // the encoder's scratch must not stay pinned behind a cached embedding
        return embedding;
    });
}

CacheLookup PredictHandler::embedding_for(const std::string& url, int64_t task_id) {
    ls::ImageSource source = fetcher_.resolve(url, task_id);
    return lookup(source, fetcher_.identity(source));
}

PredictOutcome PredictHandler::handle(const json& request) {
    PredictOutcome outcome;
    const json& tasks = tasks_of(request);
    const json* result = ls::find_context_result(request);
    if (!result) {
        // Label Studio asks this when a task opens: answer now, embed while the annotator looks.
        outcome.body = {{"results", json::array()}};
        if (!tasks.empty() && request.contains("label_config") && request["label_config"].is_string()) {
            try {
                auto target = configs_.get(request["label_config"].get<std::string>());
                for (const json& task : tasks) prefetch_task(task, *target, outcome);
            } catch (const std::exception& e) {
                spdlog::debug("no prefetch: {}", e.what());
            }
        }
        return outcome;
    }
    auto target = configs_.get(label_config_of(request));
    json results = json::array();
    for (const json& task : tasks) results.push_back(predict_task(task, *target, *result, outcome));
    outcome.body = {{"results", std::move(results)}};
    return outcome;
}

json PredictHandler::predict_task(const json& task, const ls::BrushTarget& target, const json& context_result,
                                  PredictOutcome& outcome) {
    ls::ContextPrompt cp = ls::prompt_from_context(context_result, target);
    CacheLookup got = embedding_for(image_url_of(task, target), task_id_of(task));
    (got.hit ? outcome.cache_hits : outcome.cache_misses)++;
    const ImageEmbedding& e = *got.embedding;
    check_prompt(cp, e, target);

    Prediction pred = model_->predict(e, cp.prompt);
    if (pred.iou.empty()) throw std::runtime_error("model returned no mask");
    // Ambiguous prompt: the reference keeps the mask with the highest predicted IoU.
    const int index = cp.prompt.multimask ? pred.best() : 0;
    // Upscaled rows go straight into the encoder: no full-size mask (12 MB at 4000x3000).
    const std::vector<uint8_t> rle = ls::brush_rle_from_prediction(pred, index);
    float score = pred.iou[index];
    json region = ls::make_brush_region(target, cp.label, e.orig_w, e.orig_h, rle, score, region_id());
    return {{"result", json::array({std::move(region)})}, {"model_version", model_version_}, {"score", score}};
}

void PredictHandler::prefetch_task(const json& task, const ls::BrushTarget& target, PredictOutcome& outcome) {
    ls::ImageSource source = fetcher_.resolve(image_url_of(task, target), task_id_of(task));
    std::string key = fetcher_.identity(source);
    if (cache_.cached_or_computing(key)) return;
    bool queued = prefetcher_.submit(key, [this, source, key] {
        if (!cache_.cached_or_computing(key)) lookup(source, key);  // a click may have come first
    });
    if (queued) outcome.prefetched++;
}

}  // namespace sam::server
