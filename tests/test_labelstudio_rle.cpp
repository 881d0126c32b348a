// Brush RLE against label_studio_converter's exact bytes (golden/rle/cases.json), and the
// decoder against the encoder.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <random>
#include <stdexcept>

#include "labelstudio/brush_rle.hpp"
#include "labelstudio/errors.hpp"
#include "support/golden.hpp"

namespace {

using sam::ls::decode_brush_rle;
using sam::ls::encode_brush_rle;
using sam::ls::RequestError;

// A small FIPS 180-4 SHA-256, only to compare with the golden digests.
std::string sha256_hex(const std::vector<uint8_t>& msg) {
    static const uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    std::vector<uint8_t> m = msg;
    const uint64_t bits = uint64_t(msg.size()) * 8;
    m.push_back(0x80);
    while (m.size() % 64 != 56) m.push_back(0);
    for (int i = 7; i >= 0; i--) m.push_back(uint8_t(bits >> (8 * i)));
    auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
    for (size_t off = 0; off < m.size(); off += 64) {
        uint32_t w[64];
        for (int i = 0; i < 16; i++)
            w[i] = uint32_t(m[off + 4 * i]) << 24 | uint32_t(m[off + 4 * i + 1]) << 16 |
                   uint32_t(m[off + 4 * i + 2]) << 8 | m[off + 4 * i + 3];
        for (int i = 16; i < 64; i++) {
            const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
            const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
        for (int i = 0; i < 64; i++) {
            const uint32_t t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
            const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
    }
    char out[65];
    for (int i = 0; i < 8; i++) std::snprintf(out + 8 * i, 9, "%08x", h[i]);
    return std::string(out, 64);
}

TEST(LabelStudioRle, Sha256KnownAnswers) {
    EXPECT_EQ(sha256_hex({}), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex({'a', 'b', 'c'}), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

std::vector<uint8_t> golden_mask(const nlohmann::json& c) {
    const samtest::GrayImage img = samtest::load_png_gray(samtest::golden("rle/" + c["mask_file"].get<std::string>()));
    EXPECT_EQ(img.width, c["width"].get<int>());
    EXPECT_EQ(img.height, c["height"].get<int>());
    std::vector<uint8_t> m(img.pixels.size());
    for (size_t i = 0; i < m.size(); i++) m[i] = img.pixels[i] > 127;
    return m;
}

TEST(LabelStudioRle, GoldenCasesByteIdentical) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    const nlohmann::json cases = samtest::load_json(samtest::golden("rle/cases.json"));
    ASSERT_GE(cases.size(), 25u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c["name"].get<std::string>());
        const std::vector<uint8_t> mask = golden_mask(c);
        const int w = c["width"], h = c["height"];
        const std::vector<uint8_t> rle = encode_brush_rle(mask.data(), w, h);
        EXPECT_EQ(rle.size(), c["rle_length"].get<size_t>());
        if (c.contains("rle") && c["rle"].is_array()) {
            EXPECT_EQ(rle, c["rle"].get<std::vector<uint8_t>>());
        }
        EXPECT_EQ(sha256_hex(rle), c["rle_sha256"].get<std::string>());
        EXPECT_EQ(decode_brush_rle(rle, w, h), mask);
    }
}

// Nonzero bytes other than 1 are "inside" too.
TEST(LabelStudioRle, AnyNonzeroIsInside) {
    const std::vector<uint8_t> a = {0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1};
    const std::vector<uint8_t> b = {0, 255, 7, 0, 128, 0, 0, 0, 2, 1, 200, 1};
    EXPECT_EQ(encode_brush_rle(a.data(), 4, 3), encode_brush_rle(b.data(), 4, 3));
}

// Hand-built stream: 2x1 pixels [in, out] -> runs of 4 x 255 and 4 x 0.
TEST(LabelStudioRle, HandComputedBits) {
    const std::vector<uint8_t> mask = {1, 0};
    // count 8 (32 bits), word 7 (5), sizes 2,3,7,15 (16): 53 header bits; each run
    // 1 00 011 vvvvvvvv (14 bits) -> 81 bits, padded with 7 zeros to 88.
    const std::vector<uint8_t> expected = {0x00, 0x00, 0x00, 0x08, 0x39, 0x1b, 0xfc, 0x7f, 0xf1, 0x80, 0x00};
    EXPECT_EQ(encode_brush_rle(mask.data(), 2, 1), expected);
}

// Runs longer than 65536 values split like the converter: 65535 in the 16-bit field, repeated.
TEST(LabelStudioRle, LongRunsRoundTrip) {
    const int w = 1000, h = 700;  // 2.8 M values of one run, then a change
    std::vector<uint8_t> m(size_t(w) * h, 1);
    m.back() = 0;
    const std::vector<uint8_t> rle = encode_brush_rle(m.data(), w, h);
    // header 53 bits + ceil(2799996 / 65536) = 43 runs of 27 bits + one 14-bit run, padded
    const size_t bits = 53 + 43 * 27 + 14;
    EXPECT_EQ(rle.size(), bits / 8 + 1);
    EXPECT_EQ(decode_brush_rle(rle, w, h), m);
}

TEST(LabelStudioRle, RandomMasksRoundTrip) {
    std::mt19937 rng(1234);
    for (int trial = 0; trial < 40; trial++) {
        const int w = 1 + int(rng() % 300), h = 1 + int(rng() % 200);
        // mixed densities: long runs and speckle
        const uint32_t flip = 1 + rng() % 64;
        std::vector<uint8_t> m(size_t(w) * h);
        uint8_t v = rng() & 1;
        for (auto& x : m) {
            if (rng() % flip == 0) v ^= 1;
            x = v;
        }
        SCOPED_TRACE(std::to_string(w) + "x" + std::to_string(h));
        EXPECT_EQ(decode_brush_rle(encode_brush_rle(m.data(), w, h), w, h), m);
    }
}

// Literal (non-repeat) records, which Label Studio's own encoder may write.
TEST(LabelStudioRle, DecodesLiteralRecords) {
    // count 4, word 8, sizes 3,4,8,16; one literal record of 4 values: 0 00 011 then
    // 0,0,0,255 -> a single inside pixel (alpha 255).
    std::vector<uint8_t> bits;
    auto push = [&](uint32_t v, int n) {
        for (int i = n - 1; i >= 0; i--) bits.push_back((v >> i) & 1);
    };
    push(4, 32), push(7, 5), push(2, 4), push(3, 4), push(7, 4), push(15, 4);
    push(0, 1), push(0, 2), push(3, 3), push(0, 8), push(0, 8), push(0, 8), push(255, 8);
    while (bits.size() % 8) bits.push_back(0);
    std::vector<uint8_t> bytes(bits.size() / 8, 0);
    for (size_t i = 0; i < bits.size(); i++) bytes[i / 8] |= bits[i] << (7 - i % 8);
    EXPECT_EQ(decode_brush_rle(bytes, 1, 1), std::vector<uint8_t>{1});
}

int decode_status(const std::vector<uint8_t>& rle, int w, int h) {
    try {
        decode_brush_rle(rle, w, h);
    } catch (const RequestError& e) {
        return e.status();
    }
    return 0;
}

TEST(LabelStudioRle, DecodeRejectsBadInput) {
    const std::vector<uint8_t> mask = {1, 0, 1, 1, 0, 0};
    const std::vector<uint8_t> rle = encode_brush_rle(mask.data(), 3, 2);
    EXPECT_EQ(decode_status(rle, 2, 3), 0);   // same count: shape is the caller's business
    EXPECT_EQ(decode_status(rle, 3, 3), 400);  // count mismatch
    EXPECT_EQ(decode_status(rle, 0, 2), 400);
    EXPECT_EQ(decode_status({}, 3, 2), 400);
    EXPECT_EQ(decode_status({rle.begin(), rle.begin() + 6}, 3, 2), 400);  // truncated in the header
    EXPECT_EQ(decode_status({rle.begin(), rle.end() - 2}, 3, 2), 400);    // truncated in the runs
    // a run longer than the count: one repeat record of 8 values, count patched to 4
    const std::vector<uint8_t> two_in = {1, 1};
    std::vector<uint8_t> over = encode_brush_rle(two_in.data(), 2, 1);
    over[3] = 4;
    EXPECT_EQ(decode_status(over, 1, 1), 400);
}

// Rows given one at a time: runs continue across rows; the wrong number of rows is refused.
TEST(LabelStudioRle, WriterRowByRowEqualsWholeMask) {
    std::mt19937 rng(99);
    const int w = 57, h = 23;
    std::vector<uint8_t> m(size_t(w) * h);
    for (size_t i = 0; i < m.size(); i++) m[i] = (i / 40 + (rng() % 9 == 0)) % 2;
    sam::ls::BrushRleWriter writer(w, h);
    for (int y = 0; y < h; y++) writer.add_row(m.data() + size_t(y) * w);
    EXPECT_EQ(writer.finish(), encode_brush_rle(m.data(), w, h));

    sam::ls::BrushRleWriter short_of_rows(w, h);
    short_of_rows.add_row(m.data());
    EXPECT_THROW(short_of_rows.finish(), std::logic_error);
    sam::ls::BrushRleWriter one_row(w, 1);
    one_row.add_row(m.data());
    EXPECT_THROW(one_row.add_row(m.data()), std::logic_error);
    EXPECT_THROW(sam::ls::BrushRleWriter(0, 5), std::invalid_argument);
}

TEST(LabelStudioRle, EncodeRejectsEmptyMask) {
    const uint8_t one = 1;
    EXPECT_THROW(encode_brush_rle(&one, 0, 1), std::invalid_argument);
    EXPECT_THROW(encode_brush_rle(&one, 1, -1), std::invalid_argument);
    EXPECT_THROW(encode_brush_rle(&one, 40000, 40000), std::invalid_argument);  // 6.4e9 values > 2^32
}

}  // namespace
