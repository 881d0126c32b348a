// Compute kernels shared by every model: matrix products and convolutions on oneDNN
// (primitives created once per shape and cached), and the small element-wise kernels
// (norms, softmax, activations) written as plain loops the compiler vectorises.
// All functions are thread-safe across std::threads and parallelise internally over the OpenMP
// threads. Never call the oneDNN-backed ones (matmul, linear, conv2d, gelu) from inside an
// `omp parallel` region: oneDNN 2.6 primitives then compute only part of their output.
#pragma once

#include <cstdint>
#include <memory>

#include "tensor/precision.hpp"
#include "tensor/tensor.hpp"

namespace sam::ops {

enum class Act { None, Relu, Gelu /* exact, erf-based like torch.nn.GELU() */ };

// C[b] = alpha * A[b] · op(B[b]) (+ bias[N]), then act and the residual `add` -- fused in one primitive.
// A is [batch, M, K] row-major. B is [batch, K, N], or [batch, N, K] when trans_b (PyTorch Linear
// weights are [out, in] = [N, K]). C and `add` are [batch, M, N]. b_batch may be 1 to share B.
struct MatmulArgs {
    const float* a = nullptr;
    const float* b = nullptr;
    float* c = nullptr;
    int64_t batch = 1, M = 0, K = 0, N = 0;
    bool trans_b = false;
    int64_t b_batch = -1;  // -1: same as batch; 1: B shared by every batch
    float alpha = 1.0f;
    const float* bias = nullptr;  // [N]
    Act act = Act::None;
    const float* add = nullptr;   // [batch, M, N] residual
    bool add_before_act = false;  // act(x + add) instead of act(x) + add
    // bfloat16 operands (Precision::bf16), each replacing its float32 counterpart when set; an
    // accumulation in float32 either way. A float32 `a` with a bfloat16 `b16` is converted first.
    const bf16_t* a16 = nullptr;
    const bf16_t* b16 = nullptr;
    bf16_t* c16 = nullptr;
};
void matmul(const MatmulArgs& args);

// One 2-D product: C[M, N] = A[M, K] · B (+ bias[N]) (+ add[M, N]); B is [K, N], or [N, K]
// when trans_b.
void gemm(const float* a, const float* b, float* c, int64_t M, int64_t K, int64_t N, bool trans_b = false,
          const float* bias = nullptr, const float* add = nullptr);

// y = x · W^T + b for rows of x: x [rows, in], W [out, in] (PyTorch nn.Linear), y [rows, out].
void linear(const float* x, int64_t rows, const Tensor& weight, const Tensor& bias, float* y,
            Act act = Act::None, const float* residual = nullptr);

// A linear layer (PyTorch nn.Linear: weight [out, in], bias [out] or undefined) ready for
// products at a precision: for bf16 a bfloat16 copy of the weight, made once at load.
struct LinearWeights {
    Tensor weight, bias;
    Precision precision = Precision::f32;
    std::shared_ptr<const bf16_t[]> weight16;
    int64_t in() const { return weight.dim(1); }
    int64_t out() const { return weight.dim(0); }
};
LinearWeights prepare_linear(const Tensor& weight, const Tensor& bias, Precision precision);

// y = x · W^T + b, then act and the residual, at the layer's precision, for `rows` rows. The input
// is float32 (x) or, for a bf16 layer, bfloat16 (x16); the output float32 (y) or bfloat16 (y16).
struct LinearIO {
    const float* x = nullptr;
    const bf16_t* x16 = nullptr;
    float* y = nullptr;
    bf16_t* y16 = nullptr;
};
void linear(const LinearWeights& w, const LinearIO& io, int64_t rows, Act act = Act::None,
            const float* residual = nullptr, bool add_before_act = false);

// float32 to bfloat16, rounding to nearest even.
void to_bf16(const float* x, bf16_t* y, int64_t n);

// 2-D convolution of one image, channels-last: x [H, W, C_in] -> y [H_out, W_out, C_out].
// weight [C_out, C_in / groups, kh, kw] (PyTorch layout), bias [C_out] or undefined.
struct Conv2dArgs {
    const float* x = nullptr;
    float* y = nullptr;
    int64_t H = 0, W = 0, C_in = 0, C_out = 0;
    int64_t kh = 1, kw = 1, stride = 1, pad = 0, groups = 1;
    bool pad_rows = true;  // false: no padding along H (the caller supplies halo rows itself)
    const Tensor* weight = nullptr;
    const Tensor* bias = nullptr;
    Act act = Act::None;
    const float* add = nullptr;  // [H_out, W_out, C_out] residual
    bool add_before_act = false; // act(x + add) instead of act(x) + add
    // bf16: weights converted once (with the primitive), the input converted unless given as x16;
    // the output in bfloat16 when y16 is set. Accumulation in float32.
    Precision precision = Precision::f32;
    const bf16_t* x16 = nullptr;
    bf16_t* y16 = nullptr;
};
int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad);
void conv2d(const Conv2dArgs& args);

// Per-row normalisation over the last dimension C: y = (x - mean) / sqrt(var + eps) * gamma + beta.
// y may equal x.
void layer_norm(const float* x, int64_t rows, int64_t C, const float* gamma, const float* beta,
                float eps, float* y);
// layer_norm with its output in bfloat16, for a bf16 product that follows.
void layer_norm_bf16(const float* x, int64_t rows, int64_t C, const float* gamma, const float* beta, float eps,
                     bf16_t* y);
// layer_norm, then the exact GELU, in one pass.
void layer_norm_gelu(const float* x, int64_t rows, int64_t C, const float* gamma, const float* beta, float eps,
                     float* y);
// Row-wise softmax over `cols`, in place, after x = x * scale + bias (bias [rows % bias_rows, cols]
// repeating every bias_rows rows; nullptr for none).
void softmax_rows(float* x, int64_t rows, int64_t cols, float scale = 1.0f, const float* bias = nullptr,
                  int64_t bias_rows = 0);
void gelu(float* x, int64_t n);  // exact (erf)
void relu(float* x, int64_t n);
void add(const float* a, const float* b, float* y, int64_t n);  // y = a + b; y may alias

// Transposes a [rows, cols] matrix into [cols, rows].
void transpose(const float* x, int64_t rows, int64_t cols, float* y);

// Folds an eval-mode BatchNorm (weight, bias, running mean/var, eps) into the preceding
// convolution's weight [C_out, ...] and bias (created when absent).
void fold_batchnorm(Tensor& weight, Tensor& bias, const Tensor& bn_weight, const Tensor& bn_bias,
                    const Tensor& bn_mean, const Tensor& bn_var, float eps);

}  // namespace sam::ops
