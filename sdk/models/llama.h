// The Llama family of transformer language models on the CPU: Llama (1, 2, 3,
// TinyLlama, SmolLM2, ...), Mistral (sliding-window attention) and Qwen2 (q/k/v
// biases), as transformers' LlamaForCausalLM / MistralForCausalLM /
// Qwen2ForCausalLM compute them:
//
//   h = embed_tokens[ids]
//   per layer:  a = RMSNorm(h);  q, k, v = a Wq^T (+b), a Wk^T (+b), a Wv^T (+b)
//               q, k = RoPE(q, k at their positions);  append k, v to the KV cache
//               h += o_proj(softmax(q K^T / sqrt(hd) + causal [+ window] mask) V)
//               m = RMSNorm(h);  h += down(silu(gate(m)) * up(m))
//   logits = lm_head(RMSNorm(h))   (lm_head tied to embed_tokens or not)
//
// Weights are read as F32 (F16/BF16 files are converted at load). The model
// is immutable and shared; each sequence's KV cache is a LlamaState, sized by
// the session's context length.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sdk/adapters/adapter_targets.h"
#include "sdk/models/blocks.h"
#include "sdk/models/language_model.h"
#include "sdk/models/llama_config.h"
#include "sdk/models/ops.h"
#include "sdk/models/registry.h"
#include "sdk/models/weight_loader.h"

namespace krait {

// The KV cache of one sequence: K and V of every layer for up to capacity()
// positions. Truncating forgets positions (their rows are overwritten later).
struct LlamaState final : SequenceState {
    LlamaState(int64_t layers, int64_t capacity, int64_t kv_dim);

    int64_t capacity() const override { return capacity_; }
    void reset() override { n_tokens_ = 0; }
    std::unique_ptr<SequenceState> snapshot() const override;  // holds only the n_tokens() rows in use
    void restore(const SequenceState& from) override;
    void truncate(int64_t n) override;
    size_t bytes() const override { return (k.size() + v.size()) * sizeof(float); }
    void export_data(std::vector<float>& out) const override;  // per layer K rows, then per layer V rows
    void import_data(const float* data, size_t count, int64_t n_tokens) override;

    float* k_rows(int64_t layer) { return k.data() + layer * capacity_ * kv_dim_; }  // [capacity, kv_dim]
    float* v_rows(int64_t layer) { return v.data() + layer * capacity_ * kv_dim_; }
    void advance(int64_t n) { n_tokens_ += n; }

private:
    int64_t layers_, capacity_, kv_dim_;
    std::vector<float> k, v;  // [layers][capacity][kv_heads * head_dim]
};

struct LlamaWorkspace final : LmWorkspace {
    std::vector<float> residual, normed, q, k, v, gate, up, attention;
    std::vector<const float*> k_caches, v_caches;
    std::vector<int64_t> past;
    std::vector<float> inv_freq;  // dynamic RoPE: this call's frequencies
};

class LlamaModel final : public LanguageModel {
public:
    using Progress = std::function<bool(float)>;

    // Loads and validates `dir` (config.json + safetensors). Throws krait::Error
    // naming the file and tensor for a missing or mis-shaped weight.
    // weights: F16/BF16 linear and embedding weights used in place or upcast
    // to F32, BF16 dot products allowed or not; see LoadOptions::weights.
    static std::unique_ptr<LlamaModel> load(const std::string& dir, const Progress& progress = nullptr,
                                       WeightOptions weights = {});
    // The same from a config and weights that may be part of another model's (registry.h's ModelSource).
    static std::unique_ptr<LlamaModel> load(const ModelSource& source, const Progress& progress, WeightOptions weights);

    const LlamaConfig& config() const { return config_; }

    // ---- LanguageModel
    const LanguageModelInfo& info() const override { return info_; }
    std::unique_ptr<SequenceState> new_state(int64_t context_length) const override;
    std::unique_ptr<LmWorkspace> new_workspace() const override { return std::make_unique<LlamaWorkspace>(); }
    void eval(const int32_t* ids, int64_t batch, int64_t length, SequenceState* const* states, Logits mode,
              float* logits, ThreadPool& pool, LmWorkspace& ws, const std::atomic<bool>* abort,
              const LoraSet* lora) const override;
    void eval_embedded(const float* embeddings, int64_t batch, int64_t length, SequenceState* const* states,
                       Logits mode, float* logits, ThreadPool& pool, LmWorkspace& ws, const std::atomic<bool>* abort,
                       const LoraSet* lora) const override;
    void embed(const int32_t* ids, int64_t n, float* out, ThreadPool& pool, const LoraSet* lora) const override;
    const AdapterTargets& adapter_targets() const override { return targets_; }
    std::vector<std::pair<std::string, std::string>> fingerprint() const override;

    // Tokens per prefill chunk: bounds the activations of a long prompt (the
    // KV cache carries the context from chunk to chunk).
    static constexpr int64_t kChunkTokens = 256;

private:
    struct Layer {
        const float* input_norm = nullptr;      // [D]
        Linear q_proj, k_proj, v_proj;          // [H*hd, D], [KV*hd, D], [KV*hd, D] (+ biases)
        Linear o_proj;                          // [D, H*hd] (+ bias: llama attention_bias)
        const float* post_norm = nullptr;       // [D]
        Linear gate_proj, up_proj;              // [F, D] (+ bias: mlp_bias)
        Linear down_proj;                       // [D, F]
        int64_t window = 0;                     // sliding window of this layer; 0 = full attention
    };

    LlamaModel() = default;
    void eval_rows(const TokenRows& in, int64_t batch, int64_t length, SequenceState* const* states, Logits mode,
                   float* logits, ThreadPool& pool, LmWorkspace& ws, const std::atomic<bool>* abort,
                   const LoraSet* lora) const;
    void eval_chunk(const TokenRows& in, int64_t batch, int64_t length, LlamaState* const* states,
                    Logits mode, float* logits, int64_t logits_row_stride, ThreadPool& pool, LlamaWorkspace& ws,
                    const std::atomic<bool>* abort, const LoraSet* lora) const;

    LlamaConfig config_;
    LanguageModelInfo info_;
    std::unique_ptr<WeightLoader> loader_;  // owns or maps every pointer below
    PackedStore packed_;                    // the linears packed for multi-row GEMMs
    Embedding embed_tokens_;                // [V, D]
    std::vector<Layer> layers_;
    const float* norm_ = nullptr;  // [D]
    Linear lm_head_;               // [V, D]
    std::vector<float> inv_freq_;  // [hd / 2] RoPE frequencies (all but dynamic NTK)
    float rope_scaling_ = 1.0f;    // YaRN's attention factor on cos/sin
    AdapterTargets targets_;
};

}  // namespace krait
