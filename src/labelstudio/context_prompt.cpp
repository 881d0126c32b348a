#include "labelstudio/context_prompt.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <optional>

#include "labelstudio/errors.hpp"
#include "labelstudio/request_json.hpp"

namespace sam::ls {

namespace {

using json = nlohmann::json;

// "region 'k1'" (or "region #2" when it has no string id), for error messages.
std::string region_name(const json& region, size_t index) {
    auto it = region.find("id");
    if (it != region.end() && it->is_string()) return "region '" + printable(it->get_ref<const std::string&>(), 60) + "'";
    return "region #" + std::to_string(index);
}

int positive_int_field(const json& region, const char* key, const std::string& who) {
    auto it = region.find(key);
    if (it == region.end() || it->is_null()) throw RequestError(400, who + ": missing " + key);
    if (!it->is_number()) throw RequestError(400, who + ": " + key + " must be a number, got " + quote(*it));
    const double v = it->get<double>();
    if (!(v > 0) || v != std::floor(v) || v > std::numeric_limits<int>::max())
        throw RequestError(400, who + ": " + key + " must be a positive integer, got " + quote(*it));
    return static_cast<int>(v);
}

double finite_field(const json& value, const char* key, const std::string& who, bool required = true,
                    double fallback = 0) {
    auto it = value.find(key);
    if (it == value.end() || it->is_null()) {
        if (required) throw RequestError(400, who + ": missing value." + key);
        return fallback;
    }
    if (!it->is_number()) throw RequestError(400, who + ": value." + key + " must be a number, got " + quote(*it));
    const double v = it->get<double>();
    if (!std::isfinite(v)) throw RequestError(400, who + ": value." + key + " is not finite");
    return v;
}

// An optional string field (absent or null: "").
std::string optional_string(const json& region, const char* key, const std::string& who) {
    auto it = region.find(key);
    if (it == region.end() || it->is_null()) return "";
    if (!it->is_string()) throw RequestError(400, who + ": " + key + " must be a string, got " + quote(*it));
    return it->get<std::string>();
}

// An optional boolean field (absent or null: nullopt). `who` ends where the key name goes.
std::optional<bool> optional_bool(const json& object, const char* key, const std::string& who) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return std::nullopt;
    if (!it->is_boolean()) throw RequestError(400, who + key + " must be true or false, got " + quote(*it));
    return it->get<bool>();
}

// First entry of value[type] (or value.labels); nullopt when the region carries none.
std::optional<std::string> region_label(const json& value, const std::string& type, const std::string& who) {
    for (const std::string& key : {type, std::string("labels")}) {
        auto it = value.find(key);
        if (it == value.end() || it->is_null()) continue;
        if (!it->is_array()) throw RequestError(400, who + ": value." + key + " must be an array of strings");
        if (it->empty()) continue;
        if (!(*it)[0].is_string())
            throw RequestError(400, who + ": value." + key + "[0] must be a string, got " + quote((*it)[0]));
        return (*it)[0].get<std::string>();
    }
    return std::nullopt;
}

PromptBox rectangle_box(float x, float y, float w, float h, double rotation_deg) {
    if (rotation_deg == 0) return {x, y, x + w, y + h};
    // Corners rotated clockwise (y points down) around the top-left corner.
    const double a = rotation_deg * std::numbers::pi / 180.0, c = std::cos(a), s = std::sin(a);
    const double cx[4] = {0, w, w, 0}, cy[4] = {0, 0, h, h};
    double x0 = x, y0 = y, x1 = x, y1 = y;
    for (int i = 0; i < 4; i++) {
        const double px = x + cx[i] * c - cy[i] * s, py = y + cx[i] * s + cy[i] * c;
        x0 = std::min(x0, px), x1 = std::max(x1, px), y0 = std::min(y0, py), y1 = std::max(y1, py);
    }
    return {float(x0), float(y0), float(x1), float(y1)};
}

}  // namespace

ContextPrompt prompt_from_context(const json& result) {
    if (!result.is_array()) throw RequestError(400, "context.result must be an array of regions, got " + std::string(result.type_name()));
    ContextPrompt out;
    std::string first_sized;  // the region that fixed original_width/height

    for (size_t i = 0; i < result.size(); i++) {
        const json& region = result[i];
        if (!region.is_object()) throw RequestError(400, "context.result[" + std::to_string(i) + "] is not an object");
        const std::string who = region_name(region, i);
        auto type_it = region.find("type");
        if (type_it == region.end() || !type_it->is_string()) throw RequestError(400, who + ": missing type");
        const std::string type = type_it->get<std::string>();
        const bool is_point = type == "keypointlabels", is_rect = type == "rectanglelabels";
        if (!is_point && !is_rect) continue;

        const int w = positive_int_field(region, "original_width", who);
        const int h = positive_int_field(region, "original_height", who);
        const std::string image = optional_string(region, "to_name", who);
        if (first_sized.empty()) {
            out.original_width = w, out.original_height = h, first_sized = who;
        } else if (w != out.original_width || h != out.original_height) {
            throw RequestError(400, who + ": original size " + std::to_string(w) + "x" + std::to_string(h) +
                                        " differs from " + std::to_string(out.original_width) + "x" +
                                        std::to_string(out.original_height) + " of " + first_sized);
        }
        if (out.image.empty()) {
            out.image = image;
        } else if (!image.empty() && image != out.image) {
            throw RequestError(400, who + ": to_name '" + image + "' differs from '" + out.image +
                                        "' of an earlier region (one prompt, one image)");
        }
        auto value_it = region.find("value");
        if (value_it == region.end() || !value_it->is_object()) throw RequestError(400, who + ": missing value");
        const json& value = *value_it;
        const double x = finite_field(value, "x", who) * w / 100.0;
        const double y = finite_field(value, "y", who) * h / 100.0;

        if (is_point) {
            if (out.prompt.points.size() == kMaxPromptPoints)
                throw RequestError(422, "more than " + std::to_string(kMaxPromptPoints) +
                                            " keypoints in one prompt (context.result has " +
                                            std::to_string(result.size()) + " regions)");
            std::optional<bool> positive = optional_bool(region, "is_positive", who + ": ");
            if (!positive) positive = optional_bool(value, "positive", who + ": value.");
            out.prompt.points.push_back({float(x), float(y), positive.value_or(false) ? 1 : 0});
        } else {
            const double bw = finite_field(value, "width", who) * w / 100.0;
            const double bh = finite_field(value, "height", who) * h / 100.0;
            if (bw < 0 || bh < 0) throw RequestError(400, who + ": rectangle has a negative width or height");
            const double rotation = finite_field(value, "rotation", who, false, 0.0);
            out.prompt.box = rectangle_box(float(x), float(y), float(bw), float(bh), rotation);
        }
        if (auto l = region_label(value, type, who)) out.label = std::move(l);
    }

    if (first_sized.empty())
        throw RequestError(422, "context.result has no keypointlabels or rectanglelabels region to prompt with");
    const size_t points = out.prompt.points.size();
    out.prompt.multimask = (points == 1 && !out.prompt.box) || (points == 0 && out.prompt.box);
    return out;
}

OutputLabel output_label(const std::optional<std::string>& prompt_label, const OutputTarget& target) {
    const auto& labels = target.labels;
    if (prompt_label && (labels.empty() || std::find(labels.begin(), labels.end(), *prompt_label) != labels.end()))
        return {*prompt_label, false};
    if (labels.empty())
        throw RequestError(422, std::string("no region carries a label and ") + tag_name(target.kind) + " '" +
                                    target.from_name + "' has no Label to fall back to");
    return {labels[0], prompt_label.has_value()};
}

namespace {

// params.context of a /predict body, or nullptr (no params, no context, or null).
const json* find_context(const json& predict_request) {
    auto params = predict_request.find("params");
    if (params == predict_request.end() || params->is_null()) return nullptr;
    if (!params->is_object()) throw RequestError(400, "params must be an object, got " + std::string(params->type_name()));
    auto context = params->find("context");
    if (context == params->end() || context->is_null()) return nullptr;
    if (!context->is_object()) throw RequestError(400, "params.context must be an object, got " + std::string(context->type_name()));
    return &*context;
}

}  // namespace

const json* find_context_result(const json& predict_request) {
    const json* context = find_context(predict_request);
    if (!context) return nullptr;
    auto result = context->find("result");
    if (result == context->end() || result->is_null()) return nullptr;
    if (result->is_array() && result->empty()) return nullptr;
    return &*result;
}

ContextEvent context_event(const json& predict_request) {
    const json* context = find_context(predict_request);
    if (!context) return ContextEvent::Predict;
    auto event = context->find("event");
    if (event == context->end() || event->is_null()) return ContextEvent::Predict;
    if (!event->is_string()) throw RequestError(400, "params.context.event must be a string, got " + quote(*event));
    const std::string& name = event->get_ref<const std::string&>();
    if (name == "capabilities") return ContextEvent::Capabilities;
    if (name == "prewarm") return ContextEvent::Prewarm;
    return ContextEvent::Predict;
}

}  // namespace sam::ls
