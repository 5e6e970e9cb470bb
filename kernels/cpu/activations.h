// Scalar activations with the exact formulas PyTorch uses.
#pragma once

#include <cmath>

namespace krait::kernels {

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
inline float silu(float x) { return x / (1.0f + std::exp(-x)); }
// torch.nn.functional.softplus(x, beta=1, threshold=20): linear above the threshold.
inline float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }

}  // namespace krait::kernels
