// 2-D convolution with nn.Conv2d semantics: zero padding, one stride and one
// padding for both axes, groups (groups == in_channels is depthwise).
// Layouts as PyTorch: x [B, C_in, H, W], weight [C_out, C_in / groups, KH, KW],
// y [B, C_out, OH, OW], all contiguous.
#pragma once

#include "kernels/cpu/variant.h"

#include <cstdint>

namespace krait::kernels {

struct Conv2dParams {
    int64_t batch = 0;
    int64_t in_channels = 0, out_channels = 0, groups = 1;
    int64_t in_h = 0, in_w = 0;
    int64_t kernel_h = 0, kernel_w = 0;
    int64_t stride = 1, padding = 0;
    int64_t out_h = 0, out_w = 0;  // (in + 2 * padding - kernel) / stride + 1
    const float* x = nullptr;
    const float* weight = nullptr;
    const float* bias = nullptr;  // [C_out] or nullptr
    float* y = nullptr;
};

// Seven nested loops in double: the yardstick.
void conv2d_ref(const Conv2dParams& p);

// Convolutions whose groups have one input channel each (depthwise, any
// channel multiplier): direct loops over output planes [plane_begin,
// plane_end) of the batch * C_out planes. Planes are independent.
KRAIT_VARIANT_BEGIN
void conv2d_depthwise(const Conv2dParams& p, int64_t plane_begin, int64_t plane_end);
KRAIT_VARIANT_END

// 1x1, stride 1, no padding: the input itself is the GEMM operand (no im2col).
inline bool conv2d_is_pointwise(const Conv2dParams& p) {
    return p.kernel_h == 1 && p.kernel_w == 1 && p.stride == 1 && p.padding == 0;
}
inline int64_t conv2d_im2col_floats(const Conv2dParams& p, int64_t columns) {
    if (conv2d_is_pointwise(p)) return 0;
    return p.in_channels / p.groups * p.kernel_h * p.kernel_w * columns;
}

// Everything else, as GEMMs: for image b and group g, the output columns
// [col_begin, col_end) of the flattened OH * OW positions are
//   y[b, group channels, cols] = W_g [C_out/g, K] * im2col(x)[K, cols],   K = C_in/g * KH * KW.
// `cols` is scratch of conv2d_im2col_floats(p, col_end - col_begin) floats
// (unused for 1x1 stride-1 unpadded convolutions, which read x directly).
// Tiles are independent: callers split (b, g, column tiles) over threads.
KRAIT_VARIANT_BEGIN
void conv2d_gemm_tile(const Conv2dParams& p, int64_t b, int64_t g, int64_t col_begin, int64_t col_end, float* cols);
KRAIT_VARIANT_END

}  // namespace krait::kernels
