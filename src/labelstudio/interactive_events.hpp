// The answers to Label Studio's interactive events (context_event), in the shapes its newest
// interactive SAM backend gives them.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "labelstudio/label_config.hpp"

namespace sam::ls {

// The one region of a capabilities answer: {"type": "capabilities", "value": {"prompts":
// ["point", "box"], "targets": [{"tag": "BrushLabels", "output": "mask"}, ...], "model_info":
// {"name", "version"}}}. Targets: BrushLabels and BitmaskLabels -> mask, PolygonLabels and
// VectorLabels -> polygon, RectangleLabels -> bbox.
nlohmann::json capabilities_region(const std::string& model_name, const std::string& model_version);

// The one region of a prewarm answer for `target`'s image: {"type": "prewarm_ack", "value":
// {"status": "ok", "cached": [0] or [], "pending": [0] or []}} (frame 0: an image has one).
nlohmann::json prewarm_ack_region(const OutputTarget& target, bool cached, bool pending);

}  // namespace sam::ls
