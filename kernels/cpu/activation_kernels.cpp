#include "kernels/cpu/activation_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>

namespace krait::kernels {
KRAIT_VARIANT_BEGIN

namespace {

// 64-byte aligned, a whole number of AVX-512 vectors (16 floats): Eigen then
// runs the whole block through its packet path with no scalar head or tail.
constexpr int64_t kBlock = 512;
constexpr int64_t kVector = 16;

template <class A>
void apply_block(ActivationKind kind, A a) {
    switch (kind) {
        case ActivationKind::None: break;
        case ActivationKind::Relu: a = a.max(0.0f); break;
        case ActivationKind::GeluErf:
            // Same operation order as ATen's GeluKernel: x * 0.5 * (1 + erf(x * M_SQRT1_2)).
            a = a * 0.5f * (1.0f + (a * static_cast<float>(M_SQRT1_2)).erf());
            break;
        case ActivationKind::GeluTanh: {
            const float beta = static_cast<float>(M_SQRT2 * M_2_SQRTPI * 0.5);  // sqrt(2/pi)
            const float kappa = 0.044715f;
            a = 0.5f * a * (1.0f + (beta * (a + kappa * a * a * a)).tanh());
            break;
        }
        case ActivationKind::QuickGelu: a = a * (1.0f / (1.0f + (a * -1.702f).exp())); break;
        case ActivationKind::Silu: a = a / (1.0f + (-a).exp()); break;
    }
}

}  // namespace

void apply_activation(ActivationKind kind, float* x, int64_t n) {
    if (kind == ActivationKind::None || n <= 0) return;
    alignas(64) float buf[kBlock];
    using Block = Eigen::Map<Eigen::ArrayXf, Eigen::Aligned64>;
    for (int64_t start = 0; start < n; start += kBlock) {
        const int64_t len = std::min(kBlock, n - start);
        const int64_t padded = (len + kVector - 1) / kVector * kVector;
        std::memcpy(buf, x + start, static_cast<size_t>(len) * sizeof(float));
        std::fill(buf + len, buf + padded, 0.0f);
        apply_block(kind, Block(buf, padded));
        std::memcpy(x + start, buf, static_cast<size_t>(len) * sizeof(float));
    }
}

KRAIT_VARIANT_END
}  // namespace krait::kernels
