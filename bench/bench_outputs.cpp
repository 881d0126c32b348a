// The cost of each output tag's conversion on a cached 1080p click: the low-res logits of one
// prediction turned into Label Studio regions (brush RLE, bitmask PNG, polygons, rectangle),
// without the decoder and HTTP. Rounds interleave the four so that they share the machine's
// state; each figure carries its median's difference to the brush figure and the ratio, in
// wall time and in the thread's CPU time (the conversion is single-threaded: on a shared,
// loaded machine CPU time leaves out the time the thread waited for a core).
// Two masks: the random-weight MobileSAM decoder's answer on a synthetic image (noise-shaped,
// many parts: a hard case for contours) and a clean object (a disk of logits).
//   bench_outputs [--checkpoint FILE] [--rounds N]
#include <time.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "bench_util.hpp"
#include "labelstudio/output_regions.hpp"
#include "models/model_loader.hpp"

namespace {

using sam::ls::OutputKind;

// Low-res logits whose upscaled mask is a disk of a quarter of the image's height.
sam::Prediction disk_prediction(int w, int h) {
    sam::Prediction p;
    p.orig_w = w, p.orig_h = h;
    const float s = 1024.0f / std::max(w, h);
    p.input_w = int(w * s + 0.5f), p.input_h = int(h * s + 0.5f);
    p.iou = {0.9f};
    p.lowres = sam::Tensor::empty({1, 256, 256});
    const float cx = p.input_w / 8.0f, cy = p.input_h / 8.0f, r = p.input_h / 16.0f;  // low-res = 1024 frame / 4
    for (int y = 0; y < 256; ++y)
        for (int x = 0; x < 256; ++x) p.lowres.data[y * 256 + x] = r - std::hypot(x + 0.5f - cx, y + 0.5f - cy);
    return p;
}

double thread_cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

void bench(const std::string& mask_name, const sam::Prediction& pred, int index, int rounds) {
    const sam::ls::OutputOptions options;
    const OutputKind kinds[] = {OutputKind::Brush, OutputKind::Bitmask, OutputKind::Polygon, OutputKind::Rectangle};
    std::vector<std::vector<double>> times(4), cpu(4);
    size_t regions[4] = {}, vertices = 0, bytes[4] = {};
    for (int round = 0; round < rounds; ++round)
        for (int k = 0; k < 4; ++k) {
            sam::ls::OutputTarget target;
            target.kind = kinds[k];
            target.from_name = "out", target.to_name = "image";
            nlohmann::json out;
            const double cpu0 = thread_cpu_seconds();
            times[k].push_back(sambench::time_runs(1, [&] {
                                   out = sam::ls::output_regions(pred, index, target, "Object", 0.5f, options);
                                   bytes[k] = out.dump().size();  // the answer is serialised too
                               }).median);
            cpu[k].push_back(thread_cpu_seconds() - cpu0);
            regions[k] = out.size();
            if (kinds[k] == OutputKind::Polygon) {
                vertices = 0;
                for (const auto& r : out) vertices += r["value"]["points"].size();
            }
        }
    const sambench::Figures brush = sambench::figures(times[0]), brush_cpu = sambench::figures(cpu[0]);
    for (int k = 0; k < 4; ++k) {
        const sambench::Figures f = sambench::figures(times[k]), c = sambench::figures(cpu[k]);
        char extra[384];
        std::snprintf(extra, sizeof extra,
                      "\"image\": \"%dx%d\", \"mask\": \"%s\", \"regions\": %zu, \"answer_bytes\": %zu, "
                      "\"added_to_brush_ms\": %.3f, \"ratio_to_brush\": %.2f, \"cpu_median\": %.6f, "
                      "\"cpu_added_to_brush_ms\": %.3f, \"cpu_ratio_to_brush\": %.2f%s",
                      pred.orig_w, pred.orig_h, mask_name.c_str(), regions[k], bytes[k], (f.median - brush.median) * 1e3,
                      f.median / brush.median, c.median, (c.median - brush_cpu.median) * 1e3, c.median / brush_cpu.median,
                      kinds[k] == OutputKind::Polygon ? (", \"vertices\": " + std::to_string(vertices)).c_str() : "");
        std::string name = std::string("output_") + sam::ls::result_type(kinds[k]) + "_" + mask_name + "_1080p";
        sambench::print_json(name, f, extra);
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string checkpoint = std::string(SAM_SOURCE_DIR) + "/../shared/golden/checkpoints/mobile_sam_random.pt";
    int rounds = 40;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--checkpoint" && i + 1 < argc) checkpoint = argv[++i];
        else if (a == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);
        else {
            std::fprintf(stderr, "usage: bench_outputs [--checkpoint FILE] [--rounds N]\n");
            return 2;
        }
    }
    sam::ModelChoice choice;
    choice.mobilesam_checkpoint = checkpoint;
    auto model = sam::load_segmenter(choice);
    const sam::ImageEmbedding emb = model->embed(sambench::synthetic_image(1920, 1080));
    sam::Prompt prompt;
    prompt.points.push_back({960, 540, 1});
    prompt.multimask = true;
    const sam::Prediction pred = model->predict(emb, prompt);
    bench("model", pred, pred.best(), rounds);
    bench("disk", disk_prediction(1920, 1080), 0, rounds);
    return 0;
}
