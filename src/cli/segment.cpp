// `sam-ml-backend segment`: try a checkpoint on one image without Label Studio.
// Writes the best mask as a PNG (white = inside) and prints the IoU predictions as JSON.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "io/image.hpp"
#include "io/png_writer.hpp"
#include "models/mask_postprocess.hpp"
#include "models/model_loader.hpp"

namespace {

std::vector<float> parse_numbers(const std::string& text, const std::string& what) {
    std::vector<float> v;
    std::stringstream ss(text);
    std::string tok;
    while (std::getline(ss, tok, ',')) {
        size_t used = 0;
        try {
            v.push_back(std::stof(tok, &used));
        } catch (const std::exception&) {
            used = 0;
        }
        if (used == 0 || used != tok.size()) throw CLI::ValidationError(what, "'" + text + "' is not a list of numbers");
    }
    return v;
}

}  // namespace

int segment_main(int argc, char** argv) {
    CLI::App app{"Segment one image with a SAM checkpoint and write the mask as a PNG.", "sam-ml-backend segment"};
    std::string checkpoint, onnx, image_path, out;
    std::vector<std::string> points;
    std::string box, precision = "fp32";
    bool multimask = false;
    app.add_option("--checkpoint", checkpoint, "MobileSAM, SAM ViT or SAM 2 checkpoint (.pt / .pth)")->required();
    app.add_option("--onnx", onnx, "ONNX decoder export to use instead of the checkpoint's decoder");
    app.add_option("--image", image_path, "image file (JPEG, PNG, WebP, BMP)")->required();
    app.add_option("--point", points, "X,Y[,1|0]: a point in image pixels, positive (1, default) or negative (0)");
    app.add_option("--box", box, "X0,Y0,X1,Y1: a box in image pixels");
    app.add_flag("--multimask", multimask, "predict three masks and keep the one with the highest IoU");
    app.add_option("--precision", precision, "fp32 (default) or bf16: the image encoder's products");
    app.add_option("--out", out, "mask PNG to write")->required();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }

    try {
        sam::Prompt prompt;
        prompt.multimask = multimask;
        for (const std::string& p : points) {
            std::vector<float> v = parse_numbers(p, "--point");
            if (v.size() != 2 && v.size() != 3) throw CLI::ValidationError("--point", "'" + p + "' is not X,Y[,1|0]");
            if (v.size() == 3 && v[2] != 0 && v[2] != 1) throw CLI::ValidationError("--point", "label must be 1 or 0");
            prompt.points.push_back({v[0], v[1], v.size() == 3 ? int(v[2]) : 1});
        }
        if (!box.empty()) {
            std::vector<float> v = parse_numbers(box, "--box");
            if (v.size() != 4) throw CLI::ValidationError("--box", "'" + box + "' is not X0,Y0,X1,Y1");
            prompt.box = sam::PromptBox{v[0], v[1], v[2], v[3]};
        }
        if (prompt.points.empty() && !prompt.box) throw CLI::ValidationError("--point/--box", "give at least one");

        for (const std::string* f : {&checkpoint, &image_path, &onnx})
            if (!f->empty() && !std::filesystem::is_regular_file(*f))
                throw std::runtime_error("no such file: '" + *f + "'");

        sam::ModelChoice choice;
        choice.sam_choice = onnx.empty() ? "SAM" : "ONNX";
        choice.vith_checkpoint = checkpoint;
        choice.onnx_checkpoint = onnx;
        choice.precision = sam::parse_precision(precision);
        auto model = sam::load_segmenter(choice);
        const sam::RgbImage image = sam::read_image_file(image_path);
        const sam::Prediction pred = model->predict(model->embed(image), prompt);
        const int best = pred.best();
        const std::vector<uint8_t> mask = sam::binary_mask(pred, best, 255);
        const int64_t area = std::count(mask.begin(), mask.end(), uint8_t{255});
        sam::write_png_gray(out, image.width, image.height, mask.data());
        std::printf("{\"model\": \"%s\", \"iou\": [", model->description().c_str());
        for (size_t i = 0; i < pred.iou.size(); ++i) std::printf("%s%.6f", i ? ", " : "", pred.iou[i]);
        std::printf("], \"best\": %d, \"area\": %lld, \"width\": %d, \"height\": %d, \"out\": \"%s\"}\n", best,
                    static_cast<long long>(area), image.width, image.height, out.c_str());
        return 0;
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sam-ml-backend segment: %s\n", e.what());
        return 1;
    }
}
