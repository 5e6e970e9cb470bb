#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <Eigen/Core>

namespace krait::kernels {

void attention_ref(const AttentionParams& p) {
    const int64_t T = p.tokens, hd = p.head_dim;
    std::vector<double> scores(static_cast<size_t>(T));
    std::vector<float> out(static_cast<size_t>(T * hd));  // p.out may alias p.q
    for (int64_t i = 0; i < T; ++i) {
        const int64_t len = p.causal ? i + 1 : T;
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < len; ++j) {
            double s = 0.0;
            for (int64_t d = 0; d < hd; ++d) s += static_cast<double>(p.q[i * p.q_stride + d]) * p.k[j * p.k_stride + d];
            scores[j] = s * p.scale;
            mx = std::max(mx, scores[j]);
        }
        double sum = 0.0;
        for (int64_t j = 0; j < len; ++j) sum += scores[j] = std::exp(scores[j] - mx);
        for (int64_t d = 0; d < hd; ++d) {
            double acc = 0.0;
            for (int64_t j = 0; j < len; ++j) acc += scores[j] * p.v[j * p.v_stride + d];
            out[i * hd + d] = static_cast<float>(acc / sum);
        }
    }
    for (int64_t i = 0; i < T; ++i)
        for (int64_t d = 0; d < hd; ++d) p.out[i * p.out_stride + d] = out[i * hd + d];
}

namespace {

// Score rows are padded to whole 64-byte lines (16 floats) and start 64-byte
// aligned, so exp and the row sums run entirely through Eigen's packet code
// (no scalar head or tail whose rounding would differ): results then depend
// on the values only, not on where the caller's buffers lie.
constexpr int64_t kPad = 16;
int64_t padded(int64_t n) { return (n + kPad - 1) / kPad * kPad; }

}  // namespace

// Queries are processed in blocks of kQueryBlock rows, so the scores of one
// block ([kQueryBlock, T], 300 KiB at T = 577) stay in L2 and scratch does
// not grow with T^2 (long causal prompts). Causal blocks only look at the
// keys up to their last query.
constexpr int64_t kQueryBlock = 128;

int64_t attention_scratch_floats(int64_t tokens) {
    const int64_t tp = padded(tokens);
    return std::min(tokens, kQueryBlock) * tp + padded(kQueryBlock) + kPad;  // scores, row sums, alignment slack
}

void attention(const AttentionParams& p, float* scratch) {
    using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Strided = Eigen::Stride<Eigen::Dynamic, 1>;
    using CMat = Eigen::Map<const RowMajor, 0, Strided>;
    using Mat = Eigen::Map<RowMajor, 0, Strided>;
    using Row = Eigen::Map<Eigen::ArrayXf, Eigen::Aligned64>;
    const int64_t T = p.tokens, hd = p.head_dim;
    if (T <= 0 || hd <= 0) return;
    float* S = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(scratch) + 63) & ~uintptr_t(63));
    const int64_t tp = padded(T);
    float* sums = S + std::min(T, kQueryBlock) * tp;

    for (int64_t i0 = 0; i0 < T; i0 += kQueryBlock) {
        const int64_t rows = std::min(kQueryBlock, T - i0);
        const int64_t keys = p.causal ? i0 + rows : T;  // keys any query of this block may see
        const int64_t kp = padded(keys);
        const CMat Q(p.q + i0 * p.q_stride, rows, hd, Strided(p.q_stride, 1));
        const CMat K(p.k, keys, hd, Strided(p.k_stride, 1));
        const CMat V(p.v, keys, hd, Strided(p.v_stride, 1));
        Mat scores(S, rows, keys, Strided(tp, 1));
        scores.noalias() = Q * K.transpose();  // [rows, keys], unscaled

        for (int64_t r = 0; r < rows; ++r) {
            float* s = S + r * tp;
            const int64_t len = p.causal ? i0 + r + 1 : T;
            const float mx = Eigen::Map<const Eigen::ArrayXf>(s, len).maxCoeff();  // exact in any order
            std::fill(s + len, s + kp, mx);  // keeps the padding finite through exp
            Row row(s, kp);
            row = ((row - mx) * p.scale).exp();
            std::fill(s + len, s + kp, 0.0f);  // masked and padding columns weigh nothing
            sums[r] = row.sum();
        }

        // Normalise the [rows, hd] output rather than the [rows, keys] probabilities.
        Mat out(p.out + i0 * p.out_stride, rows, hd, Strided(p.out_stride, 1));
        out.noalias() = CMat(S, rows, keys, Strided(tp, 1)) * V;  // this block's Q rows are no longer read
        for (int64_t r = 0; r < rows; ++r) out.row(r) *= 1.0f / sums[r];
    }
}

}  // namespace krait::kernels
