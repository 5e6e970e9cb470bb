// Scaled-dot-product attention for one head of one sequence:
//   out = softmax(scale * Q K^T [+ causal mask]) V,   Q, K, V, out: [T, head_dim]
// Softmax in fp32 with the row maximum subtracted, as PyTorch does. Rows are
// strided so a caller can point Q/K/V at the head's columns of a fused
// [T, 3 * dim] projection buffer (head h = channels [h * head_dim, (h+1) * head_dim)).
#pragma once

#include <cstdint>

namespace krait::kernels {

struct AttentionParams {
    int64_t tokens = 0;    // T (queries and keys: self-attention)
    int64_t head_dim = 0;  // hd
    const float* q = nullptr;  // [T, hd], row stride q_stride
    int64_t q_stride = 0;
    const float* k = nullptr;  // [T, hd], row stride k_stride
    int64_t k_stride = 0;
    const float* v = nullptr;  // [T, hd], row stride v_stride
    int64_t v_stride = 0;
    float* out = nullptr;  // [T, hd], row stride out_stride; may alias q (then out_stride == q_stride)
    int64_t out_stride = 0;
    float scale = 1.0f;   // usually head_dim^-0.5
    bool causal = false;  // key j > query i is masked out
};

// Plain loops in double: the yardstick.
void attention_ref(const AttentionParams& p);

// Floats of scratch attention() needs for `tokens` tokens (including slack to align it).
int64_t attention_scratch_floats(int64_t tokens);

// Eigen GEMMs for Q K^T and P V with the softmax between them, over blocks of
// 128 queries (scratch is O(T), not O(T^2)). One head at a
// time: callers run (sequence, head) pairs on different threads, each with
// its own scratch of attention_scratch_floats(T) floats.
void attention(const AttentionParams& p, float* scratch);

}  // namespace krait::kernels
