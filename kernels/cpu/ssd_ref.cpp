#include <algorithm>
#include <cmath>

#include "kernels/cpu/activations.h"
#include "kernels/cpu/ssd.h"

namespace krait::kernels {

void ssd_ref(const SsdParams& p, int64_t h_begin, int64_t h_end) {
    const int64_t P = p.head_dim, N = p.state, per_group = p.heads / p.groups;
    for (int64_t t = 0; t < p.length; ++t) {
        for (int64_t hd = h_begin; hd < h_end; ++hd) {
            const int64_t g = hd / per_group;
            float dt = softplus(p.dt[t * p.dt_stride + hd] + (p.dt_bias ? p.dt_bias[hd] : 0.0f));
            dt = std::min(std::max(dt, p.dt_min), p.dt_max);
            const float decay = std::exp(dt * p.A[hd]);
            const float* B = p.B + t * p.B_stride + g * N;
            const float* C = p.C + t * p.C_stride + g * N;
            const float* x = p.x + t * p.x_stride + hd * P;
            float* y = p.y + t * p.y_stride + hd * P;
            float* H = p.h + hd * P * N;
            for (int64_t i = 0; i < P; ++i) {
                float acc = 0.0f;
                const float dx = dt * x[i];
                for (int64_t n = 0; n < N; ++n) {
                    float& s = H[i * N + n];
                    s = decay * s + dx * B[n];
                    acc += s * C[n];
                }
                y[i] = acc + (p.D ? p.D[hd] * x[i] : 0.0f);
            }
        }
    }
}

}  // namespace krait::kernels
