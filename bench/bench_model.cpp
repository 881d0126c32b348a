// Model benchmarks: image encoder per image, and a click (decoder + mask at the original size
// + brush RLE) on a 1920x1080 and a 4000x3000 image. One JSON line per figure; --profile adds per-stage lines.
//   bench_model [--checkpoint FILE] [--encoder-runs N] [--click-runs N] [--profile] [--precision fp32|bf16]
// The default checkpoint is the golden full-size MobileSAM with random weights: same shapes,
// same work as the published mobile_sam.pt.
#include <cstdio>
#include <cstring>
#include <string>

#include "bench_util.hpp"
#include "io/image.hpp"
#include "labelstudio/brush_rle.hpp"
#include "models/mask_postprocess.hpp"
#include "models/model_loader.hpp"
#include "models/preprocess.hpp"
#include "tensor/profile.hpp"

int main(int argc, char** argv) {
    sambench::setup(argv);
    std::string checkpoint = sambench::golden_dir() + "checkpoints/mobile_sam_random.pt";
    int encoder_runs = 5, click_runs = 30;
    bool profile = false;
    sam::Precision precision = sam::Precision::f32;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--checkpoint" && i + 1 < argc) checkpoint = argv[++i];
        else if (a == "--encoder-runs" && i + 1 < argc) encoder_runs = std::atoi(argv[++i]);
        else if (a == "--click-runs" && i + 1 < argc) click_runs = std::atoi(argv[++i]);
        else if (a == "--profile") profile = true;
        else if (a == "--precision" && i + 1 < argc) precision = sam::parse_precision(argv[++i]);
        else {
            std::fprintf(stderr, "usage: bench_model [--checkpoint FILE] [--encoder-runs N] [--click-runs N] [--profile] "
                         "[--precision fp32|bf16]\n");
            return 2;
        }
    }
    sam::ModelChoice choice;
    choice.sam_choice = "SAM";
    choice.vith_checkpoint = checkpoint;
    choice.precision = precision;
    auto model = sam::load_segmenter(choice);
    const std::string tag = "\"model\": \"" + model->description() + "\", \"precision\": \"" +
                            sam::precision_name(precision) + "\"";

    const sam::RgbImage image = sambench::synthetic_image(1920, 1080);
    sam::ImageEmbedding emb = model->embed(image);  // warm-up: primitives created, pages touched

    int w, h;
    auto pre = sambench::time_runs(encoder_runs, [&] { sam::preprocess_image(image, &w, &h); });
    sambench::print_json("preprocess_1080p", pre, tag);
    sam::profile::enable(profile);
    auto enc = sambench::time_runs(encoder_runs, [&] { emb = model->embed(image); });
    sam::profile::enable(false);
    sambench::print_json("embed_1080p", enc, tag);
    if (profile) sambench::print_profile("embed_1080p", encoder_runs);

    sam::Prompt prompt;
    prompt.points.push_back({1100.5f, 400.25f, 1});
    prompt.multimask = true;  // a single click is ambiguous: best of three, as the server does
    sam::Prediction pred;
    std::vector<uint8_t> mask, rle;
    sam::profile::enable(profile);
    auto dec = sambench::time_runs(click_runs, [&] { pred = model->predict(emb, prompt); });
    sam::profile::enable(false);
    sambench::print_json("decoder_click", dec, tag);
    if (profile) sambench::print_profile("decoder_click", click_runs);
    auto post = sambench::time_runs(click_runs, [&] { mask = sam::binary_mask(pred, pred.best()); });
    sambench::print_json("mask_postprocess_1080p", post);
    auto enc_rle = sambench::time_runs(click_runs, [&] { rle = sam::ls::encode_brush_rle(mask.data(), 1920, 1080); });
    sambench::print_json("brush_rle_1080p", enc_rle);
    auto streamed = sambench::time_runs(click_runs, [&] { rle = sam::ls::brush_rle_from_prediction(pred, pred.best()); });
    sambench::print_json("mask_to_rle_streamed_1080p", streamed);
    // What the server does per click: decoder, then upscaled rows straight into the RLE.
    auto click = sambench::time_runs(click_runs, [&] {
        pred = model->predict(emb, prompt);
        rle = sam::ls::brush_rle_from_prediction(pred, pred.best());
    });
    sambench::print_json("click_1080p", click, tag);

    // The same click on a 4000x3000 photo: the embedding's work is the same, only sizes differ.
    sam::ImageEmbedding big = emb;
    big.orig_w = 4000, big.orig_h = 3000, big.input_w = 1024, big.input_h = 768;
    sam::Prompt big_prompt = prompt;
    big_prompt.points[0] = {2291.5f, 1111.75f, 1};
    auto big_click = sambench::time_runs(click_runs, [&] {
        pred = model->predict(big, big_prompt);
        rle = sam::ls::brush_rle_from_prediction(pred, pred.best());
    });
    sambench::print_json("click_4000x3000", big_click, tag);
    auto big_streamed = sambench::time_runs(click_runs, [&] { rle = sam::ls::brush_rle_from_prediction(pred, pred.best()); });
    sambench::print_json("mask_to_rle_streamed_4000x3000", big_streamed);
    return 0;
}
