// krait_session: the C handle of one conversation over a shared model —
// recurrent state, the tokens of its context, scratch buffers and its own
// worker threads. Used by one thread at a time; abort() from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "krait/krait.h"
#include "sdk/core/thread_pool.h"
#include "sdk/models/mamba.h"
#include "sdk/session/model.h"

struct krait_session {
    krait_session(krait_model& model, const krait_session_params& params);
    ~krait_session();

    void set_threads(int32_t n_threads);
    void abort() { abort_requested.store(true, std::memory_order_relaxed); }

    // See the matching krait_session_* functions in krait.h for semantics.
    void forward(const int32_t* ids, int64_t batch, int64_t length, float* logits);
    void reset();
    void append(const int32_t* ids, size_t n_ids, float* last_logits);
    // Returns the number of new tokens; writes min(that, capacity) ids to out_ids.
    size_t generate(const int32_t* prompt_ids, size_t n_prompt, const krait_generate_params& params, int32_t* out_ids,
                    size_t capacity);

    krait_model& model;
    std::atomic<bool> abort_requested{false};

private:
    // Feeds tokens into the context state and refreshes last_logits_. An
    // abortable (prefill) run that is aborted resets the session; single
    // decode steps are not abortable, so an abort lands between tokens.
    void consume(const int32_t* ids, size_t n, bool abortable);

    std::unique_ptr<krait::ThreadPool> pool_;
    krait::MambaWorkspace workspace_;
    krait::MambaState state_;
    std::vector<int32_t> context_;      // every token in the context (for the repetition penalty)
    std::vector<int32_t> pending_;      // generated tokens in context_ not yet run through the model
    std::vector<float> last_logits_;    // [vocab] after the last consumed token
};
