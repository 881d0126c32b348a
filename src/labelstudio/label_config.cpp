#include "labelstudio/label_config.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <pugixml.hpp>

#include "labelstudio/errors.hpp"

namespace sam::ls {

namespace {

constexpr std::array<OutputKind, 5> kKinds = {OutputKind::Brush, OutputKind::Bitmask, OutputKind::Polygon,
                                              OutputKind::Vector, OutputKind::Rectangle};

bool equals_lower(const char* a, const char* lower) {
    for (; *a && *lower; ++a, ++lower)
        if (std::tolower(static_cast<unsigned char>(*a)) != *lower) return false;
    return !*a && !*lower;
}

// Label Studio reads attribute names case-insensitively (smartOnly, smartonly) and booleans as "true".
bool true_attribute(const pugi::xml_node& node, const char* lower_name) {
    for (const pugi::xml_attribute& a : node.attributes())
        if (equals_lower(a.name(), lower_name)) return equals_lower(a.value(), "true");
    return false;
}

OutputTarget read_output(const pugi::xml_node& tag, OutputKind kind) {
    const std::string what = tag_name(kind);
    OutputTarget t;
    t.kind = kind;
    t.from_name = tag.attribute("name").as_string();
    t.to_name = tag.attribute("toName").as_string();
    if (t.from_name.empty()) throw RequestError(422, "label config: a " + what + " tag has no name attribute");
    if (t.to_name.empty())
        throw RequestError(422, "label config: " + what + " '" + t.from_name + "' has no toName attribute");
    for (const pugi::xml_node& label : tag.children("Label")) t.labels.push_back(label.attribute("value").as_string());
    t.prompt_tool = kind == OutputKind::Rectangle && (true_attribute(tag, "smart") || true_attribute(tag, "smartonly"));
    return t;
}

}  // namespace

const char* tag_name(OutputKind kind) {
    switch (kind) {
        case OutputKind::Brush: return "BrushLabels";
        case OutputKind::Bitmask: return "BitmaskLabels";
        case OutputKind::Polygon: return "PolygonLabels";
        case OutputKind::Vector: return "VectorLabels";
        case OutputKind::Rectangle: return "RectangleLabels";
    }
    return "?";
}

const char* result_type(OutputKind kind) {
    switch (kind) {
        case OutputKind::Brush: return "brushlabels";
        case OutputKind::Bitmask: return "bitmasklabels";
        case OutputKind::Polygon: return "polygonlabels";
        case OutputKind::Vector: return "vectorlabels";
        case OutputKind::Rectangle: return "rectanglelabels";
    }
    return "?";
}

LabelConfig parse_label_config(const std::string& xml) {
    if (xml.find_first_not_of(" \t\r\n") == std::string::npos)
        throw RequestError(400, "label config is empty");
    pugi::xml_document doc;
    const pugi::xml_parse_result parsed = doc.load_buffer(xml.data(), xml.size());
    if (!parsed)
        throw RequestError(400, std::string("label config is not valid XML: ") + parsed.description() +
                                    " at offset " + std::to_string(parsed.offset));

    // One walk: the output tags by kind in document order, and every other element by name
    // (the first of a name wins), so even a huge config costs a single pass.
    struct Walker : pugi::xml_tree_walker {
        std::array<std::vector<pugi::xml_node>, kKinds.size()> outputs;
        std::unordered_map<std::string, pugi::xml_node> objects;
        bool for_each(pugi::xml_node& n) override {
            if (n.type() != pugi::node_element) return true;
            for (size_t k = 0; k < kKinds.size(); ++k)
                if (std::string(n.name()) == tag_name(kKinds[k])) {
                    outputs[k].push_back(n);
                    return true;
                }
            objects.emplace(n.attribute("name").as_string(), n);
            return true;
        }
    } walker;
    doc.traverse(walker);

    LabelConfig config;
    for (size_t k = 0; k < kKinds.size(); ++k) {
        for (const pugi::xml_node& tag : walker.outputs[k]) {
            OutputTarget t = read_output(tag, kKinds[k]);
            auto object = walker.objects.find(t.to_name);
            if (object == walker.objects.end())
                throw RequestError(422, "label config: " + std::string(tag_name(t.kind)) + " '" + t.from_name +
                                            "' has toName '" + t.to_name + "' but no Image tag has name '" +
                                            t.to_name + "'");
            const pugi::xml_node& image = object->second;
            if (std::string(image.name()) != "Image") continue;  // a Video, Text...: not ours
            const std::string value = image.attribute("value").as_string();
            if (value.size() < 2 || value[0] != '$')
                throw RequestError(422, "label config: Image '" + t.to_name + "' has value '" + value +
                                            "', expected a task data reference like \"$image\"");
            t.data_key = value.substr(1);
            config.outputs.push_back(std::move(t));
        }
    }
    return config;
}

const OutputTarget& LabelConfig::output_for(const std::string& image, const std::string& preferred) const {
    const OutputTarget* first = nullptr;
    const OutputTarget* first_tool = nullptr;
    for (const OutputTarget& t : outputs) {
        if (!image.empty() && t.to_name != image) continue;
        if (!preferred.empty() && t.from_name == preferred) return t;
        if (!t.prompt_tool && !first) first = &t;
        if (t.prompt_tool && !first_tool) first_tool = &t;
    }
    if (first) return *first;
    if (first_tool) return *first_tool;
    throw RequestError(422, std::string("label config has no output tag") +
                                (image.empty() ? "" : " for Image '" + image + "'") +
                                ": add a BrushLabels, BitmaskLabels, PolygonLabels, VectorLabels or RectangleLabels "
                                "tag (see README templates)");
}

std::shared_ptr<const LabelConfig> LabelConfigCache::get(const std::string& xml) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = index_.find(xml);
        if (it != index_.end()) {
            lru_.splice(lru_.begin(), lru_, it->second);
            return it->second->second;
        }
    }
    // Parse outside the lock; two threads racing on a new config both parse, one entry stays.
    auto config = std::make_shared<const LabelConfig>(parse_label_config(xml));
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = index_.find(xml);
    if (it != index_.end()) return it->second->second;
    lru_.emplace_front(xml, config);
    index_.emplace(xml, lru_.begin());
    while (lru_.size() > capacity_) {
        index_.erase(lru_.back().first);
        lru_.pop_back();
    }
    return config;
}

size_t LabelConfigCache::size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return lru_.size();
}

}  // namespace sam::ls
