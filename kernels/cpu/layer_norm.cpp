#include "kernels/cpu/layer_norm.h"

#include <cmath>

#include <Eigen/Core>

namespace krait::kernels {
KRAIT_VARIANT_BEGIN

// Each row is copied into `row` (an Eigen-owned, aligned array) before the
// reductions and the output is formed in `out` before it is copied to y:
// Eigen peels a scalar head off loops and sums over unaligned buffers, with a
// different summation order and (with FMA) different rounding, so working
// on caller memory would make results depend on buffer addresses.
void layer_norm(const LayerNormParams& p, int64_t row_begin, int64_t row_end) {
    using Arr = Eigen::ArrayXf;
    using CMap = Eigen::Map<const Arr>;
    const int64_t dim = p.dim;
    if (row_end <= row_begin || dim <= 0) return;
    const float inv_dim = 1.0f / static_cast<float>(dim);
    Arr row(dim), out(dim);
    for (int64_t r = row_begin; r < row_end; ++r) {
        row = CMap(p.x + r * p.x_stride, dim);
        const float mean = row.sum() * inv_dim;
        row -= mean;
        const float var = row.square().sum() * inv_dim;
        const float rstd = 1.0f / std::sqrt(var + p.eps);
        if (p.weight && p.bias) out = (row * rstd) * CMap(p.weight, dim) + CMap(p.bias, dim);
        else if (p.weight) out = (row * rstd) * CMap(p.weight, dim);
        else if (p.bias) out = row * rstd + CMap(p.bias, dim);
        else out = row * rstd;
        Eigen::Map<Arr>(p.y + r * p.y_stride, dim) = out;
    }
}

KRAIT_VARIANT_END
}  // namespace krait::kernels
