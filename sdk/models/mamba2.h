// Mamba-2 language model on the CPU (transformers' Mamba2ForCausalLM, model_type "mamba2").
//
// Per layer h = h + mixer(RMSNorm(h)) with an fp32 residual. The mixer: in_proj -> [z, xBC, dt];
// causal depthwise conv + SiLU over xBC (x: E channels, then B and C: G*N each); the SSD
// state-space model (kernels/cpu/ssd.h: per head a scalar decay exp(dt*A), dt = softplus(dt +
// dt_bias) clamped to time_step_limit, D skip) run chunked over a prompt and as the recurrence for a
// single token or a short call (kScanMaxTokens); transformers' gated RMSNorm (y * silu(z), normalised
// per group); out_proj. Final norm_f, then the lm_head (tied to the embeddings or not).
//
// One deliberate difference: transformers clamps dt to time_step_limit in its chunked path only, not in
// its single-token decode step (nor does mamba_ssm's selective_state_update); Krait clamps in both, so a
// token's result does not depend on how the sequence was cut into calls. With the default limit
// (0, inf), which every published checkpoint uses, the two agree.
//
// The model is immutable after load and shared by sessions; Mamba2State holds one sequence's conv
// and SSM caches (constant size: like Mamba it cannot forget tokens, restore a snapshot instead).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sdk/adapters/adapter_targets.h"
#include "sdk/core/thread_pool.h"
#include "sdk/models/language_model.h"
#include "sdk/models/mamba2_config.h"
#include "sdk/models/ops.h"
#include "sdk/models/registry.h"
#include "sdk/models/weight_loader.h"

namespace krait {

struct Mamba2State final : SequenceState {
    std::vector<float> conv;  // [layers][K-1][conv_dim]: the last K-1 conv inputs, oldest first
    std::vector<float> ssm;   // [layers][H][P][N]: the SSM state

    int64_t capacity() const override { return -1; }
    void reset() override;
    std::unique_ptr<SequenceState> snapshot() const override { return std::make_unique<Mamba2State>(*this); }
    void restore(const SequenceState& from) override;
    void truncate(int64_t n) override;
    size_t bytes() const override { return (conv.size() + ssm.size()) * sizeof(float); }
    void export_data(std::vector<float>& out) const override;  // conv, then ssm
    void import_data(const float* data, size_t count, int64_t n_tokens) override;
    void advance(int64_t n) { n_tokens_ += n; }
};

struct Mamba2Workspace final : LmWorkspace {
    std::vector<float> residual, normed, proj, xbc, y;
};

class Mamba2Model final : public LanguageModel {
public:
    using Progress = std::function<bool(float)>;

    static std::unique_ptr<Mamba2Model> load(const std::string& dir, const Progress& progress = nullptr,
                                             WeightOptions weights = {});
    static std::unique_ptr<Mamba2Model> load(const ModelSource& source, const Progress& progress, WeightOptions weights);

    const Mamba2Config& config() const { return config_; }
    const std::string& source_dtype() const { return loader_->source_dtype(); }
    Mamba2State new_state() const;

    // ---- LanguageModel
    const LanguageModelInfo& info() const override { return info_; }
    std::unique_ptr<SequenceState> new_state(int64_t /*unbounded*/) const override {
        return std::make_unique<Mamba2State>(new_state());
    }
    std::unique_ptr<LmWorkspace> new_workspace() const override { return std::make_unique<Mamba2Workspace>(); }
    void eval(const int32_t* ids, int64_t batch, int64_t length, SequenceState* const* states, Logits mode,
              float* logits, ThreadPool& pool, LmWorkspace& ws, const std::atomic<bool>* abort,
              const LoraSet* lora) const override;
    void eval_embedded(const float* embeddings, int64_t batch, int64_t length, SequenceState* const* states,
                       Logits mode, float* logits, ThreadPool& pool, LmWorkspace& ws, const std::atomic<bool>* abort,
                       const LoraSet* lora) const override;
    void embed(const int32_t* ids, int64_t n, float* out, ThreadPool& pool, const LoraSet* lora) const override;
    // Embeddings, in_proj, out_proj of every layer and an untied lm_head, by transformers' names.
    const AdapterTargets& adapter_targets() const override { return targets_; }
    std::vector<std::pair<std::string, std::string>> fingerprint() const override;

    // Tokens per call chunk of eval() (bounds the activations; the state carries across).
    static constexpr int64_t kChunkTokens = 256;
    // Calls of up to this many tokens (per sequence) run the SSD as the recurrence (kernels' ssd_scan), longer
    // ones by chunks of kSsdChunk tokens (ssd_chunked). The chunk length is the algorithm's own choice (any
    // length gives the same result to fp32 rounding); the checkpoint's chunk_size, 256 for every published
    // one, makes the masked within-chunk products (Q^2 per chunk) cost more than they save on a CPU:
    // krait-bench-ssd on the Mamba-2-130m shape, one thread, AVX-512, L = 256: scan 16.2 us per token and
    // layer, chunks of 256 25.7, of 64 13.6 (bench/ssd_bench.cpp).
    static constexpr int64_t kScanMaxTokens = 32;
    static constexpr int64_t kSsdChunk = 64;

private:
    struct Layer {
        const float* norm = nullptr;         // [D]
        Linear in_proj;                      // [E + conv_dim + H, D]
        const float* conv_weight = nullptr;  // [conv_dim, K]
        const float* conv_bias = nullptr;    // [conv_dim] or nullptr
        const float* dt_bias = nullptr;      // [H]
        const float* A = nullptr;            // [H] = -exp(A_log)
        const float* D = nullptr;            // [H]
        const float* gate_norm = nullptr;    // [E]
        Linear out_proj;                     // [D, E]
    };

    Mamba2Model() = default;
    void eval_rows(const TokenRows& in, int64_t batch, int64_t length, Mamba2State* const* states, Logits mode,
                   float* logits, ThreadPool& pool, Mamba2Workspace& ws, const std::atomic<bool>* abort,
                   const LoraSet* lora) const;
    void eval_chunk(const TokenRows& in, int64_t batch, int64_t length, Mamba2State* const* states, Logits mode,
                    float* logits, int64_t logits_row_stride, ThreadPool& pool, Mamba2Workspace& ws,
                    const std::atomic<bool>* abort, const LoraSet* lora) const;

    Mamba2Config config_;
    LanguageModelInfo info_;
    std::unique_ptr<WeightLoader> loader_;
    PackedStore packed_;
    Embedding embeddings_;
    std::vector<Layer> layers_;
    const float* norm_f_ = nullptr;
    Linear lm_head_;
    AdapterTargets targets_;
};

}  // namespace krait
