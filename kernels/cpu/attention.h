// Scaled-dot-product attention for one head of one sequence:
//   out = softmax(scale * Q K^T [+ mask]) V,   Q, out: [T, head_dim], K, V: [S, head_dim]
// Softmax in fp32 with the row maximum subtracted, as PyTorch does. Rows are
// strided so a caller can point Q/K/V at the head's columns of a fused
// [T, 3 * dim] projection buffer (head h = channels [h * head_dim, (h+1) * head_dim)),
// or K/V at one KV head of a cache shared by several query heads (GQA).
//
// Self-attention (ViT, CLIP, MambaVision windows): S = T, no mask.
// Causal attention over a KV cache (Llama, ...): the T queries are the
// sequence's positions query_offset .. query_offset + T - 1 and the S keys its
// positions 0 .. S - 1; query i sees key j iff j <= query_offset + i and, with
// a sliding window W > 0, j > query_offset + i - W (as transformers' masks).
#pragma once

#include "kernels/cpu/variant.h"

#include <algorithm>
#include <cstdint>

namespace krait::kernels {

struct AttentionParams {
    int64_t tokens = 0;    // T queries (and keys, unless `keys` is set)
    int64_t keys = 0;      // S; 0 = T (self-attention)
    int64_t head_dim = 0;  // hd
    const float* q = nullptr;  // [T, hd], row stride q_stride
    int64_t q_stride = 0;
    const float* k = nullptr;  // [S, hd], row stride k_stride
    int64_t k_stride = 0;
    const float* v = nullptr;  // [S, hd], row stride v_stride
    int64_t v_stride = 0;
    float* out = nullptr;  // [T, hd], row stride out_stride; may alias q (then out_stride == q_stride)
    int64_t out_stride = 0;
    float scale = 1.0f;   // usually head_dim^-0.5
    bool causal = false;       // key j > query_offset + i is masked out
    int64_t query_offset = 0;  // causal: the position of query 0 among the keys (S - T for a KV cache)
    int64_t window = 0;        // causal: > 0 also masks keys j <= query_offset + i - window
};

// The keys query i sees: [first, end) (empty when first == end).
struct KeyRange {
    int64_t first, end;
};
inline KeyRange visible_keys(const AttentionParams& p, int64_t i) {
    const int64_t S = p.keys > 0 ? p.keys : p.tokens;
    if (!p.causal) return {0, S};
    const int64_t pos = p.query_offset + i;
    const int64_t end = std::min(S, pos + 1);
    const int64_t first = p.window > 0 ? std::max<int64_t>(0, pos - p.window + 1) : 0;
    return {std::min(first, end), end};
}

// Plain loops in double: the yardstick.
void attention_ref(const AttentionParams& p);

// attention() processes queries in blocks of kAttentionQueryBlock rows, so the
// scores of one block ([128, S], 300 KiB at S = 577) stay in L2 and scratch
// does not grow with T^2 (long causal prompts). Score rows are padded to
// whole 64-byte lines (kAttentionRowPad floats).
inline constexpr int64_t kAttentionQueryBlock = 128;
inline constexpr int64_t kAttentionRowPad = 16;
inline constexpr int64_t attention_padded(int64_t n) {
    return (n + kAttentionRowPad - 1) / kAttentionRowPad * kAttentionRowPad;
}

// Floats of scratch attention() needs for `tokens` queries over `keys` keys
// (0 = tokens): scores, row sums, and slack to align them.
inline int64_t attention_scratch_floats(int64_t tokens, int64_t keys = 0) {
    const int64_t score_stride = attention_padded(keys > 0 ? keys : tokens);
    return std::min(tokens, kAttentionQueryBlock) * score_stride + attention_padded(kAttentionQueryBlock) +
           kAttentionRowPad;
}

// Eigen GEMMs for Q K^T and P V with the softmax between them, over blocks of
// 128 queries (scratch is O(128 S), never a T x S matrix); a causal or
// windowed block only multiplies the keys some query of the block can see.
// One head at a time: callers run (sequence, head) pairs on different
// threads, each with its own scratch of attention_scratch_floats(T, S) floats.
KRAIT_VARIANT_BEGIN
void attention(const AttentionParams& p, float* scratch);
KRAIT_VARIANT_END

}  // namespace krait::kernels
