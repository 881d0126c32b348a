#include "server/predict_handler.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "io/decode_budget.hpp"
#include "labelstudio/context_prompt.hpp"
#include "labelstudio/errors.hpp"
#include "labelstudio/interactive_events.hpp"
#include "labelstudio/request_json.hpp"
#include "tensor/allocator.hpp"

namespace sam::server {

using nlohmann::json;
using ls::RequestError;

namespace {

const json& tasks_of(const json& request) {
    if (!request.is_object()) throw RequestError(400, "request body must be a JSON object");
    auto it = request.find("tasks");
    if (it == request.end()) throw RequestError(400, "request has no 'tasks'");
    if (!it->is_array()) throw RequestError(400, "'tasks' must be an array, got " + std::string(it->type_name()));
    for (const json& task : *it)
        if (!task.is_object()) throw RequestError(400, "every task must be a JSON object, got " + std::string(task.type_name()));
    return *it;
}

// Tasks to predict: Label Studio sends one per click.
const json& tasks_to_predict(const json& request) {
    const json& tasks = tasks_of(request);
    if (tasks.size() > PredictHandler::kMaxTasks)
        throw RequestError(400, "a prediction request with context takes at most " +
                                    std::to_string(PredictHandler::kMaxTasks) + " tasks, got " +
                                    std::to_string(tasks.size()) + " (Label Studio sends one per click)");
    return tasks;
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
    if (!it->is_number_integer()) throw RequestError(400, "task 'id' must be an integer, got " + ls::quote(*it));
    return it->get<int64_t>();
}

std::string image_url_of(const json& task, const ls::OutputTarget& target) {
    std::string who = "task " + std::to_string(task_id_of(task));
    auto data = task.find("data");
    if (data == task.end() || !data->is_object()) throw RequestError(400, who + " has no 'data' object");
    const std::string key = ls::printable(target.data_key, 60);
    auto url = data->find(target.data_key);
    if (url == data->end()) throw RequestError(400, who + ": data has no '" + key + "' (the Image tag's value)");
    if (!url->is_string() || url->get_ref<const std::string&>().empty())
        throw RequestError(400, who + ": data." + key + " must be a non-empty string, got " + ls::quote(*url));
    // Error messages about an image quote its URL: keep it to what a URL can be.
    constexpr size_t kMaxUrlBytes = 16384;
    if (const size_t n = url->get_ref<const std::string&>().size(); n > kMaxUrlBytes)
        throw RequestError(400, who + ": data." + key + " is " + std::to_string(n) + " bytes long; image URLs are at most " +
                                    std::to_string(kMaxUrlBytes));
    return url->get<std::string>();
}

// The prompt in the decoded image's pixels: Label Studio's percent coordinates were scaled by
// the size it displayed; if the decoded size differs (it should not), rescale.
void check_prompt(ls::ContextPrompt& cp, const ImageEmbedding& e) {
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

// The refinement memory's key: task, image, output tag and label, length-prefixed so that no
// two different tuples give the same string.
std::string refine_key(int64_t task_id, const std::string& image, const std::string& tag, const std::string& label) {
    std::string key = std::to_string(task_id);
    for (const std::string* part : {&image, &tag, &label}) {
        key += '|';
        key += std::to_string(part->size());
        key += ':';
        key += *part;
    }
    return key;
}

json task_answer(json result) { return {{"result", std::move(result)}}; }

}  // namespace

PredictHandler::PredictHandler(std::shared_ptr<const Segmenter> model, ImageFetcher& fetcher, EmbeddingCache& cache,
                               Prefetcher& prefetcher, const ServerConfig& config, EmbeddingStore* store)
    : model_(std::move(model)),
      fetcher_(fetcher),
      cache_(cache),
      store_(store),
      prefetcher_(prefetcher),
      // A decode waits up to 20 s for images ahead of it in the budget before answering 503.
      limits_{config.max_image_pixels, DecodeBudget::create(config.decode_budget_mb << 20, std::chrono::seconds(20))},
      model_version_(config.model_version),
      output_tag_(config.output_tag),
      output_options_{{config.polygon_tolerance, config.polygon_max_points, static_cast<double>(config.polygon_min_area)}},
      refine_(config.refine_with_previous_mask ? static_cast<size_t>(config.refine_memory) : 0) {}

CacheLookup PredictHandler::lookup(const ls::ImageSource& source, const std::string& key) {
    return cache_.get_or_compute(key, std::function<ComputedEmbedding()>([&] {
        const std::vector<uint8_t> bytes = fetcher_.fetch(source);
        auto encode = [&] {
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
        };
        // The shared store is keyed by the bytes themselves: fetching is cheap next to encoding.
        if (store_) return store_->get_or_encode(bytes, encode);
        return ComputedEmbedding{std::make_shared<const ImageEmbedding>(encode()), false};
    }));
}

bool PredictHandler::ready(const json& request) {
    if (!request.is_object()) throw RequestError(400, "request body must be a JSON object");
    const json* result = ls::find_context_result(request);
    if (!result || ls::context_event(request) != ls::ContextEvent::Predict) return true;
    const json& tasks = tasks_to_predict(request);
    auto config = configs_.get(label_config_of(request));
    const ls::OutputTarget& target = config->output_for(ls::prompt_from_context(*result).image, output_tag_);
    for (const json& task : tasks) {
        ls::ImageSource source = fetcher_.resolve(image_url_of(task, target), task_id_of(task));
        if (!cache_.cached(fetcher_.identity(source))) return false;
    }
    return true;
}

PredictOutcome PredictHandler::handle(const json& request) {
    PredictOutcome outcome;
    if (!request.is_object()) throw RequestError(400, "request body must be a JSON object");
    const ls::ContextEvent event = ls::context_event(request);
    if (event == ls::ContextEvent::Capabilities) {
        // Asked once per backend, whatever the task: which prompts and output tags this backend serves.
        json region = ls::capabilities_region(model_->description(), model_version_);
        json answer = task_answer(json::array({std::move(region)}));
        answer["model_version"] = model_version_;
        outcome.body = {{"results", json::array({std::move(answer)})}};
        return outcome;
    }
    const json& tasks = tasks_of(request);
    if (event == ls::ContextEvent::Prewarm) {
        tasks_to_predict(request);  // one answer per task: as bounded as a click
        auto config = configs_.get(label_config_of(request));
        const ls::OutputTarget& target = config->output_for("", output_tag_);
        json results = json::array();
        for (const json& task : tasks) results.push_back(prewarm_task(task, target, outcome));
        outcome.body = {{"results", std::move(results)}};
        return outcome;
    }
    const json* result = ls::find_context_result(request);
    if (!result) {
        // Label Studio asks this when a task opens: answer now, embed while the annotator looks.
        outcome.body = {{"results", json::array()}};
        if (!tasks.empty() && request.contains("label_config") && request["label_config"].is_string()) {
            try {
                auto config = configs_.get(request["label_config"].get<std::string>());
                const ls::OutputTarget& target = config->output_for("", output_tag_);
                for (size_t i = 0; i < std::min(tasks.size(), kMaxPrefetchTasks); ++i)
                    prefetch_task(tasks[i], target, outcome);
            } catch (const std::exception& e) {
                spdlog::debug("no prefetch: {}", ls::printable(e.what(), 1000));
            }
        }
        return outcome;
    }
    tasks_to_predict(request);
    auto config = configs_.get(label_config_of(request));
    json results = json::array();
    for (const json& task : tasks) results.push_back(predict_task(task, *config, *result, outcome));
    outcome.body = {{"results", std::move(results)}};
    return outcome;
}

json PredictHandler::predict_task(const json& task, const ls::LabelConfig& config, const json& context_result,
                                  PredictOutcome& outcome) {
    ls::ContextPrompt cp = ls::prompt_from_context(context_result);
    const ls::OutputTarget& target = config.output_for(cp.image, output_tag_);
    if (!output_tag_.empty() && target.from_name != output_tag_)
        spdlog::warn("OUTPUT_TAG '{}' is not an output tag of this config's Image '{}': answering into {} '{}'",
                     output_tag_, ls::printable(target.to_name, 100), ls::tag_name(target.kind),
                     ls::printable(target.from_name, 100));
    const ls::OutputLabel label = ls::output_label(cp.label, target);
    if (label.substituted)  // names and labels come from the request: printable, short
        spdlog::warn("label '{}' is not a label of {} '{}': the answer carries its first label '{}'",
                     ls::printable(*cp.label, 100), ls::tag_name(target.kind), ls::printable(target.from_name, 100),
                     ls::printable(label.label, 100));

    const int64_t task_id = task_id_of(task);
    const ls::ImageSource source = fetcher_.resolve(image_url_of(task, target), task_id);
    const std::string image_key = fetcher_.identity(source);
    CacheLookup got = lookup(source, image_key);
    (got.hit ? outcome.cache_hits : outcome.cache_misses)++;
    outcome.store_hits += got.from_store;
    const ImageEmbedding& e = *got.embedding;
    check_prompt(cp, e);

    // The annotator added a click to the previous prompt on this object: refine the previous
    // answer. SAM's interactive loop asks for a single mask then (the prompt is no longer
    // ambiguous: it always has two clicks or a box and a click).
    const std::string memory_key = refine_key(task_id, image_key, target.from_name, label.label);
    Prompt prompt = std::move(cp.prompt);
    prompt.mask_input = refine_.previous_mask(memory_key, prompt);
    if (prompt.mask_input.defined()) {
        prompt.multimask = false;
        spdlog::debug("task {}: refining the previous answer ({} points)", task_id, prompt.points.size());
    }

    Prediction pred = model_->predict(e, prompt);
    if (pred.iou.empty()) throw std::runtime_error("model returned no mask");
    // Ambiguous prompt: the reference keeps the mask with the highest predicted IoU.
    const int index = prompt.multimask ? pred.best() : 0;
    refine_.remember(memory_key, prompt, pred.mask_input(index));
    const float score = pred.iou[index];
    json regions = ls::output_regions(pred, index, target, label.label, score, output_options_);
    json answer = task_answer(std::move(regions));
    answer["model_version"] = model_version_;
    answer["score"] = score;
    return answer;
}

json PredictHandler::prewarm_task(const json& task, const ls::OutputTarget& target, PredictOutcome& outcome) {
    const ls::ImageSource source = fetcher_.resolve(image_url_of(task, target), task_id_of(task));
    const bool cached = cache_.cached(fetcher_.identity(source));
    const bool pending = !cached && prefetch_task(task, target, outcome);
    json answer = task_answer(json::array({ls::prewarm_ack_region(target, cached, pending)}));
    answer["model_version"] = model_version_;
    return answer;
}

bool PredictHandler::prefetch_task(const json& task, const ls::OutputTarget& target, PredictOutcome& outcome) {
    ls::ImageSource source = fetcher_.resolve(image_url_of(task, target), task_id_of(task));
    std::string key = fetcher_.identity(source);
    if (cache_.cached_or_computing(key) || prefetcher_.waiting(key)) return true;
    bool queued = prefetcher_.submit(key, [this, source, key] {
        if (!cache_.cached_or_computing(key)) lookup(source, key);  // a click may have come first
    });
    if (queued) outcome.prefetched++;
    return queued;
}

}  // namespace sam::server
