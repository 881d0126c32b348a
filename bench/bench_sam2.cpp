// SAM 2.1 next to MobileSAM in the same run: the image encoder per image (preprocessing
// included, as `embed` does it) and a click (prompt encoder + mask decoder), in interleaved
// rounds so both see the same machine. GFLOP/s against the encoders' counted work: SAM 2.1
// tiny 292.4 GFLOP (golden/README.md), MobileSAM 77.5 GFLOP. `cpu_median` is CPU seconds per run
// (all threads): with OMP_NUM_THREADS=1 it tracks the work on a busy machine (bench/README.md).
//   bench_sam2 [--sam2 FILE] [--mobilesam FILE] [--rounds N] [--clicks N] [--profile]
//              [--precision fp32|bf16] [--no-mobilesam]
// Defaults: the golden random-weight checkpoints (the published files' shapes and work).
// --no-mobilesam times SAM 2 alone (for A/B runs of two builds); --precision applies to both.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "io/image.hpp"
#include "models/model_loader.hpp"
#include "tensor/profile.hpp"

namespace {

constexpr double kSam2Gflop = 292.4, kMobileSamGflop = 77.5;

std::unique_ptr<sam::Segmenter> load(const std::string& choice, const std::string& path, sam::Precision precision) {
    sam::ModelChoice c;
    c.sam_choice = choice;
    c.precision = precision;
    (choice == "SAM2" ? c.sam2_checkpoint : c.mobilesam_checkpoint) = path;
    return sam::load_segmenter(c);
}

// Wall and CPU seconds of rounds timed one run at a time.
struct Rounds {
    std::vector<double> wall, cpu;
    void time(const std::function<void()>& fn) {
        const sambench::Figures f = sambench::time_runs(1, fn);
        wall.push_back(f.median);
        cpu.push_back(f.cpu_median);
    }
    sambench::Figures figures() const {
        sambench::Figures f = sambench::figures(wall);
        f.cpu_median = sambench::median_of(cpu);
        return f;
    }
};

}  // namespace

int main(int argc, char** argv) {
    sambench::setup(argv);
    const std::string golden = sambench::golden_dir() + "checkpoints/";
    std::string sam2_path = golden + "sam2.1_hiera_tiny_random.pt", mobile_path = golden + "mobile_sam_random.pt";
    int rounds = 5, clicks = 30;
    bool profile = false, with_mobile = true;
    sam::Precision precision = sam::Precision::f32;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--sam2" && i + 1 < argc) sam2_path = argv[++i];
        else if (a == "--mobilesam" && i + 1 < argc) mobile_path = argv[++i];
        else if (a == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);
        else if (a == "--clicks" && i + 1 < argc) clicks = std::atoi(argv[++i]);
        else if (a == "--profile") profile = true;
        else if (a == "--no-mobilesam") with_mobile = false;
        else if (a == "--precision" && i + 1 < argc) precision = sam::parse_precision(argv[++i]);
        else {
            std::fprintf(stderr, "usage: bench_sam2 [--sam2 FILE] [--mobilesam FILE] [--rounds N] [--clicks N] [--profile] "
                         "[--precision fp32|bf16] [--no-mobilesam]\n");
            return 2;
        }
    }
    const auto sam2 = load("SAM2", sam2_path, precision);
    const auto mobile = with_mobile ? load("MobileSAM", mobile_path, precision) : nullptr;
    const sam::RgbImage image = sambench::synthetic_image(1920, 1080);
    sam::ImageEmbedding e2 = sam2->embed(image), e1;  // warm-up
    if (mobile) e1 = mobile->embed(image);
    const std::string tag = std::string("\"precision\": \"") + sam::precision_name(precision) + "\"";

    Rounds t2, t1;
    sam::profile::enable(profile);
    for (int r = 0; r < rounds; ++r) {
        t2.time([&] { e2 = sam2->embed(image); });
        if (mobile) t1.time([&] { e1 = mobile->embed(image); });
    }
    sam::profile::enable(false);
    const sambench::Figures f2 = t2.figures();
    char extra[384];
    std::snprintf(extra, sizeof extra, "\"model\": \"%s\", %s, \"gflop\": %.1f, \"gflops\": %.1f, \"cpu_gflops\": %.1f",
                  sam2->description().c_str(), tag.c_str(), kSam2Gflop, kSam2Gflop / f2.median,
                  kSam2Gflop / f2.cpu_median);
    std::string line = extra;
    if (mobile) {
        const sambench::Figures f1 = t1.figures();
        std::snprintf(extra, sizeof extra, ", \"vs_mobilesam\": %.2f, \"cpu_vs_mobilesam\": %.2f", f2.median / f1.median,
                      f2.cpu_median / f1.cpu_median);
        sambench::print_json("sam2_embed_1080p", f2, line + extra);
        std::snprintf(extra, sizeof extra, "\"model\": \"%s\", %s, \"gflop\": %.1f, \"gflops\": %.1f",
                      mobile->description().c_str(), tag.c_str(), kMobileSamGflop, kMobileSamGflop / f1.median);
        sambench::print_json("mobilesam_embed_1080p", f1, extra);
    } else {
        sambench::print_json("sam2_embed_1080p", f2, line);
    }
    if (profile) sambench::print_profile("embed", rounds);  // hiera.* and tinyvit.* stages

    // A click: two positive points, single-mask output (SAM 2 applies its stability rule).
    sam::Prompt prompt;
    prompt.points.push_back({1100.5f, 400.25f, 1});
    prompt.points.push_back({300.0f, 700.0f, 1});
    Rounds c2, c1;
    for (int r = 0; r < clicks; ++r) {
        sam::profile::enable(profile);
        c2.time([&] { sam2->predict(e2, prompt); });
        sam::profile::enable(false);
        if (mobile) c1.time([&] { mobile->predict(e1, prompt); });
    }
    const sambench::Figures d2 = c2.figures();
    std::snprintf(extra, sizeof extra, "\"model\": \"%s\"", sam2->description().c_str());
    line = extra;
    if (mobile) {
        const sambench::Figures d1 = c1.figures();
        std::snprintf(extra, sizeof extra, ", \"vs_mobilesam\": %.2f", d2.median / d1.median);
        sambench::print_json("sam2_click", d2, line + extra);
        std::snprintf(extra, sizeof extra, "\"model\": \"%s\"", mobile->description().c_str());
        sambench::print_json("mobilesam_click", d1, extra);
    } else {
        sambench::print_json("sam2_click", d2, line);
    }
    if (profile) sambench::print_profile("sam2_click", clicks);  // SAM 2's clicks only
    return 0;
}
