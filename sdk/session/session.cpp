#include "sdk/session/session.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <optional>

#include "sdk/core/error.h"
#include "sdk/image/preprocess.h"
#include "sdk/sampling/incremental_detokenizer.h"
#include "sdk/sampling/sampler.h"
#include "sdk/sampling/text_stream.h"
#include "sdk/session/state_file.h"

using krait::fail_argument;

namespace {

// One abortable call on a session (krait.h, krait_session_abort): a request pending when the call
// starts stops it at once (check()), one made while it runs stops it at the next check, and either
// way the request is consumed when the call ends, whatever its outcome, so it never reaches the
// call after. Nothing clears a request before the call starts: one made just before is not lost.
class AbortableCall {
public:
    explicit AbortableCall(std::atomic<bool>& requested) : requested_(requested) {}
    ~AbortableCall() { requested_.store(false); }
    AbortableCall(const AbortableCall&) = delete;
    AbortableCall& operator=(const AbortableCall&) = delete;

    void check() const {
        if (requested_.load()) krait::fail(KRAIT_ERR_ABORTED, "the call was aborted");
    }

private:
    std::atomic<bool>& requested_;
};

}  // namespace

krait_session::Claim::Claim(const krait_session& session, const char* call) : held_(session.claimed_) {
    // acquire/release: the state the previous call left is visible to this one.
    if (held_.exchange(true, std::memory_order_acquire))
        krait::fail(KRAIT_ERR_BUSY, std::string(call) +
                                        ": another call on this session is still running (calls on one session, and "
                                        "on the conversations over it, must not overlap: use one session per thread)");
}

krait_session::krait_session(krait_model& m, const krait_session_params& params) : model(m) {
    if (params.max_image_pixels <= 0)
        fail_argument("max_image_pixels must be > 0, got " + std::to_string(params.max_image_pixels));
    if (params.max_batch < 0)
        fail_argument("max_batch must be >= 0 (0 = all images at once), got " + std::to_string(params.max_batch));
    max_image_pixels_ = params.max_image_pixels;
    if (params.image_cache_bytes < 0)
        fail_argument("image_cache_bytes must be >= 0 (0 = no cache), got " + std::to_string(params.image_cache_bytes));
    image_cache_budget_ = static_cast<size_t>(params.image_cache_bytes);
    max_batch_ = params.max_batch;
    set_threads(params.n_threads);
    if (params.context_length < 0)
        fail_argument("context_length must be >= 0 (0 = the model's default), got " + std::to_string(params.context_length));
    if (model.kind == KRAIT_MODEL_SEQUENCE || model.kind == KRAIT_MODEL_ASSISTANT) {
        state_ = model.lm->new_state(params.context_length > 0 ? params.context_length
                                                               : model.lm->default_context_length());
        workspace_ = model.lm->new_workspace();
    }
}

krait_session::~krait_session() = default;

void krait_session::set_threads(int32_t n_threads) {
    if (n_threads < 0) fail_argument("n_threads must be >= 0 (0 = all cores), got " + std::to_string(n_threads));
    pool_ = std::make_unique<krait::ThreadPool>(n_threads);
}

void krait_session::forward(const int32_t* ids, int64_t batch, int64_t length, float* logits) {
    const AbortableCall call(abort_requested);
    call.check();
    // Stateless: fresh zero states, one per row; the session's own context is untouched.
    std::vector<std::unique_ptr<krait::SequenceState>> states;
    std::vector<krait::SequenceState*> ptrs;
    for (int64_t b = 0; b < batch; ++b) {
        states.push_back(model.lm->new_state(length));
        ptrs.push_back(states.back().get());
    }
    model.lm->eval(ids, batch, length, ptrs.data(), krait::LanguageModel::Logits::All, logits, *pool_, *workspace_,
                   &abort_requested, lora_.get());
}

void krait_session::reset() {
    state_->reset();
    state_stamp_ = AdapterStamp{};
    context_.clear();
    pending_.clear();
    last_logits_.clear();
    images_.clear();
}

void krait_session::consume(const int32_t* ids, size_t n, bool abortable, const float* embeddings) {
    // A context that cannot take the tokens is refused before anything runs, so it stays as it was.
    const int64_t capacity = state_->capacity();
    if (capacity >= 0 && state_->n_tokens() + static_cast<int64_t>(n) > capacity)
        fail_argument("the context would hold " + std::to_string(state_->n_tokens() + static_cast<int64_t>(n)) +
                      " tokens, more than the session's context length of " + std::to_string(capacity) + " (" +
                      std::to_string(state_->n_tokens()) + " already + " + std::to_string(n) + " new)");
    last_logits_.resize(static_cast<size_t>(model.vocab_size()));
    if (state_->n_tokens() == 0) state_stamp_ = active_stamp_;
    else if (!(state_stamp_ == active_stamp_)) state_stamp_.known = false;  // tokens from two adapter sets
    try {
        if (embeddings) {
            krait::SequenceState* s = state_.get();
            model.lm->eval_embedded(embeddings, 1, static_cast<int64_t>(n), &s, krait::LanguageModel::Logits::Last,
                                    last_logits_.data(), *pool_, *workspace_, abortable ? &abort_requested : nullptr,
                                    lora_.get());
        } else {
            model.lm->prefill(ids, static_cast<int64_t>(n), *state_, last_logits_.data(), *pool_, *workspace_,
                              abortable ? &abort_requested : nullptr, lora_.get());
        }
    } catch (...) {
        // A half-run prefill leaves the state inconsistent with context_: start over.
        reset();
        throw;
    }
}

void krait_session::append(const int32_t* ids, size_t n_ids, float* last_logits) {
    const AbortableCall call(abort_requested);
    append_tokens(ids, n_ids, last_logits);
}

void krait_session::append_tokens(const int32_t* ids, size_t n_ids, float* last_logits) {
    if (abort_requested.load()) {
        reset();  // as an abort during the prefill does (consume): one outcome for every ABORTED append
        krait::fail(KRAIT_ERR_ABORTED, "the call was aborted");
    }
    std::vector<int32_t> run = pending_;
    run.insert(run.end(), ids, ids + n_ids);
    consume(run.data(), run.size(), /*abortable=*/true);
    pending_.clear();
    context_.insert(context_.end(), ids, ids + n_ids);
    if (last_logits) std::memcpy(last_logits, last_logits_.data(), last_logits_.size() * sizeof(float));
}

// ---- assistants -----------------------------------------------------------------

void krait_session::encode_images(const float* pixels, int64_t n, int64_t height, int64_t width, float* features) {
    const AbortableCall call(abort_requested);
    call.check();
    model.assistant->encode_images(pixels, n, height, width, features, *pool_, image_workspace(), &abort_requested,
                                   lora_.get());
}

krait::ClassifierWorkspace& krait_session::image_workspace() {
    if (classifier_workspaces_.empty()) classifier_workspaces_.emplace_back();
    return classifier_workspaces_.front();
}

void krait_session::assistant_forward(const int32_t* ids, int64_t batch, int64_t length, const float* pixels,
                                      int64_t n_images, int64_t height, int64_t width, float* logits) {
    const AbortableCall call(abort_requested);
    call.check();
    const krait::AssistantModel& a = *model.assistant;
    std::vector<int64_t> per_row(static_cast<size_t>(batch));
    int64_t total = 0;
    for (int64_t b = 0; b < batch; ++b) total += per_row[static_cast<size_t>(b)] =
        krait::count_prompt_images(a, ids + b * length, length, -1);
    if (total != n_images) krait::count_prompt_images(a, ids, batch * length, n_images);  // names both counts
    const int64_t D = model.lm->info().hidden_size, R = a.image_rows();
    std::vector<float> rows(static_cast<size_t>(n_images * R * D));
    a.encode_images(pixels, n_images, height, width, rows.data(), *pool_, image_workspace(), &abort_requested,
                    lora_.get());
    std::vector<float> embeddings(static_cast<size_t>(batch * length * D));
    int64_t used = 0;
    for (int64_t b = 0; b < batch; ++b) {
        krait::prompt_embedding_rows(a, ids + b * length, length, rows.data() + used * R * D,
                                     embeddings.data() + b * length * D, *pool_, lora_.get());
        used += per_row[static_cast<size_t>(b)];
    }
    // Stateless, as forward(): fresh states, the session's own context untouched.
    std::vector<std::unique_ptr<krait::SequenceState>> states;
    std::vector<krait::SequenceState*> ptrs;
    for (int64_t b = 0; b < batch; ++b) {
        states.push_back(model.lm->new_state(length));
        ptrs.push_back(states.back().get());
    }
    model.lm->eval_embedded(embeddings.data(), batch, length, ptrs.data(), krait::LanguageModel::Logits::All, logits,
                            *pool_, *workspace_, &abort_requested, lora_.get());
}

void krait_session::append_images(const int32_t* ids, size_t n_ids, const float* pixels, int64_t n_images,
                                  int64_t height, int64_t width, float* last_logits) {
    const AbortableCall call(abort_requested);
    if (abort_requested.load()) {
        reset();  // as append() does: one outcome for every ABORTED append
        krait::fail(KRAIT_ERR_ABORTED, "the call was aborted");
    }
    const krait::AssistantModel& a = *model.assistant;
    const auto n = static_cast<int64_t>(n_ids);
    krait::count_prompt_images(a, ids, n, n_images);
    const int64_t D = model.lm->info().hidden_size, R = a.image_rows();
    std::vector<float> rows(static_cast<size_t>(n_images * R * D));
    image_rows(pixels, n_images, height, width, rows.data());
    // The pending tokens (text) first, then the new ids, image tokens taking the image rows.
    std::vector<int32_t> run = pending_;
    run.insert(run.end(), ids, ids + n_ids);
    std::vector<float> embeddings(run.size() * static_cast<size_t>(D));
    const auto p = static_cast<int64_t>(pending_.size());
    if (p > 0) model.lm->embed(pending_.data(), p, embeddings.data(), *pool_, lora_.get());
    krait::prompt_embedding_rows(a, ids, n, rows.data(), embeddings.data() + p * D, *pool_, lora_.get());
    const int64_t at = static_cast<int64_t>(context_.size());
    consume(run.data(), run.size(), /*abortable=*/true, embeddings.data());
    pending_.clear();
    context_.insert(context_.end(), ids, ids + n_ids);
    // Image i's rows are the i-th run of R image tokens (count_prompt_images checked the total).
    const int32_t image = a.image_token_id();
    const size_t floats = static_cast<size_t>(3 * height * width);
    int64_t i = 0;
    for (int64_t pos = 0; pos < n && i < n_images;) {
        if (ids[pos] != image) {
            ++pos;
            continue;
        }
        images_.push_back({at + pos, R, krait::image_hash(pixels + static_cast<size_t>(i) * floats, height, width)});
        pos += R;
        ++i;
    }
    if (last_logits) std::memcpy(last_logits, last_logits_.data(), last_logits_.size() * sizeof(float));
}

void krait_session::image_rows(const float* pixels, int64_t n, int64_t height, int64_t width, float* rows) {
    const krait::AssistantModel& a = *model.assistant;
    const size_t per_image = static_cast<size_t>(a.image_rows() * model.lm->info().hidden_size);
    const size_t floats = static_cast<size_t>(3 * height * width);
    std::vector<uint64_t> hashes(static_cast<size_t>(n));
    std::vector<int64_t> missing;
    // Rows computed with adapters on the encoder or the projector are other rows: the cache keys
    // them by the picture and those adapters (serials and scales).
    uint64_t adapters_key = 0;
    const auto [first_slot, end_slot] = a.image_slots();
    if (lora_ && lora_->touches(first_slot, end_slot)) {
        adapters_key = 1469598103934665603ull;
        for (const auto& [serial, scale] : active_stamp_.adapters) {
            uint32_t bits;
            std::memcpy(&bits, &scale, sizeof bits);
            adapters_key = (adapters_key ^ serial) * 1099511628211ull;
            adapters_key = (adapters_key ^ bits) * 1099511628211ull;
        }
    }
    for (int64_t i = 0; i < n; ++i) {
        hashes[static_cast<size_t>(i)] =
            krait::image_hash(pixels + static_cast<size_t>(i) * floats, height, width) ^ adapters_key;
        auto hit = std::find_if(image_cache_.begin(), image_cache_.end(),
                                [&](const auto& e) { return e.first == hashes[static_cast<size_t>(i)]; });
        if (hit == image_cache_.end()) {
            missing.push_back(i);
            continue;
        }
        std::copy(hit->second.begin(), hit->second.end(), rows + static_cast<size_t>(i) * per_image);
        image_cache_.splice(image_cache_.begin(), image_cache_, hit);  // most recent first
        ++images_cached_;
    }
    if (missing.empty()) return;
    // The images not in the cache, encoded in one batch.
    std::vector<float> batch(missing.size() * floats), out(missing.size() * per_image);
    for (size_t j = 0; j < missing.size(); ++j)
        std::copy_n(pixels + static_cast<size_t>(missing[j]) * floats, floats, batch.data() + j * floats);
    a.encode_images(batch.data(), static_cast<int64_t>(missing.size()), height, width, out.data(), *pool_,
                    image_workspace(), &abort_requested, lora_.get());
    images_encoded_ += static_cast<int64_t>(missing.size());
    const size_t bytes = per_image * sizeof(float);
    for (size_t j = 0; j < missing.size(); ++j) {
        const float* r = out.data() + j * per_image;
        std::copy_n(r, per_image, rows + static_cast<size_t>(missing[j]) * per_image);
        if (bytes > image_cache_budget_) continue;
        image_cache_.emplace_front(hashes[static_cast<size_t>(missing[j])], std::vector<float>(r, r + per_image));
        image_cache_used_ += bytes;
        while (image_cache_used_ > image_cache_budget_) {  // the least recent go first
            image_cache_used_ -= image_cache_.back().second.size() * sizeof(float);
            image_cache_.pop_back();
        }
    }
}

size_t krait_session::generate(const int32_t* prompt_ids, size_t n_prompt, const krait_generate_params& params,
                               int32_t* out_ids, size_t capacity, const std::vector<int32_t>& end_ids) {
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
        krait::fail_unsupported("stop strings need a tokenizer; " + model.text_dir + " has no tokenizer.json");

    const AbortableCall call(abort_requested);
    if (n_prompt > 0 || !pending_.empty()) append_tokens(prompt_ids, n_prompt, nullptr);

    krait::TextStream stream(stops);
    const std::vector<int32_t>& eos = model.lm->info().eos_token_ids;
    std::vector<int32_t> generated;
    // Each step decodes a few recent tokens, not the whole output (incremental_detokenizer.h).
    std::optional<krait::IncrementalDetokenizer> detok;
    if (tok) detok.emplace(*tok, /*skip_special_tokens=*/true);
    std::vector<float> logits;
    for (int32_t i = 0; i < params.max_new_tokens; ++i) {
        if (abort_requested.load()) {
            // Before the first token the context is empty, whether the prefill ran or not (krait.h).
            if (generated.empty()) reset();
            krait::fail(KRAIT_ERR_ABORTED, "generation aborted");
        }
        logits = last_logits_;  // the sampler uses its input as scratch
        const int32_t token = sampler.sample(logits, context_);
        generated.push_back(token);
        context_.push_back(token);
        pending_.push_back(token);
        if (i < static_cast<int32_t>(capacity)) out_ids[i] = token;

        const bool at_eos = params.stop_at_eos && (std::find(eos.begin(), eos.end(), token) != eos.end() ||
                                                   std::find(end_ids.begin(), end_ids.end(), token) != end_ids.end());
        // A full context (KV cache) cannot take the new token: the generation ends with it.
        const bool context_full = state_->capacity() >= 0 && state_->n_tokens() + 1 > state_->capacity();
        bool done = at_eos || context_full || i + 1 == params.max_new_tokens;
        std::string piece;
        if (tok) {
            // Embedding rows past the tokenizer's vocabulary (vocab padded to a
            // multiple of 8) have no text: they are streamed as ids with no text.
            if (token < tok->vocab_size()) {
                const std::string fresh = detok->add(token);
                piece = stream.push(fresh, detok->unstable());
            }
            if (stream.stopped()) done = true;
            else if (done) {
                piece += stream.push(detok->finish());
                piece += stream.finish();
            }
        }
        if (params.on_token && params.on_token(token, piece.data(), piece.size(), params.user_data) != 0) break;
        if (done) break;
        // Run the new token now so the next step has logits (it leaves pending_).
        consume(&token, 1, /*abortable=*/false);
        pending_.clear();
    }
    return generated.size();
}

// ---- state ---------------------------------------------------------------------

std::unique_ptr<krait_state> krait_session::snapshot() const {
    auto s = std::make_unique<krait_state>();
    s->model = &model;
    s->stamp = state_stamp_;
    s->sequence = state_->snapshot();
    s->context = context_;
    s->n_pending = pending_.size();
    s->last_logits = last_logits_;
    s->images = images_;
    return s;
}

void krait_session::restore(const krait_state& from) {
    if (from.model != &model)
        krait::check_fingerprint(krait::encode_fingerprint(from.model->lm->fingerprint()), model.lm->fingerprint(),
                                 "the state");
    // Copies first, so that a failure (a state longer than the context) changes nothing.
    std::vector<int32_t> context = from.context;
    std::vector<int32_t> pending(context.end() - static_cast<std::ptrdiff_t>(from.n_pending), context.end());
    std::vector<float> logits = from.last_logits;
    AdapterStamp stamp = from.stamp;
    state_->restore(*from.sequence);
    state_stamp_ = std::move(stamp);
    context_ = std::move(context);
    pending_ = std::move(pending);
    last_logits_ = std::move(logits);
    images_ = from.images;
}

void krait_session::truncate(int64_t n) {
    const auto size = static_cast<int64_t>(context_.size());
    if (n < 0 || n > size)
        fail_argument("cannot truncate a context of " + std::to_string(size) + " tokens to " + std::to_string(n));
    const int64_t consumed = state_tokens();
    if (n >= consumed) {  // only pending tokens go (never image rows): the state and its logits stay valid
        pending_.resize(static_cast<size_t>(n - consumed));
        context_.resize(static_cast<size_t>(n));
        return;
    }
    if (n == 0) {
        reset();
        return;
    }
    if (state_->capacity() < 0)
        krait::fail_unsupported("cannot truncate this session's context from " + std::to_string(size) + " to " +
                                std::to_string(n) + " tokens: a recurrent state (" + model.lm->info().architecture +
                                ") holds no per-token history; restore a snapshot taken at " + std::to_string(n) +
                                " tokens, or truncate to 0");
    // A KV cache forgets rows; the last kept token becomes pending, so the next call runs it again
    // and has its logits (the logits after token n are not kept).
    state_->truncate(n - 1);
    // The images whose rows are cut go with their tokens (the conversation never cuts inside one).
    std::erase_if(images_, [n](const ImageSpan& s) { return s.position + s.rows > n; });
    context_.resize(static_cast<size_t>(n));
    pending_.assign(1, context_.back());
}

namespace {

// A state's fields as the file stores them (see krait_session::write_state).
void write_state_parts(krait::ByteWriter& out, const std::vector<int32_t>& context, size_t n_pending,
                       const krait::SequenceState& state, const std::vector<float>& last_logits,
                       const AdapterStamp& stamp, const std::vector<ImageSpan>& images,
                       const std::vector<uint64_t>* pictures) {
    if (pictures) {
        for (const ImageSpan& span : images)
            if (std::find(pictures->begin(), pictures->end(), span.hash) == pictures->end())
                krait::fail_unsupported("the context holds the rows of a picture at position " +
                                        std::to_string(span.position) +
                                        " that is not in the conversation's messages, so the file could not identify it");
    } else if (!images.empty())
        krait::fail_unsupported("the context holds image features from position " +
                                std::to_string(images.front().position) +
                                " on, which a state file cannot identify (the image tokens do not say which image): "
                                "save before adding images, or keep the session (krait_session_snapshot)");
    out.array(context);
    out.u64(n_pending);
    out.u64(static_cast<uint64_t>(state.n_tokens()));
    out.array(last_logits);
    // Adapters do not outlive the process: a state computed with any is marked so, and a
    // conversation loading it recomputes instead of reusing it.
    out.u64(stamp.known && stamp.adapters.empty() ? 0 : 1);
    std::vector<float> data;
    state.export_data(data);
    out.array(data);
    if (pictures) {
        out.u64(images.size());
        for (const ImageSpan& span : images) {
            out.u64(static_cast<uint64_t>(span.position));
            out.u64(static_cast<uint64_t>(span.rows));
            out.u64(span.hash);
        }
    }
}

}  // namespace

void krait_session::write_state(krait::ByteWriter& out, const std::vector<uint64_t>* pictures) const {
    write_state_parts(out, context_, pending_.size(), *state_, last_logits_, state_stamp_, images_, pictures);
}

void krait_session::write_state(krait::ByteWriter& out, const krait_state& state,
                                const std::vector<uint64_t>* pictures) const {
    write_state_parts(out, state.context, state.n_pending, *state.sequence, state.last_logits, state.stamp,
                      state.images, pictures);
}

std::unique_ptr<krait_state> krait_session::read_state(krait::ByteReader& in, bool with_images) const {
    const std::string& origin = in.origin();
    auto s = std::make_unique<krait_state>();
    s->model = &model;
    s->context = in.array<int32_t>("the tokens");
    s->n_pending = static_cast<size_t>(in.u64());
    const uint64_t consumed = in.u64();
    s->last_logits = in.array<float>("the logits");
    const uint64_t with_adapters = in.u64();
    if (with_adapters > 1) krait::fail_format(origin + ": bad adapter flag " + std::to_string(with_adapters));
    s->stamp.known = with_adapters == 0;
    const std::vector<float> data = in.array<float>("the state tensors");
    if (s->n_pending > s->context.size() || consumed != s->context.size() - s->n_pending)
        krait::fail_format(origin + ": inconsistent token counts (" + std::to_string(s->context.size()) + " tokens, " +
                           std::to_string(s->n_pending) + " pending, " + std::to_string(consumed) + " in the state)");
    const auto vocab = static_cast<size_t>(model.vocab_size());
    if (!(s->last_logits.size() == vocab || (consumed == 0 && s->last_logits.empty())))
        krait::fail_format(origin + ": " + std::to_string(s->last_logits.size()) + " logits, the vocabulary has " +
                           std::to_string(vocab));
    for (size_t i = 0; i < s->context.size(); ++i)
        if (s->context[i] < 0 || static_cast<size_t>(s->context[i]) >= vocab)
            krait::fail_format(origin + ": token " + std::to_string(i) + " is " + std::to_string(s->context[i]) +
                               ", outside the vocabulary of " + std::to_string(vocab));
    const int64_t capacity = state_->capacity();
    if (capacity >= 0 && static_cast<int64_t>(consumed) > capacity)
        fail_argument(origin + " holds " + std::to_string(consumed) + " tokens, more than the session's context length of " +
                      std::to_string(capacity));
    s->sequence = model.lm->new_state(std::max<int64_t>(static_cast<int64_t>(consumed), 1));
    s->sequence->import_data(data.data(), data.size(), static_cast<int64_t>(consumed));
    if (with_images) {
        const uint64_t n = in.u64();
        const krait::AssistantModel* a = model.assistant.get();
        if (n > 0 && !a) krait::fail_format(origin + ": holds image rows, but the model is not an assistant");
        if (n > s->context.size()) krait::fail_format(origin + ": " + std::to_string(n) + " images in a context of " +
                                                      std::to_string(s->context.size()) + " tokens");
        int64_t end = 0;
        for (uint64_t i = 0; i < n; ++i) {
            ImageSpan span;
            span.position = static_cast<int64_t>(in.u64());
            span.rows = static_cast<int64_t>(in.u64());
            span.hash = in.u64();
            const std::string what = origin + ": image " + std::to_string(i);
            if (span.rows != a->image_rows())
                krait::fail_format(what + " has " + std::to_string(span.rows) + " rows; the assistant's images have " +
                                   std::to_string(a->image_rows()));
            if (span.position < end || span.position > static_cast<int64_t>(consumed) - span.rows)
                krait::fail_format(what + " at position " + std::to_string(span.position) +
                                   " overlaps another or lies outside the " + std::to_string(consumed) +
                                   " tokens of the state");
            for (int64_t k = span.position; k < span.position + span.rows; ++k)
                if (s->context[static_cast<size_t>(k)] != a->image_token_id())
                    krait::fail_format(what + ": token " + std::to_string(k) + " is not the image token");
            end = span.position + span.rows;
            s->images.push_back(span);
        }
    }
    return s;
}

void krait_session::save_state(const std::string& path) const {
    krait::ByteWriter out;
    out.str(krait::encode_fingerprint(model.lm->fingerprint()));
    write_state(out);
    krait::write_state_file(path, krait::StateFileKind::Session, out.bytes());
}

void krait_session::load_state(const std::string& path) {
    const std::string payload = krait::read_state_file(path, krait::StateFileKind::Session);
    krait::ByteReader in(payload, krait::quote(path));
    krait::check_fingerprint(in.str(), model.lm->fingerprint(), in.origin());
    std::unique_ptr<krait_state> s = read_state(in);
    if (in.remaining() != 0) krait::fail_format(in.origin() + ": " + std::to_string(in.remaining()) + " bytes after the state");
    restore(*s);
}

// ---- classifiers ---------------------------------------------------------------

namespace {

// Softmax of one row of logits and its k most probable classes, most probable
// first, ties broken by the lower id (a stable order callers can rely on).
void top_k_of_row(const float* logits, int64_t num_labels, size_t k, const std::vector<std::string>& labels,
                  std::vector<int32_t>& order, krait_classification* out) {
    float max_logit = logits[0];
    for (int64_t j = 1; j < num_labels; ++j) max_logit = std::max(max_logit, logits[j]);
    double sum = 0.0;  // double: thousands of small terms
    for (int64_t j = 0; j < num_labels; ++j) sum += std::exp(static_cast<double>(logits[j]) - max_logit);
    order.resize(static_cast<size_t>(num_labels));
    for (int64_t j = 0; j < num_labels; ++j) order[static_cast<size_t>(j)] = static_cast<int32_t>(j);
    // Same logit <=> same probability: compare logits, then ids.
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [logits](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    for (size_t r = 0; r < k; ++r) {
        const int32_t id = order[r];
        out[r].label_id = id;
        out[r].probability = static_cast<float>(std::exp(static_cast<double>(logits[id]) - max_logit) / sum);
        out[r].label = labels[static_cast<size_t>(id)].c_str();
    }
}

}  // namespace

void krait_session::classifier_forward(const float* pixels, int64_t batch, int64_t height, int64_t width,
                                       float* logits) {
    model.classifier->check_input_size(height, width);
    const AbortableCall call(abort_requested);
    call.check();
    model.classifier->forward_batch(pixels, batch, height, width, logits, *pool_, classifier_workspaces_,
                                       &abort_requested, lora_.get());
}

void krait_session::set_adapters(std::vector<krait::ActiveAdapter> active) {
    active_stamp_ = AdapterStamp{};
    for (const krait::ActiveAdapter& a : active) active_stamp_.adapters.emplace_back(a.adapter->serial(), a.scale);
    if (active.empty()) {
        lora_.reset();
        return;
    }
    lora_ = std::make_shared<const krait::LoraSet>(model.adapter_targets(), std::move(active));
}

size_t krait_session::classes_per_image(int32_t top_k) const {
    if (top_k <= 0) fail_argument("top_k must be > 0, got " + std::to_string(top_k));
    return static_cast<size_t>(std::min<int64_t>(top_k, num_labels()));
}

void krait_session::classify(size_t n, int32_t top_k, const ImageSource& source, krait_classification* out) {
    const AbortableCall call(abort_requested);
    call.check();
    const krait::ClassifierModel& net = *model.classifier;
    const size_t k = classes_per_image(top_k);
    const krait::LoraSet* lora = lora_.get();
    const size_t num_labels = static_cast<size_t>(net.active_num_labels(lora));
    const std::vector<std::string>& labels = net.active_labels(lora);
    const size_t batch = max_batch_ > 0 ? std::min(n, static_cast<size_t>(max_batch_)) : n;

    // Runs fn(j) for j in [0, count), one item per worker. Exceptions must not
    // leave a worker thread: they are kept per item, and the first one (by
    // j) is rethrown naming its image, first + (slot ? slot[j] : j).
    std::vector<std::exception_ptr> errors(batch);
    auto for_each_image = [&](size_t first, size_t count, const size_t* slot, const std::function<void(size_t)>& fn) {
        std::fill(errors.begin(), errors.end(), nullptr);
        pool_->parallel_for(static_cast<int64_t>(count), 1, [&](int64_t begin, int64_t end) {
            for (int64_t j = begin; j < end; ++j) {
                try {
                    if (abort_requested.load(std::memory_order_relaxed))
                        krait::fail(KRAIT_ERR_ABORTED, "classification aborted");
                    fn(static_cast<size_t>(j));
                } catch (...) {
                    errors[static_cast<size_t>(j)] = std::current_exception();
                }
            }
        });
        for (size_t j = 0; j < count; ++j) {
            if (!errors[j]) continue;
            try {
                std::rethrow_exception(errors[j]);
            } catch (const krait::Error& e) {
                if (e.status() == KRAIT_ERR_ABORTED) throw;
                throw krait::Error(e.status(), "image " + std::to_string(first + (slot ? slot[j] : j)) + ": " + e.what());
            }
        }
    };

    std::vector<krait::Image> images(batch);
    std::vector<float> pixels, logits;
    std::vector<krait_classification> results(n * k);
    std::vector<int32_t> order;
    for (size_t first = 0; first < n; first += batch) {
        const size_t count = std::min(batch, n - first);
        for_each_image(first, count, nullptr, [&](size_t j) { images[j] = source(first + j, max_image_pixels_); });

        // Most configurations give every image the same input size (a fixed
        // resize or a crop); a shortest-edge resize without crop does not, and
        // images of different sizes run as separate batches.
        std::vector<std::pair<std::pair<int64_t, int64_t>, std::vector<size_t>>> groups;
        for (size_t j = 0; j < count; ++j) {
            const auto size = krait::preprocess_output_size(model.preprocess, images[j].height, images[j].width);
            auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == size; });
            if (it == groups.end()) groups.push_back({size, {j}});
            else it->second.push_back(j);
        }
        for (const auto& group : groups) {
            // Plain references, not a structured binding: the lambdas below use `members` (clang < 16
            // cannot capture a structured binding).
            const std::vector<size_t>& members = group.second;
            const int64_t height = group.first.first, width = group.first.second;
            try {
                net.check_input_size(height, width);
            } catch (const krait::Error& e) {
                throw krait::Error(e.status(), "image " + std::to_string(first + members[0]) + " preprocessed to " +
                                                   std::to_string(height) + " x " + std::to_string(width) + ": " +
                                                   e.what());
            }
            const size_t image_floats = static_cast<size_t>(3 * height * width);
            const size_t g = members.size();
            pixels.resize(g * image_floats);
            logits.resize(g * num_labels);
            for_each_image(first, g, members.data(), [&](size_t m) {
                krait::preprocess(images[members[m]], model.preprocess, pixels.data() + m * image_floats);
            });
            net.forward_batch(pixels.data(), static_cast<int64_t>(g), height, width, logits.data(), *pool_,
                              classifier_workspaces_, &abort_requested, lora);
            for (size_t m = 0; m < g; ++m)
                top_k_of_row(logits.data() + m * num_labels, static_cast<int64_t>(num_labels), k, labels, order,
                             results.data() + (first + members[m]) * k);
        }
    }
    std::copy(results.begin(), results.end(), out);
}
