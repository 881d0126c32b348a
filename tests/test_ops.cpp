// The shared kernels against straightforward loops written from their definitions.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "tensor/ops.hpp"

using namespace sam;

namespace {

Tensor random_tensor(Shape shape, uint32_t seed) {
    Tensor t = Tensor::empty(std::move(shape));
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    for (int64_t i = 0; i < t.numel(); ++i) t.data[i] = d(rng);
    return t;
}

float gelu_ref(float x) { return 0.5f * x * (1.0f + std::erf(x / std::sqrt(2.0f))); }

}  // namespace

TEST(Ops, MatmulBatchedTransposedWithBiasActAndResidual) {
    const int64_t batch = 3, M = 7, K = 19, N = 5;
    Tensor a = random_tensor({batch, M, K}, 1), b = random_tensor({batch, N, K}, 2);
    Tensor bias = random_tensor({N}, 3), add = random_tensor({batch, M, N}, 4);
    Tensor c = Tensor::empty({batch, M, N});
    ops::MatmulArgs m;
    m.a = a.data; m.b = b.data; m.c = c.data;
    m.batch = batch; m.M = M; m.K = K; m.N = N; m.trans_b = true;
    m.bias = bias.data; m.act = ops::Act::Gelu; m.add = add.data;
    ops::matmul(m);
    for (int64_t i = 0; i < batch; ++i)
        for (int64_t r = 0; r < M; ++r)
            for (int64_t n = 0; n < N; ++n) {
                double s = bias.data[n];
                for (int64_t k = 0; k < K; ++k) s += a.data[(i * M + r) * K + k] * b.data[(i * N + n) * K + k];
                float expect = gelu_ref(float(s)) + add.data[(i * M + r) * N + n];
                ASSERT_NEAR(c.data[(i * M + r) * N + n], expect, 1e-4) << i << "," << r << "," << n;
            }
}

TEST(Ops, MatmulSharedBAlphaAndAddBeforeAct) {
    const int64_t batch = 4, M = 3, K = 8, N = 6;
    Tensor a = random_tensor({batch, M, K}, 5), b = random_tensor({1, K, N}, 6), add = random_tensor({batch, M, N}, 7);
    Tensor c = Tensor::empty({batch, M, N});
    ops::MatmulArgs m;
    m.a = a.data; m.b = b.data; m.c = c.data;
    m.batch = batch; m.M = M; m.K = K; m.N = N; m.b_batch = 1; m.alpha = 0.25f;
    m.act = ops::Act::Relu; m.add = add.data; m.add_before_act = true;
    ops::matmul(m);
    for (int64_t i = 0; i < batch; ++i)
        for (int64_t r = 0; r < M; ++r)
            for (int64_t n = 0; n < N; ++n) {
                double s = 0;
                for (int64_t k = 0; k < K; ++k) s += a.data[(i * M + r) * K + k] * b.data[k * N + n];
                float expect = std::max(0.0f, float(0.25 * s) + add.data[(i * M + r) * N + n]);
                ASSERT_NEAR(c.data[(i * M + r) * N + n], expect, 1e-4);
            }
}

TEST(Ops, MatmulRejectsAlphaWithBias) {
    float x = 1, y = 0;
    ops::MatmulArgs m;
    m.a = &x; m.b = &x; m.c = &y; m.M = m.K = m.N = 1; m.alpha = 2; m.bias = &x;
    EXPECT_THROW(ops::matmul(m), std::invalid_argument);
}

// Channels-last convolution against the PyTorch definition (NCHW weights, zero padding).
static void check_conv(int64_t H, int64_t W, int64_t Cin, int64_t Cout, int64_t k, int64_t stride, int64_t pad,
                       int64_t groups, ops::Act act) {
    Tensor x = random_tensor({H, W, Cin}, 11), w = random_tensor({Cout, Cin / groups, k, k}, 12);
    Tensor bias = random_tensor({Cout}, 13);
    const int64_t Ho = ops::conv_out_size(H, k, stride, pad), Wo = ops::conv_out_size(W, k, stride, pad);
    Tensor add = random_tensor({Ho, Wo, Cout}, 14), y = Tensor::empty({Ho, Wo, Cout});
    ops::Conv2dArgs c;
    c.x = x.data; c.y = y.data; c.H = H; c.W = W; c.C_in = Cin; c.C_out = Cout;
    c.kh = c.kw = k; c.stride = stride; c.pad = pad; c.groups = groups;
    c.weight = &w; c.bias = &bias; c.act = act; c.add = add.data;
    ops::conv2d(c);
    const int64_t cin_g = Cin / groups, cout_g = Cout / groups;
    for (int64_t oy = 0; oy < Ho; ++oy)
        for (int64_t ox = 0; ox < Wo; ++ox)
            for (int64_t o = 0; o < Cout; ++o) {
                double s = bias.data[o];
                const int64_t g = o / cout_g;
                for (int64_t i = 0; i < cin_g; ++i)
                    for (int64_t ky = 0; ky < k; ++ky)
                        for (int64_t kx = 0; kx < k; ++kx) {
                            int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                            if (iy < 0 || ix < 0 || iy >= H || ix >= W) continue;
                            s += x.data[(iy * W + ix) * Cin + g * cin_g + i] * w.data[((o * cin_g + i) * k + ky) * k + kx];
                        }
                float v = float(s);
                if (act == ops::Act::Gelu) v = gelu_ref(v);
                if (act == ops::Act::Relu) v = std::max(0.0f, v);
                v += add.data[(oy * Wo + ox) * Cout + o];
                ASSERT_NEAR(y.data[(oy * Wo + ox) * Cout + o], v, 2e-4) << oy << "," << ox << "," << o;
            }
}

TEST(Ops, Conv2dDense3x3Stride2) { check_conv(9, 7, 6, 8, 3, 2, 1, 1, ops::Act::Gelu); }
TEST(Ops, Conv2dDepthwise) { check_conv(8, 8, 16, 16, 3, 1, 1, 16, ops::Act::None); }
TEST(Ops, Conv2dPointwise) { check_conv(5, 6, 12, 4, 1, 1, 0, 1, ops::Act::Relu); }

TEST(Ops, Conv2dRejectsWeightOfWrongShape) {
    Tensor w = Tensor::zeros({4, 3, 3, 3}), x = Tensor::zeros({4, 4, 2}), y = Tensor::zeros({4, 4, 4});
    ops::Conv2dArgs c;
    c.x = x.data; c.y = y.data; c.H = c.W = 4; c.C_in = 2; c.C_out = 4; c.kh = c.kw = 3; c.pad = 1; c.weight = &w;
    EXPECT_THROW(ops::conv2d(c), std::invalid_argument);
}

TEST(Ops, LayerNormSoftmaxGelu) {
    const int64_t rows = 5, C = 33;
    Tensor x = random_tensor({rows, C}, 21), g = random_tensor({C}, 22), b = random_tensor({C}, 23);
    Tensor y = Tensor::empty({rows, C});
    ops::layer_norm(x.data, rows, C, g.data, b.data, 1e-6f, y.data);
    for (int64_t r = 0; r < rows; ++r) {
        double mean = 0, var = 0;
        for (int64_t c = 0; c < C; ++c) mean += x.data[r * C + c];
        mean /= C;
        for (int64_t c = 0; c < C; ++c) var += (x.data[r * C + c] - mean) * (x.data[r * C + c] - mean);
        var /= C;
        for (int64_t c = 0; c < C; ++c)
            ASSERT_NEAR(y.data[r * C + c], (x.data[r * C + c] - mean) / std::sqrt(var + 1e-6) * g.data[c] + b.data[c], 1e-5);
    }

    Tensor s = x.clone(), bias = random_tensor({2, C}, 24);
    ops::softmax_rows(s.data, rows, C, 0.5f, bias.data, 2);
    for (int64_t r = 0; r < rows; ++r) {
        double mx = -1e30, sum = 0;
        for (int64_t c = 0; c < C; ++c) mx = std::max(mx, double(x.data[r * C + c]) * 0.5 + bias.data[(r % 2) * C + c]);
        for (int64_t c = 0; c < C; ++c) sum += std::exp(double(x.data[r * C + c]) * 0.5 + bias.data[(r % 2) * C + c] - mx);
        for (int64_t c = 0; c < C; ++c)
            ASSERT_NEAR(s.data[r * C + c], std::exp(double(x.data[r * C + c]) * 0.5 + bias.data[(r % 2) * C + c] - mx) / sum, 1e-6);
    }

    Tensor ge = x.clone();
    ops::gelu(ge.data, ge.numel());
    for (int64_t i = 0; i < x.numel(); ++i) ASSERT_NEAR(ge.data[i], gelu_ref(x.data[i]), 1e-5);
}

TEST(Ops, TransposeAndFoldBatchnorm) {
    Tensor x = random_tensor({37, 45}, 31), t = Tensor::empty({45, 37});
    ops::transpose(x.data, 37, 45, t.data);
    for (int64_t r = 0; r < 37; ++r)
        for (int64_t c = 0; c < 45; ++c) ASSERT_EQ(t.data[c * 37 + r], x.data[r * 45 + c]);

    // conv(x, w) then BN == conv(x, folded w) + folded bias, checked on one input vector.
    Tensor w = random_tensor({3, 4, 1, 1}, 32), bias;
    Tensor g = random_tensor({3}, 33), b = random_tensor({3}, 34), mean = random_tensor({3}, 35), var = random_tensor({3}, 36);
    for (int i = 0; i < 3; ++i) var.data[i] = std::fabs(var.data[i]) + 0.1f;
    Tensor w0 = w.clone(), in = random_tensor({4}, 37);
    ops::fold_batchnorm(w, bias, g, b, mean, var, 1e-5f);
    for (int o = 0; o < 3; ++o) {
        double conv = 0, folded = bias.data[o];
        for (int i = 0; i < 4; ++i) conv += w0.data[o * 4 + i] * in.data[i], folded += w.data[o * 4 + i] * in.data[i];
        double bn = (conv - mean.data[o]) / std::sqrt(var.data[o] + 1e-5) * g.data[o] + b.data[o];
        ASSERT_NEAR(folded, bn, 1e-4);
    }
}
