#include "kernels/cpu/ssd.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/activations.h"

namespace krait::kernels {
KRAIT_VARIANT_BEGIN

namespace {
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using CStrided = Eigen::Map<const Mat, 0, Eigen::OuterStride<>>;
using Strided = Eigen::Map<Mat, 0, Eigen::OuterStride<>>;

void check_shapes(const SsdParams& p, int64_t h_begin, int64_t h_end, const char* what) {
    if (p.heads <= 0 || p.head_dim <= 0 || p.state <= 0 || p.groups <= 0 || p.heads % p.groups != 0 ||
        p.chunk <= 0 || p.length < 0 || h_begin < 0 || h_end > p.heads)
        throw std::invalid_argument(std::string(what) + ": bad shapes");
}

float step_dt(const SsdParams& p, int64_t t, int64_t hd) {
    const float d = softplus(p.dt[t * p.dt_stride + hd] + (p.dt_bias ? p.dt_bias[hd] : 0.0f));
    return std::min(std::max(d, p.dt_min), p.dt_max);
}

// One register of floats as a GCC vector: 16 lanes in the avx512 variant, 8 in avx2, 4 in the portable one
// (SSE2), so the partial sums of scan_rows stay in registers. Lane k only ever meets lane k, so nothing is
// reassociated except the final sum of the lanes.
#if defined(__AVX512F__)
constexpr int kLanes = 16;
#elif defined(__AVX__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
using V = float __attribute__((vector_size(kLanes * sizeof(float))));
using V4 = float __attribute__((vector_size(4 * sizeof(float))));

inline V loadv(const float* p) {
    V v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}
inline void storev(float* p, V v) { __builtin_memcpy(p, &v, sizeof v); }

// The sum of the lanes by halves down to four, then (0 + 2) + (1 + 3).
inline float lane_sum(V v) {
    float a[kLanes];
    storev(a, v);
    for (int w = kLanes / 2; w >= 4; w /= 2)
        for (int k = 0; k < w; ++k) a[k] += a[k + w];
    V4 s4;
    __builtin_memcpy(&s4, a, sizeof s4);
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

// R rows i..i+R-1 of one head's state [P, N] for one token: s = decay * s + (dt x_i) B; y_i = s . C.
template <int R>
void scan_rows(float* H, int64_t N, const float* B, const float* C, float decay, const float* dx, float* out) {
    V acc[R];
    for (int r = 0; r < R; ++r) acc[r] = V{};
    int64_t n = 0;
    for (; n + kLanes <= N; n += kLanes) {
        const V b = loadv(B + n), c = loadv(C + n);
        for (int r = 0; r < R; ++r) {
            const V v = decay * loadv(H + r * N + n) + dx[r] * b;
            storev(H + r * N + n, v);
            acc[r] += v * c;
        }
    }
    for (int r = 0; r < R; ++r) {
        float tail = 0.0f;
        for (int64_t m = n; m < N; ++m) {
            float& s = H[r * N + m];
            s = decay * s + dx[r] * B[m];
            tail += s * C[m];
        }
        out[r] = lane_sum(acc[r]) + tail;
    }
}
// exp of log-decays, 0 below exp(-80) (~2e-35): products with such factors would otherwise leave denormal
// numbers in the GEMMs' operands, which run many times slower, for terms below fp32 rounding of the result.
constexpr float kNoDecay = -80.0f;
template <typename E>
Eigen::ArrayXf decay(const E& log_decay) {
    return (log_decay < kNoDecay).select(0.0f, log_decay.exp());
}
}  // namespace

void ssd_scan(const SsdParams& p, int64_t h_begin, int64_t h_end) {
    check_shapes(p, h_begin, h_end, "ssd_scan");
    const int64_t P = p.head_dim, N = p.state, per_group = p.heads / p.groups;
    // Head by head, token by token: one head's state ([P, N], 32 KiB for Mamba-2-130m) stays in L1.
    for (int64_t hd = h_begin; hd < h_end; ++hd) {
        const int64_t g = hd / per_group;
        float* H = p.h + hd * P * N;
        const float Dh = p.D ? p.D[hd] : 0.0f;
        for (int64_t t = 0; t < p.length; ++t) {
            const float dt = step_dt(p, t, hd);
            const float decay = std::exp(dt * p.A[hd]);
            const float* B = p.B + t * p.B_stride + g * N;
            const float* C = p.C + t * p.C_stride + g * N;
            const float* x = p.x + t * p.x_stride + hd * P;
            float* y = p.y + t * p.y_stride + hd * P;
            float dx[4], out[4];
            int64_t i = 0;
            for (; i + 4 <= P; i += 4) {
                for (int r = 0; r < 4; ++r) dx[r] = dt * x[i + r];
                scan_rows<4>(H + i * N, N, B, C, decay, dx, out);
                for (int r = 0; r < 4; ++r) y[i + r] = out[r] + Dh * x[i + r];
            }
            for (; i < P; ++i) {
                dx[0] = dt * x[i];
                scan_rows<1>(H + i * N, N, B, C, decay, dx, out);
                y[i] = out[0] + Dh * x[i];
            }
        }
    }
}

void ssd_chunked(const SsdParams& p, int64_t h_begin, int64_t h_end) {
    check_shapes(p, h_begin, h_end, "ssd_chunked");
    const int64_t P = p.head_dim, N = p.state, per_group = p.heads / p.groups;
    const int64_t Qmax = std::min(p.chunk, std::max<int64_t>(p.length, 1));
    Eigen::ArrayXf dt(Qmax), a(Qmax), prefix(Qmax), suffix(Qmax), seg(Qmax);
    Mat Xs(Qmax, P), CB(Qmax, Qmax), G(Qmax, Qmax), Y(Qmax, P), Bd(Qmax, N), Off(Qmax, P);
    for (int64_t c0 = 0; c0 < p.length; c0 += p.chunk) {
        const int64_t q = std::min(p.chunk, p.length - c0);
        int64_t cb_group = -1;
        for (int64_t hd = h_begin; hd < h_end; ++hd) {
            const int64_t g = hd / per_group;
            Eigen::Map<Mat> H(p.h + hd * P * N, P, N);
            const CStrided Bm(p.B + c0 * p.B_stride + g * N, q, N, Eigen::OuterStride<>(p.B_stride));
            const CStrided Cm(p.C + c0 * p.C_stride + g * N, q, N, Eigen::OuterStride<>(p.C_stride));
            // C B^T depends on the group only: computed once for the heads of a group.
            auto cb = CB.topLeftCorner(q, q);
            if (g != cb_group) {
                cb.noalias() = Cm * Bm.transpose();
                cb_group = g;
            }
            // Discretisation: dt, a = dt * A, the log-decays from the chunk start (prefix, inclusive) and to
            // its end (suffix, exclusive), summed directly rather than as differences of a cumulative sum.
            for (int64_t l = 0; l < q; ++l) {
                dt[l] = step_dt(p, c0 + l, hd);
                a[l] = dt[l] * p.A[hd];
                prefix[l] = (l ? prefix[l - 1] : 0.0f) + a[l];
            }
            suffix[q - 1] = 0.0f;
            for (int64_t l = q - 2; l >= 0; --l) suffix[l] = suffix[l + 1] + a[l + 1];

            const CStrided X(p.x + c0 * p.x_stride + hd * P, q, P, Eigen::OuterStride<>(p.x_stride));
            auto xs = Xs.topRows(q);
            for (int64_t l = 0; l < q; ++l) xs.row(l) = X.row(l) * dt[l];

            // Within the chunk: M = (C B^T) masked by the decays exp(a[s+1] + ... + a[l]) for s <= l; row l's
            // log-decays are row l-1's plus a[l] (seg), exponentiated as one vector.
            auto m = G.topLeftCorner(q, q);
            for (int64_t l = 0; l < q; ++l) {
                if (l) seg.head(l) += a[l];
                seg[l] = 0.0f;
                m.row(l).head(l + 1).array() = cb.row(l).head(l + 1).array() * decay(seg.head(l + 1)).transpose();
                m.row(l).tail(q - l - 1).setZero();
            }
            auto y = Y.topRows(q);
            y.noalias() = m * xs;
            // The carried state read through C, decayed to each position: exp(prefix[l]) C_l H^T.
            auto off = Off.topRows(q);
            off.noalias() = Cm * H.transpose();
            const Eigen::ArrayXf decay_in = decay(prefix.head(q));
            for (int64_t l = 0; l < q; ++l) y.row(l) += decay_in[l] * off.row(l);
            if (p.D)
                for (int64_t l = 0; l < q; ++l) y.row(l) += p.D[hd] * X.row(l);
            Strided(p.y + c0 * p.y_stride + hd * P, q, P, Eigen::OuterStride<>(p.y_stride)) = y;

            // The state at the chunk's end: exp(prefix[q-1]) H + sum_s exp(suffix[s]) dt_s x_s B_s^T.
            auto bd = Bd.topRows(q);
            const Eigen::ArrayXf decay_out = decay(suffix.head(q));
            for (int64_t l = 0; l < q; ++l) bd.row(l) = Bm.row(l) * decay_out[l];
            H *= prefix[q - 1] < kNoDecay ? 0.0f : std::exp(prefix[q - 1]);
            H.noalias() += xs.transpose() * bd;
        }
    }
}

void gated_rms_norm(const float* y, int64_t y_stride, const float* z, int64_t z_stride, const float* weight,
                    float* out, int64_t out_stride, int64_t rows, int64_t channels, int64_t groups, float eps) {
    if (groups <= 0 || channels % groups != 0) throw std::invalid_argument("gated_rms_norm: bad groups");
    const int64_t gs = channels / groups;
    Eigen::ArrayXf v(channels);
    const Eigen::Map<const Eigen::ArrayXf> w(weight, channels);
    for (int64_t r = 0; r < rows; ++r) {
        const Eigen::Map<const Eigen::ArrayXf> yr(y + r * y_stride, channels), zr(z + r * z_stride, channels);
        v = yr * zr / (1.0f + (-zr).exp());  // y * silu(z), the exponentials vectorised
        Eigen::Map<Eigen::ArrayXf> o(out + r * out_stride, channels);
        for (int64_t g = 0; g < groups; ++g) {
            const float ss = v.segment(g * gs, gs).square().sum();
            const float inv = 1.0f / std::sqrt(ss / static_cast<float>(gs) + eps);
            o.segment(g * gs, gs) = w.segment(g * gs, gs) * (v.segment(g * gs, gs) * inv);
        }
    }
}

KRAIT_VARIANT_END
}  // namespace krait::kernels
