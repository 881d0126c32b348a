// Masks to polygons (OpenCV contours): exact outlines of simple shapes, holes dropped, parts
// ordered and filtered by area, the vertex limit, and bad arguments.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include <stdexcept>

#include "labelstudio/mask_polygons.hpp"

namespace {

using sam::ls::mask_polygons;
using sam::ls::Polygon;
using sam::ls::PolygonOptions;

struct Mask {
    int w, h;
    std::vector<uint8_t> px;
    Mask(int w_, int h_) : w(w_), h(h_), px(static_cast<size_t>(w_) * h_, 0) {}
    cv::Mat mat() { return cv::Mat(h, w, CV_8UC1, px.data()); }
};

std::vector<std::pair<double, double>> vertices(const Polygon& p) {
    std::vector<std::pair<double, double>> out;
    for (const auto& v : p) out.emplace_back(v.x, v.y);
    std::sort(out.begin(), out.end());
    return out;
}

TEST(MaskPolygons, RectangleIsItsFourBoundaryPixelCentres) {
    Mask m(40, 30);
    cv::rectangle(m.mat(), cv::Point(10, 5), cv::Point(19, 14), cv::Scalar(1), cv::FILLED);  // pixels 10..19, 5..14
    const auto polygons = mask_polygons(m.px.data(), m.w, m.h, {});
    ASSERT_EQ(polygons.size(), 1u);
    EXPECT_EQ(vertices(polygons[0]),
              (std::vector<std::pair<double, double>>{{10.5, 5.5}, {10.5, 14.5}, {19.5, 5.5}, {19.5, 14.5}}));
}

TEST(MaskPolygons, HolesAreDropped) {
    Mask m(50, 50);
    cv::rectangle(m.mat(), cv::Point(5, 5), cv::Point(44, 44), cv::Scalar(255), cv::FILLED);
    cv::rectangle(m.mat(), cv::Point(20, 20), cv::Point(29, 29), cv::Scalar(0), cv::FILLED);  // a hole
    const auto polygons = mask_polygons(m.px.data(), m.w, m.h, {});
    ASSERT_EQ(polygons.size(), 1u);
    EXPECT_EQ(polygons[0].size(), 4u);  // the outer square only
}

TEST(MaskPolygons, PartsLargestFirstAndSmallOnesDropped) {
    Mask m(200, 100);
    cv::circle(m.mat(), cv::Point(30, 50), 10, cv::Scalar(1), cv::FILLED);
    cv::circle(m.mat(), cv::Point(120, 50), 30, cv::Scalar(1), cv::FILLED);
    cv::rectangle(m.mat(), cv::Point(190, 5), cv::Point(192, 7), cv::Scalar(1), cv::FILLED);  // 3x3: area 4 < 16
    auto polygons = mask_polygons(m.px.data(), m.w, m.h, {});
    ASSERT_EQ(polygons.size(), 2u);
    EXPECT_NEAR(polygons[0][0].x, 120, 31);  // the big disk first
    EXPECT_NEAR(polygons[1][0].x, 30, 11);
    PolygonOptions keep_all;
    keep_all.min_area = 0;
    polygons = mask_polygons(m.px.data(), m.w, m.h, keep_all);
    EXPECT_EQ(polygons.size(), 3u);
    // The largest part stays whatever its size, so a small mask still gives a polygon.
    Mask tiny(10, 10);
    cv::rectangle(tiny.mat(), cv::Point(2, 2), cv::Point(4, 4), cv::Scalar(1), cv::FILLED);
    EXPECT_EQ(mask_polygons(tiny.px.data(), tiny.w, tiny.h, {}).size(), 1u);
}

TEST(MaskPolygons, AtMostMaxPartsLargestKept) {
    Mask m(400, 400);
    for (int i = 0; i < 20; ++i)  // 20 squares, side 5 + i: areas grow with i
        cv::rectangle(m.mat(), cv::Point(20 * i % 400, 40 * (i / 10) + 5), cv::Point(20 * i % 400 + 4 + i % 10, 40 * (i / 10) + 9 + i),
                      cv::Scalar(1), cv::FILLED);
    EXPECT_EQ(mask_polygons(m.px.data(), m.w, m.h, {}).size(), 20u);
    PolygonOptions few;
    few.max_parts = 3;
    const auto polygons = mask_polygons(m.px.data(), m.w, m.h, few);
    ASSERT_EQ(polygons.size(), 3u);
    const auto all = mask_polygons(m.px.data(), m.w, m.h, {});
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(vertices(polygons[i]), vertices(all[i]));
}

TEST(MaskPolygons, MaxPointsAndTolerance) {
    Mask m(300, 300);
    cv::circle(m.mat(), cv::Point(150, 150), 120, cv::Scalar(1), cv::FILLED);
    const size_t fine = mask_polygons(m.px.data(), m.w, m.h, {}).at(0).size();
    PolygonOptions exact;
    exact.tolerance = 0.01;
    exact.max_points = 100000;
    const size_t raw = mask_polygons(m.px.data(), m.w, m.h, exact).at(0).size();
    EXPECT_GT(raw, fine);
    EXPECT_GT(fine, 10u);
    for (int limit : {3, 5, 10}) {
        PolygonOptions o;
        o.max_points = limit;
        const size_t n = mask_polygons(m.px.data(), m.w, m.h, o).at(0).size();
        EXPECT_LE(n, size_t(limit));
        EXPECT_GE(n, 3u);
    }
}

TEST(MaskPolygons, EmptyLinesAndBadArguments) {
    Mask m(20, 20);
    EXPECT_TRUE(mask_polygons(m.px.data(), m.w, m.h, {}).empty());
    cv::line(m.mat(), cv::Point(2, 10), cv::Point(17, 10), cv::Scalar(1));  // a line encloses nothing
    EXPECT_TRUE(mask_polygons(m.px.data(), m.w, m.h, {}).empty());
    // the mask's edge: a full mask is the image's outline
    std::fill(m.px.begin(), m.px.end(), 1);
    EXPECT_EQ(vertices(mask_polygons(m.px.data(), m.w, m.h, {}).at(0)),
              (std::vector<std::pair<double, double>>{{0.5, 0.5}, {0.5, 19.5}, {19.5, 0.5}, {19.5, 19.5}}));
    EXPECT_THROW(mask_polygons(m.px.data(), 0, 20, {}), std::invalid_argument);
    EXPECT_THROW(mask_polygons(nullptr, 20, 20, {}), std::invalid_argument);
    PolygonOptions bad;
    bad.max_points = 2;
    EXPECT_THROW(mask_polygons(m.px.data(), m.w, m.h, bad), std::invalid_argument);
    bad = {};
    bad.tolerance = -1;
    EXPECT_THROW(mask_polygons(m.px.data(), m.w, m.h, bad), std::invalid_argument);
}

}  // namespace
