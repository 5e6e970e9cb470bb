#include "kernels/cpu/selective_scan.h"

#include <Eigen/Core>

namespace krait::kernels {
KRAIT_VARIANT_BEGIN

// Vectorised over a block of channels: every operation below is a contiguous
// SIMD loop of width `n` (Eigen's exp is the vectorised polynomial one). The
// state h[N, E] of the block stays in L1/L2 across time steps.
//
// Every exp() is assigned to one of the local arrays (aligned, owned here),
// never directly into a caller's buffer: for an unaligned destination Eigen
// computes the head with scalar std::exp and the rest with SIMD exp, which
// would make results depend on buffer addresses. Bitwise reproducibility
// across sessions and runs needs this.
void selective_scan(const SelectiveScanParams& p, int64_t e_begin, int64_t e_end) {
    using Arr = Eigen::ArrayXf;
    using CMap = Eigen::Map<const Arr>;
    const int64_t n = e_end - e_begin;
    if (n <= 0) return;
    const int64_t E = p.channels;
    Arr delta(n), du(n), y(n), dA(n);
    for (int64_t t = 0; t < p.length; ++t) {
        const CMap u(p.u + t * p.u_stride + e_begin, n);
        delta = CMap(p.delta + t * p.delta_stride + e_begin, n);
        if (p.delta_bias) delta += CMap(p.delta_bias + e_begin, n);
        if (p.delta_softplus) {
            // softplus with PyTorch's threshold: linear above 20; below,
            // log1p(e) with e = exp(delta). Eigen's log1p calls libm's scalar
            // log1pf per element (4% of a MambaVision forward pass), so it is
            // formed from the vectorised log with Goldberg's correction, which
            // keeps log1p's accuracy for tiny e:
            //   v = 1 + e;  log1p(e) = e if v == 1, else log(v) * e / (v - 1).
            dA = delta.exp();
            du = 1.0f + dA;
            y = (du == 1.0f).select(dA, du.log() * (dA / (du - 1.0f)));
            delta = (delta > 20.0f).select(delta, y);
        }
        du = delta * u;
        y.setZero();
        const float* B_t = p.B + t * p.B_stride;
        const float* C_t = p.C + t * p.C_stride;
        for (int64_t s = 0; s < p.state; ++s) {
            Eigen::Map<Arr> h(p.h + s * E + e_begin, n);
            dA = (delta * CMap(p.A + s * E + e_begin, n)).exp();
            dA = dA * h + du * B_t[s];  // the new state, computed in our own array
            h = dA;
            y += dA * C_t[s];
        }
        if (p.D) y += CMap(p.D + e_begin, n) * u;
        if (p.z) {
            const CMap z(p.z + t * p.z_stride + e_begin, n);
            y *= z / (1.0f + (-z).exp());
        }
        Eigen::Map<Arr>(p.y + t * p.y_stride + e_begin, n) = y;
    }
}

KRAIT_VARIANT_END
}  // namespace krait::kernels
