#include "kernels/cpu/lora.h"

namespace krait::kernels {
KRAIT_VARIANT_BEGIN

void lora_up(const LoraUpParams& p, int64_t begin, int64_t end) {
    for (int64_t r = 0; r < p.rows; ++r) {
        float* __restrict y = p.y + r * p.y_stride;
        const float* t = p.t + r * p.t_stride;
        for (int64_t j = 0; j < p.rank; ++j) {
            const float a = t[j];
            const float* __restrict b = p.Bt + j * p.out_features;
            for (int64_t c = begin; c < end; ++c) y[c] += a * b[c];  // independent lanes: vectorizes
        }
    }
}

KRAIT_VARIANT_END
}  // namespace krait::kernels
