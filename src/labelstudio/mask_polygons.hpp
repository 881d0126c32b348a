// A binary mask as polygons (OpenCV imgproc): the outline of each separate part, simplified.
#pragma once

#include <cstdint>
#include <vector>

namespace sam::ls {

struct PolygonOptions {
    // Douglas-Peucker tolerance, pixels (POLYGON_TOLERANCE), for parts at least 30 pixels thick;
    // thinner parts get a twentieth of their mean thickness, so that a few percent of their
    // area at most changes.
    double tolerance = 1.5;
    int max_points = 1000;   // vertices per polygon: the tolerance is raised until it fits (POLYGON_MAX_POINTS)
    double min_area = 16;    // parts enclosing fewer square pixels are dropped, except the largest (POLYGON_MIN_AREA)
    // The largest parts only, so that a speckled mask cannot answer with tens of thousands of
    // regions (Label Studio's editor and the answer's size both suffer long before).
    int max_parts = 256;
};

struct PolygonVertex {
    double x, y;  // image coordinates: pixel (i, j) covers [i, i+1) x [j, j+1)
};
using Polygon = std::vector<PolygonVertex>;

// The outer boundary of every 8-connected part of `mask` (width x height bytes, nonzero =
// inside), largest enclosed area first, at most max_parts of them. Vertices are the centres of boundary pixels, so the
// outline runs half a pixel inside the mask's edge on every side. Holes are dropped: a polygon
// region cannot carry them. A part too small for the tolerance keeps its exact outline; parts
// whose outline has fewer than 3 vertices (one pixel, a straight line of pixels) are dropped.
// Throws std::invalid_argument for a bad size or options.
std::vector<Polygon> mask_polygons(const uint8_t* mask, int width, int height, const PolygonOptions& options);

}  // namespace sam::ls
