#include "kernels/cpu/conv1d.h"

#include <Eigen/Core>
#include <vector>

#include "kernels/cpu/activations.h"

namespace krait::kernels {

namespace {
// Input at time t (may be negative: then from history or zero) for channel c.
inline float input_at(const CausalConv1dParams& p, int64_t t, int64_t c) {
    if (t >= 0) return p.x[t * p.x_stride + c];
    const int64_t h = (p.kernel - 1) + t;  // row in history
    return p.history ? p.history[h * p.channels + c] : 0.0f;
}

void update_history(const CausalConv1dParams& p, int64_t c_begin, int64_t c_end) {
    if (!p.history || p.kernel <= 1) return;
    const int64_t H = p.kernel - 1;
    // New history row h holds input at time L - H + h; read old rows before overwriting them.
    std::vector<float> tmp(static_cast<size_t>(H * (c_end - c_begin)));
    for (int64_t h = 0; h < H; ++h)
        for (int64_t c = c_begin; c < c_end; ++c) tmp[h * (c_end - c_begin) + (c - c_begin)] = input_at(p, p.length - H + h, c);
    for (int64_t h = 0; h < H; ++h)
        for (int64_t c = c_begin; c < c_end; ++c) p.history[h * p.channels + c] = tmp[h * (c_end - c_begin) + (c - c_begin)];
}
}  // namespace

void causal_conv1d_ref(const CausalConv1dParams& p) {
    for (int64_t t = 0; t < p.length; ++t) {
        for (int64_t c = 0; c < p.channels; ++c) {
            float acc = p.bias ? p.bias[c] : 0.0f;
            for (int64_t k = 0; k < p.kernel; ++k) acc += p.weight[c * p.kernel + k] * input_at(p, t - (p.kernel - 1) + k, c);
            p.y[t * p.y_stride + c] = p.silu ? silu(acc) : acc;
        }
    }
    update_history(p, 0, p.channels);
}

void causal_conv1d(const CausalConv1dParams& p, int64_t c_begin, int64_t c_end) {
    using Arr = Eigen::ArrayXf;
    const int64_t n = c_end - c_begin;
    if (n <= 0) return;
    const int64_t K = p.kernel;
    // Transpose this slice of the kernel to [K, n] so each tap is a contiguous vector.
    Arr wt(K * n);
    for (int64_t c = 0; c < n; ++c)
        for (int64_t k = 0; k < K; ++k) wt[k * n + c] = p.weight[(c_begin + c) * K + k];
    Arr acc(n);
    for (int64_t t = 0; t < p.length; ++t) {
        if (p.bias) acc = Eigen::Map<const Arr>(p.bias + c_begin, n);
        else acc.setZero();
        for (int64_t k = 0; k < K; ++k) {
            const int64_t src_t = t - (K - 1) + k;
            const float* src;
            if (src_t >= 0) src = p.x + src_t * p.x_stride + c_begin;
            else if (p.history) src = p.history + ((K - 1) + src_t) * p.channels + c_begin;
            else continue;  // zero padding
            acc += wt.segment(k * n, n) * Eigen::Map<const Arr>(src, n);
        }
        // exp is evaluated into `acc` (our own aligned array), never into the
        // caller's buffer: Eigen would otherwise use scalar std::exp for an
        // unaligned head and SIMD exp for the rest, making results depend on
        // buffer addresses. Bitwise-reproducible results need this.
        if (p.silu) acc = acc / (1.0f + (-acc).exp());
        Eigen::Map<Arr>(p.y + t * p.y_stride + c_begin, n) = acc;
    }
    update_history(p, c_begin, c_end);
}

}  // namespace krait::kernels
