// Mask post-processing: reference low-res logits through binary_mask must give the reference
// masks, and hand-built inputs check the resize arithmetic and the error paths.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "labelstudio/brush_rle.hpp"
#include "models/mask_postprocess.hpp"
#include "support/golden.hpp"

namespace {

using samtest::golden;

// The reference's postprocess_masks written the plain way (full 1024x1024 float image, crop,
// second resize), in double, to tell how close to 0 a pixel's logit is.
struct Taps {
    int i0, i1;
    double w0, w1;
};
Taps taps(int in, int out, int j) {
    double src = static_cast<double>(in) / out * (j + 0.5) - 0.5;
    if (src < 0) src = 0;
    int i0 = static_cast<int>(src);
    int i1 = i0 + (i0 < in - 1 ? 1 : 0);
    double w1 = src - i0;
    return {i0, i1, 1 - w1, w1};
}
std::vector<double> naive_logits(const float* lowres, int input_h, int input_w, int orig_h, int orig_w) {
    std::vector<double> frame(1024 * 1024);
    for (int y = 0; y < 1024; ++y) {
        Taps ty = taps(256, 1024, y);
        for (int x = 0; x < 1024; ++x) {
            Taps tx = taps(256, 1024, x);
            auto at = [&](int r, int c) { return static_cast<double>(lowres[r * 256 + c]); };
            frame[y * 1024 + x] = (at(ty.i0, tx.i0) * tx.w0 + at(ty.i0, tx.i1) * tx.w1) * ty.w0 +
                                  (at(ty.i1, tx.i0) * tx.w0 + at(ty.i1, tx.i1) * tx.w1) * ty.w1;
        }
    }
    std::vector<double> out(static_cast<size_t>(orig_h) * orig_w);
    for (int y = 0; y < orig_h; ++y) {
        Taps ty = taps(input_h, orig_h, y);
        for (int x = 0; x < orig_w; ++x) {
            Taps tx = taps(input_w, orig_w, x);
            auto at = [&](int r, int c) { return frame[r * 1024 + c]; };
            out[static_cast<size_t>(y) * orig_w + x] = (at(ty.i0, tx.i0) * tx.w0 + at(ty.i0, tx.i1) * tx.w1) * ty.w0 +
                                                       (at(ty.i1, tx.i0) * tx.w0 + at(ty.i1, tx.i1) * tx.w1) * ty.w1;
        }
    }
    return out;
}

sam::Prediction prediction_for(const sam::Tensor& lowres, const nlohmann::json& info) {
    sam::Prediction p;
    p.lowres = lowres;
    p.orig_h = info["original_size_hw"][0];
    p.orig_w = info["original_size_hw"][1];
    p.input_h = info["input_size_hw"][0];
    p.input_w = info["input_size_hw"][1];
    return p;
}

TEST(MaskPostprocess, ReferenceLowresGivesReferenceMasks) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    int64_t total_pixels = 0, total_mismatches = 0;
    double worst_mismatch_logit = 0;
    for (const char* model : {"mobile_sam", "sam_vit_mini"}) {
        for (const char* image : {"photo", "exif_rotated", "gray_wide", "rgba_odd", "tiny"}) {
            const std::string dir = golden(std::string("cases/") + model + "/" + image + "/");
            const nlohmann::json info = samtest::load_json(dir + "case.json");
            for (const auto& c : info["cases"]) {
                const sam::Tensor lowres = samtest::load_npy(dir + c["lowres_file"].get<std::string>());
                const sam::Prediction p = prediction_for(lowres, info);
                ASSERT_EQ(lowres.dim(0), static_cast<int64_t>(c["mask_files"].size()));
                for (size_t m = 0; m < c["mask_files"].size(); ++m) {
                    const std::string what = dir + c["mask_files"][m].get<std::string>();
                    const samtest::GrayImage ref = samtest::load_png_gray(what);
                    ASSERT_EQ(ref.width, p.orig_w) << what;
                    ASSERT_EQ(ref.height, p.orig_h) << what;
                    const std::vector<uint8_t> mask = sam::binary_mask(p, static_cast<int>(m));
                    ASSERT_EQ(mask.size(), ref.pixels.size()) << what;
                    int64_t mismatches = 0, area = 0;
                    std::vector<double> logits;
                    for (size_t i = 0; i < mask.size(); ++i) {
                        area += mask[i];
                        if (mask[i] == (ref.pixels[i] > 127)) continue;
                        if (logits.empty())
                            logits = naive_logits(lowres.data + m * 256 * 256, p.input_h, p.input_w, p.orig_h,
                                                  p.orig_w);
                        // A mismatch is only acceptable on a pixel whose logit is float noise away from 0.
                        EXPECT_LT(std::fabs(logits[i]), 1e-5) << what << " pixel " << i;
                        worst_mismatch_logit = std::max(worst_mismatch_logit, std::fabs(logits[i]));
                        ++mismatches;
                    }
                    // The reference area differs from ours by at most the mismatching pixels.
                    EXPECT_LE(std::llabs(area - c["mask_area"][m].get<int64_t>()), mismatches) << what;
                    total_mismatches += mismatches;
                    total_pixels += static_cast<int64_t>(mask.size());
                }
            }
        }
    }
    std::printf("upscaling: %lld mismatching pixels of %lld (worst |logit| %.3g)\n",
                static_cast<long long>(total_mismatches), static_cast<long long>(total_pixels), worst_mismatch_logit);
    // Measured: 7 pixels (two spots of sam_vit_mini, |logit| <= 1.4e-6) of 19.7 million.
    EXPECT_LE(total_mismatches, 10);
}

// Linear ramps stay linear under bilinear resizing, so where they cross 0 can be computed by hand.
TEST(MaskPostprocess, HandComputedSigns) {
    // A [1,256,256] ramp: logit = column - 127.5 (negative left half, positive right half).
    sam::Tensor lowres = sam::Tensor::empty({1, 256, 256});
    for (int r = 0; r < 256; ++r)
        for (int c = 0; c < 256; ++c) lowres.data[r * 256 + c] = static_cast<float>(c) - 127.5f;
    sam::Prediction p;
    p.lowres = lowres;
    p.input_w = 1024;
    p.input_h = 512;
    p.orig_w = 8;
    p.orig_h = 4;
    const std::vector<uint8_t> mask = sam::binary_mask(p, 0);
    ASSERT_EQ(mask.size(), 32u);
    // Output column x samples the 1024 frame near 128 * x + 63.5: the ramp crosses 0 at frame
    // column 511.5, so columns 0..3 are negative and 4..7 positive, on every row.
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 8; ++x) EXPECT_EQ(mask[y * 8 + x], x >= 4 ? 1 : 0) << "y " << y << " x " << x;

    // A row ramp crossing 0 at frame row 127.5, cropped to input_h 256: output row y samples frame
    // row 64 * y + 31.5, so rows 0 and 1 are positive, 2 and 3 negative.
    for (int r = 0; r < 256; ++r)
        for (int c = 0; c < 256; ++c) lowres.data[r * 256 + c] = 31.5f - static_cast<float>(r);
    p.input_h = 256;
    const std::vector<uint8_t> rows = sam::binary_mask(p, 0);
    for (int x = 0; x < 8; ++x) {
        EXPECT_EQ(rows[0 * 8 + x], 1);
        EXPECT_EQ(rows[1 * 8 + x], 1);
        EXPECT_EQ(rows[2 * 8 + x], 0);
        EXPECT_EQ(rows[3 * 8 + x], 0);
    }
}

TEST(MaskPostprocess, FullLogitsAreThresholded) {
    sam::Prediction p;
    p.orig_w = 3;
    p.orig_h = 2;
    p.input_w = 1024;
    p.input_h = 683;
    p.full = sam::Tensor::empty({2, 2, 3});
    const float values[12] = {-1, 0, 1e-7f, 2, -3, 0.5f, 1, 1, -1, -1, 0, 4};
    std::copy(values, values + 12, p.full.data);
    EXPECT_EQ(sam::binary_mask(p, 0), (std::vector<uint8_t>{0, 0, 1, 1, 0, 1}));
    EXPECT_EQ(sam::binary_mask(p, 1), (std::vector<uint8_t>{1, 1, 0, 0, 0, 1}));
}

// The streamed rows must be the whole mask's rows, and the RLE straight from the prediction
// the bytes of encoding the whole mask.
void expect_streaming_equals_whole(const sam::Prediction& p, int index, const std::string& what) {
    const std::vector<uint8_t> mask = sam::binary_mask(p, index);
    ASSERT_EQ(mask.size(), static_cast<size_t>(p.orig_w) * p.orig_h) << what;
    int rows = 0;
    bool same = true;
    sam::for_each_mask_row(p, index, [&](const uint8_t* row) {
        same = same && std::equal(row, row + p.orig_w, mask.begin() + static_cast<size_t>(rows) * p.orig_w);
        ++rows;
    });
    EXPECT_EQ(rows, p.orig_h) << what;
    EXPECT_TRUE(same) << what;
    EXPECT_EQ(sam::ls::brush_rle_from_prediction(p, index), sam::ls::encode_brush_rle(mask.data(), p.orig_w, p.orig_h))
        << what;
}

TEST(MaskPostprocess, StreamedRleEqualsWholeMaskOnGoldenCases) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    for (const char* image : {"photo", "exif_rotated", "gray_wide", "rgba_odd", "tiny"}) {
        const std::string dir = golden(std::string("cases/mobile_sam/") + image + "/");
        const nlohmann::json info = samtest::load_json(dir + "case.json");
        for (const auto& c : info["cases"]) {
            const sam::Prediction p =
                prediction_for(samtest::load_npy(dir + c["lowres_file"].get<std::string>()), info);
            for (int m = 0; m < p.lowres.dim(0); ++m)
                expect_streaming_equals_whole(p, m, dir + c["name"].get<std::string>() + " mask " + std::to_string(m));
        }
    }
}

// Random logits (smooth blobs plus speckle, so both long runs and runs of one pixel) at sizes
// that upscale, downscale, and cross 65536-value runs; and full-size logits (ONNX path).
TEST(MaskPostprocess, StreamedRleEqualsWholeMaskOnRandomLogits) {
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    const int sizes[][2] = {{4000, 3000}, {1920, 1080}, {769, 770}, {17, 9}, {1, 1}, {333, 517}, {3000, 1}};
    for (const auto& s : sizes) {
        sam::Prediction p;
        p.orig_w = s[0], p.orig_h = s[1];
        const int long_side = std::max(p.orig_w, p.orig_h);
        p.input_w = std::max(1, static_cast<int>(p.orig_w * 1024.0 / long_side + 0.5));
        p.input_h = std::max(1, static_cast<int>(p.orig_h * 1024.0 / long_side + 0.5));
        p.lowres = sam::Tensor::empty({2, 256, 256});
        const float fx = u(rng) * 0.1f, fy = u(rng) * 0.1f;
        for (int m = 0; m < 2; ++m)
            for (int r = 0; r < 256; ++r)
                for (int c = 0; c < 256; ++c)
                    p.lowres.data[(m * 256 + r) * 256 + c] =
                        std::sin(fx * c * (m + 1)) + std::cos(fy * r) - 0.3f + (rng() % 7 == 0 ? u(rng) : 0.0f);
        for (int m = 0; m < 2; ++m)
            expect_streaming_equals_whole(p, m, std::to_string(s[0]) + "x" + std::to_string(s[1]) + " mask " +
                                                    std::to_string(m));
    }
    sam::Prediction full;
    full.orig_w = 37, full.orig_h = 11, full.input_w = 1024, full.input_h = 304;
    full.full = sam::Tensor::empty({1, 11, 37});
    for (int64_t i = 0; i < full.full.numel(); ++i) full.full.data[i] = u(rng);
    expect_streaming_equals_whole(full, 0, "full logits");
}

TEST(MaskPostprocess, BadInputsThrow) {
    sam::Prediction p;
    p.lowres = sam::Tensor::zeros({1, 256, 256});
    p.orig_w = 10;
    p.orig_h = 10;
    p.input_w = 1024;
    p.input_h = 1024;
    EXPECT_THROW(sam::binary_mask(p, 1), std::out_of_range);
    EXPECT_THROW(sam::binary_mask(p, -1), std::out_of_range);
    p.input_w = 1025;
    EXPECT_THROW(sam::binary_mask(p, 0), std::invalid_argument);
    p.input_w = 1024;
    p.orig_h = 0;
    EXPECT_THROW(sam::binary_mask(p, 0), std::invalid_argument);
    p.orig_h = 10;
    p.lowres = sam::Tensor::zeros({256, 256});
    EXPECT_THROW(sam::binary_mask(p, 0), std::invalid_argument);
    EXPECT_THROW(sam::ls::brush_rle_from_prediction(p, 0), std::invalid_argument);
    p.lowres = sam::Tensor();
    p.full = sam::Tensor::zeros({1, 10, 9});
    EXPECT_THROW(sam::binary_mask(p, 0), std::invalid_argument);
    EXPECT_THROW(sam::ls::brush_rle_from_prediction(p, 0), std::invalid_argument);
    p.full = sam::Tensor::zeros({1, 10, 10});
    EXPECT_THROW(sam::ls::brush_rle_from_prediction(p, 1), std::out_of_range);
}

}  // namespace

// The post-processing skips output pixels whose low-res inputs are all negative. It must not
// change a single pixel: compared with the plain computation (every pixel, the same float
// operations in the same order) on logits that are negative but for a few islands, exact zeros,
// a NaN, and a positive value in a corner, for the SAM and the SAM 2 (square_resize) resizes.
template <typename Coord>
std::vector<std::array<double, 2>> plain_lerps(int in, int out, int count, std::vector<int>& i0, std::vector<int>& i1) {
    std::vector<std::array<double, 2>> w(count);
    i0.resize(count);
    i1.resize(count);
    const Coord scale = static_cast<Coord>(in) / static_cast<Coord>(out);
    for (int j = 0; j < count; ++j) {
        if (in == out) {
            i0[j] = i1[j] = j;
            w[j] = {1, 0};
            continue;
        }
        Coord src = scale * (static_cast<Coord>(j) + Coord(0.5)) - Coord(0.5);
        if (src < 0) src = 0;
        i0[j] = static_cast<int>(src);
        i1[j] = i0[j] + (i0[j] < in - 1 ? 1 : 0);
        const float w1 = static_cast<float>(std::clamp(src - static_cast<Coord>(i0[j]), Coord(0), Coord(1)));
        w[j] = {1.0f - w1, w1};
    }
    return w;
}

// out(y, x) = A(y0, x) w0 + A(y1, x) w1 > 0 with A(r, x) = F(r, c0) v0 + F(r, c1) v1, F the
// (first) resized image; for SAM, F(r, c) = H(a0, c) u0 + H(a1, c) u1 and H the horizontal pass.
template <typename Coord>
std::vector<uint8_t> plain_mask(const sam::Prediction& p, int index) {
    const float* L = p.lowres.data + static_cast<size_t>(index) * 256 * 256;
    const bool direct = p.square_resize;
    const int fw = direct ? 256 : p.input_w, fh = direct ? 256 : p.input_h;  // F's size
    std::vector<float> F(static_cast<size_t>(fw) * fh);
    if (direct) {
        std::copy(L, L + F.size(), F.begin());
    } else {
        std::vector<int> c0, c1, r0, r1;
        const auto cw = plain_lerps<Coord>(256, 1024, fw, c0, c1);
        const auto rw = plain_lerps<Coord>(256, 1024, fh, r0, r1);
        for (int r = 0; r < fh; ++r)
            for (int c = 0; c < fw; ++c) {
                auto H = [&](int a) {
                    return L[a * 256 + c0[c]] * static_cast<float>(cw[c][0]) + L[a * 256 + c1[c]] * static_cast<float>(cw[c][1]);
                };
                F[static_cast<size_t>(r) * fw + c] = H(r0[r]) * static_cast<float>(rw[r][0]) + H(r1[r]) * static_cast<float>(rw[r][1]);
            }
    }
    std::vector<int> x0, x1, y0, y1;
    const auto xw = plain_lerps<Coord>(fw, p.orig_w, p.orig_w, x0, x1);
    const auto yw = plain_lerps<Coord>(fh, p.orig_h, p.orig_h, y0, y1);
    std::vector<uint8_t> out(static_cast<size_t>(p.orig_w) * p.orig_h);
    for (int y = 0; y < p.orig_h; ++y)
        for (int x = 0; x < p.orig_w; ++x) {
            auto A = [&](int r) {
                const float* f = F.data() + static_cast<size_t>(r) * fw;
                return f[x0[x]] * static_cast<float>(xw[x][0]) + f[x1[x]] * static_cast<float>(xw[x][1]);
            };
            out[static_cast<size_t>(y) * p.orig_w + x] =
                (A(y0[y]) * static_cast<float>(yw[y][0]) + A(y1[y]) * static_cast<float>(yw[y][1])) > 0.0f;
        }
    return out;
}

TEST(MaskPostprocess, SkippingNegativeRegionsChangesNoPixel) {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    sam::Tensor lowres = sam::Tensor::empty({2, 256, 256});
    for (int64_t i = 0; i < lowres.numel(); ++i) lowres.data[i] = -0.01f - u(rng);
    float* m0 = lowres.data;
    for (int island = 0; island < 3; ++island) {  // mask 0: three blobs
        const int cy = 30 + 80 * island, cx = 200 - 70 * island;
        for (int r = cy - 6; r <= cy + 6; ++r)
            for (int c = cx - 9; c <= cx + 9; ++c) m0[r * 256 + c] = 4.0f - 0.05f * float((r - cy) * (r - cy) + (c - cx) * (c - cx));
    }
    m0[100 * 256 + 20] = 0.0f;
    m0[101 * 256 + 21] = -0.0f;
    m0[150 * 256 + 240] = std::nanf("");
    float* m1 = lowres.data + 256 * 256;  // mask 1: one positive logit in the corner every crop keeps
    m1[0] = 0.5f;
    const int sizes[][2] = {{1920, 1080}, {333, 517}, {4000, 3000}, {200, 50}};
    for (const bool square : {false, true})
        for (const auto& s : sizes) {
            sam::Prediction p;
            p.lowres = lowres;
            p.orig_w = s[0], p.orig_h = s[1];
            const int long_side = std::max(p.orig_w, p.orig_h);
            p.input_w = std::max(1, static_cast<int>(p.orig_w * 1024.0 / long_side + 0.5));
            p.input_h = std::max(1, static_cast<int>(p.orig_h * 1024.0 / long_side + 0.5));
            p.square_resize = square;
            for (int m = 0; m < 2; ++m) {
                const std::vector<uint8_t> want = square ? plain_mask<double>(p, m) : plain_mask<float>(p, m);
                const std::vector<uint8_t> got = sam::binary_mask(p, m);
                const std::string what = std::to_string(s[0]) + "x" + std::to_string(s[1]) + (square ? " square" : "") +
                                         " mask " + std::to_string(m);
                if (m == 0) EXPECT_GT(std::count(want.begin(), want.end(), uint8_t(1)), 0) << what;
                EXPECT_TRUE(got == want) << what << ": " << std::count(got.begin(), got.end(), uint8_t(1)) << " set, want "
                                         << std::count(want.begin(), want.end(), uint8_t(1));
            }
        }
}
