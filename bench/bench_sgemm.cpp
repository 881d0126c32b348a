// The machine's practical matrix-product peak through oneDNN: the matmul primitive on the
// product shapes of the image encoders (tokens x in -> out, weights [out, in] as PyTorch's Linear
// stores them), on all cores and on one, in float32 and (when the CPU has AVX512-BF16) in
// bfloat16 with float32 results. What an encoder's GFLOP count divided by this peak gives is its
// floor; bench/README.md reports each encoder's fraction of it. One JSON line per shape, then
// one `*_peak` line per data type, weight layout and thread count.
//   bench_sgemm [--seconds S]   (time spent per shape, default 0.3)
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <unordered_map>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

namespace {

using dt = dnnl::memory::data_type;
using dims = dnnl::memory::dims;

struct Shape {
    int64_t M, K, N;
    const char* where;  // which product of which encoder has this shape
};

// M tokens, K input features, N output features.
const Shape kShapes[] = {
    {65536, 64, 256, "MobileSAM stage 0 MBConv expand (256x256 tokens)"},
    {16384, 64, 256, "MobileSAM patch merging into stage 1"},
    {16384, 128, 512, "MobileSAM stage 1 MLP fc1 (128x128 tokens)"},
    {4096, 160, 640, "MobileSAM stage 2 MLP fc1 (64x64 tokens)"},
    {4096, 320, 1280, "MobileSAM stage 3 MLP fc1"},
    {4096, 256, 1024, "encoder-sized product, 256 wide"},
    {4096, 768, 3072, "ViT-B MLP fc1"},
    {4096, 3072, 768, "ViT-B MLP fc2"},
    {2048, 2048, 2048, "square, for reference"},
};

struct Result {
    double median_s, min_s, median_cpu_s;  // cpu: CPU seconds of the process, all threads
    int runs;
    std::string impl;
};

double cpu_seconds() {
    timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

// Weights either as stored ([N, K] row-major, read transposed: what a model's tensors are) or
// packed once into the layout oneDNN picks for this shape (what a primitive with prepacked
// weights reads).
Result time_matmul(const Shape& s, dt type, bool packed, double seconds) {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream strm(eng);
    const dnnl::memory::desc src({s.M, s.K}, type, dims{s.K, 1});
    const dnnl::memory::desc stored({s.K, s.N}, type, dims{1, s.K});
    const dnnl::memory::desc wei = packed ? dnnl::memory::desc({s.K, s.N}, type, dnnl::memory::format_tag::any) : stored;
    const dnnl::memory::desc dst({s.M, s.N}, dt::f32, dims{s.N, 1});
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, dst), eng);
    dnnl::matmul prim(pd);
    dnnl::memory a(src, eng), w(stored, eng), c(dst, eng);
    // Small values so that bf16 stays finite; the contents do not change the timing.
    for (auto* m : {&a, &w}) {
        auto* p = static_cast<unsigned char*>(m->get_data_handle());
        const size_t n = m->get_desc().get_size();
        for (size_t i = 0; i < n; i += type == dt::f32 ? 4 : 2) {
            if (type == dt::f32) *reinterpret_cast<float*>(p + i) = float((i / 4) % 7) * 0.125f;
            else *reinterpret_cast<uint16_t*>(p + i) = 0x3e00;  // bf16 0.125
        }
    }
    dnnl::memory b = w;
    if (pd.weights_desc() != stored) {
        b = dnnl::memory(pd.weights_desc(), eng);
        dnnl::reorder(w, b).execute(strm, w, b);
        strm.wait();
    }
    const std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}};
    std::vector<double> t, cpu;
    auto run = [&] {
        const double c0 = cpu_seconds();
        const auto t0 = std::chrono::steady_clock::now();
        prim.execute(strm, args);
        strm.wait();
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        cpu.push_back(cpu_seconds() - c0);
        return t.back();
    };
    run();  // warm-up: pages touched, caches filled
    t.clear(), cpu.clear();
    double spent = 0;
    while ((spent < seconds || t.size() < 5) && t.size() < 1000) spent += run();
    std::sort(t.begin(), t.end());
    std::sort(cpu.begin(), cpu.end());
    return {t[t.size() / 2], t.front(), cpu[cpu.size() / 2], int(t.size()), pd.impl_info_str()};
}

bool cpu_has_bf16() {
    // oneDNN's own dispatch knows whether avx512_core_bf16 is usable (CPU and OS state).
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16");
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 0.3;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
        else {
            std::fprintf(stderr, "usage: bench_sgemm [--seconds S]\n");
            return 2;
        }
    }
    const int all = omp_get_max_threads();
    std::vector<std::pair<dt, const char*>> types{{dt::f32, "f32"}};
    if (cpu_has_bf16()) types.push_back({dt::bf16, "bf16"});
    else std::fprintf(stderr, "bench_sgemm: no AVX512-BF16 on this CPU: bf16 skipped\n");

    for (const auto& [type, tname] : types) {
        for (int threads : all > 1 ? std::vector<int>{all, 1} : std::vector<int>{1}) {
            // oneDNN sizes its work split when the primitive is created: set threads first.
            omp_set_num_threads(threads);
            for (bool packed : {false, true}) {
                const char* layout = packed ? "packed" : "plain";
                double best = 0, best_run = 0, best_per_cpu = 0;
                std::string best_shape;
                for (const Shape& s : kShapes) {
                    const Result r = time_matmul(s, type, packed, seconds);
                    const double gflop = 2.0 * double(s.M) * double(s.K) * double(s.N) * 1e-9;
                    const double rate = gflop / r.median_s;
                    const std::string shape =
                        std::to_string(s.M) + "x" + std::to_string(s.K) + "x" + std::to_string(s.N);
                    std::printf("{\"name\": \"matmul_%s_%s_%s_t%d\", \"unit\": \"s\", \"median\": %.6f, "
                                "\"min\": %.6f, \"runs\": %d, \"gflop_s\": %.1f, \"gflop_per_cpu_s\": %.1f, "
                                "\"gflop\": %.3f, \"threads\": %d, \"weights\": \"%s\", \"impl\": \"%s\", "
                                "\"shape\": \"MxKxN\", \"where\": \"%s\"}\n",
                                tname, layout, shape.c_str(), threads, r.median_s, r.min_s, r.runs, rate,
                                gflop / r.median_cpu_s, gflop, threads, layout, r.impl.c_str(), s.where);
                    std::fflush(stdout);
                    if (rate > best) best = rate, best_shape = shape;
                    best_run = std::max(best_run, gflop / r.min_s);
                    best_per_cpu = std::max(best_per_cpu, gflop / r.median_cpu_s);
                }
                // value: the best shape's median rate; best_run: the fastest single run of any shape;
                // per_cpu_s: GFLOP per CPU-second of all threads (what one core gives while it runs,
                // which time-sharing with other processes changes far less than the wall rate).
                std::printf("{\"name\": \"matmul_%s_%s_peak_t%d\", \"unit\": \"GFLOP/s\", \"value\": %.1f, "
                            "\"best_run\": %.1f, \"per_cpu_s\": %.1f, \"threads\": %d, \"weights\": \"%s\", "
                            "\"shape\": \"%s\"}\n",
                            tname, layout, threads, best, best_run, best_per_cpu, threads, layout, best_shape.c_str());
                std::fflush(stdout);
            }
        }
    }
    omp_set_num_threads(all);
    return 0;
}
