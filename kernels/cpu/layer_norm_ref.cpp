#include "kernels/cpu/layer_norm.h"

#include <cmath>

namespace krait::kernels {

void layer_norm_ref(const LayerNormParams& p) {
    for (int64_t r = 0; r < p.rows; ++r) {
        const float* x = p.x + r * p.x_stride;
        float* y = p.y + r * p.y_stride;
        double mean = 0.0;
        for (int64_t i = 0; i < p.dim; ++i) mean += x[i];
        mean /= static_cast<double>(p.dim);
        double var = 0.0;
        for (int64_t i = 0; i < p.dim; ++i) var += (x[i] - mean) * (x[i] - mean);
        var /= static_cast<double>(p.dim);
        const double rstd = 1.0 / std::sqrt(var + static_cast<double>(p.eps));
        for (int64_t i = 0; i < p.dim; ++i) {
            double v = (x[i] - mean) * rstd;
            if (p.weight) v *= p.weight[i];
            if (p.bias) v += p.bias[i];
            y[i] = static_cast<float>(v);  // after reading x[i]: y may alias x
        }
    }
}

}  // namespace krait::kernels
