// Depthwise causal 1-D convolution over time, as Mamba's conv1d
// (nn.Conv1d(groups=channels, padding=K-1) truncated to the first L outputs).
//
// Activations are time-major: x[t, c] at x[t * x_stride + c]. The K-1 inputs
// before x[0] come from `history` (the previous call's tail) or are zero, so
// prefill, chunked prefill and one-token decode share one kernel.
#pragma once

#include "kernels/cpu/variant.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace krait::kernels {

struct CausalConv1dParams {
    int64_t length = 0;    // L
    int64_t channels = 0;  // C
    int64_t kernel = 0;    // K
    const float* x = nullptr;  // [L, C], row stride x_stride
    int64_t x_stride = 0;
    const float* weight = nullptr;  // [C, K] (nn.Conv1d weight [C, 1, K])
    const float* bias = nullptr;    // [C] or nullptr
    float* history = nullptr;       // [K-1, C] inputs before x[0], oldest first; nullptr = zeros.
                                    // When not null it is updated to the last K-1 inputs (x included).
    bool silu = true;               // apply SiLU to the output
    float* y = nullptr;             // [L, C], row stride y_stride; must not alias x
    int64_t y_stride = 0;
};

// Shared by the reference and the variants:
// input at time t (may be negative: then from history or zero) for channel c.
inline float conv1d_input_at(const CausalConv1dParams& p, int64_t t, int64_t c) {
    if (t >= 0) return p.x[t * p.x_stride + c];
    const int64_t h = (p.kernel - 1) + t;  // row in history
    return p.history ? p.history[h * p.channels + c] : 0.0f;
}

// Sets p.history to the last K-1 inputs of channels [c_begin, c_end).
inline void update_conv1d_history(const CausalConv1dParams& p, int64_t c_begin, int64_t c_end) {
    if (!p.history || p.kernel <= 1) return;
    const int64_t H = p.kernel - 1;
    // New history row h holds input at time L - H + h; read old rows before overwriting them.
    std::vector<float> tmp(static_cast<size_t>(H * (c_end - c_begin)));
    for (int64_t h = 0; h < H; ++h)
        for (int64_t c = c_begin; c < c_end; ++c) tmp[h * (c_end - c_begin) + (c - c_begin)] = conv1d_input_at(p, p.length - H + h, c);
    for (int64_t h = 0; h < H; ++h)
        for (int64_t c = c_begin; c < c_end; ++c) p.history[h * p.channels + c] = tmp[h * (c_end - c_begin) + (c - c_begin)];
}

void causal_conv1d_ref(const CausalConv1dParams& p);

// Channels [c_begin, c_end) only, vectorised over channels; callers split channels over threads.
KRAIT_VARIANT_BEGIN
void causal_conv1d(const CausalConv1dParams& p, int64_t c_begin, int64_t c_end);
KRAIT_VARIANT_END

}  // namespace krait::kernels
