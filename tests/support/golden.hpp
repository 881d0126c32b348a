// Reading the reference data in ../shared/golden: paths, .npy/.npz arrays, PNG masks, JSON.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/segmenter.hpp"
#include "tensor/tensor.hpp"

namespace samtest {

// Absolute path of a file under the golden folder.
std::string golden(const std::string& relative);
bool golden_available();

// A float32 (or other numeric, float16 included, converted) .npy array.
sam::Tensor load_npy(const std::string& path);
sam::Tensor parse_npy(const uint8_t* data, size_t size, const std::string& what);
// Every array of an .npz (stored, uncompressed), by name without ".npy".
std::map<std::string, sam::Tensor> load_npz(const std::string& path);

struct GrayImage {
    int width = 0, height = 0;
    std::vector<uint8_t> pixels;  // one byte per pixel
};
// Any PNG, reduced to its first channel (masks are white on black).
GrayImage load_png_gray(const std::string& path);
// An RGB PNG (alpha dropped, gray expanded).
struct RgbPng {
    int width = 0, height = 0;
    std::vector<uint8_t> pixels;
};
RgbPng load_png_rgb(const std::string& path);

nlohmann::json load_json(const std::string& path);

// A golden case's prompt (points, labels, box in original pixels, multimask); the refinement's
// mask input is left to the caller.
sam::Prompt case_prompt(const nlohmann::json& c);
std::string read_file(const std::string& path);

// Summary statistics as the reference's case and layer files give them (torch.std is unbiased).
struct Stats {
    double mean = 0, std = 0, absmax = 0, l2 = 0;
};
Stats stats_of(const float* x, int64_t n);
// The reference's postprocess_masks written the plain way, in double: low-res logits [256, 256]
// to the original size, to tell how far from 0 each full-size pixel's logit is.
std::vector<double> full_logits(const float* lowres, int input_h, int input_w, int orig_h, int orig_w);

// A golden case folder's reference embedding (embedding.npy) with the sizes of its case.json.
sam::ImageEmbedding golden_embedding(const std::string& dir, const nlohmann::json& info);
// One prompt case of a case.json; `mask_input_from` becomes the named case's best reference
// low-res logits (read from dir).
sam::Prompt golden_prompt(const std::string& dir, const nlohmann::json& info, const nlohmann::json& c);
// The encoder input from a reference resized.png: SAM's pixel normalisation, zero-padded at the
// bottom and right to 1024x1024, channels-last.
sam::Tensor sam_input_from_png(const std::string& path);

struct DiffStats {
    double max_abs = 0, mean_abs = 0;
};
DiffStats diff(const float* a, const float* b, int64_t n);

}  // namespace samtest
