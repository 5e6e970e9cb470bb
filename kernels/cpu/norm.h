// Normalisations, computed in fp32 as PyTorch does.
#pragma once

#include "kernels/cpu/variant.h"

#include <cstdint>

namespace krait::kernels {

// RMSNorm per row: y = x * rsqrt(mean(x^2) + eps) * weight.  x, y: [rows, dim] (y may alias x).
KRAIT_VARIANT_BEGIN
void rms_norm(const float* x, int64_t x_stride, const float* weight, float* y, int64_t y_stride, int64_t rows,
              int64_t dim, float eps);
KRAIT_VARIANT_END

}  // namespace krait::kernels
