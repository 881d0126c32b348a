// The /predict request handling that needs no model: JSON as the server parses it, the context
// (find_context_result, prompt_from_context), the label config, and every task's image URL.
// Allowed outcomes: an answer, or a RequestError. Checked: a prompt has finite coordinates and
// a positive original size; a local file stays under the document root.
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "labelstudio/context_prompt.hpp"
#include "labelstudio/errors.hpp"
#include "labelstudio/image_url.hpp"
#include "labelstudio/label_config.hpp"

using nlohmann::json;

namespace {

// The server refuses bodies nested deeper than this (issue 12, class 2); so does the harness.
constexpr int kMaxDepth = 64;
struct TooDeep {};

const char* kDefaultConfig =
    "<View><Image name=\"image\" value=\"$image\"/><BrushLabels name=\"tag\" toName=\"image\">"
    "<Label value=\"Foreground\"/><Label value=\"Background\"/></BrushLabels></View>";

void check_prompt(const sam::ls::ContextPrompt& cp) {
    if (cp.original_width <= 0 || cp.original_height <= 0) __builtin_trap();
    for (const auto& p : cp.prompt.points)
        if (!std::isfinite(p.x) || !std::isfinite(p.y) || (p.label != 0 && p.label != 1)) __builtin_trap();
    if (const auto& b = cp.prompt.box)
        if (!std::isfinite(b->x0) || !std::isfinite(b->y0) || !std::isfinite(b->x1) || !std::isfinite(b->y1))
            __builtin_trap();
}

void check_source(const sam::ls::ImageSource& s, const sam::ls::UrlContext& ctx) {
    if (s.kind != sam::ls::ImageSource::Kind::LocalFile) return;
    const std::string& p = s.location;
    if (p.compare(0, ctx.document_root.size() + 1, ctx.document_root + "/") != 0) __builtin_trap();
    if (p.find("/../") != std::string::npos || p.ends_with("/..")) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    json request;
    try {
        request = json::parse(data, data + size, [](int depth, json::parse_event_t, json&) {
            if (depth > kMaxDepth) throw TooDeep{};
            return true;
        });
    } catch (const json::exception&) {
        return 0;
    } catch (const TooDeep&) {
        return 0;
    }
    static sam::ls::LabelConfigCache configs(4);
    try {
        const json* result = sam::ls::find_context_result(request);
        if (!request.is_object()) return 0;
        auto lc = request.find("label_config");
        const std::string config = lc != request.end() && lc->is_string() ? lc->get<std::string>() : kDefaultConfig;
        const auto target = configs.get(config);
        if (result) check_prompt(sam::ls::prompt_from_context(*result, *target));
        auto tasks = request.find("tasks");
        if (tasks == request.end() || !tasks->is_array()) return 0;
        sam::ls::UrlContext ctx{"/srv/images", "http://label-studio:8080", 0};
        for (const json& task : *tasks) {
            if (!task.is_object()) continue;
            auto id = task.find("id");
            ctx.task_id = id != task.end() && id->is_number_integer() ? id->get<int64_t>() : 0;
            auto d = task.find("data");
            if (d == task.end() || !d->is_object()) continue;
            auto url = d->find(target->data_key);
            if (url == d->end() || !url->is_string()) continue;
            check_source(sam::ls::resolve_image_url(url->get<std::string>(), ctx), ctx);
        }
    } catch (const sam::ls::RequestError&) {
    }
    return 0;
}
