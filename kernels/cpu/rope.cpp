#include "kernels/cpu/rope.h"

#include <cmath>
#include <vector>

namespace krait::kernels {
KRAIT_VARIANT_BEGIN

namespace {

// The rotation of one head vector with precomputed c, s [half].
inline void rotate_head(float* x, const float* c, const float* s, int64_t half) {
    for (int64_t i = 0; i < half; ++i) {
        const float a = x[i], b = x[i + half];
        // transformers: q * cos + rotate_half(q) * sin, rotate_half(q) = [-q2, q1]; two products, one sum.
        const float lo = a * c[i] + (-b) * s[i];
        const float hi = b * c[i] + a * s[i];
        x[i] = lo;
        x[i + half] = hi;
    }
}

}  // namespace

void rope(const RopeParams& p, int64_t row_begin, int64_t row_end) {
    const int64_t half = p.head_dim / 2;
    std::vector<float> cs(static_cast<size_t>(2 * half));
    float* c = cs.data();
    float* s = c + half;
    for (int64_t r = row_begin; r < row_end; ++r) {
        const float pos = static_cast<float>(p.first_position + r);
        for (int64_t i = 0; i < half; ++i) {
            const float angle = pos * p.inv_freq[i];
            c[i] = std::cos(angle) * p.scaling;
            s[i] = std::sin(angle) * p.scaling;
        }
        float* row = p.x + r * p.x_stride;
        for (int64_t h = 0; h < p.heads; ++h) rotate_head(row + h * p.head_dim, c, s, half);
    }
}

KRAIT_VARIANT_END
}  // namespace krait::kernels
