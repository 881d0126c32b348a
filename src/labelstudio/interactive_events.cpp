#include "labelstudio/interactive_events.hpp"

#include "labelstudio/output_regions.hpp"

namespace sam::ls {

using nlohmann::json;

json capabilities_region(const std::string& model_name, const std::string& model_version) {
    json targets = json::array();
    for (OutputKind kind : {OutputKind::Brush, OutputKind::Bitmask, OutputKind::Polygon, OutputKind::Vector,
                            OutputKind::Rectangle}) {
        const char* output = kind == OutputKind::Rectangle                                ? "bbox"
                             : kind == OutputKind::Polygon || kind == OutputKind::Vector ? "polygon"
                                                                                         : "mask";
        targets.push_back({{"tag", tag_name(kind)}, {"output", output}});
    }
    return {{"id", new_region_id()},
            {"type", "capabilities"},
            {"origin", "manual"},
            {"value",
             {{"prompts", {"point", "box"}},
              {"targets", std::move(targets)},
              {"model_info", {{"name", model_name}, {"version", model_version}}}}}};
}

json prewarm_ack_region(const OutputTarget& target, bool cached, bool pending) {
    const json frame = json::array({0}), none = json::array();
    return {{"id", new_region_id()},
            {"from_name", target.from_name},
            {"to_name", target.to_name},
            {"type", "prewarm_ack"},
            {"origin", "manual"},
            {"value", {{"status", "ok"}, {"cached", cached ? frame : none}, {"pending", pending ? frame : none}}}};
}

}  // namespace sam::ls
