// LanguageModel: the interface every sequence model implements (Mamba's
// recurrent state, a transformer's KV cache, ...), so that sessions, sampling,
// streaming and adapters are written once for all of them.
//
// A model is immutable after load and shared by any number of sessions and
// threads. Everything that changes lives outside it:
//   SequenceState   what one sequence has seen: Mamba's conv and SSM caches
//                   (constant size), a transformer's K/V rows (grows with it).
//                   Snapshot / restore / truncate are what conversations
//                   build on (rewinding a reply, sharing a system prompt).
//   LmWorkspace     scratch buffers of one session, reused across calls.
//
// One entry point, eval(), covers the three uses: a full (batched) forward
// from fresh states, a prefill of a prompt into a session's state, and one
// decode step (length 1); prefill() and decode_step() name the last two.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sdk/adapters/adapter_targets.h"
#include "sdk/adapters/lora_set.h"
#include "sdk/core/thread_pool.h"

namespace krait {

// The state of one sequence. Created by LanguageModel::new_state(); only the
// model that made it may use it (eval() checks the type).
class SequenceState {
public:
    virtual ~SequenceState() = default;

    // Tokens consumed so far.
    int64_t n_tokens() const { return n_tokens_; }
    // The most tokens it can hold; -1 when unbounded (a recurrent state).
    virtual int64_t capacity() const = 0;
    // Back to the empty sequence, keeping the memory.
    virtual void reset() = 0;
    // A copy that can later be restored into this state or another of the same model.
    virtual std::unique_ptr<SequenceState> snapshot() const = 0;
    // Becomes equal to `from` (a snapshot or another state of the same model).
    // Throws KRAIT_ERR_INVALID_ARGUMENT for a state of another kind or size.
    virtual void restore(const SequenceState& from) = 0;
    // Forgets every token from position n on (0 <= n <= n_tokens()). A
    // recurrent state cannot give tokens back: it accepts only n == 0 and
    // n == n_tokens() and throws KRAIT_ERR_UNSUPPORTED otherwise (restore a
    // snapshot instead).
    virtual void truncate(int64_t n) = 0;
    // Bytes of memory held (for model/session info).
    virtual size_t bytes() const = 0;
    // The floats that make up this state (its n_tokens() tokens), appended to `out`, in an order
    // import_data() reads back (saved state files).
    virtual void export_data(std::vector<float>& out) const = 0;
    // Becomes the state of `n_tokens` tokens whose floats, as export_data() wrote them, are
    // data[0, count). Throws KRAIT_ERR_FORMAT when `count` is not the size such a state has, and
    // KRAIT_ERR_INVALID_ARGUMENT when n_tokens exceeds capacity(); the state is then unchanged.
    virtual void import_data(const float* data, size_t count, int64_t n_tokens) = 0;

protected:
    int64_t n_tokens_ = 0;
};

// The input rows of one eval: token ids [batch, length] looked up in the model's embedding, or the
// embedding rows given directly ([batch, length, hidden_size]: a vision-language assistant's prompt,
// with image features in the rows of its image tokens). `stride`: tokens between batch rows.
struct TokenRows {
    const int32_t* ids = nullptr;       // set one of the two
    const float* embeddings = nullptr;
    int64_t stride = 0;
    // The same rows from token `start` on (for a prefill cut into chunks).
    TokenRows from(int64_t start, int64_t hidden_size) const {
        return ids ? TokenRows{ids + start, nullptr, stride} : TokenRows{nullptr, embeddings + start * hidden_size, stride};
    }
};

// Scratch buffers of one session; contents unspecified between calls.
class LmWorkspace {
public:
    virtual ~LmWorkspace() = default;
};

// What krait_model_info reports about a language model.
struct LanguageModelInfo {
    const char* architecture = "";  // "mamba", "llama", ...
    int64_t vocab_size = 0;         // rows of the embedding = columns of the logits
    int64_t hidden_size = 0;
    int64_t num_layers = 0;
    int64_t state_size = 0;         // SSM state per channel (N); 0 for attention models
    int64_t max_positions = 0;      // longest sequence the model was made for; 0 = unbounded
    int32_t bos_token_id = -1;
    int32_t eos_token_id = -1;      // the first of eos_token_ids, -1 if none
    std::vector<int32_t> eos_token_ids;  // every token that ends a generation (Llama 3 has two)
    int64_t num_parameters = 0;
    std::string source_dtype;       // "F32", "F16", "BF16" (what the files held)
    // Bytes the weights really occupy: the memory map used in place (F32, or
    // F16/BF16 as stored) + buffers converted or derived at load + packed copies.
    int64_t weight_bytes = 0;
};

class LanguageModel {
public:
    enum class Logits { All, Last, None };

    virtual ~LanguageModel() = default;

    virtual const LanguageModelInfo& info() const = 0;
    int64_t vocab_size() const { return info().vocab_size; }

    // A fresh, empty state for a sequence of at most `context_length` tokens
    // (ignored by recurrent models; for a KV cache it is the memory reserved).
    virtual std::unique_ptr<SequenceState> new_state(int64_t context_length) const = 0;
    // The default context length of a session: min(max_positions, 4096), or
    // 4096 when unbounded.
    int64_t default_context_length() const;
    virtual std::unique_ptr<LmWorkspace> new_workspace() const = 0;

    // Runs `batch` sequences of `length` tokens (ids [batch, length]) on from
    // states[b] (each advanced by `length` tokens). Logits::All writes
    // [batch, length, vocab], Last writes [batch, vocab] (after each row's last
    // token), None nothing. Ids must be in [0, vocab) (checked by the caller).
    // Throws KRAIT_ERR_INVALID_ARGUMENT when a state would exceed its capacity
    // (the states are then unchanged), KRAIT_ERR_ABORTED if *abort becomes true
    // between steps (the states are then inconsistent: reset them).
    // `lora`: the adapters active for this call (nullptr = the base model).
    virtual void eval(const int32_t* ids, int64_t batch, int64_t length, SequenceState* const* states, Logits mode,
                      float* logits, ThreadPool& pool, LmWorkspace& ws, const std::atomic<bool>* abort,
                      const LoraSet* lora) const = 0;

    // As eval(), the input given as embedding rows [batch, length, hidden_size] instead of ids (what
    // embed() returns for ids, some rows replaced: image features). Same errors.
    virtual void eval_embedded(const float* embeddings, int64_t batch, int64_t length, SequenceState* const* states,
                               Logits mode, float* logits, ThreadPool& pool, LmWorkspace& ws,
                               const std::atomic<bool>* abort, const LoraSet* lora) const = 0;
    // The input embedding rows of `n` ids (in range): out [n, hidden_size], the embedding's adapters applied.
    virtual void embed(const int32_t* ids, int64_t n, float* out, ThreadPool& pool, const LoraSet* lora) const = 0;

    // The prompt `ids` into `state`; logits [vocab] after its last token.
    void prefill(const int32_t* ids, int64_t n, SequenceState& state, float* last_logits, ThreadPool& pool,
                 LmWorkspace& ws, const std::atomic<bool>* abort, const LoraSet* lora) const {
        SequenceState* s = &state;
        eval(ids, 1, n, &s, last_logits ? Logits::Last : Logits::None, last_logits, pool, ws, abort, lora);
    }
    // One token into `state`; its logits [vocab].
    void decode_step(int32_t id, SequenceState& state, float* logits, ThreadPool& pool, LmWorkspace& ws,
                     const LoraSet* lora) const {
        SequenceState* s = &state;
        eval(&id, 1, 1, &s, Logits::Last, logits, pool, ws, nullptr, lora);
    }

    // The modules LoRA adapters may change, by the checkpoint's names.
    virtual const AdapterTargets& adapter_targets() const = 0;

    // What a saved state must agree with to be used by this model: (name, value) pairs, the
    // architecture first, then the shape values of the config that size its state and logits
    // (vocabulary included). Two models with equal fingerprints have states of the same layout.
    // The default lists info()'s; families add the values their states depend on.
    virtual std::vector<std::pair<std::string, std::string>> fingerprint() const;
};

// Cuts an eval of `length` tokens into chunks of at most `chunk_tokens` (bounding the activations of a
// long prompt; the state carries the sequence from chunk to chunk) and calls
// run(start, n, chunk_mode, out, out_row_stride) for each in order: the chunk's first token, its
// length, and where its logits go (`mode` All: its rows of [batch, length, vocab]; Last: [batch,
// vocab] from the last chunk only, the others None).
template <class Run>
void for_each_chunk(int64_t length, int64_t chunk_tokens, int64_t vocab, LanguageModel::Logits mode, float* logits,
                    Run&& run) {
    using Logits = LanguageModel::Logits;
    for (int64_t start = 0; start < length; start += chunk_tokens) {
        const int64_t n = std::min(chunk_tokens, length - start);
        if (mode == Logits::All) run(start, n, Logits::All, logits + start * vocab, length * vocab);
        else if (mode == Logits::Last) run(start, n, start + n == length ? Logits::Last : Logits::None, logits, vocab);
        else run(start, n, Logits::None, nullptr, int64_t{0});
    }
}

// The dynamic type of a state or workspace, checked: one made by another
// model is a caller's mistake, reported (KRAIT_ERR_INVALID_ARGUMENT) instead
// of being misread.
[[noreturn]] void throw_foreign_state(const char* model);
// checked_cast<MambaState>(state, "mamba"), checked_cast<const MambaState>(...).
template <class T, class Base>
T& checked_cast(Base& object, const char* model) {
    auto* p = dynamic_cast<T*>(&object);
    if (!p) throw_foreign_state(model);
    return *p;
}

}  // namespace krait
