// ONNX decoder per click on the golden photo embedding: single- and multi-mask exports, a point
// click and a box (iou and low-res logits, as the native decoder returns them), in alternating
// rounds with the native decoder of the golden MobileSAM checkpoint on the same embedding and
// prompts; vs_native is the median of the per-round ratios ONNX / native. Prints one JSON line
// per figure (medians over the rounds' medians).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "io/checkpoint.hpp"
#include "models/onnx_decoder.hpp"
#include "models/sam_decoder.hpp"
#include "tensor/tensor.hpp"

namespace {

// The golden embedding.npy: a float32 [1,256,64,64] array after a 128-byte-aligned npy header.
sam::Tensor load_embedding(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) throw std::runtime_error("cannot open " + path);
    unsigned char head[10];
    if (std::fread(head, 1, 10, f) != 10) throw std::runtime_error("short npy " + path);
    long header = head[8] | (head[9] << 8);
    std::fseek(f, 10 + header, SEEK_SET);
    sam::Tensor t = sam::Tensor::empty({256, 64, 64});
    if (std::fread(t.data, sizeof(float), t.numel(), f) != size_t(t.numel())) throw std::runtime_error("short npy " + path);
    std::fclose(f);
    return t;
}

}  // namespace

int main(int, char** argv) {
    sambench::setup(argv);
    const std::string golden = sambench::golden_dir();
    sam::ImageEmbedding e;
    e.features = load_embedding(golden + "cases/mobile_sam/photo/embedding.npy");
    e.orig_w = 769;
    e.orig_h = 770;
    e.input_w = 1023;
    e.input_h = 1024;
    sam::Prompt point;
    point.points.push_back({400.0f, 300.0f, 1});
    sam::Prompt box;
    box.box = sam::PromptBox{100.0f, 120.0f, 500.0f, 600.0f};

    // Native and ONNX decoders in alternating rounds (a shared machine's speed drifts): the
    // point click is ambiguous (three masks), the box not, as the server asks for them.
    sam::SamDecoder native = sam::SamDecoder::load(sam::io::Checkpoint::open(golden + "checkpoints/mobile_sam_random.pt"));
    std::vector<std::string> names;
    std::vector<sam::OnnxDecoder> onnx;
    for (const char* name : {"single", "multi"}) {
        const std::string path = golden + "onnx/mobile_sam_decoder_" + name + ".onnx";
        if (!std::ifstream(path)) continue;  // a copy of the golden data may hold only one export
        names.push_back(name);
        onnx.push_back(sam::OnnxDecoder::load(path));
    }
    const size_t E = onnx.size();
    const int rounds = 7, runs = 5;
    for (int i = 0; i < 2; ++i) {
        const char* kind = i == 0 ? "point" : "box";
        sam::Prompt p = i == 0 ? point : box;
        p.multimask = i == 0;
        std::vector<double> t_native, t_onnx[2], ratio[2];  // at most two exports
        native.predict(e, p);
        for (size_t k = 0; k < E; ++k) {
            sam::Prompt q = p;
            q.multimask = i == 0 && onnx[k].multimask_export();
            onnx[k].predict(e, q);  // first call creates the kernels for these shapes
        }
        for (int r = 0; r < rounds; ++r) {
            t_native.push_back(sambench::time_runs(runs, [&] { native.predict(e, p); }).median);
            for (size_t k = 0; k < E; ++k) {
                sam::Prompt q = p;
                q.multimask = i == 0 && onnx[k].multimask_export();
                t_onnx[k].push_back(sambench::time_runs(runs, [&] { onnx[k].predict(e, q); }).median);
                ratio[k].push_back(t_onnx[k].back() / t_native.back());
            }
        }
        auto figures = [&](const std::vector<double>& t) {
            std::vector<double> v = t;
            std::sort(v.begin(), v.end());
            return sambench::Figures{v[v.size() / 2], v.front(), v.back(), int(v.size())};
        };
        sambench::print_json(std::string("native_decoder_click_") + kind, figures(t_native), "\"image\": \"769x770\"");
        for (size_t k = 0; k < E; ++k) {
            char extra[128];
            std::snprintf(extra, sizeof extra, "\"image\": \"769x770\", \"vs_native\": %.2f, \"target_vs_native\": 1.3",
                          sambench::median_of(ratio[k]));
            sambench::print_json(std::string("onnx_decoder_click_") + names[k] + "_" + kind, figures(t_onnx[k]), extra);
        }
    }
    return 0;
}
