// LayerNorm per row, in fp32 as torch.nn.functional.layer_norm:
//   y = (x - mean) / sqrt(var + eps) * weight + bias,  var biased (divided by dim).
#pragma once

#include "kernels/cpu/variant.h"

#include <cstdint>

namespace krait::kernels {

struct LayerNormParams {
    int64_t rows = 0;
    int64_t dim = 0;
    const float* x = nullptr;  // [rows, dim], row stride x_stride
    int64_t x_stride = 0;
    const float* weight = nullptr;  // [dim] or nullptr (no affine scale)
    const float* bias = nullptr;    // [dim] or nullptr
    float eps = 1e-5f;
    float* y = nullptr;  // [rows, dim], row stride y_stride; may alias x (same stride)
    int64_t y_stride = 0;
};

// Two passes in double per row: the yardstick.
void layer_norm_ref(const LayerNormParams& p);

// Rows [row_begin, row_end) only (rows are independent: callers split them
// over threads). Vectorised with Eigen; each row goes through owned aligned
// arrays, so results do not depend on the addresses of x and y.
KRAIT_VARIANT_BEGIN
void layer_norm(const LayerNormParams& p, int64_t row_begin, int64_t row_end);
KRAIT_VARIANT_END

}  // namespace krait::kernels
