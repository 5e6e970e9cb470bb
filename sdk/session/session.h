// krait_session: the C handle of one conversation over a shared model — the
// sequence state (Mamba's recurrent caches, a transformer's KV cache: the
// LanguageModel interface hides which), the tokens of its context, scratch
// buffers and its share of the process's worker threads (a ThreadPool handle: n_threads chunks
// per parallel call) — or, on a classifier, the settings and threads of its
// classify calls and the scratch buffers they reuse (no state between calls).
// Used by one thread at a time; abort() from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "krait/krait.h"
#include "sdk/adapters/lora_set.h"
#include "sdk/core/thread_pool.h"
#include "sdk/image/image.h"
#include "sdk/models/language_model.h"
#include "sdk/session/model.h"

namespace krait {
class ByteWriter;
class ByteReader;
}  // namespace krait

// A saved state of a sequence session (krait_session_snapshot): the model state, the context
// tokens (the last n_pending of which are not yet run through the model: the token a generation
// ended with, or a truncation's last one) and the logits after the tokens that were run.
// Which adapters (serial, scale) computed a state, so that a conversation reuses a state only
// when it was computed with the adapters active now. Empty = the base model.
struct AdapterStamp {
    std::vector<std::pair<uint64_t, float>> adapters;
    bool known = true;  // false: computed under several adapter sets, or loaded from a file saved with adapters
    bool operator==(const AdapterStamp&) const = default;
};

// Where the rows of one image sit in a context: image_rows tokens from `position`, and which image.
struct ImageSpan {
    int64_t position = 0;
    int64_t rows = 0;
    uint64_t hash = 0;  // krait::image_hash of its pixels
    bool operator==(const ImageSpan&) const = default;
};

struct krait_state {
    const krait_model* model = nullptr;
    AdapterStamp stamp;  // the adapters that computed `sequence`
    std::unique_ptr<krait::SequenceState> sequence;
    std::vector<int32_t> context;
    size_t n_pending = 0;
    std::vector<float> last_logits;
    std::vector<ImageSpan> images;  // krait_session::images()
};

struct krait_session {
    krait_session(krait_model& model, const krait_session_params& params);
    ~krait_session();

    void set_threads(int32_t n_threads);
    // krait_session_abort / krait_session_clear_abort (semantics in krait.h). forward, append,
    // generate, classifier_forward and classify are the abortable calls: each stops at once on a
    // request pending when it starts and consumes any request when it ends (AbortableCall).
    void abort() { abort_requested.store(true, std::memory_order_relaxed); }
    void clear_abort() { abort_requested.store(false, std::memory_order_relaxed); }

    // ---- sequence models. See the matching krait_session_* functions in krait.h for semantics.
    void forward(const int32_t* ids, int64_t batch, int64_t length, float* logits);
    void reset();
    void append(const int32_t* ids, size_t n_ids, float* last_logits);
    // Returns the number of new tokens; writes min(that, capacity) ids to out_ids. `end_ids`: more
    // tokens that end the generation as EOS does when params.stop_at_eos (a chat template's
    // end-of-turn token).
    size_t generate(const int32_t* prompt_ids, size_t n_prompt, const krait_generate_params& params, int32_t* out_ids,
                    size_t capacity, const std::vector<int32_t>& end_ids = {});

    // ---- assistants (krait_session_assistant_forward, _append_images, _encode_images; since 1.5).
    // pixels [n_images, 3, height, width], model-ready. Ids hold each image as its token repeated
    // image_rows() times; their number must match n_images (checked).
    void assistant_forward(const int32_t* ids, int64_t batch, int64_t length, const float* pixels, int64_t n_images,
                           int64_t height, int64_t width, float* logits);
    void append_images(const int32_t* ids, size_t n_ids, const float* pixels, int64_t n_images, int64_t height,
                       int64_t width, float* last_logits);
    // features [n, image_rows, hidden_size]: what the language model reads for each image.
    void encode_images(const float* pixels, int64_t n, int64_t height, int64_t width, float* features);
    // The images in the context, in order (append_images): their tokens alone do not identify the
    // context (two images have the same tokens), so conversations compare these too, and a state
    // holding any cannot be saved to a file.
    const std::vector<ImageSpan>& images() const { return images_; }
    // The first context position whose row came from an image, -1 if none.
    int64_t image_from() const { return images_.empty() ? -1 : images_.front().position; }
    // Images append_images ran through the encoder, and those it took from the cache, so far.
    int64_t images_encoded() const { return images_encoded_; }
    int64_t images_cached() const { return images_cached_; }

    // ---- state of a sequence session (krait_session_snapshot ... _load_state, since 1.4).
    std::unique_ptr<krait_state> snapshot() const;
    // Refuses (INVALID_ARGUMENT) a state of a model with another fingerprint or one longer than the
    // context length; the session is then unchanged.
    void restore(const krait_state& from);
    const std::vector<int32_t>& tokens() const { return context_; }
    // Tokens already run through the model (the context minus the pending ones).
    int64_t state_tokens() const { return static_cast<int64_t>(context_.size() - pending_.size()); }
    size_t n_pending() const { return pending_.size(); }
    // Whether the state (or `s`) was computed only with the adapters active now (an empty state
    // always is): what a conversation may reuse.
    bool state_fits_adapters() const { return state_tokens() == 0 || (state_stamp_.known && state_stamp_ == active_stamp_); }
    bool state_fits_adapters(const krait_state& s) const {
        return s.context.size() == s.n_pending || (s.stamp.known && s.stamp == active_stamp_);
    }
    // A recurrent state (Mamba): it cannot forget tokens.
    bool recurrent() const { return state_->capacity() < 0; }
    // Keeps the first n tokens of the context (see krait_session_truncate).
    void truncate(int64_t n);
    // The session's state as a file payload (after the fingerprint) and back: read_state checks
    // everything and returns the state without changing the session.
    // `pictures`: the hashes of the pictures the file stores (a conversation with pictures); each
    // image span of the context must be one of them, and the spans are written after the state.
    // Null: a context with image rows is refused (UNSUPPORTED), no spans are written.
    void write_state(krait::ByteWriter& out, const std::vector<uint64_t>* pictures = nullptr) const;
    // The same for a snapshot of this session's model.
    void write_state(krait::ByteWriter& out, const krait_state& state, const std::vector<uint64_t>* pictures) const;
    // with_images: read the spans write_state(out, pictures) wrote, each checked (inside the context,
    // image tokens of the assistant's image_rows, in order); the caller checks their hashes.
    std::unique_ptr<krait_state> read_state(krait::ByteReader& in, bool with_images = false) const;
    void save_state(const std::string& path) const;
    void load_state(const std::string& path);

    // ---- classifiers (the caller has checked the kind and the arguments' presence).
    // pixels [batch, 3, height, width] -> logits [batch, num_labels].
    void classifier_forward(const float* pixels, int64_t batch, int64_t height, int64_t width, float* logits);

    // Produces image `index` of a classify call, refusing more than max_pixels
    // pixels. Called from worker threads, concurrently for different indices.
    using ImageSource = std::function<krait::Image(size_t index, int64_t max_pixels)>;
    // k = min(top_k, num_labels) classes per image into out[n][k] (see
    // krait_session_classify_files). `out` is written only once all succeeded.
    void classify(size_t n, int32_t top_k, const ImageSource& source, krait_classification* out);
    // min(top_k, num_labels) for top_k > 0; throws INVALID_ARGUMENT otherwise.
    size_t classes_per_image(int32_t top_k) const;

    int64_t max_image_pixels() const { return max_image_pixels_; }

    // ---- adapters. Replaces the active set (empty = the base model); takes
    // effect from the next call. The old set is released once no call uses it.
    void set_adapters(std::vector<krait::ActiveAdapter> active);
    const krait::LoraSet* lora() const { return lora_.get(); }
    // Classes of the active head (an adapter's replacement, else the model's).
    int64_t num_labels() const { return model.classifier->active_num_labels(lora_.get()); }

    krait_model& model;
    std::atomic<bool> abort_requested{false};

    // Calls on one session must not overlap (krait.h, CONVENTIONS: Threads). Each C entry point
    // that uses the session (or a conversation on it) holds a Claim for the whole call; a second
    // call that arrives meanwhile, from another thread or from a callback of the running call, is
    // refused with KRAIT_ERR_BUSY instead of racing on the state. abort / clear_abort take none.
    class Claim {
    public:
        // Throws KRAIT_ERR_BUSY naming `call` when another call holds the session.
        Claim(const krait_session& session, const char* call);
        ~Claim() { held_.store(false, std::memory_order_release); }
        Claim(const Claim&) = delete;
        Claim& operator=(const Claim&) = delete;

    private:
        std::atomic<bool>& held_;
    };

private:
    // The scratch buffers of the image encoder (the first classifier workspace), made on first use.
    krait::ClassifierWorkspace& image_workspace();
    // append() without its own AbortableCall, for generate()'s prefill.
    void append_tokens(const int32_t* ids, size_t n_ids, float* last_logits);
    // Feeds tokens into the context state and refreshes last_logits_. An
    // abortable (prefill) run that is aborted resets the session; single
    // decode steps are not abortable, so an abort lands between tokens.
    // `embeddings` [n, hidden_size]: the rows to run instead of the ids' embeddings (images), or null.
    void consume(const int32_t* ids, size_t n, bool abortable, const float* embeddings = nullptr);

    std::unique_ptr<krait::ThreadPool> pool_;
    std::unique_ptr<krait::LmWorkspace> workspace_;  // sequence models only
    std::vector<krait::ClassifierWorkspace> classifier_workspaces_;  // one per worker thread, reused by every call
    std::unique_ptr<krait::SequenceState> state_;  // sequence models only
    std::vector<int32_t> context_;      // every token in the context (for the repetition penalty)
    std::vector<int32_t> pending_;      // generated tokens in context_ not yet run through the model
    std::vector<float> last_logits_;    // [vocab] after the last consumed token
    std::vector<ImageSpan> images_;     // see images()
    // Projected rows of recent images by hash, most recent first, within image_cache_budget_ bytes.
    std::list<std::pair<uint64_t, std::vector<float>>> image_cache_;
    size_t image_cache_used_ = 0, image_cache_budget_ = 0;
    int64_t images_encoded_ = 0, images_cached_ = 0;
    // rows [n, image_rows, hidden] of pixels [n, 3, height, width]: cached ones copied, the others
    // encoded together (and cached).
    void image_rows(const float* pixels, int64_t n, int64_t height, int64_t width, float* rows);

    std::shared_ptr<const krait::LoraSet> lora_;  // null = no adapters
    AdapterStamp active_stamp_;  // of lora_
    AdapterStamp state_stamp_;   // the adapters that computed state_ (see consume)
    int64_t max_image_pixels_ = KRAIT_DEFAULT_MAX_IMAGE_PIXELS;
    int32_t max_batch_ = 0;  // 0 = all images of a call in one pass
    mutable std::atomic<bool> claimed_{false};  // a C call holds the session (Claim)
};
