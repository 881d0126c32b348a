// Float16 conversion and the embedding value format of the shared store: round trips (with and
// without SAM 2's high-resolution maps), and every kind of damage refused with a reason, never
// a crash or a huge allocation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "models/embedding_codec.hpp"
#include "tensor/half.hpp"

namespace {

using sam::EmbeddingCodecError;
using sam::EmbeddingPrecision;

TEST(Half, EveryHalfSurvivesARoundTrip) {
    for (uint32_t h = 0; h < 0x10000; ++h) {
        const float f = sam::half_to_float(static_cast<uint16_t>(h));
        const uint16_t back = sam::float_to_half(f);
        if (std::isnan(f)) {
            EXPECT_TRUE(std::isnan(sam::half_to_float(back))) << h;
        } else {
            ASSERT_EQ(back, h) << "half 0x" << std::hex << h;
        }
    }
}

// Scalar rounding against the F16C instruction (when the CPU has it: the bulk functions use it)
// on every 7919th float bit pattern, plus the edges: ties, the largest half, the smallest subnormal.
TEST(Half, ScalarRoundingMatchesTheBulkConversion) {
    std::vector<float> values;
    for (uint64_t bits = 0; bits < (1ull << 32); bits += 7919) {
        float f;
        const uint32_t b = static_cast<uint32_t>(bits);
        std::memcpy(&f, &b, 4);
        values.push_back(f);
    }
    for (float f : {65504.0f, 65519.99f, 65520.0f, 1e9f, 5.96e-8f, 2.98e-8f, 2.99e-8f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048,
                    6.1035156e-05f, 6.1e-05f, -0.0f})
        values.push_back(f), values.push_back(-f);
    std::vector<uint16_t> bulk(values.size());
    sam::floats_to_halves(values.data(), bulk.data(), values.size());
    std::vector<float> back(values.size());
    sam::halves_to_floats(bulk.data(), back.data(), bulk.size());
    for (size_t i = 0; i < values.size(); ++i) {
        const uint16_t scalar = sam::float_to_half(values[i]);
        if (std::isnan(values[i])) {
            EXPECT_TRUE(std::isnan(sam::half_to_float(scalar)));
            EXPECT_TRUE(std::isnan(back[i]));
            continue;
        }
        ASSERT_EQ(scalar, bulk[i]) << values[i];
        ASSERT_EQ(sam::half_to_float(scalar), back[i]) << values[i];
    }
    EXPECT_EQ(sam::float_to_half(65519.99f), 0x7bff);  // largest half
    EXPECT_EQ(sam::float_to_half(65520.0f), 0x7c00);   // the tie goes to infinity (even)
    EXPECT_EQ(sam::float_to_half(2.98023224e-8f), 0x0000);  // half the smallest subnormal: tie to even
    EXPECT_EQ(sam::float_to_half(2.99e-8f), 0x0001);
    EXPECT_EQ(sam::float_to_half(1.0f + 1.0f / 2048), 0x3c00);  // tie, even stays
    EXPECT_EQ(sam::float_to_half(1.0f + 3.0f / 2048), 0x3c02);  // tie, odd rounds up
}

sam::Tensor random_tensor(sam::Shape shape, uint32_t seed) {
    sam::Tensor t = sam::Tensor::empty(shape);
    std::mt19937 rng(seed);
    std::normal_distribution<float> n(0, 3);
    for (int64_t i = 0; i < t.numel(); ++i) t.data[i] = n(rng);
    return t;
}

sam::ImageEmbedding small_embedding(bool sam2) {
    sam::ImageEmbedding e;
    e.features = random_tensor({8, 4, 4}, 1);
    if (sam2) {
        e.high_res_0 = random_tensor({2, 16, 16}, 2);
        e.high_res_1 = random_tensor({4, 8, 8}, 3);
    }
    e.orig_w = 640;
    e.orig_h = 480;
    e.input_w = 1024;
    e.input_h = 768;
    return e;
}

void expect_equal(const sam::Tensor& a, const sam::Tensor& b) {
    ASSERT_EQ(a.defined(), b.defined());
    if (!a.defined()) return;
    ASSERT_EQ(a.shape, b.shape);
    EXPECT_EQ(std::memcmp(a.data, b.data, a.numel() * sizeof(float)), 0);
}

TEST(EmbeddingCodec, Float32IsExactAndFloat16IsTheRoundedEmbedding) {
    for (bool sam2 : {false, true}) {
        SCOPED_TRACE(sam2 ? "with high-res maps" : "features only");
        const sam::ImageEmbedding e = small_embedding(sam2);
        const std::string f32 = sam::encode_embedding(e, "tinyvit:abc", EmbeddingPrecision::Float32);
        sam::ImageEmbedding d = sam::decode_embedding(f32, "tinyvit:abc");
        expect_equal(d.features, e.features);
        expect_equal(d.high_res_0, e.high_res_0);
        expect_equal(d.high_res_1, e.high_res_1);
        EXPECT_EQ(d.orig_w, 640);
        EXPECT_EQ(d.orig_h, 480);
        EXPECT_EQ(d.input_w, 1024);
        EXPECT_EQ(d.input_h, 768);

        const std::string f16 = sam::encode_embedding(e, "tinyvit:abc", EmbeddingPrecision::Float16);
        EXPECT_LT(f16.size(), f32.size() / 2 + 100);
        sam::ImageEmbedding rounded = sam::decode_embedding(f32, "tinyvit:abc");
        sam::round_embedding(rounded, EmbeddingPrecision::Float16);
        d = sam::decode_embedding(f16, "tinyvit:abc");
        expect_equal(d.features, rounded.features);
        expect_equal(d.high_res_0, rounded.high_res_0);
        expect_equal(d.high_res_1, rounded.high_res_1);
        float max_rel = 0;
        for (int64_t i = 0; i < e.features.numel(); ++i)
            max_rel = std::max(max_rel, std::fabs(d.features.data[i] - e.features.data[i]) /
                                            std::max(std::fabs(e.features.data[i]), 1e-3f));
        EXPECT_GT(max_rel, 0);
        EXPECT_LE(max_rel, 1.0f / 2048);
        // Rounding what is already rounded changes nothing: a stored value is stable.
        EXPECT_EQ(sam::encode_embedding(d, "tinyvit:abc", EmbeddingPrecision::Float16), f16);
    }
}

// Measured on the golden cases (docs/DECISIONS.md): float16 keeps SAM 1's confident mask
// pixels, not SAM 2's.
TEST(EmbeddingCodec, StoragePrecisionFollowsTheModelFamily) {
    EXPECT_EQ(sam::storage_precision(small_embedding(false)), EmbeddingPrecision::Float16);
    EXPECT_EQ(sam::storage_precision(small_embedding(true)), EmbeddingPrecision::Float32);
}

TEST(EmbeddingCodec, AnotherModelsValueIsRefused) {
    const std::string v = sam::encode_embedding(small_embedding(false), "tinyvit:abc", EmbeddingPrecision::Float16);
    EXPECT_THROW(sam::decode_embedding(v, "tinyvit:abd"), EmbeddingCodecError);
    EXPECT_THROW(sam::decode_embedding(v, "tinyvit:ab"), EmbeddingCodecError);
    EXPECT_THROW(sam::decode_embedding(v, ""), EmbeddingCodecError);
}

// Every single-bit flip anywhere in the value (header, checksum, data) and every truncation is
// refused; so is anything appended.
TEST(EmbeddingCodec, EveryFlippedBitAndEveryTruncationIsRefused) {
    for (bool sam2 : {false, true}) {
        const std::string v = sam::encode_embedding(small_embedding(sam2), "m:1", EmbeddingPrecision::Float16);
        for (size_t i = 0; i < v.size(); ++i)
            for (int bit = 0; bit < 8; ++bit) {
                std::string bad = v;
                bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
                EXPECT_THROW(sam::decode_embedding(bad, "m:1"), EmbeddingCodecError) << "byte " << i << " bit " << bit;
            }
        for (size_t n = 0; n < v.size(); ++n)
            EXPECT_THROW(sam::decode_embedding(std::string_view(v).substr(0, n), "m:1"), EmbeddingCodecError) << n;
        EXPECT_THROW(sam::decode_embedding(v + "x", "m:1"), EmbeddingCodecError);
    }
}

TEST(EmbeddingCodec, HostileHeadersSayWhatIsWrong) {
    const std::string v = sam::encode_embedding(small_embedding(false), "m", EmbeddingPrecision::Float32);
    auto message = [](const std::string& bytes) {
        try {
            sam::decode_embedding(bytes, "m");
        } catch (const EmbeddingCodecError& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    EXPECT_EQ(message("GET / HTTP/1.1\r\n"), "not an embedding value (magic)");
    std::string bad = v;
    bad[4] = 9;
    EXPECT_EQ(message(bad), "embedding format version 9");
    bad = v;
    bad[5] = 7;
    EXPECT_EQ(message(bad), "unknown dtype 7");
    // A tensor of 2^20 x 2^20 x 2^20 values in a value of a few hundred bytes: refused before
    // anything is allocated. Dimensions start after the fixed header, key and role/rank bytes.
    bad = v;
    const size_t dims_at = 4 + 4 + 16 + 2 + 1 + 2;
    for (int d = 0; d < 3; ++d) {
        const uint32_t big = 1u << 20;
        std::memcpy(&bad[dims_at + 4 * d], &big, 4);
    }
    EXPECT_EQ(message(bad), "tensor larger than the value");
    bad = v;
    const uint32_t zero = 0;
    std::memcpy(&bad[8], &zero, 4);
    EXPECT_EQ(message(bad), "orig_w 0 is out of range");
    bad = v;
    bad[bad.size() - 1] ^= 1;
    EXPECT_EQ(message(bad), "checksum mismatch");
    EXPECT_EQ(message(v), "accepted");
}

}  // namespace
