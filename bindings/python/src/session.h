// The C++ half of krait.Session and krait.State: a sequence session of its own that keeps its
// context between calls (append, generate, snapshot / restore, truncate, save / load), over
// krait_session_* and krait_state_* (krait.h, "Session state"). krait/__init__.py wraps it
// (argument defaults, GenerationResult, the streaming generator).
//
// Locking as in SequenceModel: every call on the session takes `mu_` after releasing the GIL.
#pragma once

#include <mutex>
#include <optional>
#include <string>

#include "common.h"
#include "generation.h"

namespace krait_py {

// krait.State: an immutable copy of a session's state (krait_state). Holds the model, which must
// outlive it (krait.h). Restoring only reads it, so it needs no lock.
class State {
public:
    State(std::shared_ptr<ModelHandle> model, krait_state* state) : model_(std::move(model)), state_(state) {}
    ~State() { krait_state_free(state_); }
    State(const State&) = delete;
    State& operator=(const State&) = delete;

    int64_t n_tokens() const;
    const krait_state* get() const { return state_; }

private:
    std::shared_ptr<ModelHandle> model_;  // freed after state_
    krait_state* state_;
};

class Session {
public:
    // A new session on `model` with an empty context; `tokenizer` (may be null) encodes text prompts.
    Session(std::shared_ptr<ModelHandle> model, const krait_session_params& params,
            std::shared_ptr<Tokenizer> tokenizer, std::string no_tokenizer_message, int64_t vocab_size);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // prompt: text or 1-D ids -> float32 logits [vocab] after its last token.
    py::array_t<float> append(py::handle prompt);
    // Runs a request prepared by SequenceModel.prepare_generation after the session's context;
    // returns (ids, text) as SequenceModel.run_generation.
    py::tuple generate(const GenerationRequest& req, std::optional<py::function> on_piece);
    py::list tokens() const;
    int64_t n_tokens() const;
    std::shared_ptr<State> snapshot();
    void restore(const State& state);
    void truncate(int64_t n_tokens);
    void reset();
    void save_state(const std::string& path);
    void load_state(const std::string& path);
    void abort() { krait_session_abort(session_); }  // any thread, no lock (krait.h)
    void clear_abort() { krait_session_clear_abort(session_); }

private:
    std::vector<int32_t> context() const;  // with mu_ held

    std::shared_ptr<ModelHandle> model_;  // outlives session_ (freed after it)
    std::shared_ptr<Tokenizer> tokenizer_;
    std::string no_tokenizer_message_;
    int64_t vocab_size_;
    krait_session* session_ = nullptr;
    mutable std::mutex mu_;
};

void bind_session(py::module_& m);

}  // namespace krait_py
