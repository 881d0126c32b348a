// Images that used to crash, fail or bloat the decoder: sizes whose product overflows, palette
// PNGs with transparency, images thousands of times longer than wide, and the memory a decode
// takes (checked from the header and reserved in a process-wide budget before allocating).
#include <gtest/gtest.h>

#include <webp/encode.h>
#include <zlib.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "io/decode_budget.hpp"
#include "io/image.hpp"
#include "io/image_resize.hpp"
#include "models/preprocess.hpp"
#include "support/image_files.hpp"

using sam::DecodeBudget;
using sam::DecodeLimits;
using sam::ImageError;
using sam::RgbImage;

namespace {

using Bytes = std::vector<uint8_t>;

std::string decode_error(const Bytes& bytes, const DecodeLimits& limits = {}) {
    try {
        sam::decode_image(bytes, limits);
    } catch (const ImageError& e) {
        return e.what();
    }
    return "";
}

#define EXPECT_HAS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

void put_be32(Bytes& b, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

Bytes png_header_only(uint32_t w, uint32_t h) {
    Bytes b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    put_be32(b, 13);
    const size_t type_at = b.size();
    for (char c : std::string("IHDR")) b.push_back(static_cast<uint8_t>(c));
    put_be32(b, w);
    put_be32(b, h);
    for (uint8_t v : {8, 2, 0, 0, 0}) b.push_back(v);
    put_be32(b, static_cast<uint32_t>(crc32(0, b.data() + type_at, 17)));
    return b;
}

using samtest::encode_png;

Bytes gray_png(int w, int h) {
    return encode_png(w, h, PNG_COLOR_TYPE_GRAY, 8, [w](int y, png_bytep r) {
        for (int x = 0; x < w; ++x) r[x] = static_cast<png_byte>((x * 7 + y * 13) & 0xff);
    });
}

// A JPEG of a fixed pattern, w x h, RGB or CMYK.
Bytes write_jpeg(int w, int h, samtest::JpegOptions o, int components = 3) {
    std::vector<uint8_t> px(size_t(w) * h * components);
    for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 5 + (i / (size_t(w) * components)) * 3);
    return samtest::encode_jpeg(px.data(), w, h, components, o);
}

// ---------------------------------------------------------------------------------------------

TEST(ImageHostile, SizeProductThatOverflowsIsRefused) {
    // 4294967295 x 4294967295: the product does not fit 64 bits (a signed overflow, UB, before).
    const std::string err = decode_error(png_header_only(0xFFFFFFFFu, 0xFFFFFFFFu));
    EXPECT_HAS(err, "image is 4294967295x4294967295");
    EXPECT_HAS(err, "MAX_IMAGE_PIXELS");
    DecodeLimits huge;
    huge.max_pixels = INT64_MAX;  // even with the limit off, the product is checked
    EXPECT_HAS(decode_error(png_header_only(0xFFFFFFFFu, 0xFFFFFFFFu), huge), "MAX_IMAGE_PIXELS");
}

TEST(ImageHostile, PalettePngWithTransparencyDecodesToItsColours) {
    const png_color palette[3] = {{200, 10, 20}, {30, 220, 40}, {50, 60, 230}};
    for (int depth : {8, 4, 2}) {
        const Bytes b = encode_png(
            5, 3, PNG_COLOR_TYPE_PALETTE, depth,
            [depth](int y, png_bytep r) {
                // Packed indices (x + y) % 3, most significant bits first.
                const int per_byte = 8 / depth;
                std::memset(r, 0, 8);
                for (int x = 0; x < 5; ++x)
                    r[x / per_byte] |= static_cast<png_byte>(((x + y) % 3) << (8 - depth * (x % per_byte + 1)));
            },
            [&](png_structp png, png_infop info) {
                png_set_PLTE(png, info, palette, 3);
                png_byte alpha[2] = {0, 128};  // entry 0 transparent, 1 half, 2 opaque
                png_set_tRNS(png, info, alpha, 2, nullptr);
            });
        const RgbImage img = sam::decode_image(b);
        ASSERT_EQ(img.width, 5);
        ASSERT_EQ(img.height, 3);
        for (int y = 0; y < 3; ++y)
            for (int x = 0; x < 5; ++x) {
                const png_color& want = palette[(x + y) % 3];
                const uint8_t* got = img.row(y) + x * 3;
                EXPECT_EQ(got[0], want.red) << depth << " " << x << "," << y;
                EXPECT_EQ(got[1], want.green);
                EXPECT_EQ(got[2], want.blue);
            }
    }
    // Gray and RGB with a tRNS colour key decode too, alpha dropped.
    const Bytes g = encode_png(4, 2, PNG_COLOR_TYPE_GRAY, 8, [](int, png_bytep r) { std::memset(r, 9, 4); },
                              [](png_structp png, png_infop info) {
                                  png_color_16 key{};
                                  key.gray = 9;
                                  png_set_tRNS(png, info, nullptr, 0, &key);
                              });
    const RgbImage gi = sam::decode_image(g);
    EXPECT_EQ(gi.pixels, std::vector<uint8_t>(4 * 2 * 3, 9));
}

TEST(ImageHostile, ImagesFarLongerThanWideResizeToOnePixel) {
    int w, h;
    sam::longest_side_size(1, 3000, 1024, w, h);
    EXPECT_EQ(w, 1);
    EXPECT_EQ(h, 1024);
    sam::longest_side_size(100000, 2, 1024, w, h);
    EXPECT_EQ(w, 1024);
    EXPECT_EQ(h, 1);
    // Through the preprocessing: the encoder input holds one column of image, the rest padding.
    RgbImage img;
    img.width = 1, img.height = 3000;
    img.pixels.assign(3000 * 3, 200);
    int in_w = 0, in_h = 0;
    const sam::Tensor t = sam::preprocess_image(img, &in_w, &in_h);
    EXPECT_EQ(in_w, 1);
    EXPECT_EQ(in_h, 1024);
    EXPECT_NEAR(t.data[0], (200 - 123.675f) / 58.395f, 1e-5);
    EXPECT_EQ(t.data[3], 0.0f);  // column 1: padding
}

int64_t rss_kb() {
    long pages = 0, resident = 0;
    std::ifstream("/proc/self/statm") >> pages >> resident;
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

TEST(ImageHostile, ExtremeAspectRatiosResizeWithoutHugeTables) {
    // 10 million pixels long (30 MB): a weight table for the long axis would take 80 MB more;
    // the weights are then computed where they are used, with the same values. Run in a child
    // process, whose peak memory tells.
    for (bool wide : {true, false}) {
        const int64_t before_kb = rss_kb();
        const pid_t pid = fork();
        if (pid == 0) {
            RgbImage img;
            img.width = wide ? 10'000'000 : 1;
            img.height = wide ? 1 : 10'000'000;
            img.pixels.resize(size_t(10'000'000) * 3);
            for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(77 + (i % 3));
            const RgbImage out = sam::resize_bilinear_antialias(img, wide ? 1024 : 1, wide ? 1 : 1024);
            bool ok = out.pixels.size() == 1024u * 3;
            for (size_t i = 0; ok && i < out.pixels.size(); ++i) ok = out.pixels[i] == 77 + (i % 3);
            _exit(ok ? 0 : 1);
        }
        int status = 0;
        rusage usage{};
        wait4(pid, &status, 0, &usage);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << (wide ? "wide" : "tall") << ": wrong pixels";
        EXPECT_LT(usage.ru_maxrss - before_kb, 30'000 + 40'000) << (wide ? "wide" : "tall") << ": peak grew by "
                                                                 << usage.ru_maxrss - before_kb << " KiB";
    }
}

TEST(ImageHostile, BudgetRefusesWhatCanNeverFit) {
    DecodeLimits limits;
    limits.budget = DecodeBudget::create(int64_t(64) << 20, std::chrono::milliseconds(10));
    // A 41-byte header declaring 10000 x 10000 RGB: 300 MB of pixels, refused before allocating.
    const std::string err = decode_error(png_header_only(10000, 10000), limits);
    EXPECT_HAS(err, "PNG image 10000x10000 needs 287 MiB to decode, more than the 64 MiB");
    EXPECT_HAS(err, "DECODE_BUDGET_MB");
    EXPECT_EQ(limits.budget->in_use(), 0);
}

TEST(ImageHostile, BudgetIsHeldWhileImagesLiveAndWaitsBounded) {
    const Bytes png = gray_png(1000, 1000);  // 3 MB decoded
    DecodeLimits limits;
    limits.budget = DecodeBudget::create(int64_t(5) << 20, std::chrono::milliseconds(200));
    {
        RgbImage first = sam::decode_image(png, limits);
        EXPECT_GE(limits.budget->in_use(), 3'000'000);
        RgbImage copy = first;  // copies share the reservation
        // A second one does not fit beside the first: refused after the bounded wait.
        const auto t0 = std::chrono::steady_clock::now();
        try {
            sam::decode_image(png, limits);
            FAIL() << "decoded beyond the budget";
        } catch (const sam::DecodeBusyError& e) {
            EXPECT_HAS(e.what(), "DECODE_BUDGET_MB");
        }
        EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(150));
    }
    EXPECT_EQ(limits.budget->in_use(), 0);

    // A decode that waits proceeds as soon as the image ahead of it is gone.
    limits.budget = DecodeBudget::create(int64_t(5) << 20, std::chrono::seconds(30));
    auto held = std::make_unique<RgbImage>(sam::decode_image(png, limits));
    std::atomic<bool> done{false};
    std::thread waiter([&] {
        RgbImage second = sam::decode_image(png, limits);
        done = second.width == 1000;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_FALSE(done);
    held.reset();
    waiter.join();
    EXPECT_TRUE(done);
    EXPECT_EQ(limits.budget->in_use(), 0);
}

TEST(ImageHostile, ReservationsCoverTheDecodersOwnBuffers) {
    auto reserved = [](const Bytes& b) {
        DecodeLimits limits;
        limits.budget = DecodeBudget::create(int64_t(1) << 30, std::chrono::milliseconds(10));
        RgbImage img = sam::decode_image(b, limits);
        return limits.budget->in_use() - int64_t(img.width) * img.height * 3;
    };
    // Progressive JPEG: libjpeg keeps every coefficient of the image (2 bytes x 64 per block).
    const int64_t baseline = reserved(write_jpeg(640, 480, {}));
    const int64_t progressive = reserved(write_jpeg(640, 480, {.progressive = true}));
    EXPECT_LT(baseline, 640 * 4 * 16 + 1);  // a batch of rows only
    EXPECT_GE(progressive, (640 / 8) * (480 / 8) * 128 * 1.5);  // 4:2:0: luma plus two quarter-size chroma
    // Lossless WebP decodes through a whole-image ARGB buffer.
    std::vector<uint8_t> rgb(300 * 200 * 3, 90);
    uint8_t* out = nullptr;
    size_t n = WebPEncodeLosslessRGB(rgb.data(), 300, 200, 900, &out);
    const Bytes webp(out, out + n);
    WebPFree(out);
    EXPECT_GE(reserved(webp), 300 * 200 * 4);
}

TEST(ImageHostile, JpegWithThousandsOfScansIsRefused) {
    // A progressive JPEG whose last scan (a refinement) is repeated 600 times: libjpeg only
    // warns about the bogus progression and would run every scan over the whole image.
    Bytes j = write_jpeg(64, 64, {.progressive = true});
    size_t last_sos = 0;
    for (size_t i = 0; i + 1 < j.size(); ++i)
        if (j[i] == 0xFF && j[i + 1] == 0xDA) last_sos = i;
    ASSERT_GT(last_sos, 0u);
    const Bytes scan(j.begin() + long(last_sos), j.end() - 2);  // up to the EOI marker
    Bytes many(j.begin(), j.end() - 2);
    for (int i = 0; i < 600; ++i) many.insert(many.end(), scan.begin(), scan.end());
    many.insert(many.end(), {0xFF, 0xD9});
    EXPECT_HAS(decode_error(many), "more than 500 scans");
    EXPECT_NO_THROW(sam::decode_image(j));
}

TEST(ImageHostile, CmykJpegConvertsRowByRow) {
    // PIL's CMYK (Adobe-inverted) to RGB, checked against libjpeg's raw CMYK output, upright and
    // with EXIF orientation 6 (written by hand into the file: APP1 right after SOI).
    const Bytes j = write_jpeg(6, 4, {}, 4);
    const std::vector<uint8_t> raw = samtest::decode_jpeg_raw_cmyk(j);
    auto rgb_at = [&](int x, int y, int ch) {
        const uint8_t* p = &raw[(y * 6 + x) * 4];
        const int nk = p[3], t = (255 - p[ch]) * nk + 128;
        return nk - (((t >> 8) + t) >> 8);
    };
    const RgbImage img = sam::decode_image(j);
    ASSERT_EQ(img.width, 6);
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 6; ++x)
            for (int ch = 0; ch < 3; ++ch) ASSERT_EQ(img.row(y)[x * 3 + ch], rgb_at(x, y, ch)) << x << "," << y;

    const uint8_t exif[] = {0xFF, 0xE1, 0, 34, 'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1,
                            0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0};
    Bytes rotated(j.begin(), j.begin() + 2);
    rotated.insert(rotated.end(), exif, exif + sizeof exif);
    rotated.insert(rotated.end(), j.begin() + 2, j.end());
    const RgbImage r = sam::decode_image(rotated);
    ASSERT_EQ(r.width, 4);
    ASSERT_EQ(r.height, 6);
    for (int y = 0; y < 6; ++y)
        for (int x = 0; x < 4; ++x)  // rotated clockwise: (x, y) shows source (y, H - 1 - x)
            for (int ch = 0; ch < 3; ++ch) ASSERT_EQ(r.row(y)[x * 3 + ch], rgb_at(y, 3 - x, ch)) << x << "," << y;
}

}  // namespace
