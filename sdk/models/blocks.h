// Building blocks shared by every vision and language model: LayerNorm,
// activations, MLP, multi-head self-attention, 2-D convolution and BatchNorm
// folding. Written once here; ViT, CLIP, MambaVision and Llama call these.
// Each splits kernels from kernels/cpu over a session's ThreadPool.
//
// Token layouts are [batch, tokens, channels] row-major; image layouts are
// NCHW as in PyTorch. Weights follow PyTorch's shapes (noted per field).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sdk/core/thread_pool.h"
#include "sdk/models/ops.h"

namespace krait {

struct LayerNormWeights {
    const float* weight = nullptr;  // [dim]
    const float* bias = nullptr;    // [dim] or nullptr
    int64_t dim = 0;
    float eps = 1e-5f;
};

// y[r] = (x[r] - mean) / sqrt(var + eps) * weight + bias, per row (y may alias x).
void run_layer_norm(ThreadPool& pool, const LayerNormWeights& ln, const float* x, int64_t rows, int64_t x_stride,
                    float* y, int64_t y_stride);

enum class Activation { None, Relu, GeluErf, GeluTanh, QuickGelu, Silu };

// In place over n contiguous values.
void run_activation(ThreadPool& pool, Activation act, float* x, int64_t n);

// In place over `rows` rows of `cols` values, `stride` floats apart.
void run_activation_rows(ThreadPool& pool, Activation act, float* x, int64_t rows, int64_t cols, int64_t stride);

struct MlpWeights {
    Linear fc1;  // [hidden, dim]
    Linear fc2;  // [dim, hidden]
    Activation act = Activation::GeluErf;
};

// y[rows, dim] (=|+=) fc2(act(fc1(x))). `scratch` is grown as needed.
void run_mlp(ThreadPool& pool, const MlpWeights& mlp, const float* x, int64_t rows, float* y, bool accumulate,
             std::vector<float>& scratch, const LoraSet* lora = nullptr);

struct AttentionWeights {
    // Either separate q/k/v projections ([dim, dim] each) or one fused qkv
    // ([3*dim, dim], output split q|k|v as timm/MambaVision do); leave the
    // unused ones with weight == nullptr.
    Linear q, k, v;
    Linear qkv;
    Linear out;  // [dim, dim]
    int64_t num_heads = 0;
    int64_t head_dim = 0;
    bool causal = false;  // Llama-style decoder masks the future; vision models do not
};

// Multi-head scaled-dot-product self-attention over `sequences` independent
// sequences of `tokens` tokens each: x, y [sequences * tokens, dim]
// (y =|+= out(attn(x))). Scale head_dim^-0.5, softmax in fp32.
void run_self_attention(ThreadPool& pool, const AttentionWeights& attn, const float* x, int64_t sequences,
                        int64_t tokens, float* y, bool accumulate, std::vector<float>& scratch,
                        const LoraSet* lora = nullptr);

// Causal attention of new tokens over a KV cache (the Llama family's
// attention after its projections and RoPE): `batch` sequences of `tokens`
// new rows each; sequence b's new rows are its positions past[b] ..
// past[b] + tokens - 1, and its cache holds past[b] + tokens rows of K and V
// (the new ones included), kv_heads * head_dim floats each, at k_cache[b] /
// v_cache[b] with row stride cache_stride. Query head h reads KV head
// h / (heads / kv_heads) (GQA, MQA). window > 0: each query sees only the last
// `window` positions (sliding-window layers). q, out: [batch * tokens,
// heads * head_dim] at row strides q_stride / out_stride (out may be q).
// Scale head_dim^-0.5. (sequence, head) pairs are split over the threads.
struct CachedAttention {
    int64_t heads = 0, kv_heads = 0, head_dim = 0;
    int64_t window = 0;
};
void run_cached_attention(ThreadPool& pool, const CachedAttention& attn, const float* q, int64_t q_stride, int64_t batch,
                          int64_t tokens, const float* const* k_cache, const float* const* v_cache,
                          int64_t cache_stride, const int64_t* past, float* out, int64_t out_stride,
                          std::vector<float>& scratch);

struct Conv2dWeights {
    const float* weight = nullptr;  // [out, in / groups, kernel_h, kernel_w]
    const float* bias = nullptr;    // [out] or nullptr
    int64_t in_channels = 0, out_channels = 0;
    int64_t kernel_h = 0, kernel_w = 0;
    int64_t stride = 1, padding = 0, groups = 1;
    int32_t slot = -1;  // AdapterTargets slot; -1 = not adaptable
    // 3x3, stride 1, padding 1, groups 1 only: the filters transformed for
    // Winograd F(4x4, 3x3) (kernels/cpu/winograd.h), owned by the model's
    // PackedStore; when set, the conv runs on them instead of im2col.
    const kernels::Winograd43Weights* winograd = nullptr;
};

int64_t conv2d_output_size(int64_t input, int64_t kernel, int64_t stride, int64_t padding);

// What follows a conv in a block: y = residual + residual_scale[c] * act(conv(x)).
// Fused into the Winograd path's output transform (no extra pass over y);
// elsewhere, or with LoRA terms on the conv, run as separate passes.
struct ConvEpilogue {
    Activation activation = Activation::None;
    const float* residual = nullptr;        // [batch, out, out_h, out_w] or nullptr; overlaps neither x nor y
    const float* residual_scale = nullptr;  // [out] or nullptr (1); only with a residual
};

// x [batch, in, h, w] -> y [batch, out, out_h, out_w] (zero padding), as nn.Conv2d,
// then the epilogue. Active LoRA terms are added to the conv's output (peft's
// conv LoRA: A a conv with the base's kernel, stride and padding; B a 1x1 conv
// with the base's groups).
void run_conv2d(ThreadPool& pool, const Conv2dWeights& conv, const float* x, int64_t batch, int64_t h, int64_t w,
                float* y, std::vector<float>& scratch, const LoraSet* lora = nullptr,
                const ConvEpilogue& epilogue = {});

// Registers a conv's slot; `out_scale` [out] is a BatchNorm folded into it at load (or nullptr).
void register_conv2d(AdapterTargets& targets, const std::string& name, Conv2dWeights& conv,
                     const float* out_scale = nullptr);

// The active LoRA terms of a 'same'-padded Conv1d running along the tokens
// of each sequence (MambaVision's depthwise mixer convs; peft: A a conv with
// the base's kernel and padding, B a 1x1 conv with the base's groups):
// y[s * tokens + t, :] += delta for x [sequences * tokens, in] (row stride
// x_stride) and y rows y_stride apart. Call before the conv's activation.
void add_conv1d_lora(ThreadPool& pool, const SlotAdapters& active, const float* x, int64_t x_stride,
                     int64_t sequences, int64_t tokens, float* y, int64_t y_stride);

// The selective state-space layer of Mamba, shared by the Mamba language
// model and MambaVision's mixer (written once here):
//   [dt_r | B | C] = x_proj(u);  dt = dt_proj(dt_r)
//   y = selective_scan(u, softplus(dt + dt_bias), A, B, C, D), times silu(z) when gated.
struct SelectiveSsmWeights {
    Linear x_proj;                 // [R + 2N, E]
    Linear dt_proj;                // [E, R] (a bias here is added before dt_bias: MambaVision adds it twice)
    const float* dt_bias = nullptr;  // [E], added inside the scan, before the softplus
    const float* A = nullptr;      // [N, E] = -exp(A_log)^T (channels contiguous)
    const float* D = nullptr;      // [E] skip
    int64_t channels = 0;          // E
    int64_t state = 0;             // N
    int64_t rank = 0;              // R
};

// `sequences` independent sequences of `tokens` rows each, in order:
// u [sequences * tokens, E] (row stride u_stride), optional gate z (row
// stride z_stride, nullptr = none), states h[s] -> [N, E] read and left
// updated, y rows y_stride apart (y may be u's buffer only with equal strides).
// Work is split over (sequence, 16-channel block); channels are independent,
// so the result does not depend on the thread count. `scratch` holds
// selective_ssm_scratch_floats(ssm, sequences * tokens) floats.
void run_selective_ssm(ThreadPool& pool, const SelectiveSsmWeights& ssm, const float* u, int64_t u_stride,
                       const float* z, int64_t z_stride, int64_t sequences, int64_t tokens, float* const* h, float* y,
                       int64_t y_stride, float* scratch, const LoraSet* lora);
inline int64_t selective_ssm_scratch_floats(const SelectiveSsmWeights& ssm, int64_t rows) {
    return rows * (ssm.rank + 2 * ssm.state + ssm.channels);  // x_dbl [rows, R + 2N] | dt [rows, E]
}

// Folds an eval-mode BatchNorm (y = (x - mean) / sqrt(var + eps) * gamma + beta)
// that follows a convolution into its weight and bias: returns the new
// weight [out, ...] (same size as conv's) and bias [out] in `weight_out`/`bias_out`.
void fold_batch_norm(const Conv2dWeights& conv, const float* gamma, const float* beta, const float* mean,
                     const float* var, float eps, std::vector<float>& weight_out, std::vector<float>& bias_out);

}  // namespace krait
