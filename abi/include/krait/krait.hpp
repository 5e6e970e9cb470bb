/*
** krait.hpp — a header-only C++17 layer over the C interface in krait.h.
**
** It adds nothing the C ABI does not do; it only makes the C ABI pleasant
** and safe to use from C++:
**
**  * Handles own their C object through std::unique_ptr with the matching
**    krait_*_free() as deleter: move-only, released exactly once. A moved-from
**    handle holds NULL; calling a method on it throws krait::Exception with
**    KRAIT_ERR_INVALID_ARGUMENT (the library rejects the NULL), it never crashes.
**  * Every non-OK status becomes a krait::Exception carrying the status and
**    the library's message (krait_last_error() at the time of the failure).
**  * Variable-size outputs come back as std::vector / std::string; the
**    size-query protocol of the C ABI is handled here.
**  * Callbacks are std::function. An exception thrown by a callback stops the
**    C call (the callback reports "stop" to the library) and is rethrown
**    from the wrapper method once the C call has returned, so no C++
**    exception ever unwinds through the library.
**
** Lifetimes and threading are those of the C ABI (see krait.h): a Model must
** outlive its Sessions, States, Adapters and any Tokenizer borrowed from it;
** a Session must outlive the Conversations on it; a Session is used by one
** thread at a time (its Conversations' calls count as calls on it), except
** Session::abort() and Session::clear_abort(). A State is immutable and
** thread-safe.
**
**     krait::Model model = krait::Model::load("models/mamba-130m");
**     krait::Tokenizer tok = model.tokenizer();
**     krait::Session session(model);
**     krait::GenerateOptions opt;
**     opt.max_new_tokens = 64;
**     session.generate(tok.encode("Hello"), opt, [](int32_t, std::string_view piece) {
**         std::cout << piece << std::flush;
**         return false;  // false: keep going
**     });
**
**     krait::State state = session.snapshot();   // the context so far
**     session.generate({}, opt);                 // continues the context
**     session.restore(state);                    // back to the snapshot
**
**     krait::Conversation chat(session, "You are a shop assistant.");
**     std::string reply = chat.say("How much is the red teapot?", opt);
**
**     krait::Model vit = krait::Model::load("models/vit-digits");   // an image classifier
**     krait::Session classifier(vit);
**     for (const krait::Classification& c : classifier.classify_files({"digit.png"}, 3)[0])
**         std::cout << c.label << " " << c.probability << "\n";
*/
#ifndef KRAIT_HPP
#define KRAIT_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "krait/krait.h"

namespace krait {

/* ---- Errors ------------------------------------------------------------- */

/* Thrown for every non-OK status. what() is the library's message. */
class Exception : public std::runtime_error {
public:
    Exception(krait_status status, const std::string& message)
        : std::runtime_error(message.empty() ? std::string(krait_status_string(status)) : message), status_(status) {}

    krait_status status() const noexcept { return status_; }

private:
    krait_status status_;
};

namespace detail {

/* Turns a status into an exception; the message is read right away, before
** any other Krait call on this thread can replace it. */
inline void check(krait_status status) {
    if (status != KRAIT_OK) throw Exception(status, krait_last_error());
}

struct ModelDeleter {
    void operator()(krait_model* m) const noexcept { krait_model_free(m); }
};
struct SessionDeleter {
    void operator()(krait_session* s) const noexcept { krait_session_free(s); }
};
struct AdapterDeleter {
    void operator()(krait_adapter* a) const noexcept { krait_adapter_free(a); }
};
struct StateDeleter {
    void operator()(krait_state* s) const noexcept { krait_state_free(s); }
};
struct ConversationDeleter {
    void operator()(krait_conversation* c) const noexcept { krait_conversation_free(c); }
};
/* A tokenizer borrowed from a model must never be freed: the deleter knows
** which kind it holds. */
struct TokenizerDeleter {
    bool owning = false;
    void operator()(const krait_tokenizer* t) const noexcept {
        if (owning) krait_tokenizer_free(const_cast<krait_tokenizer*>(t));
    }
};

/* Carries a C++ callback and the first exception it threw across a C call. */
template <class Fn>
struct CallbackBox {
    Fn* fn;
    std::exception_ptr error;
};

/* Runs `fn` for a C callback: returns the C "stop" flag; an exception is
** captured (and generation stopped) instead of unwinding through C frames. */
template <class Box, class... Args>
int invoke_callback(Box* box, Args&&... args) noexcept {
    if (box->error) return 1;
    try {
        return (*box->fn)(std::forward<Args>(args)...) ? 1 : 0;
    } catch (...) {
        box->error = std::current_exception();
        return 1;
    }
}

}  // namespace detail

/* Run-time library version (krait_version()); compare with KRAIT_VERSION_NUMBER. */
inline uint32_t version() noexcept { return krait_version(); }
inline std::string version_string() { return krait_version_string(); }
// The CPU kernels this process runs ("portable", "avx2", "avx512"); see krait_cpu_kernels.
inline std::string cpu_kernels() { return krait_cpu_kernels(); }

/* Throws KRAIT_ERR_UNSUPPORTED if the library loaded at run time cannot
** serve a program built against this header (other major version, or an
** older minor version). */
inline void check_version() {
    const uint32_t v = krait_version();
    if (v / 1000000 != KRAIT_VERSION_MAJOR || v < KRAIT_VERSION_NUMBER)
        throw Exception(KRAIT_ERR_UNSUPPORTED, std::string("libkrait ") + krait_version_string() +
                                                   " is too old or incompatible for a program built against krait.h " +
                                                   std::to_string(KRAIT_VERSION_NUMBER));
}

/* ---- Tokenizer ---------------------------------------------------------- */

/* A tokenizer: owned (Tokenizer::load) or borrowed from a Model
** (Model::tokenizer(), valid as long as that model). Immutable: all methods
** are thread-safe. */
class Tokenizer {
public:
    /* An owning tokenizer read from a tokenizer.json file. */
    static Tokenizer load(const std::string& path) {
        krait_tokenizer* t = nullptr;
        detail::check(krait_tokenizer_load(path.c_str(), &t));
        return Tokenizer(t, /*owning=*/true);
    }

    /* A non-owning view of a tokenizer handle (e.g. one from krait_model_get_tokenizer). */
    static Tokenizer borrow(const krait_tokenizer* t) noexcept { return Tokenizer(t, /*owning=*/false); }

    bool owning() const noexcept { return handle_.get_deleter().owning; }
    const krait_tokenizer* get() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    /* UTF-8 text -> ids, as Hugging Face's encode(text, add_special_tokens). */
    std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const {
        // One call in the common case: a token covers at least one byte, plus
        // a few special tokens; BUFFER_TOO_SMALL tells the exact size otherwise.
        std::vector<int32_t> ids(text.size() + 16);
        size_t n = 0;
        krait_status s = krait_tokenizer_encode(handle_.get(), text.data(), text.size(), add_special_tokens ? 1 : 0,
                                                ids.data(), ids.size(), &n);
        if (s == KRAIT_ERR_BUFFER_TOO_SMALL) {
            ids.resize(n);
            s = krait_tokenizer_encode(handle_.get(), text.data(), text.size(), add_special_tokens ? 1 : 0, ids.data(),
                                       ids.size(), &n);
        }
        detail::check(s);
        ids.resize(n);
        return ids;
    }

    /* ids -> UTF-8 text (special tokens included). */
    std::string decode(const int32_t* ids, size_t n_ids) const {
        std::string text(n_ids * 8 + 16, '\0');
        size_t n = 0;
        krait_status s = krait_tokenizer_decode(handle_.get(), ids, n_ids, text.data(), text.size(), &n);
        if (s == KRAIT_ERR_BUFFER_TOO_SMALL) {
            text.resize(n);
            s = krait_tokenizer_decode(handle_.get(), ids, n_ids, text.data(), text.size(), &n);
        }
        detail::check(s);
        text.resize(n);
        return text;
    }
    std::string decode(const std::vector<int32_t>& ids) const { return decode(ids.data(), ids.size()); }

    /* Number of ids, added tokens included. */
    int64_t vocab_size() const {
        int64_t n = 0;
        detail::check(krait_tokenizer_vocab_size(handle_.get(), &n));
        return n;
    }

private:
    Tokenizer(const krait_tokenizer* t, bool owning) noexcept : handle_(t, detail::TokenizerDeleter{owning}) {}

    std::unique_ptr<const krait_tokenizer, detail::TokenizerDeleter> handle_;
};

/* ---- Model -------------------------------------------------------------- */

/* Load progress: fraction done in [0, 1]; return true to cancel the load
** (it then throws KRAIT_ERR_CANCELLED). Same sense as the C callback. */
using ProgressFn = std::function<bool(float fraction)>;

/* A loaded model: immutable, shareable by any number of threads and Sessions. */
class Model {
public:
    /* Loads a model directory (see krait_model_load). `params` may be NULL for
    ** defaults; its progress fields are used as given. */
    static Model load(const std::string& path, const krait_model_params* params = nullptr) {
        krait_model* m = nullptr;
        detail::check(krait_model_load(path.c_str(), params, &m));
        return Model(m);
    }

    /* Loads with a C++ progress callback (may be empty) on `device`. */
    static Model load(const std::string& path, const ProgressFn& progress, krait_device device = KRAIT_DEVICE_CPU) {
        krait_model_params p;
        krait_model_params_init(&p);
        p.device = device;
        return load(path, p, progress);
    }

    /* Loads with `params` (its progress fields are replaced) and a C++ progress callback (may be empty). */
    static Model load(const std::string& path, krait_model_params p, const ProgressFn& progress) {
        detail::CallbackBox<const ProgressFn> box{&progress, nullptr};
        if (progress) {
            p.progress = [](float fraction, void* user) -> int {
                return detail::invoke_callback(static_cast<detail::CallbackBox<const ProgressFn>*>(user), fraction);
            };
            p.progress_user_data = &box;
        }
        krait_model* m = nullptr;
        const krait_status s = krait_model_load(path.c_str(), &p, &m);
        if (box.error) std::rethrow_exception(box.error);  // the load was cancelled and freed
        detail::check(s);
        return Model(m);
    }

    /* Takes ownership of a handle from krait_model_load. */
    explicit Model(krait_model* handle) noexcept : handle_(handle) {}

    krait_model* get() const noexcept { return handle_.get(); }
    krait_model* release() noexcept { return handle_.release(); }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    krait_model_info info() const {
        krait_model_info i{};
        i.struct_size = sizeof i;
        detail::check(krait_model_get_info(handle_.get(), &i));
        return i;
    }

    /* Classifiers: the name of label `id` (throws KRAIT_ERR_WRONG_KIND on a
    ** sequence model), and all names in id order. */
    std::string label(int32_t id) const {
        const char* name = nullptr;
        detail::check(krait_model_get_label(handle_.get(), id, &name));
        return name;
    }
    /* How the model was read (krait_model_describe): an ONNX graph's inputs, outputs, opsets and
    ** passes; empty for other families. */
    std::string describe() const {
        size_t n = 0;
        detail::check(krait_model_describe(handle_.get(), nullptr, 0, &n));
        std::string out(n, '\0');
        if (n) detail::check(krait_model_describe(handle_.get(), out.data(), out.size(), &n));
        return out;
    }

    /* A picture file made model-ready by the model's own preprocessing
    ** (krait_model_preprocess_image_file): float32 [3, image_height,
    ** image_width], for classifiers and assistants. Concatenate several for a
    ** batch (Conversation::say_images, Session::classifier_forward). */
    std::vector<float> preprocess_image(const std::string& path) const {
        size_t n = 0;
        detail::check(krait_model_preprocess_image_file(handle_.get(), path.c_str(), nullptr, 0, &n));
        std::vector<float> pixels(n);
        detail::check(krait_model_preprocess_image_file(handle_.get(), path.c_str(), pixels.data(), n, &n));
        return pixels;
    }
    /* The same from an encoded picture in memory (PNG, JPEG, BMP, GIF). */
    std::vector<float> preprocess_image(const void* data, size_t size) const {
        size_t n = 0;
        detail::check(krait_model_preprocess_image_encoded(handle_.get(), data, size, nullptr, 0, &n));
        std::vector<float> pixels(n);
        detail::check(krait_model_preprocess_image_encoded(handle_.get(), data, size, pixels.data(), n, &n));
        return pixels;
    }

    std::vector<std::string> labels() const {
        const int64_t n = info().num_labels;
        std::vector<std::string> out;
        out.reserve(static_cast<size_t>(n > 0 ? n : 0));
        for (int64_t i = 0; i < n; ++i) out.push_back(label(static_cast<int32_t>(i)));
        return out;
    }

    /* The model's own tokenizer, borrowed: valid as long as this model.
    ** Throws KRAIT_ERR_UNSUPPORTED if the directory had no tokenizer.json.
    ** Not callable on a temporary Model, whose tokenizer would dangle. */
    Tokenizer tokenizer() && = delete;
    Tokenizer tokenizer() const& {
        const krait_tokenizer* t = nullptr;
        detail::check(krait_model_get_tokenizer(handle_.get(), &t));
        return Tokenizer::borrow(t);
    }

private:
    std::unique_ptr<krait_model, detail::ModelDeleter> handle_;
};

/* ---- LoRA adapter ------------------------------------------------------- */

/* A PEFT LoRA adapter loaded for one Model (see "LoRA adapters" in krait.h).
** Immutable and thread-safe; the Model must outlive it. Destroying it while
** sessions use the adapter is fine: they keep their own reference. */
class Adapter {
public:
    /* Loads the PEFT folder `path` for `model`; `name` empty = the folder's name. */
    static Adapter load(const Model& model, const std::string& path, const std::string& name = "") {
        krait_adapter_params p;
        krait_adapter_params_init(&p);
        p.name = name.empty() ? nullptr : name.c_str();
        krait_adapter* a = nullptr;
        detail::check(krait_adapter_load(model.get(), path.c_str(), &p, &a));
        return Adapter(a);
    }

    explicit Adapter(krait_adapter* handle) noexcept : handle_(handle) {}
    const krait_adapter* get() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    krait_adapter_info info() const {
        krait_adapter_info i{};
        i.struct_size = sizeof i;
        detail::check(krait_adapter_get_info(handle_.get(), &i));
        return i;
    }
    std::string name() const { return info().name; }

    /* The modules it adapts, then those it replaces. */
    std::vector<krait_adapter_target> targets() const {
        std::vector<krait_adapter_target> out;
        const int64_t n = info().num_targets;
        for (int64_t i = 0; i < n; ++i) {
            krait_adapter_target t{};
            t.struct_size = sizeof t;
            detail::check(krait_adapter_get_target(handle_.get(), i, &t));
            out.push_back(t);
        }
        return out;
    }

    /* The labels of its replacement head (empty if it keeps the model's head). */
    std::vector<std::string> labels() const {
        std::vector<std::string> out;
        const int64_t n = info().num_labels;
        for (int64_t i = 0; i < n; ++i) {
            const char* label = nullptr;
            detail::check(krait_adapter_get_label(handle_.get(), static_cast<int32_t>(i), &label));
            out.push_back(label);
        }
        return out;
    }

private:
    std::unique_ptr<krait_adapter, detail::AdapterDeleter> handle_;
};

/* ---- Session ------------------------------------------------------------ */

/* Streaming callback: the new token id and the text it completes (maybe
** empty, valid only during the call). Return true to stop generating. */
using TokenFn = std::function<bool(int32_t token_id, std::string_view piece)>;

/* krait_generate_params with owned stop strings; the defaults are the
** library's (read from krait_generate_params_init). */
struct GenerateOptions {
    int32_t max_new_tokens;
    krait_sampling_params sampling;
    std::vector<std::string> stop_strings;
    bool stop_at_eos;

    GenerateOptions() {
        krait_generate_params p;
        krait_generate_params_init(&p);
        max_new_tokens = p.max_new_tokens;
        sampling = p.sampling;
        stop_at_eos = p.stop_at_eos != 0;
    }
};

namespace detail {

/* The krait_generate_params of one call: `options` with their stop strings
** as C pointers and `on_token` (may be empty) behind the C callback. Points
** into itself, `options` and `on_token`: neither copied nor moved, and used
** while both live. After the C call, rethrow() raises the callback's
** exception, if any, before the status is checked. */
struct GenerateCall {
    krait_generate_params params;
    std::vector<const char*> stops;
    CallbackBox<const TokenFn> box;

    GenerateCall(const GenerateOptions& options, const TokenFn& on_token) : box{&on_token, nullptr} {
        stops.reserve(options.stop_strings.size());
        for (const std::string& s : options.stop_strings) stops.push_back(s.c_str());
        krait_generate_params_init(&params);
        params.max_new_tokens = options.max_new_tokens;
        params.sampling = options.sampling;
        params.sampling.struct_size = sizeof params.sampling;
        params.stop_strings = stops.empty() ? nullptr : stops.data();
        params.n_stop_strings = stops.size();
        params.stop_at_eos = options.stop_at_eos ? 1 : 0;
        if (on_token) {
            params.on_token = [](int32_t id, const char* piece, size_t len, void* user) -> int {
                return invoke_callback(static_cast<CallbackBox<const TokenFn>*>(user), id, std::string_view(piece, len));
            };
            params.user_data = &box;
        }
    }
    GenerateCall(const GenerateCall&) = delete;
    GenerateCall& operator=(const GenerateCall&) = delete;

    void rethrow() const {
        if (box.error) std::rethrow_exception(box.error);
    }
};

}  // namespace detail

/* ---- State -------------------------------------------------------------- */

/* A copy of a sequence session's state (Session::snapshot): its context
** tokens, the model's state (KV cache or recurrent state) and the logits
** after them. Immutable: restoring only reads it, so it may be restored any
** number of times, into any Session of the same model, also from several
** threads at once. Move-only; owns its memory (krait_state_free). Its Model
** must outlive it. */
class State {
public:
    /* Takes ownership of a handle from krait_session_snapshot. */
    explicit State(krait_state* handle) noexcept : handle_(handle) {}

    const krait_state* get() const noexcept { return handle_.get(); }
    krait_state* release() noexcept { return handle_.release(); }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    /* The number of context tokens it holds. Thread-safe. */
    int64_t n_tokens() const {
        int64_t n = 0;
        detail::check(krait_state_get_n_tokens(handle_.get(), &n));
        return n;
    }

private:
    std::unique_ptr<krait_state, detail::StateDeleter> handle_;
};

/* One predicted class (krait_classification with an owned label). */
struct Classification {
    int32_t label_id = 0;
    float probability = 0.0f;
    std::string label;
};

/* Per image, its top-k classes, most probable first. */
using Classifications = std::vector<std::vector<Classification>>;

/* One conversation over a Model (which must outlive it), or the classify
** calls on a classifier Model. One thread at a time. */
class Session {
public:
    /* All of krait_session_params (from krait_session_params_init, then changed). */
    Session(const Model& model, const krait_session_params& params) {
        krait_session* s = nullptr;
        detail::check(krait_session_create(model.get(), &params, &s));
        handle_.reset(s);
        vocab_size_ = model.info().vocab_size;
    }
    Session(Model&& model, const krait_session_params& params) = delete;

    /* n_threads: worker threads for this session's calls, 0 = all cores. */
    explicit Session(const Model& model, int32_t n_threads = 0) {
        krait_session_params p;
        krait_session_params_init(&p);
        p.n_threads = n_threads;
        krait_session* s = nullptr;
        detail::check(krait_session_create(model.get(), &p, &s));
        handle_.reset(s);
        vocab_size_ = model.info().vocab_size;
    }
    /* A session on a temporary Model would outlive it. */
    explicit Session(Model&& model, int32_t n_threads = 0) = delete;

    krait_session* get() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    void set_threads(int32_t n_threads) { detail::check(krait_session_set_threads(handle_.get(), n_threads)); }

    /* Asks the call running on this session, or the next one to start if none
    ** runs, to stop: it throws KRAIT_ERR_ABORTED. The request is consumed by
    ** that one call (krait_session_abort has the details). Any thread. */
    void abort() noexcept { krait_session_abort(handle_.get()); }

    /* Withdraws a request made with abort() that no call has consumed yet
    ** (krait_session_clear_abort, library 1.3 or later). Any thread. */
    void clear_abort() noexcept { krait_session_clear_abort(handle_.get()); }

    /* Clears the generation state. */
    void reset() { detail::check(krait_session_reset(handle_.get())); }

    /* Makes these (adapter, scale) pairs active for the following calls;
    ** an empty list returns to the base model. */
    void set_adapters(const std::vector<std::pair<const Adapter*, float>>& active) {
        std::vector<const krait_adapter*> handles;
        std::vector<float> scales;
        for (const auto& [adapter, scale] : active) {
            handles.push_back(adapter ? adapter->get() : nullptr);
            scales.push_back(scale);
        }
        detail::check(krait_session_set_adapters(handle_.get(), handles.data(), scales.data(), handles.size()));
    }
    void clear_adapters() { detail::check(krait_session_set_adapters(handle_.get(), nullptr, nullptr, 0)); }

    /* Classifiers: classes of the active head (an adapter's, else the model's). */
    int64_t num_labels() const {
        int64_t n = 0;
        detail::check(krait_session_get_num_labels(handle_.get(), &n));
        return n;
    }

    /* Stateless full-sequence pass over ids laid out [batch, length]; returns
    ** logits [batch, length, vocab_size], row-major. */
    std::vector<float> forward(const std::vector<int32_t>& ids, int64_t batch, int64_t length) {
        if (batch > 0 && length > 0 && ids.size() != static_cast<size_t>(batch) * static_cast<size_t>(length))
            throw Exception(KRAIT_ERR_INVALID_ARGUMENT, "forward: ids holds " + std::to_string(ids.size()) +
                                                            " ids, batch * length is " + std::to_string(batch * length));
        size_t n = 0;
        detail::check(krait_session_forward(handle_.get(), ids.data(), batch, length, nullptr, 0, &n));  // size query
        std::vector<float> logits(n);
        detail::check(krait_session_forward(handle_.get(), ids.data(), batch, length, logits.data(), logits.size(), &n));
        return logits;
    }

    /* Appends ids to the context (prefill) and returns the logits after the
    ** last one ([vocab_size]). */
    std::vector<float> append(const std::vector<int32_t>& ids) {
        std::vector<float> logits(static_cast<size_t>(vocab_size_ > 0 ? vocab_size_ : 0));
        detail::check(krait_session_append(handle_.get(), ids.data(), ids.size(), logits.data(), logits.size()));
        return logits;
    }

    /* Generates after the context extended by `prompt` (may be empty if the
    ** context is not) and returns the new ids (EOS included if reached).
    ** `on_token` (may be empty) streams each token as it is produced. */
    std::vector<int32_t> generate(const std::vector<int32_t>& prompt, const GenerateOptions& options = {},
                                  const TokenFn& on_token = {}) {
        detail::GenerateCall call(options, on_token);
        std::vector<int32_t> out(options.max_new_tokens > 0 ? static_cast<size_t>(options.max_new_tokens) : 0);
        size_t n = 0;
        const krait_status s = krait_session_generate(handle_.get(), prompt.data(), prompt.size(), &call.params,
                                                      out.empty() ? nullptr : out.data(), out.size(), &n);
        call.rethrow();
        detail::check(s);
        out.resize(n < out.size() ? n : out.size());
        return out;
    }

    /* ---- state (sequence sessions; see "Session state" in krait.h) ---- */

    /* The context's tokens, oldest first (every token appended or generated
    ** since the last reset, a generation's last token included). */
    std::vector<int32_t> tokens() const {
        size_t n = 0;
        detail::check(krait_session_get_tokens(handle_.get(), nullptr, 0, &n));  // size query
        std::vector<int32_t> ids(n);
        if (n) detail::check(krait_session_get_tokens(handle_.get(), ids.data(), ids.size(), &n));
        ids.resize(n);
        return ids;
    }

    /* A copy of the session's state; the session is unchanged. */
    State snapshot() const {
        krait_state* s = nullptr;
        detail::check(krait_session_snapshot(handle_.get(), &s));
        return State(s);
    }

    /* Makes the session's state equal to `state` (of this model; the message
    ** of the INVALID_ARGUMENT names what differs otherwise). Unchanged on error. */
    void restore(const State& state) { detail::check(krait_session_restore(handle_.get(), state.get())); }

    /* Keeps the first n_tokens tokens of the context. A recurrent state (Mamba)
    ** accepts only 0, the whole context or the tokens not run yet: otherwise
    ** KRAIT_ERR_UNSUPPORTED (restore a snapshot instead). Unchanged on error. */
    void truncate(int64_t n_tokens) { detail::check(krait_session_truncate(handle_.get(), n_tokens)); }

    /* Writes the state to `path` (atomically replaced); the session is unchanged. */
    void save_state(const std::string& path) const { detail::check(krait_session_save_state(handle_.get(), path.c_str())); }

    /* Replaces the state with the one saved in `path`: KRAIT_ERR_INVALID_ARGUMENT
    ** for a file of another model, KRAIT_ERR_FORMAT for a damaged one,
    ** KRAIT_ERR_IO for a missing one; the session is unchanged on error. */
    void load_state(const std::string& path) { detail::check(krait_session_load_state(handle_.get(), path.c_str())); }

    /* ---- classifiers ---- */

    /* Top-k classes of image files (PNG, JPEG, BMP, GIF). */
    Classifications classify_files(const std::vector<std::string>& paths, int32_t top_k = 5) {
        std::vector<const char*> ptrs;
        ptrs.reserve(paths.size());
        for (const std::string& p : paths) ptrs.push_back(p.c_str());
        return classify_with(paths.size(), [&](krait_classification* out, size_t capacity, size_t* n) {
            return krait_session_classify_files(handle_.get(), ptrs.data(), ptrs.size(), top_k, out, capacity, n);
        });
    }

    /* Top-k classes of encoded images held in memory (one byte string each). */
    Classifications classify_encoded(const std::vector<std::string_view>& images, int32_t top_k = 5) {
        std::vector<const void*> data;
        std::vector<size_t> sizes;
        for (const std::string_view& b : images) {
            data.push_back(b.data());
            sizes.push_back(b.size());
        }
        return classify_with(images.size(), [&](krait_classification* out, size_t capacity, size_t* n) {
            return krait_session_classify_encoded(handle_.get(), data.data(), sizes.data(), data.size(), top_k, out,
                                                  capacity, n);
        });
    }

    /* Top-k classes of raw pixel images (struct_size is set here). */
    Classifications classify_pixels(std::vector<krait_image> images, int32_t top_k = 5) {
        for (krait_image& im : images) im.struct_size = sizeof(krait_image);
        return classify_with(images.size(), [&](krait_classification* out, size_t capacity, size_t* n) {
            return krait_session_classify_pixels(handle_.get(), images.data(), images.size(), top_k, out, capacity, n);
        });
    }

    /* Ready tensors float32 [batch, 3, height, width] -> logits [batch, num_labels]. */
    std::vector<float> classifier_forward(const float* pixels, int64_t batch, int64_t height, int64_t width) {
        size_t n = 0;
        detail::check(krait_session_classifier_forward(handle_.get(), pixels, batch, height, width, nullptr, 0, &n));
        std::vector<float> logits(n);
        detail::check(krait_session_classifier_forward(handle_.get(), pixels, batch, height, width, logits.data(),
                                                       logits.size(), &n));
        return logits;
    }

private:
    /* Size query, then the call, then [n][k] owned results. */
    template <class Call>
    Classifications classify_with(size_t n_images, const Call& call) {
        size_t n = 0;
        detail::check(call(nullptr, 0, &n));
        std::vector<krait_classification> flat(n);
        detail::check(call(flat.data(), flat.size(), &n));
        Classifications out(n_images);
        const size_t k = n_images ? n / n_images : 0;
        for (size_t i = 0; i < n_images; ++i)
            for (size_t j = 0; j < k; ++j) {
                const krait_classification& c = flat[i * k + j];
                out[i].push_back(Classification{c.label_id, c.probability, c.label ? c.label : ""});
            }
        return out;
    }

    std::unique_ptr<krait_session, detail::SessionDeleter> handle_;
    int64_t vocab_size_ = 0;
};

/* ---- Conversation ------------------------------------------------------- */

/* One message of a Conversation. */
struct Message {
    std::string role;
    std::string content;
};

/* A chat on a sequence Session (see "Conversations" in krait.h): holds the
** messages, renders them with the chat template and generates the
** assistant's replies, prefilling only what the session does not hold yet.
** Borrows the Session, which must outlive it; its calls are calls on that
** session (one thread at a time; Session::abort() stops a reply). A reply
** that fails or is aborted throws and leaves the messages unchanged.
** Move-only (krait_conversation_free; the session keeps its context). */
class Conversation {
public:
    /* A new conversation on `session`. system_prompt: "" for none.
    ** template_src: "" for the model's own chat template. extra_json: ""
    ** or a JSON object of extra template variables. */
    explicit Conversation(Session& session, const std::string& system_prompt = "", const std::string& template_src = "",
                          const std::string& extra_json = "") {
        krait_conversation* c = nullptr;
        detail::check(krait_conversation_create(session.get(), system_prompt.empty() ? nullptr : system_prompt.c_str(),
                                                template_src.empty() ? nullptr : template_src.c_str(),
                                                extra_json.empty() ? nullptr : extra_json.c_str(), &c));
        handle_.reset(c);
    }
    /* A conversation on a temporary Session would outlive it. */
    explicit Conversation(Session&& session, const std::string& = "", const std::string& = "",
                          const std::string& = "") = delete;

    /* A conversation saved by save(), its state loaded into `session` (which
    ** is unchanged on error). The template is not saved: pass the same. */
    static Conversation load(Session& session, const std::string& path, const std::string& template_src = "",
                             const std::string& extra_json = "") {
        krait_conversation* c = nullptr;
        detail::check(krait_conversation_load(session.get(), path.c_str(),
                                              template_src.empty() ? nullptr : template_src.c_str(),
                                              extra_json.empty() ? nullptr : extra_json.c_str(), &c));
        return Conversation(c);
    }
    static Conversation load(Session&& session, const std::string& path, const std::string& template_src = "",
                             const std::string& extra_json = "") = delete;

    /* Takes ownership of a handle from krait_conversation_create / _load. */
    explicit Conversation(krait_conversation* handle) noexcept : handle_(handle) {}

    krait_conversation* get() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    /* Appends a message without replying. */
    void add_message(const std::string& role, const std::string& content) {
        detail::check(krait_conversation_add_message(handle_.get(), role.c_str(), content.c_str()));
    }

    /* Each returns the assistant's reply (also appended as a message), streamed
    ** through `on_token` (may be empty) as it is generated. An exception thrown
    ** by on_token stops the reply like a stop it asked for (the reply so far is
    ** kept as the message) and is rethrown here. */
    std::string say(const std::string& user_text, const GenerateOptions& options = {}, const TokenFn& on_token = {}) {
        return run(options, on_token, [&](const krait_generate_params* p) {
            return krait_conversation_say(handle_.get(), user_text.c_str(), p);
        });
    }
    /* An assistant's turn with pictures (krait_conversation_say_images):
    ** `pixels` holds n_images model-ready pictures of height x width, one
    ** after the other (Model::preprocess_image gives each). */
    std::string say_images(const std::string& user_text, const std::vector<float>& pixels, int64_t n_images,
                           int64_t height, int64_t width, const GenerateOptions& options = {},
                           const TokenFn& on_token = {}) {
        return run(options, on_token, [&](const krait_generate_params* p) {
            return krait_conversation_say_images(handle_.get(), user_text.c_str(), pixels.data(), n_images, height,
                                                 width, p);
        });
    }
    std::string reply(const GenerateOptions& options = {}, const TokenFn& on_token = {}) {
        return run(options, on_token,
                   [&](const krait_generate_params* p) { return krait_conversation_reply(handle_.get(), p); });
    }
    /* Replaces the last reply by a new one. */
    std::string regenerate(const GenerateOptions& options = {}, const TokenFn& on_token = {}) {
        return run(options, on_token,
                   [&](const krait_generate_params* p) { return krait_conversation_regenerate(handle_.get(), p); });
    }

    /* Removes the last user message and the reply to it. */
    void undo() { detail::check(krait_conversation_undo(handle_.get())); }
    /* Replaces message `index`'s content and drops every later message. */
    void edit(size_t index, const std::string& content) {
        detail::check(krait_conversation_edit(handle_.get(), index, content.c_str()));
    }

    /* The messages so far (copies). */
    std::vector<Message> messages() const {
        size_t n = 0;
        detail::check(krait_conversation_get_n_messages(handle_.get(), &n));
        std::vector<Message> out;
        out.reserve(n);
        for (size_t i = 0; i < n; ++i) out.push_back(message(i));
        return out;
    }
    Message message(size_t index) const {
        const char* role = nullptr;
        const char* content = nullptr;
        detail::check(krait_conversation_get_message(handle_.get(), index, &role, &content));
        return Message{role ? role : "", content ? content : ""};
    }

    /* What the last reply cost (prompt, reused, prefilled, generated tokens). */
    krait_conversation_stats stats() const {
        krait_conversation_stats st{};
        st.struct_size = sizeof st;
        detail::check(krait_conversation_get_stats(handle_.get(), &st));
        return st;
    }

    /* Writes the messages and the session's state to `path` (atomically). */
    void save(const std::string& path) const { detail::check(krait_conversation_save(handle_.get(), path.c_str())); }

private:
    template <class Call>
    std::string run(const GenerateOptions& options, const TokenFn& on_token, const Call& call) {
        detail::GenerateCall gc(options, on_token);
        const krait_status s = call(&gc.params);
        gc.rethrow();
        detail::check(s);
        size_t n = 0;
        detail::check(krait_conversation_get_n_messages(handle_.get(), &n));
        return n ? message(n - 1).content : std::string();
    }

    std::unique_ptr<krait_conversation, detail::ConversationDeleter> handle_;
};

}  // namespace krait

#endif /* KRAIT_HPP */
