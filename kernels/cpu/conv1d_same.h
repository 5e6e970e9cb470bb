// Depthwise non-causal 1-D convolution with 'same' padding and no bias, as
// F.conv1d(x, w, padding="same", groups=channels) — MambaVision's conv1d_x /
// conv1d_z. Output t sees inputs t - left .. t - left + K - 1 with
// left = (K - 1) / 2 (PyTorch puts the odd extra pad on the right); inputs
// outside [0, L) are zero. Mamba's causal conv lives in conv1d.h.
//
// Activations are time-major: x[t, c] at x[t * x_stride + c].
#pragma once

#include "kernels/cpu/variant.h"

#include <cstdint>

namespace krait::kernels {

struct SameConv1dParams {
    int64_t length = 0;    // L
    int64_t channels = 0;  // C
    int64_t kernel = 0;    // K
    const float* x = nullptr;  // [L, C], row stride x_stride
    int64_t x_stride = 0;
    const float* weight = nullptr;  // [C, K] (nn.Conv1d weight [C, 1, K])
    bool silu = true;               // apply SiLU to the output
    float* y = nullptr;             // [L, C], row stride y_stride; must not alias x
    int64_t y_stride = 0;
};

// One (t, c, k) at a time: the yardstick.
void same_conv1d_ref(const SameConv1dParams& p);

// Channels [c_begin, c_end) only, vectorised over channels; callers split channels over threads.
KRAIT_VARIANT_BEGIN
void same_conv1d(const SameConv1dParams& p, int64_t c_begin, int64_t c_end);
KRAIT_VARIANT_END

}  // namespace krait::kernels
