// The labeling config (Label Studio's XML `label_config`): where a brush result goes.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sam::ls {

struct BrushTarget {
    std::string from_name;            // the first BrushLabels tag's name
    std::string to_name;              // its toName (the Image tag's name)
    std::string data_key;             // the Image tag's value without '$' (task.data key)
    std::vector<std::string> labels;  // the BrushLabels' Label values, in order
};

// Finds the first BrushLabels tag in document order (tag names are case-sensitive, as in
// Label Studio; Views, Style and other tags around it are skipped) and the Image tag its
// toName names. Throws RequestError: 400 for empty or malformed XML; 422 for a config this
// backend cannot serve (no BrushLabels, missing name/toName, no such Image, an Image value
// that is not "$key").
BrushTarget parse_label_config(const std::string& xml);

// parse_label_config with memory: Label Studio sends the same config with every request.
// Thread-safe; holds at most `capacity` configs, dropping the least recently used. Errors
// are not cached (each call with a bad config throws again).
class LabelConfigCache {
public:
    explicit LabelConfigCache(size_t capacity = 16) : capacity_(capacity ? capacity : 1) {}
    std::shared_ptr<const BrushTarget> get(const std::string& xml);
    size_t size() const;

private:
    using Entry = std::pair<std::string, std::shared_ptr<const BrushTarget>>;
    size_t capacity_;
    mutable std::mutex mutex_;
    std::list<Entry> lru_;  // most recently used first
    std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace sam::ls
