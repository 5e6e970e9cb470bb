// Activation functions over arrays, with the formulas PyTorch uses:
//   Relu       max(x, 0)
//   GeluErf    x * 0.5 * (1 + erf(x / sqrt(2)))                       nn.GELU()
//   GeluTanh   0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))  nn.GELU(approximate="tanh")
//   QuickGelu  x * sigmoid(1.702 x)                                    CLIP's quick_gelu
//   Silu       x / (1 + exp(-x))                                       nn.SiLU()
// (The scalar helpers used by the Mamba kernels stay in activations.h.)
#pragma once

#include "kernels/cpu/variant.h"

#include <cstdint>

namespace krait::kernels {

enum class ActivationKind { None, Relu, GeluErf, GeluTanh, QuickGelu, Silu };

// One value, in double: the yardstick.
float activation_ref(ActivationKind kind, float x);

// In place over n contiguous values, vectorised (Eigen's erf/tanh/exp).
// Every value goes through the same SIMD code whatever its address or its
// position in the array (blocks are copied into an owned aligned buffer and
// padded to whole vectors), so results depend on the value alone: callers
// may split arrays anywhere, e.g. over threads.
KRAIT_VARIANT_BEGIN
void apply_activation(ActivationKind kind, float* x, int64_t n);
KRAIT_VARIANT_END

}  // namespace krait::kernels
