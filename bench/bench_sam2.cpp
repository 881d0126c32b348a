// SAM 2.1 next to MobileSAM in the same run: the image encoder per image (preprocessing
// included, as `embed` does it) and a click (prompt encoder + mask decoder), in interleaved
// rounds so both see the same machine. GFLOP/s against the encoders' counted work: SAM 2.1
// tiny 292.4 GFLOP (golden/README.md), MobileSAM 77.5 GFLOP.
//   bench_sam2 [--sam2 FILE] [--mobilesam FILE] [--rounds N] [--clicks N] [--profile]
// Defaults: the golden random-weight checkpoints (the published files' shapes and work).
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

std::unique_ptr<sam::Segmenter> load(const std::string& choice, const std::string& path) {
    sam::ModelChoice c;
    c.sam_choice = choice;
    (choice == "SAM2" ? c.sam2_checkpoint : c.mobilesam_checkpoint) = path;
    return sam::load_segmenter(c);
}

sambench::Figures figures(std::vector<double> t) {
    std::sort(t.begin(), t.end());
    return {t[t.size() / 2], t.front(), t.back(), static_cast<int>(t.size())};
}

double seconds(const std::function<void()>& fn) { return sambench::time_runs(1, fn).median; }

}  // namespace

int main(int argc, char** argv) {
    const std::string golden = std::string(SAM_SOURCE_DIR) + "/../shared/golden/checkpoints/";
    std::string sam2_path = golden + "sam2.1_hiera_tiny_random.pt", mobile_path = golden + "mobile_sam_random.pt";
    int rounds = 5, clicks = 30;
    bool profile = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--sam2" && i + 1 < argc) sam2_path = argv[++i];
        else if (a == "--mobilesam" && i + 1 < argc) mobile_path = argv[++i];
        else if (a == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);
        else if (a == "--clicks" && i + 1 < argc) clicks = std::atoi(argv[++i]);
        else if (a == "--profile") profile = true;
        else {
            std::fprintf(stderr, "usage: bench_sam2 [--sam2 FILE] [--mobilesam FILE] [--rounds N] [--clicks N] [--profile]\n");
            return 2;
        }
    }
    const auto sam2 = load("SAM2", sam2_path);
    const auto mobile = load("MobileSAM", mobile_path);
    const sam::RgbImage image = sambench::synthetic_image(1920, 1080);
    sam::ImageEmbedding e2 = sam2->embed(image), e1 = mobile->embed(image);  // warm-up

    std::vector<double> t2, t1;
    sam::profile::enable(profile);
    for (int r = 0; r < rounds; ++r) {
        t2.push_back(seconds([&] { e2 = sam2->embed(image); }));
        t1.push_back(seconds([&] { e1 = mobile->embed(image); }));
    }
    sam::profile::enable(false);
    const sambench::Figures f2 = figures(t2), f1 = figures(t1);
    char extra[256];
    std::snprintf(extra, sizeof extra, "\"model\": \"%s\", \"gflop\": %.1f, \"gflops\": %.1f, \"vs_mobilesam\": %.2f",
                  sam2->description().c_str(), kSam2Gflop, kSam2Gflop / f2.median, f2.median / f1.median);
    sambench::print_json("sam2_embed_1080p", f2, extra);
    std::snprintf(extra, sizeof extra, "\"model\": \"%s\", \"gflop\": %.1f, \"gflops\": %.1f", mobile->description().c_str(),
                  kMobileSamGflop, kMobileSamGflop / f1.median);
    sambench::print_json("mobilesam_embed_1080p", f1, extra);
    if (profile) {
        for (const auto& [stage, total] : sam::profile::totals())
            std::printf("{\"name\": \"embed.%s\", \"unit\": \"s\", \"mean\": %.6f, \"runs\": %d}\n", stage.c_str(),
                        total / rounds, rounds);
        sam::profile::reset();
    }

    // A click: one positive point, single-mask output (SAM 2 applies its stability rule).
    sam::Prompt prompt;
    prompt.points.push_back({1100.5f, 400.25f, 1});
    prompt.points.push_back({300.0f, 700.0f, 1});
    std::vector<double> c2, c1;
    for (int r = 0; r < clicks; ++r) {
        sam::profile::enable(profile);
        c2.push_back(seconds([&] { sam2->predict(e2, prompt); }));
        sam::profile::enable(false);
        c1.push_back(seconds([&] { mobile->predict(e1, prompt); }));
    }
    const sambench::Figures d2 = figures(c2), d1 = figures(c1);
    std::snprintf(extra, sizeof extra, "\"model\": \"%s\", \"vs_mobilesam\": %.2f", sam2->description().c_str(),
                  d2.median / d1.median);
    sambench::print_json("sam2_click", d2, extra);
    std::snprintf(extra, sizeof extra, "\"model\": \"%s\"", mobile->description().c_str());
    sambench::print_json("mobilesam_click", d1, extra);
    if (profile)  // SAM 2's clicks only
        for (const auto& [stage, total] : sam::profile::totals())
            std::printf("{\"name\": \"sam2_click.%s\", \"unit\": \"s\", \"mean\": %.6f, \"runs\": %d}\n", stage.c_str(),
                        total / clicks, clicks);
    return 0;
}
