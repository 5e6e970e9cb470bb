#include "kernels/cpu/conv1d.h"

#include "kernels/cpu/activations.h"

namespace krait::kernels {

void causal_conv1d_ref(const CausalConv1dParams& p) {
    for (int64_t t = 0; t < p.length; ++t) {
        for (int64_t c = 0; c < p.channels; ++c) {
            float acc = p.bias ? p.bias[c] : 0.0f;
            for (int64_t k = 0; k < p.kernel; ++k) acc += p.weight[c * p.kernel + k] * conv1d_input_at(p, t - (p.kernel - 1) + k, c);
            p.y[t * p.y_stride + c] = p.silu ? silu(acc) : acc;
        }
    }
    update_conv1d_history(p, 0, p.channels);
}

}  // namespace krait::kernels
