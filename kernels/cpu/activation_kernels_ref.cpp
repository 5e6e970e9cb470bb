#include "kernels/cpu/activation_kernels.h"

#include <cmath>

namespace krait::kernels {

float activation_ref(ActivationKind kind, float xf) {
    const double x = xf;
    switch (kind) {
        case ActivationKind::None: return xf;
        case ActivationKind::Relu: return xf > 0.0f ? xf : 0.0f;
        case ActivationKind::GeluErf: return static_cast<float>(x * 0.5 * (1.0 + std::erf(x * M_SQRT1_2)));
        case ActivationKind::GeluTanh: {
            const double inner = std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
            return static_cast<float>(0.5 * x * (1.0 + std::tanh(inner)));
        }
        case ActivationKind::QuickGelu: return static_cast<float>(x / (1.0 + std::exp(-1.702 * x)));
        case ActivationKind::Silu: return static_cast<float>(x / (1.0 + std::exp(-x)));
    }
    return xf;
}

}  // namespace krait::kernels
