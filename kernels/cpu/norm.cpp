#include "kernels/cpu/norm.h"

#include <cmath>

namespace krait::kernels {
KRAIT_VARIANT_BEGIN

void rms_norm(const float* x, int64_t x_stride, const float* weight, float* y, int64_t y_stride, int64_t rows,
              int64_t dim, float eps) {
    for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * x_stride;
        float* yr = y + r * y_stride;
        float sum_sq = 0.0f;
        for (int64_t i = 0; i < dim; ++i) sum_sq += xr[i] * xr[i];
        const float inv = 1.0f / std::sqrt(sum_sq / static_cast<float>(dim) + eps);
        for (int64_t i = 0; i < dim; ++i) yr[i] = weight[i] * (xr[i] * inv);
    }
}

KRAIT_VARIANT_END
}  // namespace krait::kernels
