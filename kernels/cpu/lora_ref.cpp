#include "kernels/cpu/lora.h"

namespace krait::kernels {

void lora_up_ref(const LoraUpParams& p) {
    for (int64_t r = 0; r < p.rows; ++r)
        for (int64_t c = 0; c < p.out_features; ++c) {
            double acc = 0.0;
            for (int64_t j = 0; j < p.rank; ++j)
                acc += static_cast<double>(p.t[r * p.t_stride + j]) * p.Bt[j * p.out_features + c];
            p.y[r * p.y_stride + c] += static_cast<float>(acc);
        }
}

}  // namespace krait::kernels
