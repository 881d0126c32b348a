// ONNX decoder per click on the golden photo embedding: single- and multi-mask exports, a point
// click and a box (iou and low-res logits, as the native decoder returns them). Then the native
// decoder of the golden MobileSAM checkpoint on the same embedding and prompts, and the ratio
// ONNX / native for each. Prints one JSON line per figure.
#include <cstdio>
#include <string>

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
    const int runs = 25;

    // Native decoder first: its medians are what the ONNX figures are compared with. The point
    // click is ambiguous (three masks), the box not, as the server asks for them.
    sam::SamDecoder native = sam::SamDecoder::load(sam::io::Checkpoint::open(golden + "checkpoints/mobile_sam_random.pt"));
    double native_median[2];
    for (int i = 0; i < 2; ++i) {
        sam::Prompt p = i == 0 ? point : box;
        p.multimask = i == 0;
        native.predict(e, p);
        auto fig = sambench::time_runs(runs, [&] { native.predict(e, p); });
        native_median[i] = fig.median;
        sambench::print_json(std::string("native_decoder_click_") + (i == 0 ? "point" : "box"), fig, "\"image\": \"769x770\"");
    }

    for (const char* name : {"single", "multi"}) {
        std::string path = golden + "onnx/mobile_sam_decoder_" + name + ".onnx";
        sam::OnnxDecoder d = sam::OnnxDecoder::load(path);
        for (int i = 0; i < 2; ++i) {
            sam::Prompt p = i == 0 ? point : box;
            p.multimask = i == 0 && d.multimask_export();
            d.predict(e, p);  // first call creates the kernels for these shapes
            auto fig = sambench::time_runs(runs, [&] { d.predict(e, p); });
            char extra[96];
            std::snprintf(extra, sizeof extra, "\"image\": \"769x770\", \"vs_native\": %.2f", fig.median / native_median[i]);
            sambench::print_json(std::string("onnx_decoder_click_") + name + "_" + (i == 0 ? "point" : "box"), fig, extra);
        }
    }
    return 0;
}
