#include "models/segmenter.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace sam {

int Prediction::best() const {
    return static_cast<int>(std::max_element(iou.begin(), iou.end()) - iou.begin());
}

Tensor Prediction::mask_input(int index) const {
    if (!lowres.defined()) return {};
    if (lowres.rank() != 3 || index < 0 || index >= lowres.dim(0))
        throw std::out_of_range("mask index " + std::to_string(index) + " out of range for low-res logits " +
                                lowres.shape_string());
    const int64_t plane = lowres.dim(1) * lowres.dim(2);
    Tensor out = Tensor::empty({1, lowres.dim(1), lowres.dim(2)});
    std::memcpy(out.data, lowres.data + index * plane, static_cast<size_t>(plane) * sizeof(float));
    return out;
}

}  // namespace sam
