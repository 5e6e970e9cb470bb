// Linear layer y = x W^T + b, the workhorse of every model.
//
// W is stored as PyTorch stores nn.Linear.weight: [out_features, in_features],
// row-major. Rows of x and y may be strided (views into wider activations).
#pragma once

#include <cstdint>

namespace krait::kernels {

struct LinearParams {
    int64_t rows = 0;          // M: tokens
    int64_t in_features = 0;   // K
    int64_t out_features = 0;  // N
    const float* x = nullptr;  // [M, K], row stride x_stride
    int64_t x_stride = 0;
    const float* weight = nullptr;  // [N, K] row-major
    const float* bias = nullptr;    // [N] or nullptr
    float* y = nullptr;             // [M, N], row stride y_stride
    int64_t y_stride = 0;
    bool accumulate = false;        // y += x W^T (+ b) instead of y = ...
};

// Plain triple loop in double accumulation; the yardstick for tests.
void linear_ref(const LinearParams& p);

// Eigen GEMM/GEMV over output features [n_begin, n_end): callers split the
// output dimension over threads, so each thread streams its own weight rows.
void linear(const LinearParams& p, int64_t n_begin, int64_t n_end);

}  // namespace krait::kernels
