#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace krait::kernels {

void attention_ref(const AttentionParams& p) {
    const int64_t T = p.tokens, hd = p.head_dim, S = p.keys > 0 ? p.keys : p.tokens;
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

}  // namespace krait::kernels
