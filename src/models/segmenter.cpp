#include "models/segmenter.hpp"

#include <algorithm>

namespace sam {

int Prediction::best() const {
    return static_cast<int>(std::max_element(iou.begin(), iou.end()) - iou.begin());
}

}  // namespace sam
