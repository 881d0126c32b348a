// Image decoding (JPEG/PNG/WebP/BMP, EXIF orientation, limits, errors), PIL-compatible resize
// against the golden resized.png files, and PNG writing.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>

#include <png.h>
#include <webp/encode.h>
#include <zlib.h>

#include "io/image.hpp"
#include "io/image_resize.hpp"
#include "io/png_writer.hpp"
#include "support/golden.hpp"
#include "support/image_files.hpp"

using sam::DecodeLimits;
using sam::ImageError;
using sam::RgbImage;

namespace {

std::vector<uint8_t> file_bytes(const std::string& path) {
    const std::string s = samtest::read_file(path);
    return {s.begin(), s.end()};
}

// The ImageError message of decoding `bytes`; fails the test when nothing is thrown.
std::string decode_error(const std::vector<uint8_t>& bytes, const DecodeLimits& limits = {}) {
    try {
        sam::decode_image(bytes, limits);
    } catch (const ImageError& e) {
        return e.what();
    }
    ADD_FAILURE() << "no ImageError for " << bytes.size() << " bytes";
    return "";
}

std::vector<uint8_t> prefix(const std::vector<uint8_t>& b, size_t n) { return {b.begin(), b.begin() + n}; }

void put_be32(std::vector<uint8_t>& b, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

// A PNG made of the signature and an IHDR chunk (valid CRC) only.
std::vector<uint8_t> png_header_only(uint32_t w, uint32_t h) {
    std::vector<uint8_t> b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    put_be32(b, 13);
    const size_t type_at = b.size();
    for (char c : std::string("IHDR")) b.push_back(static_cast<uint8_t>(c));
    put_be32(b, w);
    put_be32(b, h);
    for (uint8_t v : {8, 2, 0, 0, 0}) b.push_back(v);  // 8-bit RGB
    put_be32(b, static_cast<uint32_t>(crc32(0, b.data() + type_at, 17)));
    return b;
}

RgbImage random_rgb(int w, int h, unsigned seed) {
    RgbImage img;
    img.width = w;
    img.height = h;
    img.pixels.resize(static_cast<size_t>(w) * h * 3);
    std::mt19937 rng(seed);
    for (auto& v : img.pixels) v = static_cast<uint8_t>(rng());
    return img;
}

std::vector<uint8_t> encode_webp(const RgbImage& img) {
    uint8_t* out = nullptr;
    const size_t n = WebPEncodeRGB(img.pixels.data(), img.width, img.height, img.width * 3, 90.f, &out);
    std::vector<uint8_t> v(out, out + n);
    WebPFree(out);
    return v;
}

// JPEGs made with libjpeg, optionally with an APP1 EXIF orientation tag, and libjpeg's own
// decoding of the stored pixels.
std::vector<uint8_t> encode_jpeg(const RgbImage& img, int orientation) {
    return samtest::encode_jpeg(img, {.orientation = orientation});
}
using samtest::decode_jpeg_raw;

// Simple geometric operations to compose the eight EXIF orientations from.
RgbImage remap(const RgbImage& s, int w, int h, const std::function<std::pair<int, int>(int, int)>& src_of) {
    RgbImage o;
    o.width = w;
    o.height = h;
    o.pixels.resize(static_cast<size_t>(w) * h * 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            auto [sx, sy] = src_of(x, y);
            std::memcpy(&o.pixels[(static_cast<size_t>(y) * w + x) * 3], s.row(sy) + sx * 3, 3);
        }
    return o;
}
RgbImage mirror(const RgbImage& s) {
    return remap(s, s.width, s.height, [&](int x, int y) { return std::pair{s.width - 1 - x, y}; });
}
RgbImage rotate_cw(const RgbImage& s) {  // 90 degrees clockwise
    return remap(s, s.height, s.width, [&](int x, int y) { return std::pair{y, s.height - 1 - x}; });
}

// Orientation tag -> what a viewer shows (EXIF 2.3, table "Orientation").
RgbImage oriented(const RgbImage& s, int o) {
    switch (o) {
        case 2: return mirror(s);
        case 3: return rotate_cw(rotate_cw(s));
        case 4: return mirror(rotate_cw(rotate_cw(s)));
        case 5: return mirror(rotate_cw(s));
        case 6: return rotate_cw(s);
        case 7: return mirror(rotate_cw(rotate_cw(rotate_cw(s))));
        case 8: return rotate_cw(rotate_cw(rotate_cw(s)));
        default: return s;
    }
}

}  // namespace

TEST(ImageDecode, GoldenImageSizes) {
    ASSERT_TRUE(samtest::golden_available());
    const struct { const char* name; int w, h; } cases[] = {
        {"photo.jpg", 769, 770}, {"exif_rotated.jpg", 480, 640}, {"rgba_odd.png", 333, 517},
        {"gray_wide.png", 800, 200}, {"tiny.png", 17, 9}};
    for (const auto& c : cases) {
        const RgbImage img = sam::read_image_file(samtest::golden(std::string("images/") + c.name));
        EXPECT_EQ(img.width, c.w) << c.name;
        EXPECT_EQ(img.height, c.h) << c.name;
        EXPECT_EQ(img.pixels.size(), static_cast<size_t>(c.w) * c.h * 3) << c.name;
    }
}

TEST(ImageDecode, ExifOrientation6IsRotatedClockwise) {
    const auto bytes = file_bytes(samtest::golden("images/exif_rotated.jpg"));
    const RgbImage stored = decode_jpeg_raw(bytes);
    ASSERT_EQ(stored.width, 640);
    ASSERT_EQ(stored.height, 480);
    const RgbImage img = sam::decode_image(bytes);
    const RgbImage expected = rotate_cw(stored);
    ASSERT_EQ(img.width, 480);
    ASSERT_EQ(img.height, 640);
    EXPECT_TRUE(img.pixels == expected.pixels);
}

TEST(ImageDecode, AllExifOrientations) {
    const RgbImage src = random_rgb(24, 16, 7);
    const RgbImage plain = sam::decode_image(encode_jpeg(src, 0));
    ASSERT_EQ(plain.width, 24);
    for (int o = 1; o <= 8; ++o) {
        const RgbImage img = sam::decode_image(encode_jpeg(src, o));
        const RgbImage expected = oriented(plain, o);
        ASSERT_EQ(img.width, expected.width) << "orientation " << o;
        ASSERT_EQ(img.height, expected.height) << "orientation " << o;
        EXPECT_TRUE(img.pixels == expected.pixels) << "orientation " << o;
    }
}

TEST(ImageDecode, JpegMatchesLibjpegDefaults) {
    const auto bytes = file_bytes(samtest::golden("images/photo.jpg"));
    EXPECT_TRUE(sam::decode_image(bytes).pixels == decode_jpeg_raw(bytes).pixels);
}

TEST(ImageDecode, GrayExpandsToRgb) {
    const RgbImage img = sam::read_image_file(samtest::golden("images/gray_wide.png"));
    const samtest::GrayImage gray = samtest::load_png_gray(samtest::golden("images/gray_wide.png"));
    ASSERT_EQ(gray.pixels.size() * 3, img.pixels.size());
    int distinct = 0;
    for (size_t i = 0; i < gray.pixels.size(); ++i) {
        ASSERT_EQ(img.pixels[i * 3 + 0], gray.pixels[i]) << "pixel " << i;
        ASSERT_EQ(img.pixels[i * 3 + 1], gray.pixels[i]) << "pixel " << i;
        ASSERT_EQ(img.pixels[i * 3 + 2], gray.pixels[i]) << "pixel " << i;
        distinct += i > 0 && gray.pixels[i] != gray.pixels[i - 1];
    }
    EXPECT_GT(distinct, 100);  // a real gray image, not a flat one
}

TEST(ImageDecode, RgbaDropsAlphaWithoutCompositing) {
    // Colours under zero and partial alpha must come out unchanged.
    const uint8_t rgba[] = {10, 20, 30, 0, 200, 100, 50, 128, 255, 0, 7, 255, 1, 2, 3, 0};
    png_image image;
    std::memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = 2;
    image.height = 2;
    image.format = PNG_FORMAT_RGBA;
    png_alloc_size_t size = 0;
    ASSERT_TRUE(png_image_write_get_memory_size(image, size, 0, rgba, 0, nullptr));
    std::vector<uint8_t> png(size);
    ASSERT_TRUE(png_image_write_to_memory(&image, png.data(), &size, 0, rgba, 0, nullptr));
    png.resize(size);
    const RgbImage img = sam::decode_image(png);
    ASSERT_EQ(img.width, 2);
    ASSERT_EQ(img.height, 2);
    const std::vector<uint8_t> expected = {10, 20, 30, 200, 100, 50, 255, 0, 7, 1, 2, 3};
    EXPECT_EQ(img.pixels, expected);

    // The golden RGBA image: its colour channels as stored, whatever the alpha.
    const std::string path = samtest::golden("images/rgba_odd.png");
    png_image raw;
    std::memset(&raw, 0, sizeof raw);
    raw.version = PNG_IMAGE_VERSION;
    ASSERT_TRUE(png_image_begin_read_from_file(&raw, path.c_str()));
    raw.format = PNG_FORMAT_RGBA;
    std::vector<uint8_t> stored(PNG_IMAGE_SIZE(raw));
    ASSERT_TRUE(png_image_finish_read(&raw, nullptr, stored.data(), 0, nullptr));
    const RgbImage odd = sam::read_image_file(path);
    ASSERT_EQ(stored.size() / 4 * 3, odd.pixels.size());
    size_t translucent = 0;
    for (size_t i = 0; i < stored.size() / 4; ++i) {
        translucent += stored[i * 4 + 3] < 255;
        for (int c = 0; c < 3; ++c) ASSERT_EQ(odd.pixels[i * 3 + c], stored[i * 4 + c]) << "pixel " << i;
    }
    EXPECT_GT(translucent, 1000u);
}

TEST(ImageDecode, WebpLossless) {
    const RgbImage src = random_rgb(31, 17, 3);
    uint8_t* out = nullptr;
    const size_t n = WebPEncodeLosslessRGB(src.pixels.data(), src.width, src.height, src.width * 3, &out);
    std::vector<uint8_t> bytes(out, out + n);
    WebPFree(out);
    const RgbImage img = sam::decode_image(bytes);
    ASSERT_EQ(img.width, 31);
    ASSERT_EQ(img.height, 17);
    EXPECT_TRUE(img.pixels == src.pixels);
}

TEST(ImageDecode, Bmp24And8Bit) {
    // 3x2, 24-bit bottom-up rows of BGR padded to 4 bytes.
    auto header = [](int w, int h, int bpp, uint32_t offset, uint32_t colors) {
        std::vector<uint8_t> b(offset, 0);
        auto le32 = [&](size_t at, uint32_t v) { for (int i = 0; i < 4; ++i) b[at + i] = uint8_t(v >> (8 * i)); };
        b[0] = 'B';
        b[1] = 'M';
        le32(10, offset);
        le32(14, 40);
        le32(18, static_cast<uint32_t>(w));
        le32(22, static_cast<uint32_t>(h));
        b[26] = 1;
        b[28] = static_cast<uint8_t>(bpp);
        le32(46, colors);
        return b;
    };
    std::vector<uint8_t> b24 = header(3, 2, 24, 54, 0);
    const uint8_t rows24[] = {/* bottom row */ 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0,
                              /* top row */ 10, 11, 12, 13, 14, 15, 16, 17, 18, 0, 0, 0};
    b24.insert(b24.end(), std::begin(rows24), std::end(rows24));
    const RgbImage a = sam::decode_image(b24);
    const std::vector<uint8_t> want24 = {12, 11, 10, 15, 14, 13, 18, 17, 16, 3, 2, 1, 6, 5, 4, 9, 8, 7};
    EXPECT_EQ(a.pixels, want24);

    std::vector<uint8_t> b8 = header(2, 1, 8, 54 + 8, 2);
    const uint8_t pal[] = {0, 0, 255, 0, 255, 128, 0, 0};  // BGRX: red, then (0,128,255)
    std::copy(std::begin(pal), std::end(pal), b8.begin() + 54);
    for (uint8_t v : {1, 0, 0, 0}) b8.push_back(v);
    const std::vector<uint8_t> want8 = {0, 128, 255, 255, 0, 0};
    EXPECT_EQ(sam::decode_image(b8).pixels, want8);

    b8[28] = 4;
    EXPECT_NE(decode_error(b8).find("4-bit"), std::string::npos);
}

TEST(ImageErrors, EmptyRandomAndUnsupported) {
    EXPECT_EQ(decode_error({}), "image data is empty");
    std::mt19937 rng(42);
    std::vector<uint8_t> noise(10);
    for (auto& v : noise) v = static_cast<uint8_t>(rng() | 0x80);  // high bit: no known magic
    EXPECT_NE(decode_error(noise).find("unknown image format (10 bytes;"), std::string::npos);
    // What a server answered never appears in the message (it may be an internal service's).
    const std::string text = "SECRET internal answer";
    const std::string said = decode_error(std::vector<uint8_t>(text.begin(), text.end()));
    EXPECT_EQ(said.find("SECRET"), std::string::npos) << said;
    EXPECT_EQ(said.find("53 45"), std::string::npos) << said;
    EXPECT_NE(decode_error({'I', 'I', '*', 0, 8, 0, 0, 0}).find("unsupported image format TIFF"), std::string::npos);
    EXPECT_NE(decode_error({'G', 'I', 'F', '8', '9', 'a'}).find("unsupported image format GIF"), std::string::npos);
    try {
        sam::read_image_file("/nonexistent/dir/x.png");
        ADD_FAILURE() << "no error for a missing file";
    } catch (const ImageError& e) {
        EXPECT_NE(std::string(e.what()).find("cannot open image file /nonexistent/dir/x.png"), std::string::npos);
    }
}

TEST(ImageErrors, TruncatedJpeg) {
    const auto jpg = file_bytes(samtest::golden("images/photo.jpg"));
    const std::string half = decode_error(prefix(jpg, jpg.size() / 2));
    EXPECT_NE(half.find("JPEG: corrupt or truncated data: Premature end of JPEG file"), std::string::npos) << half;
    const std::string head = decode_error(prefix(jpg, 40));
    EXPECT_EQ(head.rfind("JPEG: corrupt or truncated data: ", 0), 0u) << head;
    EXPECT_EQ(decode_error(prefix(jpg, 3)).rfind("JPEG: ", 0), 0u);
}

TEST(ImageErrors, TruncatedAndCorruptPng) {
    const auto png = file_bytes(samtest::golden("images/rgba_odd.png"));
    EXPECT_EQ(decode_error(prefix(png, png.size() / 2)), "PNG: corrupt or truncated data: file is truncated");
    EXPECT_EQ(decode_error(prefix(png, 20)), "PNG: file is truncated or lacks the IHDR header chunk");
    std::vector<uint8_t> bad = png;
    bad[png.size() / 2] ^= 0x55;  // inside IDAT: the chunk CRC no longer matches
    const std::string msg = decode_error(bad);
    EXPECT_NE(msg.find("PNG: corrupt or truncated data: "), std::string::npos) << msg;
    EXPECT_NE(msg.find("CRC"), std::string::npos) << msg;
}

TEST(ImageErrors, TruncatedWebp) {
    const auto webp = encode_webp(random_rgb(64, 48, 5));
    ASSERT_GT(webp.size(), 100u);
    const std::string half = decode_error(prefix(webp, webp.size() / 2));
    EXPECT_EQ(half, "WebP: cannot decode pixels: file is truncated") << half;
    const std::string head = decode_error(prefix(webp, 16));
    EXPECT_EQ(head.rfind("WebP: cannot read header: ", 0), 0u) << head;
}

TEST(ImageErrors, PixelLimitsCheckedFromHeader) {
    EXPECT_EQ(decode_error(png_header_only(100000, 100000)),
              "image is 100000x100000 = 10000 Mpixel, over the limit of 100 Mpixel (MAX_IMAGE_PIXELS)");
    EXPECT_EQ(decode_error(png_header_only(12000, 12000)),
              "image is 12000x12000 = 144 Mpixel, over the limit of 100 Mpixel (MAX_IMAGE_PIXELS)");
    EXPECT_EQ(decode_error(png_header_only(0, 5)), "PNG: image has zero size (0x5)");

    DecodeLimits small;
    small.max_pixels = 500'000;
    const std::string want = "image is 769x770 = 0.59213 Mpixel, over the limit of 0.5 Mpixel (MAX_IMAGE_PIXELS)";
    EXPECT_EQ(decode_error(file_bytes(samtest::golden("images/photo.jpg")), small), want);
    EXPECT_EQ(decode_error(encode_webp(random_rgb(1000, 501, 1)), small),
              "image is 1000x501 = 0.501 Mpixel, over the limit of 0.5 Mpixel (MAX_IMAGE_PIXELS)");
    small.max_pixels = 171'000;
    EXPECT_EQ(decode_error(file_bytes(samtest::golden("images/rgba_odd.png")), small),
              "image is 333x517 = 0.172161 Mpixel, over the limit of 0.171 Mpixel (MAX_IMAGE_PIXELS)");
    small.max_pixels = 333 * 517;  // exactly at the limit is allowed
    EXPECT_EQ(sam::read_image_file(samtest::golden("images/rgba_odd.png"), small).width, 333);
}

TEST(ImageResize, HandComputedWeights) {
    // 4 -> 2 columns: scale 2, filter support 2. Output 0 centres at 1.0 and takes columns 0..2 with
    // triangle weights .75 .75 .25 (sum 1.75): (0*.75 + 100*.75 + 200*.25) / 1.75 = 71.4 -> 71.
    // Output 1 centres at 3.0, columns 1..3, weights .25 .75 .75: (25 + 150 + 191.25) / 1.75 = 209.3 -> 209.
    RgbImage src;
    src.width = 4;
    src.height = 1;
    src.pixels = {0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255};
    const RgbImage out = sam::resize_bilinear_antialias(src, 2, 1);
    const std::vector<uint8_t> want = {71, 71, 71, 209, 209, 209};
    EXPECT_EQ(out.pixels, want);
    RgbImage column = src;  // the same along y exercises the vertical pass
    column.width = 1;
    column.height = 4;
    EXPECT_EQ(sam::resize_bilinear_antialias(column, 1, 2).pixels, want);

    // 6 -> 2: scale 3, support 3. Output 0 centres at 1.5: columns 0..4, normalised weights
    // .25 .375 .25 .125 0; output 1 centres at 4.5: columns 2..5, weights .125 .25 .375 .25.
    // All exact in fixed point: R 37.5 -> 38 and 112.5 -> 113, G 217.5 -> 218 and 142.5 -> 143.
    RgbImage six;
    six.width = 6;
    six.height = 1;
    for (int x = 0; x < 6; ++x) {
        six.pixels.push_back(static_cast<uint8_t>(30 * x));
        six.pixels.push_back(static_cast<uint8_t>(255 - 30 * x));
        six.pixels.push_back(7);
    }
    const std::vector<uint8_t> want6 = {38, 218, 7, 113, 143, 7};
    EXPECT_EQ(sam::resize_bilinear_antialias(six, 2, 1).pixels, want6);
    six.width = 1;
    six.height = 6;
    EXPECT_EQ(sam::resize_bilinear_antialias(six, 1, 2).pixels, want6);

    EXPECT_THROW(sam::resize_bilinear_antialias(src, 0, 1), ImageError);
    EXPECT_EQ(sam::resize_bilinear_antialias(src, 4, 1).pixels, src.pixels);

    int w = 0, h = 0;
    sam::longest_side_size(1920, 1080, 1024, w, h);
    EXPECT_EQ(w, 1024);
    EXPECT_EQ(h, 576);
    sam::longest_side_size(769, 770, 1024, w, h);  // 769 * 1024 / 770 = 1022.67
    EXPECT_EQ(w, 1023);
    EXPECT_EQ(h, 1024);
    sam::longest_side_size(3, 2048, 1024, w, h);  // 1.5 rounds up
    EXPECT_EQ(w, 2);
}

// SAM 2's float resize: the same triangle filter, on x / 255 without rounding to bytes.
TEST(ImageResize, FloatHandComputedWeights) {
    // 4 -> 2: weights .75 .75 .25 and .25 .75 .75 over 1.75, as above, on 0, .2, .4, 1.
    RgbImage src;
    src.width = 4;
    src.height = 1;
    for (uint8_t v : {0, 51, 102, 255}) src.pixels.insert(src.pixels.end(), {v, v, v});
    sam::Tensor out = sam::resize_bilinear_antialias_float(src, 2, 1);
    ASSERT_EQ(out.shape, (sam::Shape{1, 2, 3}));
    EXPECT_NEAR(out.data[0], (0.2 * 0.75 + 0.4 * 0.25) / 1.75, 1e-7);
    EXPECT_NEAR(out.data[3], (0.2 * 0.25 + 0.4 * 0.75 + 1.0 * 0.75) / 1.75, 1e-7);
    RgbImage column = src;  // along y: the vertical pass
    column.width = 1, column.height = 4;
    out = sam::resize_bilinear_antialias_float(column, 1, 2);
    ASSERT_EQ(out.shape, (sam::Shape{2, 1, 3}));
    EXPECT_NEAR(out.data[3], (0.2 * 0.25 + 0.4 * 0.75 + 1.0 * 0.75) / 1.75, 1e-7);

    // 2 -> 4 enlarges: plain bilinear, edges clamped: 0, .25, .75, 1 of the two values.
    RgbImage two;
    two.width = 2, two.height = 1;
    two.pixels = {0, 0, 0, 255, 255, 255};
    out = sam::resize_bilinear_antialias_float(two, 4, 1);
    const float want[4] = {0.0f, 0.25f, 0.75f, 1.0f};
    for (int x = 0; x < 4; ++x) EXPECT_FLOAT_EQ(out.data[x * 3], want[x]) << x;
    // A side that keeps its size is not resampled: values are x / 255 exactly.
    out = sam::resize_bilinear_antialias_float(two, 2, 1);
    EXPECT_EQ(out.data[3], 255.0f / 255.0f);
    EXPECT_THROW(sam::resize_bilinear_antialias_float(two, 4, 0), ImageError);
}

TEST(ImageResize, MatchesGoldenResizedPng) {
    for (const char* model : {"mobile_sam", "sam_vit_mini"}) {
        for (const auto& entry : std::filesystem::directory_iterator(samtest::golden(std::string("cases/") + model))) {
            const std::string dir = entry.path().string();
            const nlohmann::json c = samtest::load_json(dir + "/case.json");
            const RgbImage img = sam::read_image_file(samtest::golden("images/" + c["image"].get<std::string>()));
            ASSERT_EQ(img.height, c["original_size_hw"][0].get<int>()) << dir;
            ASSERT_EQ(img.width, c["original_size_hw"][1].get<int>()) << dir;
            int w = 0, h = 0;
            sam::longest_side_size(img.width, img.height, 1024, w, h);
            ASSERT_EQ(h, c["input_size_hw"][0].get<int>()) << dir;
            ASSERT_EQ(w, c["input_size_hw"][1].get<int>()) << dir;
            const RgbImage out = sam::resize_bilinear_antialias(img, w, h);
            const samtest::RgbPng ref = samtest::load_png_rgb(dir + "/resized.png");
            ASSERT_EQ(ref.width, w) << dir;
            ASSERT_EQ(ref.height, h) << dir;
            ASSERT_EQ(ref.pixels.size(), out.pixels.size()) << dir;
            int max_diff = 0;
            size_t differing = 0;
            for (size_t i = 0; i < out.pixels.size(); ++i) {
                const int d = std::abs(int(out.pixels[i]) - int(ref.pixels[i]));
                max_diff = std::max(max_diff, d);
                differing += d != 0;
            }
            std::printf("resize %s: %dx%d -> %dx%d, %zu of %zu values differ, max diff %d\n", dir.c_str(),
                        img.width, img.height, w, h, differing, out.pixels.size(), max_diff);
            EXPECT_LE(max_diff, 1) << dir;
            EXPECT_LE(differing, 16u) << dir;
        }
    }
}

TEST(PngWriter, RoundTrip) {
    std::vector<uint8_t> gray(37 * 23);
    std::mt19937 rng(9);
    for (auto& v : gray) v = static_cast<uint8_t>(rng());
    const std::vector<uint8_t> png = sam::encode_png_gray(37, 23, gray.data());
    const RgbImage img = sam::decode_image(png);
    ASSERT_EQ(img.width, 37);
    ASSERT_EQ(img.height, 23);
    for (size_t i = 0; i < gray.size(); ++i)
        ASSERT_TRUE(img.pixels[i * 3] == gray[i] && img.pixels[i * 3 + 1] == gray[i] && img.pixels[i * 3 + 2] == gray[i])
            << "pixel " << i;

    const std::string path = (std::filesystem::temp_directory_path() / "sam_test_image_roundtrip.png").string();
    sam::write_png_gray(path, 37, 23, gray.data());
    const samtest::GrayImage back = samtest::load_png_gray(path);
    std::filesystem::remove(path);
    EXPECT_EQ(back.width, 37);
    EXPECT_EQ(back.height, 23);
    EXPECT_EQ(back.pixels, gray);

    EXPECT_THROW(sam::encode_png_gray(0, 5, gray.data()), ImageError);
    try {
        sam::write_png_gray("/nonexistent/dir/m.png", 37, 23, gray.data());
        ADD_FAILURE() << "no error for an unwritable path";
    } catch (const ImageError& e) {
        EXPECT_NE(std::string(e.what()).find("cannot create PNG file /nonexistent/dir/m.png"), std::string::npos);
    }
}

TEST(PngWriter, RowByRowGivesTheSameFileAndChecksItsRows) {
    // A 0/255 mask: long runs, the case the encoder is tuned for.
    std::vector<uint8_t> mask(300 * 200, 0);
    for (int y = 40; y < 160; ++y)
        for (int x = 30 + y / 4; x < 250; ++x) mask[size_t(y) * 300 + x] = 255;
    sam::PngGrayWriter writer(300, 200);
    for (int y = 0; y < 200; ++y) writer.add_row(mask.data() + size_t(y) * 300);
    const std::vector<uint8_t> png = writer.finish();
    EXPECT_EQ(png, sam::encode_png_gray(300, 200, mask.data()));
    EXPECT_LT(png.size(), 1000u);  // runs compress: 60000 pixels in under a kilobyte
    const RgbImage img = sam::decode_image(png);
    ASSERT_EQ(img.width, 300);
    for (size_t i = 0; i < mask.size(); ++i) ASSERT_EQ(img.pixels[i * 3], mask[i]) << "pixel " << i;

    sam::PngGrayWriter short_one(4, 2);
    short_one.add_row(mask.data());
    EXPECT_THROW(short_one.finish(), std::logic_error);
    short_one.add_row(mask.data());
    EXPECT_THROW(short_one.add_row(mask.data()), std::logic_error);
    EXPECT_EQ(sam::decode_image(short_one.finish()).height, 2);
    EXPECT_THROW(sam::PngGrayWriter(0, 3), ImageError);
    EXPECT_THROW(sam::PngGrayWriter(100000, 100000), ImageError);
}
