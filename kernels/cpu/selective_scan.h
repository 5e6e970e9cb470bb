// Selective scan (the S6 recurrence of Mamba), one sequence at a time:
//
//   delta_t = softplus(delta_raw_t + delta_bias)         (if delta_softplus)
//   h_t     = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t     per channel e, state n
//   y_t     = sum_n h_t[n] * C_t[n] + D * u_t
//   y_t    *= silu(z_t)                                   (if z is given)
//
// The parameters follow mamba's selective_scan_fn(u, delta, A, B, C, D, z,
// delta_bias, delta_softplus), so causal (Mamba LM) and non-causal
// (MambaVision, which passes its dt bias a second time as delta_bias) callers
// share one kernel. Activations are time-major with row strides in elements.
#pragma once

#include "kernels/cpu/variant.h"

#include <cstdint>

namespace krait::kernels {

struct SelectiveScanParams {
    int64_t length = 0;    // L
    int64_t channels = 0;  // E
    int64_t state = 0;     // N
    const float* u = nullptr;      // [L, E], row stride u_stride
    int64_t u_stride = 0;
    const float* delta = nullptr;  // [L, E], row stride delta_stride (before bias and softplus)
    int64_t delta_stride = 0;
    const float* delta_bias = nullptr;  // [E] or nullptr
    bool delta_softplus = true;
    const float* A = nullptr;  // [N, E]: -exp(A_log) transposed so channels are contiguous
    const float* B = nullptr;  // [L, N], row stride B_stride
    int64_t B_stride = 0;
    const float* C = nullptr;  // [L, N], row stride C_stride
    int64_t C_stride = 0;
    const float* D = nullptr;  // [E] or nullptr
    const float* z = nullptr;  // [L, E] gate or nullptr, row stride z_stride
    int64_t z_stride = 0;
    float* h = nullptr;  // [N, E] state: read as h_{-1}, left as h_{L-1} (zero it for a fresh sequence)
    float* y = nullptr;  // [L, E], row stride y_stride (may alias u only if y_stride == u_stride)
    int64_t y_stride = 0;
};

// One (t, e, n) at a time, no vectorisation: the yardstick.
void selective_scan_ref(const SelectiveScanParams& p);

// Channels [e_begin, e_end) only, vectorised over channels. Channels are
// independent, so callers split them over threads.
KRAIT_VARIANT_BEGIN
void selective_scan(const SelectiveScanParams& p, int64_t e_begin, int64_t e_end);
KRAIT_VARIANT_END

}  // namespace krait::kernels
