// The /predict request handling that needs no model: JSON as the server parses it
// (parse_request_json: depth cap, numbers, UTF-8), the context (context_event,
// find_context_result, prompt_from_context), the label config and its output tag, the label
// rule, and every task's image URL.
// Allowed outcomes: an answer, or a RequestError. Checked: a prompt has finite coordinates and
// a positive original size; a local file stays under the document root.
#include <algorithm>
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "labelstudio/context_prompt.hpp"
#include "labelstudio/errors.hpp"
#include "labelstudio/image_url.hpp"
#include "labelstudio/label_config.hpp"
#include "labelstudio/request_json.hpp"

using nlohmann::json;

namespace {

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
    static sam::ls::LabelConfigCache configs(4);
    try {
        const json request = sam::ls::parse_request_json(std::string_view(reinterpret_cast<const char*>(data), size));
        if (!request.is_object()) return 0;
        sam::ls::context_event(request);
        const json* result = sam::ls::find_context_result(request);
        auto lc = request.find("label_config");
        const std::string xml = lc != request.end() && lc->is_string() ? lc->get<std::string>() : kDefaultConfig;
        const auto config = configs.get(xml);
        std::string image;
        if (result) {
            const sam::ls::ContextPrompt cp = sam::ls::prompt_from_context(*result);
            check_prompt(cp);
            image = cp.image;
            const sam::ls::OutputTarget& target = config->output_for(image);
            const sam::ls::OutputLabel label = sam::ls::output_label(cp.label, target);
            if (!target.labels.empty() &&
                std::find(target.labels.begin(), target.labels.end(), label.label) == target.labels.end())
                __builtin_trap();
        }
        const sam::ls::OutputTarget& target = config->output_for(image);
        auto tasks = request.find("tasks");
        if (tasks == request.end() || !tasks->is_array()) return 0;
        sam::ls::UrlContext ctx{"/srv/images", "http://label-studio:8080", 0};
        for (const json& task : *tasks) {
            if (!task.is_object()) continue;
            auto id = task.find("id");
            ctx.task_id = id != task.end() && id->is_number_integer() ? id->get<int64_t>() : 0;
            auto d = task.find("data");
            if (d == task.end() || !d->is_object()) continue;
            auto url = d->find(target.data_key);
            if (url == d->end() || !url->is_string()) continue;
            check_source(sam::ls::resolve_image_url(url->get<std::string>(), ctx), ctx);
        }
    } catch (const sam::ls::RequestError&) {
    }
    return 0;
}
