// Benchmark helpers: time a function several times and print one JSON line of its figures.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "io/image.hpp"
#include "tensor/allocator.hpp"
#include "tensor/isa.hpp"
#include "tensor/profile.hpp"
#include "tensor/threads.hpp"

namespace sambench {

// Every benchmark runs with the settings of the sam-ml-backend binary: OpenMP environment
// (thread count, wait policy; may re-execute the program), allocator, SAM_ISA. Call first in main().
inline void setup(char** argv) {
    sam::threads::apply_openmp_environment(argv);
    sam::tune_allocator_for_inference();
    sam::isa::configure_from_env();
    std::fprintf(stderr, "%s; %s\n", sam::threads::describe().c_str(), sam::isa::describe().c_str());
}

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
    // Process CPU seconds per run (all threads); < 0: not measured. On a machine shared with
    // other work, wall time mostly measures the neighbours, while the CPU time of a
    // single-threaded run (OMP_NUM_THREADS=1) tracks the work done.
    double cpu_median = -1;
};

// Median, min and max of timings collected elsewhere (interleaved rounds).
inline Figures figures(std::vector<double> t) {
    std::sort(t.begin(), t.end());
    return {t[t.size() / 2], t.front(), t.back(), static_cast<int>(t.size())};
}

inline double median_of(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

inline Figures time_runs(int runs, const std::function<void()>& fn) {
    std::vector<double> t, cpu;
    for (int i = 0; i < runs; ++i) {
        const double c0 = sam::profile::process_cpu_seconds();
        auto a = std::chrono::steady_clock::now();
        fn();
        auto b = std::chrono::steady_clock::now();
        cpu.push_back(sam::profile::process_cpu_seconds() - c0);
        t.push_back(std::chrono::duration<double>(b - a).count());
    }
    Figures f = figures(std::move(t));
    f.cpu_median = median_of(cpu);
    return f;
}

// The golden reference data: SAM_GOLDEN_DIR, or ../shared/golden beside the source tree.
inline std::string golden_dir() {
    const char* env = std::getenv("SAM_GOLDEN_DIR");
    return env && *env ? std::string(env) + "/" : std::string(SAM_SOURCE_DIR) + "/../shared/golden/";
}

// {"name": ..., "unit": "s", "median": ..., "min": ..., "max": ..., "runs": N, "cpu_median": ..., <extra>}
inline void print_json(const std::string& name, const Figures& f, const std::string& extra = "") {
    char cpu[48] = "";
    if (f.cpu_median >= 0) std::snprintf(cpu, sizeof cpu, ", \"cpu_median\": %.6f", f.cpu_median);
    std::printf("{\"name\": \"%s\", \"unit\": \"s\", \"median\": %.6f, \"min\": %.6f, \"max\": %.6f, \"runs\": %d%s%s%s}\n",
                name.c_str(), f.median, f.min, f.max, f.runs, cpu, extra.empty() ? "" : ", ", extra.c_str());
    std::fflush(stdout);
}

// --profile: one line per stage (tensor/profile.hpp), wall and CPU time per run; then resets.
inline void print_profile(const char* prefix, int runs) {
    auto cpu = sam::profile::cpu_totals();
    for (const auto& [stage, total] : sam::profile::totals())
        std::printf("{\"name\": \"%s.%s\", \"unit\": \"s\", \"mean\": %.6f, \"cpu_mean\": %.6f, \"runs\": %d}\n", prefix,
                    stage.c_str(), total / runs, cpu[stage] / runs, runs);
    sam::profile::reset();
}

}  // namespace sambench
