// Linear layer y = x W^T + b, the workhorse of every model.
//
// W is stored as PyTorch stores nn.Linear.weight: [out_features, in_features],
// row-major. Rows of x and y may be strided (views into wider activations).
#pragma once

#include "kernels/cpu/variant.h"

#include <cstdint>

namespace krait::kernels {

// How a weight matrix is stored. F16/BF16 weights are read in place (e.g.
// from a model file's memory map) and widened to F32 in registers; the sums
// are F32 either way.
enum class WeightType : uint8_t { F32 = 0, F16 = 1, BF16 = 2 };

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
    // F16/BF16 weights: weight is unused (nullptr) and weight_half holds the
    // same [N, K] row-major matrix as 16-bit values (see linear_half.h).
    WeightType weight_type = WeightType::F32;
    const uint16_t* weight_half = nullptr;
};

// Plain triple loop in double accumulation, any weight type (each weight
// widened exactly to F32); the yardstick for tests.
void linear_ref(const LinearParams& p);

// Eigen GEMM/GEMV over output features [n_begin, n_end): callers split the
// output dimension over threads, so each thread streams its own weight rows.
// F16/BF16 weights go to linear_half() (linear_half.h).
KRAIT_VARIANT_BEGIN
void linear(const LinearParams& p, int64_t n_begin, int64_t n_end);
KRAIT_VARIANT_END

}  // namespace krait::kernels
