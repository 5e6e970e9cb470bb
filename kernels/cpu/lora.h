// The up-projection of a LoRA term, y[:, cols] += t B^T, for small ranks.
//
// t [rows, r] is the (already scaled) down-projection A x, B^T is stored
// transposed, Bt [r, out], so each of the r steps is one contiguous
// y += t[row, j] * Bt[j, :] over the thread's output columns: vector code for
// any rank, where a GEMV over rows of length r (r = 4..64) runs mostly scalar.
// Each output accumulates the r products in increasing j, whatever the column
// range, so results do not depend on how callers split the columns.
#pragma once

#include "kernels/cpu/variant.h"

#include <cstdint>

namespace krait::kernels {

struct LoraUpParams {
    int64_t rows = 0;
    int64_t rank = 0;
    const float* t = nullptr;   // [rows, rank], row stride t_stride
    int64_t t_stride = 0;
    const float* Bt = nullptr;  // [rank, out_features] row-major
    int64_t out_features = 0;
    float* y = nullptr;         // [rows, out_features], row stride y_stride; accumulated into
    int64_t y_stride = 0;
};

// Plain loops, double accumulation: the yardstick for tests.
void lora_up_ref(const LoraUpParams& p);

// Output columns [begin, end).
KRAIT_VARIANT_BEGIN
void lora_up(const LoraUpParams& p, int64_t begin, int64_t end);
KRAIT_VARIANT_END

}  // namespace krait::kernels
