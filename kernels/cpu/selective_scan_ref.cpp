#include <cmath>

#include "kernels/cpu/activations.h"
#include "kernels/cpu/selective_scan.h"

namespace krait::kernels {

void selective_scan_ref(const SelectiveScanParams& p) {
    const int64_t E = p.channels, N = p.state;
    for (int64_t t = 0; t < p.length; ++t) {
        for (int64_t e = 0; e < E; ++e) {
            float d = p.delta[t * p.delta_stride + e] + (p.delta_bias ? p.delta_bias[e] : 0.0f);
            if (p.delta_softplus) d = softplus(d);
            const float u = p.u[t * p.u_stride + e];
            float y = 0.0f;
            for (int64_t n = 0; n < N; ++n) {
                float& h = p.h[n * E + e];
                h = std::exp(d * p.A[n * E + e]) * h + d * p.B[t * p.B_stride + n] * u;
                y += h * p.C[t * p.C_stride + n];
            }
            if (p.D) y += p.D[e] * u;
            if (p.z) y *= silu(p.z[t * p.z_stride + e]);
            p.y[t * p.y_stride + e] = y;
        }
    }
}

}  // namespace krait::kernels
