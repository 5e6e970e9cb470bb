// Depthwise causal 1-D convolution over time, as Mamba's conv1d
// (nn.Conv1d(groups=channels, padding=K-1) truncated to the first L outputs).
//
// Activations are time-major: x[t, c] at x[t * x_stride + c]. The K-1 inputs
// before x[0] come from `history` (the previous call's tail) or are zero, so
// prefill, chunked prefill and one-token decode share one kernel.
#pragma once

#include <cstdint>

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

void causal_conv1d_ref(const CausalConv1dParams& p);

// Channels [c_begin, c_end) only, vectorised over channels; callers split channels over threads.
void causal_conv1d(const CausalConv1dParams& p, int64_t c_begin, int64_t c_end);

}  // namespace krait::kernels
