// Mamba-2's state-space model (SSD: "state space duality"), one sequence at a time, per head h of
// head_dim P with a scalar decay, its group g = h / (heads / groups) giving B and C:
//
//   dt_t = clamp(softplus(dt_raw_t + dt_bias[h]), dt_min, dt_max)
//   H_t  = exp(dt_t * A[h]) * H_{t-1} + dt_t * x_t B_t^T        H: [P, N], x_t: [P], B_t, C_t: [N]
//   y_t  = H_t C_t + D[h] * x_t
//
// ssd_ref runs that recurrence token by token (the yardstick); ssd_scan is the same recurrence
// vectorised over the state (the decode step, and short calls). ssd_chunked is
// the chunked algorithm of transformers' torch path / mamba_ssm: within a chunk of Q tokens the
// outputs are a masked "attention" (C B^T weighted by the decays) times dt*x plus the carried state
// read through C; the state is passed from chunk to chunk by matrix products. The two agree to fp32
// rounding (tests/unit/ssd_kernel_test.cpp). Activations are time-major with row strides in
// elements. Heads are independent: callers split [h_begin, h_end) over threads.
//
// ssd_chunked, ssd_scan and gated_rms_norm are compiled per CPU variant (variant.h) and reached
// through kernels::active() (dispatch.h); ssd_ref is the plain yardstick, compiled once.
#pragma once

#include "kernels/cpu/variant.h"

#include <cstdint>
#include <limits>

namespace krait::kernels {

struct SsdParams {
    int64_t length = 0;    // L
    int64_t heads = 0;     // H
    int64_t head_dim = 0;  // P
    int64_t groups = 1;    // G (divides H)
    int64_t state = 0;     // N
    int64_t chunk = 256;   // Q: tokens per chunk of ssd_chunked
    const float* x = nullptr;  // [L, H*P], row stride x_stride
    int64_t x_stride = 0;
    const float* dt = nullptr;  // [L, H] before bias / softplus / clamp, row stride dt_stride
    int64_t dt_stride = 0;
    const float* dt_bias = nullptr;  // [H] or nullptr
    float dt_min = 0.0f;
    float dt_max = std::numeric_limits<float>::infinity();
    const float* A = nullptr;  // [H]: -exp(A_log)
    const float* B = nullptr;  // [L, G*N], row stride B_stride
    int64_t B_stride = 0;
    const float* C = nullptr;  // [L, G*N], row stride C_stride
    int64_t C_stride = 0;
    const float* D = nullptr;  // [H] or nullptr
    float* h = nullptr;        // [H, P, N] state: read as H_{-1}, left as H_{L-1}
    float* y = nullptr;        // [L, H*P], row stride y_stride (must not alias x)
    int64_t y_stride = 0;
};

// The recurrence, one (t, head) at a time.
void ssd_ref(const SsdParams& p, int64_t h_begin, int64_t h_end);
inline void ssd_ref(const SsdParams& p) { ssd_ref(p, 0, p.heads); }

KRAIT_VARIANT_BEGIN
// The chunked algorithm for heads [h_begin, h_end). Throws std::invalid_argument on bad shapes.
void ssd_chunked(const SsdParams& p, int64_t h_begin, int64_t h_end);

// The recurrence of ssd_ref, vectorised over the state dimension (the decode step, and short
// prompts). Throws std::invalid_argument on bad shapes.
void ssd_scan(const SsdParams& p, int64_t h_begin, int64_t h_end);

// transformers' MambaRMSNormGated with norm_before_gate=False: v = y * silu(z), then an RMS norm
// over each of `groups` equal slices of the E channels, times weight [E]. y, z: [rows, E] with
// row strides; out may alias y.
void gated_rms_norm(const float* y, int64_t y_stride, const float* z, int64_t z_stride, const float* weight,
                    float* out, int64_t out_stride, int64_t rows, int64_t channels, int64_t groups, float eps);
KRAIT_VARIANT_END

}  // namespace krait::kernels
