// Benchmark helpers: time a function several times and print one JSON line of its figures.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "io/image.hpp"
#include "tensor/allocator.hpp"

namespace sambench {

// Every benchmark runs with the allocator settings of the sam-ml-backend binary.
inline const bool allocator_tuned = (sam::tune_allocator_for_inference(), true);

// A w x h test image with gradients and texture (no decoding in the timed path).
inline sam::RgbImage synthetic_image(int w, int h) {
    sam::RgbImage img;
    img.width = w, img.height = h;
    img.pixels.resize(size_t(w) * h * 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            uint8_t* p = &img.pixels[(size_t(y) * w + x) * 3];
            p[0] = uint8_t(x * 255 / w), p[1] = uint8_t(y * 255 / h), p[2] = uint8_t((x ^ y) & 255);
        }
    return img;
}

struct Figures {
    double median, min, max;
    int runs;
};

// Median, min and max of timings collected elsewhere (interleaved rounds).
inline Figures figures(std::vector<double> t) {
    std::sort(t.begin(), t.end());
    return {t[t.size() / 2], t.front(), t.back(), static_cast<int>(t.size())};
}

inline Figures time_runs(int runs, const std::function<void()>& fn) {
    std::vector<double> t;
    for (int i = 0; i < runs; ++i) {
        auto a = std::chrono::steady_clock::now();
        fn();
        auto b = std::chrono::steady_clock::now();
        t.push_back(std::chrono::duration<double>(b - a).count());
    }
    return figures(std::move(t));
}

// {"name": ..., "unit": "s", "median": ..., "min": ..., "max": ..., "runs": N, <extra>}
inline void print_json(const std::string& name, const Figures& f, const std::string& extra = "") {
    std::printf("{\"name\": \"%s\", \"unit\": \"s\", \"median\": %.6f, \"min\": %.6f, \"max\": %.6f, \"runs\": %d%s%s}\n",
                name.c_str(), f.median, f.min, f.max, f.runs, extra.empty() ? "" : ", ", extra.c_str());
    std::fflush(stdout);
}

}  // namespace sambench
