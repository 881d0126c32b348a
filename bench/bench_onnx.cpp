// ONNX decoder per click on the golden photo embedding: single- and multi-mask exports, a point
// click and a box, full-size masks included. Prints one JSON line per figure.
#include <cstdio>
#include <string>

#include "bench_util.hpp"
#include "models/onnx_decoder.hpp"
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

int main() {
    const std::string golden = std::string(SAM_SOURCE_DIR) + "/../shared/golden/";
    sam::ImageEmbedding e;
    e.features = load_embedding(golden + "cases/mobile_sam/photo/embedding.npy");
    e.orig_w = 769;
    e.orig_h = 770;
    e.input_w = 1023;
    e.input_h = 1024;
    for (const char* name : {"single", "multi"}) {
        std::string path = golden + "onnx/mobile_sam_decoder_" + name + ".onnx";
        sam::OnnxDecoder d = sam::OnnxDecoder::load(path);
        sam::Prompt point;
        point.points.push_back({400.0f, 300.0f, 1});
        point.multimask = d.multimask_export();
        sam::Prompt box;
        box.box = sam::PromptBox{100.0f, 120.0f, 500.0f, 600.0f};
        for (auto [label, prompt] : {std::pair<const char*, sam::Prompt*>{"point", &point}, {"box", &box}}) {
            d.predict(e, *prompt);  // first call creates the kernels for these shapes
            auto fig = sambench::time_runs(25, [&] { d.predict(e, *prompt); });
            sambench::print_json(std::string("onnx_decoder_click_") + name + "_" + label, fig,
                                 "\"image\": \"769x770\"");
        }
    }
    return 0;
}
