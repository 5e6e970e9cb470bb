#include "kernels/cpu/ssd.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "kernels/cpu/activations.h"

namespace krait::kernels {

namespace {
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using CStrided = Eigen::Map<const Mat, 0, Eigen::OuterStride<>>;
using Strided = Eigen::Map<Mat, 0, Eigen::OuterStride<>>;
}  // namespace

void ssd_chunked(const SsdParams& p, int64_t h_begin, int64_t h_end) {
    if (p.heads <= 0 || p.head_dim <= 0 || p.state <= 0 || p.groups <= 0 || p.heads % p.groups != 0 ||
        p.chunk <= 0 || p.length < 0 || h_begin < 0 || h_end > p.heads)
        throw std::invalid_argument("ssd_chunked: bad shapes");
    const int64_t P = p.head_dim, N = p.state, per_group = p.heads / p.groups;
    const int64_t Qmax = std::min(p.chunk, std::max<int64_t>(p.length, 1));
    std::vector<float> dt(static_cast<size_t>(Qmax)), a(static_cast<size_t>(Qmax)),
        prefix(static_cast<size_t>(Qmax)), suffix(static_cast<size_t>(Qmax));
    Mat Xs(Qmax, P), G(Qmax, Qmax), Y(Qmax, P), Bd(Qmax, N);
    for (int64_t hd = h_begin; hd < h_end; ++hd) {
        const int64_t g = hd / per_group;
        Eigen::Map<Mat> H(p.h + hd * P * N, P, N);
        for (int64_t c0 = 0; c0 < p.length; c0 += p.chunk) {
            const int64_t q = std::min(p.chunk, p.length - c0);
            // Discretisation: dt, a = dt * A, the log-decays from the chunk start (prefix, inclusive) and to
            // its end (suffix, exclusive), summed directly rather than as differences of a cumulative sum.
            for (int64_t l = 0; l < q; ++l) {
                float d = softplus(p.dt[(c0 + l) * p.dt_stride + hd] + (p.dt_bias ? p.dt_bias[hd] : 0.0f));
                d = std::min(std::max(d, p.dt_min), p.dt_max);
                dt[l] = d;
                a[l] = d * p.A[hd];
                prefix[l] = (l ? prefix[l - 1] : 0.0f) + a[l];
            }
            suffix[q - 1] = 0.0f;
            for (int64_t l = q - 2; l >= 0; --l) suffix[l] = suffix[l + 1] + a[l + 1];

            const CStrided X(p.x + c0 * p.x_stride + hd * P, q, P, Eigen::OuterStride<>(p.x_stride));
            const CStrided Bm(p.B + c0 * p.B_stride + g * N, q, N, Eigen::OuterStride<>(p.B_stride));
            const CStrided Cm(p.C + c0 * p.C_stride + g * N, q, N, Eigen::OuterStride<>(p.C_stride));
            auto xs = Xs.topRows(q);
            for (int64_t l = 0; l < q; ++l) xs.row(l) = X.row(l) * dt[l];

            // Within the chunk: M = (C B^T) masked by the decays exp(a[s+1] + ... + a[l]) for s <= l.
            auto m = G.topLeftCorner(q, q);
            m.noalias() = Cm * Bm.transpose();
            for (int64_t l = 0; l < q; ++l) {
                float seg = 0.0f;
                for (int64_t s = l; s >= 0; --s) {
                    m(l, s) *= std::exp(seg);
                    seg += a[s];
                }
                for (int64_t s = l + 1; s < q; ++s) m(l, s) = 0.0f;
            }
            auto y = Y.topRows(q);
            y.noalias() = m * xs;
            // The carried state read through C, decayed to each position: exp(prefix[l]) C_l H^T.
            Mat off = Cm * H.transpose();
            for (int64_t l = 0; l < q; ++l) y.row(l) += std::exp(prefix[l]) * off.row(l);
            if (p.D)
                for (int64_t l = 0; l < q; ++l) y.row(l) += p.D[hd] * X.row(l);
            Strided(p.y + c0 * p.y_stride + hd * P, q, P, Eigen::OuterStride<>(p.y_stride)) = y;

            // The state at the chunk's end: exp(prefix[q-1]) H + sum_s exp(suffix[s]) dt_s x_s B_s^T.
            auto bd = Bd.topRows(q);
            for (int64_t l = 0; l < q; ++l) bd.row(l) = Bm.row(l) * std::exp(suffix[l]);
            H *= std::exp(prefix[q - 1]);
            H.noalias() += xs.transpose() * bd;
        }
    }
}

void gated_rms_norm(const float* y, int64_t y_stride, const float* z, int64_t z_stride, const float* weight,
                    float* out, int64_t out_stride, int64_t rows, int64_t channels, int64_t groups, float eps) {
    if (groups <= 0 || channels % groups != 0) throw std::invalid_argument("gated_rms_norm: bad groups");
    const int64_t gs = channels / groups;
    std::vector<float> v(static_cast<size_t>(channels));
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t e = 0; e < channels; ++e) v[e] = y[r * y_stride + e] * silu(z[r * z_stride + e]);
        for (int64_t g = 0; g < groups; ++g) {
            float ss = 0.0f;
            for (int64_t e = g * gs; e < (g + 1) * gs; ++e) ss += v[e] * v[e];
            const float inv = 1.0f / std::sqrt(ss / static_cast<float>(gs) + eps);
            for (int64_t e = g * gs; e < (g + 1) * gs; ++e) out[r * out_stride + e] = weight[e] * (v[e] * inv);
        }
    }
}

}  // namespace krait::kernels
