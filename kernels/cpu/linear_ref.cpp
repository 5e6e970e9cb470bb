#include "kernels/cpu/linear.h"

#include "kernels/cpu/linear_half.h"

namespace krait::kernels {

void linear_ref(const LinearParams& p) {
    for (int64_t m = 0; m < p.rows; ++m) {
        for (int64_t n = 0; n < p.out_features; ++n) {
            double acc = p.bias ? p.bias[n] : 0.0;
            const float* x = p.x + m * p.x_stride;
            if (p.weight_type == WeightType::F32) {
                const float* w = p.weight + n * p.in_features;
                for (int64_t k = 0; k < p.in_features; ++k) acc += static_cast<double>(w[k]) * x[k];
            } else {
                const uint16_t* w = p.weight_half + n * p.in_features;
                for (int64_t k = 0; k < p.in_features; ++k)
                    acc += static_cast<double>(half_to_f32(p.weight_type, w[k])) * x[k];
            }
            float& out = p.y[m * p.y_stride + n];
            out = p.accumulate ? out + static_cast<float>(acc) : static_cast<float>(acc);
        }
    }
}

}  // namespace krait::kernels
