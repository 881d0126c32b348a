// Memory for decoded images across the whole process. A decoder reserves what an image will
// take (pixels and the decoder's own buffers, computed from the header) before allocating any
// of it, and the image holds the reservation for as long as it lives; so a burst of small
// files declaring huge images cannot add up to more than the budget. A reservation that does
// not fit waits a bounded time for others to end, then is refused.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include "io/image.hpp"

namespace sam {

// The budget is in use by other images and did not free up in time: a transient refusal
// (the server answers 503), unlike an image too large for the whole budget (ImageError).
class DecodeBusyError : public ImageError {
public:
    using ImageError::ImageError;
};

class DecodeBudget : public std::enable_shared_from_this<DecodeBudget> {
public:
    static std::shared_ptr<DecodeBudget> create(int64_t bytes, std::chrono::milliseconds max_wait);

    // Holds `bytes` of the budget until the returned handle (and every copy) is gone. Throws
    // ImageError when `bytes` exceeds the whole budget, DecodeBusyError when it does not free
    // up within max_wait. `what` describes the image for the messages.
    std::shared_ptr<const void> reserve(int64_t bytes, const std::string& what);

    int64_t capacity() const { return capacity_; }
    int64_t in_use() const;

private:
    DecodeBudget(int64_t bytes, std::chrono::milliseconds max_wait) : capacity_(bytes), max_wait_(max_wait) {}
    void release(int64_t bytes);

    const int64_t capacity_;
    const std::chrono::milliseconds max_wait_;
    mutable std::mutex mutex_;
    std::condition_variable freed_;
    int64_t used_ = 0;
};

}  // namespace sam
