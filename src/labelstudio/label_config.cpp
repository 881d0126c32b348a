#include "labelstudio/label_config.hpp"

#include <pugixml.hpp>

#include "labelstudio/errors.hpp"

namespace sam::ls {

namespace {

// First element named `tag` in document order, optionally with attribute name == `name`.
pugi::xml_node find_tag(const pugi::xml_node& root, const char* tag, const std::string* name = nullptr) {
    return root.find_node([&](const pugi::xml_node& n) {
        return n.type() == pugi::node_element && std::string(n.name()) == tag &&
               (!name || n.attribute("name").as_string() == *name);
    });
}

}  // namespace

BrushTarget parse_label_config(const std::string& xml) {
    if (xml.find_first_not_of(" \t\r\n") == std::string::npos)
        throw RequestError(400, "label config is empty");
    pugi::xml_document doc;
    const pugi::xml_parse_result parsed = doc.load_buffer(xml.data(), xml.size());
    if (!parsed)
        throw RequestError(400, std::string("label config is not valid XML: ") + parsed.description() +
                                    " at offset " + std::to_string(parsed.offset));

    const pugi::xml_node brush = find_tag(doc, "BrushLabels");
    if (!brush) throw RequestError(422, "label config has no BrushLabels tag: add one (see README templates)");

    BrushTarget t;
    t.from_name = brush.attribute("name").as_string();
    t.to_name = brush.attribute("toName").as_string();
    if (t.from_name.empty()) throw RequestError(422, "label config: the BrushLabels tag has no name attribute");
    if (t.to_name.empty())
        throw RequestError(422, "label config: BrushLabels '" + t.from_name + "' has no toName attribute");

    const pugi::xml_node image = find_tag(doc, "Image", &t.to_name);
    if (!image)
        throw RequestError(422, "label config: BrushLabels '" + t.from_name + "' has toName '" + t.to_name +
                                    "' but no Image tag has name '" + t.to_name + "'");
    const std::string value = image.attribute("value").as_string();
    if (value.size() < 2 || value[0] != '$')
        throw RequestError(422, "label config: Image '" + t.to_name + "' has value '" + value +
                                    "', expected a task data reference like \"$image\"");
    t.data_key = value.substr(1);

    for (const pugi::xml_node& label : brush.children("Label")) t.labels.push_back(label.attribute("value").as_string());
    return t;
}

std::shared_ptr<const BrushTarget> LabelConfigCache::get(const std::string& xml) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = index_.find(xml);
        if (it != index_.end()) {
            lru_.splice(lru_.begin(), lru_, it->second);
            return it->second->second;
        }
    }
    // Parse outside the lock; two threads racing on a new config both parse, one entry stays.
    auto target = std::make_shared<const BrushTarget>(parse_label_config(xml));
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = index_.find(xml);
    if (it != index_.end()) return it->second->second;
    lru_.emplace_front(xml, target);
    index_.emplace(xml, lru_.begin());
    while (lru_.size() > capacity_) {
        index_.erase(lru_.back().first);
        lru_.pop_back();
    }
    return target;
}

size_t LabelConfigCache::size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return lru_.size();
}

}  // namespace sam::ls
