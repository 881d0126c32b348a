// What the previous click on an object answered, so that the next click refines it: SAM was
// trained for interactive use with the previous answer's low-res logits as an extra prompt.
// One entry per task, image, output tag and label (the key the caller builds), least recently
// used dropped beyond the capacity; each entry holds one [1, 256, 256] logit map (256 KiB).
#pragma once

#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "models/segmenter.hpp"

namespace sam::server {

// Whether `next` extends `previous`, i.e. the annotator only added clicks: the same box (both
// absent, or every coordinate within kSamePointPixels), every point of `previous` matched by a
// distinct point of `next` with the same label and both coordinates within kSamePointPixels (in
// any order: the editor does not promise one), and at least one point more in `next`.
bool extends(const Prompt& next, const Prompt& previous);
inline constexpr float kSamePointPixels = 0.5f;

class RefineMemory {
public:
    explicit RefineMemory(size_t capacity);  // 0: remembers nothing

    // The logits remembered for `key` when `prompt` extends the prompt they answered, else an
    // undefined tensor (start fresh).
    Tensor previous_mask(const std::string& key, const Prompt& prompt);
    // Remembers the answer to `prompt` (its points and box; its own mask_input is not kept).
    // An undefined `logits` forgets the key.
    void remember(const std::string& key, const Prompt& prompt, Tensor logits);
    size_t size() const;

private:
    struct Entry {
        std::string key;
        Prompt prompt;  // mask_input holds the answer's logits
    };
    size_t capacity_;
    mutable std::mutex mutex_;
    std::list<Entry> lru_;  // most recently used first
    std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace sam::server
