// Rotary position embedding (RoPE), the "rotate half" form of Llama, Mistral
// and Qwen2 in transformers: for a head vector x of head_dim d = 2h and its
// position p, with angle_i = p * inv_freq[i] (i < h),
//   x'[i]     = x[i]     * c_i - x[i + h] * s_i
//   x'[i + h] = x[i + h] * c_i + x[i]     * s_i
// where c_i = cos(angle_i) * scaling, s_i = sin(angle_i) * scaling (YaRN's
// attention factor; 1 otherwise). Computed in fp32 in the order transformers
// uses (angle product, then cos/sin, then the scaling), so fixtures match to
// float rounding.
#pragma once

#include "kernels/cpu/variant.h"

#include <cstdint>

namespace krait::kernels {

struct RopeParams {
    int64_t rows = 0;      // tokens
    int64_t heads = 0;     // heads per row, head_dim apart
    int64_t head_dim = 0;  // d, even
    float* x = nullptr;    // [rows, heads * head_dim] at row stride x_stride, rotated in place
    int64_t x_stride = 0;
    int64_t first_position = 0;  // row r is at position first_position + r
    const float* inv_freq = nullptr;  // [head_dim / 2]
    float scaling = 1.0f;
};

// One row at a time with cos/sin evaluated per element: the yardstick.
void rope_ref(const RopeParams& p);

// Rows [row_begin, row_end): the cos/sin of a row are computed once and
// applied to all its heads. Rows are independent, so callers split them.
KRAIT_VARIANT_BEGIN
void rope(const RopeParams& p, int64_t row_begin, int64_t row_end);
KRAIT_VARIANT_END

}  // namespace krait::kernels
