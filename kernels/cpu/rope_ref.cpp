#include "kernels/cpu/rope.h"

#include <cmath>

namespace krait::kernels {

void rope_ref(const RopeParams& p) {
    const int64_t half = p.head_dim / 2;
    for (int64_t r = 0; r < p.rows; ++r) {
        const float pos = static_cast<float>(p.first_position + r);
        for (int64_t h = 0; h < p.heads; ++h) {
            float* x = p.x + r * p.x_stride + h * p.head_dim;
            for (int64_t i = 0; i < half; ++i) {
                const float angle = pos * p.inv_freq[i];
                const float c = std::cos(angle) * p.scaling, s = std::sin(angle) * p.scaling;
                const float a = x[i], b = x[i + half];
                x[i] = a * c + (-b) * s;
                x[i + half] = b * c + a * s;
            }
        }
    }
}

}  // namespace krait::kernels
