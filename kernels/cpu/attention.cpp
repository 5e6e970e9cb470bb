#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <Eigen/Core>

namespace krait::kernels {
KRAIT_VARIANT_BEGIN

// Causal blocks of queries (kAttentionQueryBlock, attention.h) only look at
// the keys up to their last query.
void attention(const AttentionParams& p, float* scratch) {
    using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Strided = Eigen::Stride<Eigen::Dynamic, 1>;
    using CMat = Eigen::Map<const RowMajor, 0, Strided>;
    using Mat = Eigen::Map<RowMajor, 0, Strided>;
    using Row = Eigen::Map<Eigen::ArrayXf, Eigen::Aligned64>;
    const int64_t T = p.tokens, hd = p.head_dim, S = p.keys > 0 ? p.keys : p.tokens;
    if (T <= 0 || hd <= 0) return;
    float* base = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(scratch) + 63) & ~uintptr_t(63));
    const int64_t sp = attention_padded(S);  // row stride of the score block
    float* sums = base + std::min(T, kAttentionQueryBlock) * sp;

    for (int64_t i0 = 0; i0 < T; i0 += kAttentionQueryBlock) {
        const int64_t rows = std::min(kAttentionQueryBlock, T - i0);
        // The keys some query of this block sees: from the first row's first to the last row's end.
        const int64_t k0 = visible_keys(p, i0).first, k1 = visible_keys(p, i0 + rows - 1).end;
        const int64_t keys = std::max<int64_t>(k1 - k0, 0);
        Mat out(p.out + i0 * p.out_stride, rows, hd, Strided(p.out_stride, 1));
        if (keys == 0) {  // no query of the block sees any key (an empty window): zeros, as attention_ref
            out.setZero();
            continue;
        }
        const int64_t kp = attention_padded(keys);
        // Score column c is key k0 + c; the row stride keeps every row 64-byte aligned.
        float* S0 = base;
        const CMat Q(p.q + i0 * p.q_stride, rows, hd, Strided(p.q_stride, 1));
        const CMat K(p.k + k0 * p.k_stride, keys, hd, Strided(p.k_stride, 1));
        const CMat V(p.v + k0 * p.v_stride, keys, hd, Strided(p.v_stride, 1));
        Mat scores(S0, rows, keys, Strided(sp, 1));
        scores.noalias() = Q * K.transpose();  // [rows, keys], unscaled

        for (int64_t r = 0; r < rows; ++r) {
            float* s = S0 + r * sp;
            const KeyRange vis = visible_keys(p, i0 + r);
            const int64_t c0 = vis.first - k0, c1 = vis.end - k0;  // this row's visible columns
            if (c1 <= c0) {
                std::fill(s, s + kp, 0.0f);
                sums[r] = 0.0f;
                continue;
            }
            const float mx = Eigen::Map<const Eigen::ArrayXf>(s + c0, c1 - c0).maxCoeff();  // exact in any order
            std::fill(s, s + c0, mx);   // keeps the masked columns and the padding finite through exp
            std::fill(s + c1, s + kp, mx);
            Row row(s, kp);
            row = ((row - mx) * p.scale).exp();
            std::fill(s, s + c0, 0.0f);  // masked and padding columns weigh nothing
            std::fill(s + c1, s + kp, 0.0f);
            sums[r] = row.sum();
        }

        // Normalise the [rows, hd] output rather than the [rows, keys] probabilities.
        out.noalias() = CMat(S0, rows, keys, Strided(sp, 1)) * V;  // this block's Q rows are no longer read
        for (int64_t r = 0; r < rows; ++r) out.row(r) *= sums[r] > 0.0f ? 1.0f / sums[r] : 0.0f;
    }
}

KRAIT_VARIANT_END
}  // namespace krait::kernels
