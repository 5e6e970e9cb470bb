// Mamba (v1) selective state-space language model on the CPU.
//
// Semantics are exactly transformers' MambaForCausalLM (see
// shared/reference/model-formats.md): per layer h = h + mixer(RMSNorm(h)) with
// an fp32 residual; the mixer is in_proj -> causal depthwise conv + SiLU ->
// x_proj -> dt_proj + softplus -> selective scan with D skip, gated by SiLU(z)
// -> out_proj. Final RMSNorm, then the (usually tied) lm_head.
//
// The model is immutable after load and shared by sessions; everything that
// changes per call lives in MambaState (the recurrent caches of one sequence)
// and MambaWorkspace (scratch buffers of one session). It implements the
// LanguageModel interface (sdk/models/language_model.h) through which
// sessions run every sequence model; the typed eval() below is the same call
// for code (tests) that holds Mamba states directly.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sdk/adapters/adapter_targets.h"
#include "sdk/core/thread_pool.h"
#include "sdk/models/registry.h"
#include "sdk/models/blocks.h"
#include "sdk/models/language_model.h"
#include "sdk/models/mamba_config.h"
#include "sdk/models/ops.h"
#include "sdk/models/weight_loader.h"

namespace krait {

// Recurrent state of one sequence: constant size whatever its length, so it
// cannot give tokens back (truncate() accepts only 0 and n_tokens()).
struct MambaState final : SequenceState {
    std::vector<float> conv;  // [layers][K-1][E]: the last K-1 conv inputs, oldest first
    std::vector<float> ssm;   // [layers][N][E]: the SSM state h

    int64_t capacity() const override { return -1; }
    void reset() override;
    std::unique_ptr<SequenceState> snapshot() const override { return std::make_unique<MambaState>(*this); }
    void restore(const SequenceState& from) override;
    void truncate(int64_t n) override;
    size_t bytes() const override { return (conv.size() + ssm.size()) * sizeof(float); }
    void export_data(std::vector<float>& out) const override;  // conv, then ssm
    void import_data(const float* data, size_t count, int64_t n_tokens) override;
    void advance(int64_t n) { n_tokens_ += n; }
};

// Scratch buffers reused across calls of one session (grown on demand).
struct MambaWorkspace final : LmWorkspace {
    std::vector<float> residual, normed, xz, x_conv, ssm_scratch, y;
    std::vector<float*> ssm_states;  // per-sequence pointers into the states of a call
};

class MambaModel final : public LanguageModel {
public:
    // Called with the fraction of tensors prepared; return false to cancel.
    using Progress = std::function<bool(float)>;

    // Loads and validates `dir` (config.json + safetensors). Throws krait::Error.
    // weights: F16/BF16 linear and embedding weights used in place or upcast
    // to F32, BF16 dot products allowed or not; see LoadOptions::weights.
    static std::unique_ptr<MambaModel> load(const std::string& dir, const Progress& progress = nullptr,
                                       WeightOptions weights = {});
    // The same from a config and weights that may be part of another model's (registry.h's ModelSource).
    static std::unique_ptr<MambaModel> load(const ModelSource& source, const Progress& progress, WeightOptions weights);

    const MambaConfig& config() const { return config_; }
    int64_t num_parameters() const { return loader_->parameters_loaded(); }
    const std::string& source_dtype() const { return loader_->source_dtype(); }

    MambaState new_state() const;

    // ---- LanguageModel
    const LanguageModelInfo& info() const override { return info_; }
    std::unique_ptr<SequenceState> new_state(int64_t /*context_length: unbounded*/) const override {
        return std::make_unique<MambaState>(new_state());
    }
    std::unique_ptr<LmWorkspace> new_workspace() const override { return std::make_unique<MambaWorkspace>(); }
    void eval(const int32_t* ids, int64_t batch, int64_t length, SequenceState* const* states, Logits mode,
              float* logits, ThreadPool& pool, LmWorkspace& ws, const std::atomic<bool>* abort,
              const LoraSet* lora) const override;
    void eval_embedded(const float* embeddings, int64_t batch, int64_t length, SequenceState* const* states,
                       Logits mode, float* logits, ThreadPool& pool, LmWorkspace& ws, const std::atomic<bool>* abort,
                       const LoraSet* lora) const override;
    void embed(const int32_t* ids, int64_t n, float* out, ThreadPool& pool, const LoraSet* lora) const override;

    // Runs `batch` sequences of `length` tokens (ids [batch, length]) on from
    // states[b] (updated in place). Logits::All writes [batch, length, vocab],
    // Last writes [batch, vocab] (after each row's last token), None nothing.
    // Long sequences are processed in chunks carrying the state, so memory stays
    // bounded. Ids must be validated by the caller (0 <= id < vocab_size).
    // Throws KRAIT_ERR_ABORTED if *abort becomes true between steps.
    // `lora`: the adapters active for this call (nullptr = the base model).
    void eval(const int32_t* ids, int64_t batch, int64_t length, MambaState* const* states, Logits mode,
              float* logits, ThreadPool& pool, MambaWorkspace& ws, const std::atomic<bool>* abort,
              const LoraSet* lora = nullptr) const;

    // The modules adapters may change: embeddings, in_proj, x_proj, dt_proj,
    // out_proj of every layer and lm_head, by transformers' names.
    const AdapterTargets& adapter_targets() const override { return targets_; }
    std::vector<std::pair<std::string, std::string>> fingerprint() const override;

    // Tokens per chunk of eval(); public so tests can cross chunk boundaries.
    static constexpr int64_t kChunkTokens = 256;

private:
    struct Layer {
        const float* norm = nullptr;  // [D]
        Linear in_proj;               // [2E, D] (+ bias [2E] if use_bias)
        const float* conv_weight = nullptr;  // [E, K]
        const float* conv_bias = nullptr;    // [E] or nullptr
        // x_proj [R + 2N, E]; dt_proj [E, R] without bias: its bias [E] is the scan's dt_bias;
        // A [N, E] = -exp(A_log)^T; D [E]. Gated by silu(z).
        SelectiveSsmWeights ssm;
        Linear out_proj;              // [D, E] (+ bias [D] if use_bias)
    };

    MambaModel() = default;
    void eval_rows(const TokenRows& in, int64_t batch, int64_t length, MambaState* const* states, Logits mode,
                   float* logits, ThreadPool& pool, MambaWorkspace& ws, const std::atomic<bool>* abort,
                   const LoraSet* lora) const;
    void eval_chunk(const TokenRows& in, int64_t batch, int64_t length, MambaState* const* states,
                    Logits mode, float* logits, int64_t logits_row_stride, ThreadPool& pool, MambaWorkspace& ws,
                    const std::atomic<bool>* abort, const LoraSet* lora) const;

    MambaConfig config_;
    LanguageModelInfo info_;
    std::unique_ptr<WeightLoader> loader_;  // owns or maps every pointer below
    PackedStore packed_;                    // F16/BF16 linears kept as stored, in panels of their type
    Embedding embeddings_;                  // [V, D]
    std::vector<Layer> layers_;
    const float* norm_f_ = nullptr;  // [D]
    Linear lm_head_;                 // [V, D], tied to embeddings_ unless the config says otherwise
    AdapterTargets targets_;
};

}  // namespace krait
