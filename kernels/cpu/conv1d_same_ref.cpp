#include "kernels/cpu/conv1d_same.h"

#include "kernels/cpu/activations.h"

namespace krait::kernels {

void same_conv1d_ref(const SameConv1dParams& p) {
    const int64_t left = (p.kernel - 1) / 2;
    for (int64_t t = 0; t < p.length; ++t) {
        for (int64_t c = 0; c < p.channels; ++c) {
            float acc = 0.0f;
            for (int64_t k = 0; k < p.kernel; ++k) {
                const int64_t s = t - left + k;
                if (s >= 0 && s < p.length) acc += p.weight[c * p.kernel + k] * p.x[s * p.x_stride + c];
            }
            p.y[t * p.y_stride + c] = p.silu ? silu(acc) : acc;
        }
    }
}

}  // namespace krait::kernels
