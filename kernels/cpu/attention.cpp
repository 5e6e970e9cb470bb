#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <Eigen/Core>

namespace krait::kernels {

namespace {

int64_t key_count(const AttentionParams& p) { return p.keys > 0 ? p.keys : p.tokens; }

// The keys query i sees: [first, end).
struct KeyRange {
    int64_t first, end;
};
KeyRange visible_keys(const AttentionParams& p, int64_t i) {
    const int64_t S = key_count(p);
    if (!p.causal) return {0, S};
    const int64_t pos = p.query_offset + i;
    const int64_t end = std::min(S, pos + 1);
    const int64_t first = p.window > 0 ? std::max<int64_t>(0, pos - p.window + 1) : 0;
    return {std::min(first, end), end};
}

}  // namespace

void attention_ref(const AttentionParams& p) {
    const int64_t T = p.tokens, hd = p.head_dim, S = key_count(p);
    std::vector<double> scores(static_cast<size_t>(S));
    std::vector<float> out(static_cast<size_t>(T * hd));  // p.out may alias p.q
    for (int64_t i = 0; i < T; ++i) {
        const KeyRange r = visible_keys(p, i);
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = r.first; j < r.end; ++j) {
            double s = 0.0;
            for (int64_t d = 0; d < hd; ++d) s += static_cast<double>(p.q[i * p.q_stride + d]) * p.k[j * p.k_stride + d];
            scores[j] = s * p.scale;
            mx = std::max(mx, scores[j]);
        }
        double sum = 0.0;
        for (int64_t j = r.first; j < r.end; ++j) sum += scores[j] = std::exp(scores[j] - mx);
        for (int64_t d = 0; d < hd; ++d) {
            double acc = 0.0;
            for (int64_t j = r.first; j < r.end; ++j) acc += scores[j] * p.v[j * p.v_stride + d];
            out[i * hd + d] = sum > 0.0 ? static_cast<float>(acc / sum) : 0.0f;  // no visible key: zeros
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

int64_t attention_scratch_floats(int64_t tokens, int64_t keys) {
    const int64_t tp = padded(keys > 0 ? keys : tokens);
    return std::min(tokens, kQueryBlock) * tp + padded(kQueryBlock) + kPad;  // scores, row sums, alignment slack
}

void attention(const AttentionParams& p, float* scratch) {
    using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Strided = Eigen::Stride<Eigen::Dynamic, 1>;
    using CMat = Eigen::Map<const RowMajor, 0, Strided>;
    using Mat = Eigen::Map<RowMajor, 0, Strided>;
    using Row = Eigen::Map<Eigen::ArrayXf, Eigen::Aligned64>;
    const int64_t T = p.tokens, hd = p.head_dim, S = key_count(p);
    if (T <= 0 || hd <= 0) return;
    float* base = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(scratch) + 63) & ~uintptr_t(63));
    const int64_t sp = padded(S);  // row stride of the score block
    float* sums = base + std::min(T, kQueryBlock) * sp;

    for (int64_t i0 = 0; i0 < T; i0 += kQueryBlock) {
        const int64_t rows = std::min(kQueryBlock, T - i0);
        // The keys some query of this block sees: from the first row's first to the last row's end.
        const int64_t k0 = visible_keys(p, i0).first, k1 = visible_keys(p, i0 + rows - 1).end;
        const int64_t keys = std::max<int64_t>(k1 - k0, 0);
        Mat out(p.out + i0 * p.out_stride, rows, hd, Strided(p.out_stride, 1));
        if (keys == 0) {  // no query of the block sees any key (an empty window): zeros, as attention_ref
            out.setZero();
            continue;
        }
        const int64_t kp = padded(keys);
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

}  // namespace krait::kernels
