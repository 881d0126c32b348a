#include "io/decode_budget.hpp"

namespace sam {

namespace {

std::string mib(int64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

}  // namespace

std::shared_ptr<DecodeBudget> DecodeBudget::create(int64_t bytes, std::chrono::milliseconds max_wait) {
    return std::shared_ptr<DecodeBudget>(new DecodeBudget(bytes, max_wait));
}

std::shared_ptr<const void> DecodeBudget::reserve(int64_t bytes, const std::string& what) {
    if (bytes > capacity_)
        throw ImageError(what + " needs " + mib(bytes) + " to decode, more than the " + mib(capacity_) +
                         " all decoded images may take at once (DECODE_BUDGET_MB)");
    std::unique_lock lock(mutex_);
    if (!freed_.wait_for(lock, max_wait_, [&] { return used_ + bytes <= capacity_; }))
        throw DecodeBusyError(what + " needs " + mib(bytes) + " to decode and other images hold " + mib(used_) +
                              " of the " + mib(capacity_) + " budget (DECODE_BUDGET_MB); try again shortly");
    used_ += bytes;
    // The handle keeps the budget alive too, so images may outlive whoever created it.
    auto self = shared_from_this();
    return std::shared_ptr<const void>(nullptr, [self, bytes](const void*) { self->release(bytes); });
}

int64_t DecodeBudget::in_use() const {
    std::lock_guard lock(mutex_);
    return used_;
}

void DecodeBudget::release(int64_t bytes) {
    {
        std::lock_guard lock(mutex_);
        used_ -= bytes;
    }
    freed_.notify_all();
}

}  // namespace sam
