#include "server/refine_memory.hpp"

#include <cmath>
#include <vector>

namespace sam::server {

namespace {

bool near(float a, float b) { return std::fabs(a - b) <= kSamePointPixels; }

}  // namespace

bool extends(const Prompt& next, const Prompt& previous) {
    if (next.box.has_value() != previous.box.has_value()) return false;
    if (next.box) {
        const PromptBox &a = *next.box, &b = *previous.box;
        if (!near(a.x0, b.x0) || !near(a.y0, b.y0) || !near(a.x1, b.x1) || !near(a.y1, b.y1)) return false;
    }
    if (next.points.size() <= previous.points.size()) return false;
    std::vector<bool> used(next.points.size(), false);
    for (const PromptPoint& p : previous.points) {
        bool found = false;
        for (size_t i = 0; i < next.points.size() && !found; ++i) {
            const PromptPoint& q = next.points[i];
            if (!used[i] && q.label == p.label && near(q.x, p.x) && near(q.y, p.y)) used[i] = found = true;
        }
        if (!found) return false;
    }
    return true;
}

RefineMemory::RefineMemory(size_t capacity) : capacity_(capacity) {}

Tensor RefineMemory::previous_mask(const std::string& key, const Prompt& prompt) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = index_.find(key);
    if (it == index_.end()) return {};
    lru_.splice(lru_.begin(), lru_, it->second);
    const Prompt& previous = it->second->prompt;
    return extends(prompt, previous) ? previous.mask_input : Tensor{};
}

void RefineMemory::remember(const std::string& key, const Prompt& prompt, Tensor logits) {
    if (capacity_ == 0) return;
    Entry entry{key, {prompt.points, prompt.box, std::move(logits), prompt.multimask}};
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = index_.find(key);
    if (it != index_.end()) {
        lru_.erase(it->second);
        index_.erase(it);
    }
    if (!entry.prompt.mask_input.defined()) return;
    lru_.push_front(std::move(entry));
    index_.emplace(key, lru_.begin());
    while (lru_.size() > capacity_) {
        index_.erase(lru_.back().key);
        lru_.pop_back();
    }
}

size_t RefineMemory::size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return lru_.size();
}

}  // namespace sam::server
