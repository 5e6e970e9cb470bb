#include "kernels/cpu/conv1d_same.h"

#include <Eigen/Core>

#include "kernels/cpu/activations.h"

namespace krait::kernels {
KRAIT_VARIANT_BEGIN

void same_conv1d(const SameConv1dParams& p, int64_t c_begin, int64_t c_end) {
    using Arr = Eigen::ArrayXf;
    const int64_t n = c_end - c_begin;
    if (n <= 0) return;
    const int64_t K = p.kernel, left = (K - 1) / 2;
    // This slice of the kernel as [K, n] so each tap is a contiguous vector.
    Arr wt(K * n);
    for (int64_t c = 0; c < n; ++c)
        for (int64_t k = 0; k < K; ++k) wt[k * n + c] = p.weight[(c_begin + c) * K + k];
    Arr acc(n);
    for (int64_t t = 0; t < p.length; ++t) {
        acc.setZero();
        for (int64_t k = 0; k < K; ++k) {
            const int64_t s = t - left + k;
            if (s < 0 || s >= p.length) continue;  // zero padding
            acc += wt.segment(k * n, n) * Eigen::Map<const Arr>(p.x + s * p.x_stride + c_begin, n);
        }
        // SiLU evaluated in our own aligned array (see conv1d.cpp: results must not depend on buffer addresses).
        if (p.silu) acc = acc / (1.0f + (-acc).exp());
        Eigen::Map<Arr>(p.y + t * p.y_stride + c_begin, n) = acc;
    }
}

KRAIT_VARIANT_END
}  // namespace krait::kernels
