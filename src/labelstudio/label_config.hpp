// The labeling config (Label Studio's XML `label_config`): which control tags the backend can
// answer into, and which one a click goes to.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sam::ls {

// The output control tags, in the order of preference when a config has several.
enum class OutputKind { Brush, Bitmask, Polygon, Vector, Rectangle };

const char* tag_name(OutputKind kind);     // "BrushLabels", ...
const char* result_type(OutputKind kind);  // the region's `type` and label key: "brushlabels", ...

struct OutputTarget {
    OutputKind kind = OutputKind::Brush;
    std::string from_name;            // the control tag's name
    std::string to_name;              // its toName (the Image tag's name)
    std::string data_key;             // the Image tag's value without '$' (task.data key)
    std::vector<std::string> labels;  // the tag's Label values, in order
    // A smart RectangleLabels (smart or smartOnly true): the annotator prompts with it, so it is
    // an output only when nothing else is.
    bool prompt_tool = false;
};

struct LabelConfig {
    // Every output tag whose toName is an Image tag, by kind (OutputKind order), then in
    // document order. Output tags on other objects (Video, Text) are left out.
    std::vector<OutputTarget> outputs;

    // The output for a prompt on Image `image` ("" when the prompt does not say: any Image):
    // the tag named `preferred` when it is an output on that image (OUTPUT_TAG), else the
    // first output that is not a prompt tool, else the first prompt-tool RectangleLabels.
    // Throws RequestError(422) when the image has no output tag.
    const OutputTarget& output_for(const std::string& image, const std::string& preferred = "") const;
};

// The single entry point of the parser. Tag names are case-sensitive, as in Label Studio;
// Views, Style and other tags around the controls are skipped. Throws RequestError: 400 for
// empty or malformed XML; 422 for an output tag this backend cannot use (missing name or
// toName, an Image value that is not "$key"). A config without output tags parses (the
// error comes when a click needs one).
LabelConfig parse_label_config(const std::string& xml);

// parse_label_config with memory: Label Studio sends the same config with every request.
// Thread-safe; holds at most `capacity` configs, dropping the least recently used. Errors
// are not cached (each call with a bad config throws again).
class LabelConfigCache {
public:
    explicit LabelConfigCache(size_t capacity = 16) : capacity_(capacity ? capacity : 1) {}
    std::shared_ptr<const LabelConfig> get(const std::string& xml);
    size_t size() const;

private:
    using Entry = std::pair<std::string, std::shared_ptr<const LabelConfig>>;
    size_t capacity_;
    mutable std::mutex mutex_;
    std::list<Entry> lru_;  // most recently used first
    std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace sam::ls
