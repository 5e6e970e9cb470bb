#include "kernels/cpu/conv1d.h"

#include <Eigen/Core>

#include "kernels/cpu/activations.h"

namespace krait::kernels {
KRAIT_VARIANT_BEGIN

void causal_conv1d(const CausalConv1dParams& p, int64_t c_begin, int64_t c_end) {
    using Arr = Eigen::ArrayXf;
    const int64_t n = c_end - c_begin;
    if (n <= 0) return;
    const int64_t K = p.kernel;
    // Transpose this slice of the kernel to [K, n] so each tap is a contiguous vector.
    Arr wt(K * n);
    for (int64_t c = 0; c < n; ++c)
        for (int64_t k = 0; k < K; ++k) wt[k * n + c] = p.weight[(c_begin + c) * K + k];
    Arr acc(n);
    for (int64_t t = 0; t < p.length; ++t) {
        if (p.bias) acc = Eigen::Map<const Arr>(p.bias + c_begin, n);
        else acc.setZero();
        for (int64_t k = 0; k < K; ++k) {
            const int64_t src_t = t - (K - 1) + k;
            const float* src;
            if (src_t >= 0) src = p.x + src_t * p.x_stride + c_begin;
            else if (p.history) src = p.history + ((K - 1) + src_t) * p.channels + c_begin;
            else continue;  // zero padding
            acc += wt.segment(k * n, n) * Eigen::Map<const Arr>(src, n);
        }
        // exp is evaluated into `acc` (our own aligned array), never into the
        // caller's buffer: Eigen would otherwise use scalar std::exp for an
        // unaligned head and SIMD exp for the rest, making results depend on
        // buffer addresses. Bitwise-reproducible results need this.
        if (p.silu) acc = acc / (1.0f + (-acc).exp());
        Eigen::Map<Arr>(p.y + t * p.y_stride + c_begin, n) = acc;
    }
    update_conv1d_history(p, c_begin, c_end);
}

KRAIT_VARIANT_END
}  // namespace krait::kernels
