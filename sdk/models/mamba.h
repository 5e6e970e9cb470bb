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
// and MambaWorkspace (scratch buffers of one session).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sdk/core/thread_pool.h"
#include "sdk/adapters/adapter_targets.h"
#include "sdk/models/mamba_config.h"
#include "sdk/models/ops.h"
#include "sdk/models/weight_loader.h"

namespace krait {

// Recurrent state of one sequence: constant size whatever its length.
struct MambaState {
    std::vector<float> conv;  // [layers][K-1][E]: the last K-1 conv inputs, oldest first
    std::vector<float> ssm;   // [layers][N][E]: the SSM state h
    int64_t n_tokens = 0;     // tokens consumed so far

    void reset();
};

// Scratch buffers reused across calls of one session (grown on demand).
struct MambaWorkspace {
    std::vector<float> residual, normed, xz, x_conv, x_dbl, dt, y;
};

class MambaModel {
public:
    // Called with the fraction of tensors prepared; return false to cancel.
    using Progress = std::function<bool(float)>;

    // Loads and validates `dir` (config.json + safetensors). Throws krait::Error.
    static std::unique_ptr<MambaModel> load(const std::string& dir, const Progress& progress = nullptr);

    const MambaConfig& config() const { return config_; }
    int64_t num_parameters() const { return loader_->parameters_loaded(); }
    const std::string& source_dtype() const { return loader_->source_dtype(); }

    MambaState new_state() const;

    enum class Logits { All, Last, None };

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
    const AdapterTargets& adapter_targets() const { return targets_; }

    // Tokens per chunk of eval(); public so tests can cross chunk boundaries.
    static constexpr int64_t kChunkTokens = 256;

private:
    struct Layer {
        const float* norm = nullptr;  // [D]
        Linear in_proj;               // [2E, D] (+ bias [2E] if use_bias)
        const float* conv_weight = nullptr;  // [E, K]
        const float* conv_bias = nullptr;    // [E] or nullptr
        Linear x_proj;                // [R + 2N, E]
        Linear dt_proj;               // [E, R]; its bias is passed to the scan as delta_bias
        const float* dt_bias = nullptr;  // [E]
        const float* A = nullptr;     // [N, E] = -exp(A_log)^T
        const float* D = nullptr;     // [E]
        Linear out_proj;              // [D, E] (+ bias [D] if use_bias)
    };

    MambaModel() = default;
    void eval_chunk(const int32_t* ids, int64_t batch, int64_t length, int64_t ids_stride, MambaState* const* states,
                    Logits mode, float* logits, int64_t logits_row_stride, ThreadPool& pool, MambaWorkspace& ws,
                    const std::atomic<bool>* abort, const LoraSet* lora) const;

    MambaConfig config_;
    std::unique_ptr<WeightLoader> loader_;  // owns or maps every pointer below
    Embedding embeddings_;                  // [V, D]
    std::vector<Layer> layers_;
    const float* norm_f_ = nullptr;  // [D]
    Linear lm_head_;                 // [V, D], tied to embeddings_ unless the config says otherwise
    AdapterTargets targets_;
};

}  // namespace krait
