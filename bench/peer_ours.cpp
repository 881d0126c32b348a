// Our engine as one side of the peer benchmark (bench/peers/): a long-lived process that loads
// the models once, checks them against the golden reference, then answers one timed run per
// request, so that a driver can interleave it round by round with ONNX Runtime and PyTorch in
// other processes without counting load times.
//
//   peer_ours [--golden DIR] [--checkpoint FILE] [--vit-checkpoint FILE --vit-reference FILE]
//             [--write-input FILE]
//
// --write-input writes the encoder input (the golden photo normalised and padded, [1,3,1024,1024]
// float32 .npy, as the reference feeds its encoder) for the peers and exits. Otherwise it
// prints one JSON line {"ready": true, "figures": [...], "checks": [...]} and then reads one
// request per line: a figure name and an optional repeat count ("click_native 5"); it answers
// {"figure": ..., "s": <median seconds of the repeats>, "cpu_s": <median CPU seconds, all threads>,
// "runs": n}. "quit" or end of input ends it.
//
// Figures: encoder (Segmenter::embed of the golden photo's reference-resized image: the resize
// is then an identity and the time is the encoder's plus normalisation), decoder_native /
// decoder_onnx (prompt to low-res logits, on the golden embedding: the native decoder and the
// official ONNX export run by our ONNX engine), click_native / click_onnx (the same plus the
// binary mask at the original size, what a click costs the server before RLE), encoder_vit
// (with --vit-checkpoint: a SAM ViT checkpoint, e.g. ViT-B with random weights).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "io/image.hpp"
#include "models/mask_postprocess.hpp"
#include "models/model_loader.hpp"
#include "models/preprocess.hpp"
#include "npy_file.hpp"

namespace {

struct Check {
    std::string name;
    double max_abs_diff, tolerance;
};

double max_abs_diff(const sam::Tensor& a, const sam::Tensor& b) {
    if (a.numel() != b.numel())
        throw std::runtime_error("shape " + a.shape_string() + " against reference " + b.shape_string());
    double m = 0;
    for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, double(std::fabs(a.data[i] - b.data[i])));
    return m;
}

std::unique_ptr<sam::Segmenter> load(const std::string& choice, const std::string& checkpoint,
                                     const std::string& onnx = "") {
    sam::ModelChoice c;
    c.sam_choice = choice;
    (choice == "SAM" ? c.vith_checkpoint : c.mobilesam_checkpoint) = checkpoint;
    c.onnx_checkpoint = onnx;
    return sam::load_segmenter(c);
}

// CPU seconds of this process, all threads: what a run cost in work, whatever else shares the cores.
double cpu_seconds() {
    timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char ch : s) {
        if (ch == '"' || ch == '\\') out += '\\';
        if (static_cast<unsigned char>(ch) >= 0x20) out += ch;
    }
    return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
    sambench::setup(argv);  // the server's OpenMP and allocator settings (without them the ONNX decoder's 4 MB intermediates fault in on every click)
    std::string golden = std::string(SAM_SOURCE_DIR) + "/../shared/golden";
    std::string checkpoint, vit_checkpoint, vit_reference, write_input;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
            return argv[++i];
        };
        if (a == "--golden") golden = value();
        else if (a == "--checkpoint") checkpoint = value();
        else if (a == "--vit-checkpoint") vit_checkpoint = value();
        else if (a == "--vit-reference") vit_reference = value();
        else if (a == "--write-input") write_input = value();
        else {
            std::fprintf(stderr,
                         "usage: peer_ours [--golden DIR] [--checkpoint FILE] [--vit-checkpoint FILE "
                         "--vit-reference FILE] [--write-input FILE]\n");
            return 2;
        }
    }
    if (checkpoint.empty()) checkpoint = golden + "/checkpoints/mobile_sam_random.pt";
    const std::string photo = golden + "/cases/mobile_sam/photo/";

    // The reference resized the 769x770 photo to 1023x1024 (resized.png); from there both sides
    // compute the same normalised, padded input.
    const sam::RgbImage image = sam::read_image_file(photo + "resized.png");
    if (!write_input.empty()) {
        int w, h;
        const sam::Tensor hwc = sam::preprocess_image(image, &w, &h);
        const int64_t S = hwc.dim(0);
        sam::Tensor chw = sam::Tensor::empty({1, 3, S, S});
        for (int64_t p = 0; p < S * S; ++p)
            for (int c = 0; c < 3; ++c) chw.data[c * S * S + p] = hwc.data[p * 3 + c];
        sambench::write_npy_f32(write_input, chw);
        return 0;
    }

    std::map<std::string, std::function<void()>> figures;
    std::vector<Check> checks;

    auto mobile = load("MobileSAM", checkpoint);
    auto onnx = load("ONNX", checkpoint, golden + "/onnx/mobile_sam_decoder_single.onnx");
    sam::ImageEmbedding emb = mobile->embed(image);
    checks.push_back({"encoder_vs_golden_embedding", max_abs_diff(emb.features, sambench::read_npy_f32(photo + "embedding.npy")), 5e-3});

    // The golden ONNX case 0: one positive click on the photo (export frame 1023x1024), no mask
    // input. The "single mask" export picks, for one click, the best of the three multimask
    // outputs, as the server does: the native decoder is asked for those three. Our prompts are
    // in original pixels, scaled back as the reference scales them.
    sam::ImageEmbedding golden_emb = emb;
    golden_emb.features = sambench::read_npy_f32(photo + "embedding.npy").reshaped({256, 64, 64});
    golden_emb.orig_w = 769, golden_emb.orig_h = 770, golden_emb.input_w = 1023, golden_emb.input_h = 1024;
    const std::string case0 = golden + "/onnx/mobile_sam_decoder_single_case0.npz";
    const sam::Tensor coords = sambench::read_npz_f32(case0, "point_coords");
    const sam::Tensor ref_lowres = sambench::read_npz_f32(case0, "low_res_masks");
    const float ref_iou = sambench::read_npz_f32(case0, "iou_predictions").data[0];
    sam::Prompt click;
    click.points.push_back({coords.data[0] * 769.0f / 1023.0f, coords.data[1] * 770.0f / 1024.0f, 1});
    const sam::Prompt native_click = [&] { sam::Prompt p = click; p.multimask = true; return p; }();
    struct Side {
        std::string name;
        const sam::Segmenter* model;
        const sam::Prompt* prompt;
    };
    for (const Side& side : {Side{"native", mobile.get(), &native_click}, Side{"onnx", onnx.get(), &click}}) {
        const sam::Prediction p = side.model->predict(golden_emb, *side.prompt);
        const int best = p.best();
        const sam::Tensor lowres = sam::Tensor::wrap(p.lowres.data + int64_t(best) * 256 * 256, {256, 256}, nullptr);
        checks.push_back({"decoder_" + side.name + "_lowres_vs_golden", max_abs_diff(lowres, ref_lowres), 5e-3});
        checks.push_back({"decoder_" + side.name + "_iou_vs_golden", std::fabs(p.iou.at(best) - ref_iou), 1e-3});
        figures["decoder_" + side.name] = [&golden_emb, side] { side.model->predict(golden_emb, *side.prompt); };
        figures["click_" + side.name] = [&golden_emb, side] {
            const sam::Prediction pred = side.model->predict(golden_emb, *side.prompt);
            sam::binary_mask(pred, pred.best());
        };
    }
    figures["encoder"] = [&] { emb = mobile->embed(image); };

    std::unique_ptr<sam::Segmenter> vit;
    sam::ImageEmbedding vit_emb;
    if (!vit_checkpoint.empty()) {
        vit = load("SAM", vit_checkpoint);
        vit_emb = vit->embed(image);
        if (!vit_reference.empty())
            checks.push_back({"encoder_vit_vs_reference", max_abs_diff(vit_emb.features, sambench::read_npy_f32(vit_reference)), 5e-3});
        figures["encoder_vit"] = [&] { vit_emb = vit->embed(image); };
    }

    std::string ready = "{\"ready\": true, \"engine\": \"ours\", \"model\": " + json_string(mobile->description());
    if (vit) ready += ", \"vit_model\": " + json_string(vit->description());
    ready += ", \"figures\": [";
    for (const auto& [name, fn] : figures) ready += json_string(name) + ", ";
    ready.resize(ready.size() - 2);
    ready += "], \"checks\": [";
    for (size_t i = 0; i < checks.size(); ++i) {
        char buf[256];
        std::snprintf(buf, sizeof buf, "%s{\"name\": \"%s\", \"max_abs_diff\": %.3g, \"tolerance\": %.3g}",
                      i ? ", " : "", checks[i].name.c_str(), checks[i].max_abs_diff, checks[i].tolerance);
        ready += buf;
    }
    std::printf("%s]}\n", ready.c_str());
    std::fflush(stdout);

    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream in(line);
        std::string name;
        int reps = 1;
        in >> name >> reps;
        if (name == "quit") break;
        auto it = figures.find(name);
        if (it == figures.end() || reps < 1) {
            std::printf("{\"error\": %s}\n", json_string("unknown request: " + line).c_str());
        } else {
            std::vector<double> wall, cpu;
            for (int r = 0; r < reps; ++r) {
                const double c0 = cpu_seconds();
                const auto t0 = std::chrono::steady_clock::now();
                it->second();
                wall.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
                cpu.push_back(cpu_seconds() - c0);
            }
            std::sort(wall.begin(), wall.end());
            std::sort(cpu.begin(), cpu.end());
            std::printf("{\"figure\": \"%s\", \"s\": %.6f, \"cpu_s\": %.6f, \"runs\": %d}\n", name.c_str(),
                        wall[reps / 2], cpu[reps / 2], reps);
        }
        std::fflush(stdout);
    }
    return 0;
}
