#include "sdk/session/session.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "sdk/core/error.h"
#include "sdk/sampling/sampler.h"
#include "sdk/sampling/text_stream.h"

using krait::fail_argument;

krait_session::krait_session(krait_model& m, const krait_session_params& params) : model(m) {
    set_threads(params.n_threads);
    state_ = model.mamba->new_state();
}

krait_session::~krait_session() = default;

void krait_session::set_threads(int32_t n_threads) {
    if (n_threads < 0) fail_argument("n_threads must be >= 0 (0 = all cores), got " + std::to_string(n_threads));
    pool_ = std::make_unique<krait::ThreadPool>(n_threads);
}

void krait_session::forward(const int32_t* ids, int64_t batch, int64_t length, float* logits) {
    abort_requested.store(false);
    // Stateless: fresh zero states, one per row; the session's own context is untouched.
    std::vector<krait::MambaState> states(static_cast<size_t>(batch), model.mamba->new_state());
    std::vector<krait::MambaState*> ptrs;
    for (auto& s : states) ptrs.push_back(&s);
    model.mamba->eval(ids, batch, length, ptrs.data(), krait::MambaModel::Logits::All, logits, *pool_, workspace_,
                      &abort_requested);
}

void krait_session::reset() {
    state_.reset();
    context_.clear();
    pending_.clear();
    last_logits_.clear();
}

void krait_session::consume(const int32_t* ids, size_t n, bool abortable) {
    last_logits_.resize(static_cast<size_t>(model.vocab_size()));
    krait::MambaState* s = &state_;
    try {
        model.mamba->eval(ids, 1, static_cast<int64_t>(n), &s, krait::MambaModel::Logits::Last, last_logits_.data(),
                          *pool_, workspace_, abortable ? &abort_requested : nullptr);
    } catch (...) {
        // A half-run prefill leaves the state inconsistent with context_: start over.
        reset();
        throw;
    }
}

void krait_session::append(const int32_t* ids, size_t n_ids, float* last_logits) {
    abort_requested.store(false);
    std::vector<int32_t> run = pending_;
    run.insert(run.end(), ids, ids + n_ids);
    consume(run.data(), run.size(), /*abortable=*/true);
    pending_.clear();
    context_.insert(context_.end(), ids, ids + n_ids);
    if (last_logits) std::memcpy(last_logits, last_logits_.data(), last_logits_.size() * sizeof(float));
}

size_t krait_session::generate(const int32_t* prompt_ids, size_t n_prompt, const krait_generate_params& params,
                               int32_t* out_ids, size_t capacity) {
    if (params.max_new_tokens <= 0)
        fail_argument("max_new_tokens must be > 0, got " + std::to_string(params.max_new_tokens));
    if (params.n_stop_strings > 0 && !params.stop_strings) fail_argument("stop_strings is NULL but n_stop_strings > 0");
    krait::SamplingConfig sc;
    sc.temperature = params.sampling.temperature;
    sc.top_k = params.sampling.top_k;
    sc.top_p = params.sampling.top_p;
    sc.min_p = params.sampling.min_p;
    sc.repetition_penalty = params.sampling.repetition_penalty;
    sc.seed = params.sampling.seed;
    krait::Sampler sampler(sc);  // validates
    std::vector<std::string> stops;
    for (size_t i = 0; i < params.n_stop_strings; ++i) {
        if (!params.stop_strings[i]) fail_argument("stop_strings[" + std::to_string(i) + "] is NULL");
        if (params.stop_strings[i][0]) stops.emplace_back(params.stop_strings[i]);
    }
    if (n_prompt == 0 && context_.empty()) fail_argument("empty prompt on an empty context: nothing to continue from");
    const krait::Tokenizer* tok = model.tokenizer.impl.get();
    // Without a tokenizer, streaming still reports ids (with empty text pieces); stop strings cannot work.
    if (!stops.empty() && !tok)
        krait::fail_unsupported("stop strings need a tokenizer; " + model.dir + " has no tokenizer.json");

    if (n_prompt > 0 || !pending_.empty()) append(prompt_ids, n_prompt, nullptr);
    abort_requested.store(false);

    krait::TextStream stream(stops);
    const int32_t eos = model.mamba->config().eos_token_id;
    std::vector<int32_t> generated, decodable;
    std::vector<float> logits;
    for (int32_t i = 0; i < params.max_new_tokens; ++i) {
        if (abort_requested.load()) krait::fail(KRAIT_ERR_ABORTED, "generation aborted");
        logits = last_logits_;  // the sampler uses its input as scratch
        const int32_t token = sampler.sample(logits, context_);
        generated.push_back(token);
        context_.push_back(token);
        pending_.push_back(token);
        if (i < static_cast<int32_t>(capacity)) out_ids[i] = token;

        const bool at_eos = params.stop_at_eos && token == eos;
        bool done = at_eos || i + 1 == params.max_new_tokens;
        std::string piece;
        if (tok) {
            // Embedding rows past the tokenizer's vocabulary (vocab padded to a
            // multiple of 8) have no text: they are streamed as ids with no text.
            if (token < tok->vocab_size()) decodable.push_back(token);
            const std::string text = tok->decode(decodable, /*skip_special_tokens=*/true);
            piece = stream.update(text);
            if (stream.stopped()) done = true;
            else if (done) piece += stream.flush(text);
        }
        if (params.on_token && params.on_token(token, piece.data(), piece.size(), params.user_data) != 0) break;
        if (done) break;
        // Run the new token now so the next step has logits (it leaves pending_).
        consume(&token, 1, /*abortable=*/false);
        pending_.clear();
    }
    return generated.size();
}
