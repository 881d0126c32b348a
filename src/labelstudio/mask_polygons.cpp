#include "labelstudio/mask_polygons.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include <opencv2/imgproc.hpp>

namespace sam::ls {

namespace {

// Douglas-Peucker at `tolerance` (for a part so small that it leaves a segment, the part's own
// outline); when that leaves more than max_points vertices, the smallest
// tolerance found (doubling, then bisecting) that leaves between 3 and max_points. Raising the
// tolerance can jump from too many vertices straight to 2 (a circle goes from 4 to 2): then
// max_points vertices spread evenly over the last approximation with too many.
std::vector<cv::Point> simplify(const std::vector<cv::Point>& contour, double tolerance, int max_points) {
    const size_t limit = static_cast<size_t>(max_points);
    std::vector<cv::Point> over;
    cv::approxPolyDP(contour, over, tolerance, true);
    if (over.size() < 3) over = contour;  // a part a few pixels across: its own outline
    if (over.size() <= limit) return over;
    std::vector<cv::Point> best, trial;
    double lo = tolerance, hi = std::max(tolerance, 0.5);
    for (;;) {  // ends: at the contour's own size 2 vertices remain
        hi *= 2;
        cv::approxPolyDP(contour, trial, hi, true);
        if (trial.size() <= limit) break;
        lo = hi;
        over = trial;
    }
    if (trial.size() >= 3) best = trial;
    for (int i = 0; i < 24; ++i) {
        const double mid = 0.5 * (lo + hi);
        cv::approxPolyDP(contour, trial, mid, true);
        if (trial.size() <= limit) {
            hi = mid;
            if (trial.size() >= 3) best = trial;
        } else {
            lo = mid;
            over = trial;
        }
    }
    if (best.empty())
        for (size_t i = 0; i < limit; ++i) best.push_back(over[i * over.size() / limit]);
    return best;
}

}  // namespace

std::vector<Polygon> mask_polygons(const uint8_t* mask, int width, int height, const PolygonOptions& options) {
    if (width <= 0 || height <= 0 || !mask)
        throw std::invalid_argument("mask_polygons: bad mask " + std::to_string(width) + "x" + std::to_string(height));
    if (!(options.tolerance >= 0) || options.max_points < 3 || !(options.min_area >= 0) || options.max_parts < 1)
        throw std::invalid_argument("mask_polygons: tolerance and min_area must be >= 0, max_points >= 3, max_parts >= 1");

    // findContours reads the mask without changing it (OpenCV >= 3.2).
    const cv::Mat image(height, width, CV_8UC1, const_cast<uint8_t*>(mask));
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(image, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);

    struct Part {
        double area;
        const std::vector<cv::Point>* contour;
    };
    std::vector<Part> parts;
    parts.reserve(contours.size());
    for (const auto& c : contours) parts.push_back({cv::contourArea(c), &c});
    std::stable_sort(parts.begin(), parts.end(), [](const Part& a, const Part& b) { return a.area > b.area; });

    std::vector<Polygon> out;
    for (const Part& part : parts) {
        if (!out.empty() && part.area < options.min_area) break;  // sorted: the rest are smaller
        if (out.size() == static_cast<size_t>(options.max_parts)) break;
        // A thin part gets a finer tolerance, a twentieth of its mean thickness (2 area / perimeter):
        // a fixed 1.5 px changes a 14 px wide strip's area by 7 %, a large object's by far less.
        const double thickness = 2 * part.area / std::max(cv::arcLength(*part.contour, true), 1.0);
        const double tolerance = std::min(options.tolerance, thickness / 20);
        const std::vector<cv::Point> approx = simplify(*part.contour, tolerance, options.max_points);
        if (approx.size() < 3) continue;
        Polygon polygon;
        polygon.reserve(approx.size());
        for (const cv::Point& p : approx) polygon.push_back({p.x + 0.5, p.y + 0.5});
        out.push_back(std::move(polygon));
    }
    return out;
}

}  // namespace sam::ls
