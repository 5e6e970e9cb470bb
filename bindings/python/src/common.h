// Shared pieces of the krait._krait extension. The module sees only the public C ABI (krait.h):
// every handle here is an opaque krait_* pointer and every failure is a krait_status plus the
// message krait_last_error() gives on the same thread.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "krait/krait.h"

namespace krait_py {

namespace py = pybind11;

// A failed ABI call (or an argument the binding refuses before calling): carries the status and
// message to the Python side, where the translator (errors.cpp) raises the matching KraitError
// subclass from krait/_errors.py. Holds no Python objects, so it may be thrown with the GIL released.
class StatusError : public std::exception {
public:
    StatusError(krait_status status, std::string message) : status_(status), message_(std::move(message)) {}
    const char* what() const noexcept override { return message_.c_str(); }
    krait_status status() const { return status_; }

private:
    krait_status status_;
    std::string message_;
};

// Throws StatusError(status, krait_last_error()) unless status is KRAIT_OK. Call it right after
// the failing ABI call on the same thread (the message is per thread and per call).
void check(krait_status status);

[[noreturn]] void fail(krait_status status, std::string message);
[[noreturn]] inline void fail_argument(std::string message) { fail(KRAIT_ERR_INVALID_ARGUMENT, std::move(message)); }

// device="cpu" | "cuda" (the library says whether this build has CUDA).
krait_device parse_device(const std::string& device);
// weights="stored" | "f32" (krait_model_params.weight_precision).
krait_weight_precision parse_weights(const std::string& weights);
// matmul="exact" | "bf16" (krait_model_params.matmul_precision).
krait_matmul_precision parse_matmul(const std::string& matmul);
// "sequence", "classifier", "assistant".
const char* kind_name(krait_model_kind kind);
// threads=None (all cores, 0) or an integer >= 0 that fits int32.
int32_t thread_count(const std::optional<int64_t>& threads);

// Installs the StatusError -> krait.KraitError translator.
void register_errors(py::module_& m);

// Owns a loaded model; shared by the session and by the tokenizer borrowed from it, so the model
// outlives both (krait.h: sessions must be freed first; borrowed tokenizers live as long as the model).
struct ModelHandle {
    explicit ModelHandle(krait_model* m) : model(m) {}
    ~ModelHandle() { krait_model_free(model); }
    ModelHandle(const ModelHandle&) = delete;
    ModelHandle& operator=(const ModelHandle&) = delete;
    krait_model* model;
};

// Loads `path` with the GIL released, fills `info`, and checks the model is of `expected` kind
// (KRAIT_ERR_WRONG_KIND naming both kinds otherwise). `what` names the expected kind in the message.
std::shared_ptr<ModelHandle> load_model(const std::string& path, const krait_model_params& params,
                                        krait_model_kind expected, const char* what, krait_model_info& info);

// Token ids read from a Python integer array-like, narrowed to int32 only after a range check.
// shape: [rows, cols] row-major (a 1-D input is one row).
struct Ids {
    std::vector<int32_t> data;
    int64_t rows = 0;
    int64_t cols = 0;
    // The ABI refuses NULL id pointers even with a zero count in some calls; an empty input gets a
    // valid pointer so that the library reports the real problem (empty batch, empty prompt).
    const int32_t* ptr() const {
        static const int32_t none = 0;
        return data.empty() ? &none : data.data();
    }
};

// `what` names the argument in messages; `vocab` is only quoted in them (the library checks
// [0, vocab)); allow_2d: accept [rows, cols] besides 1-D.
Ids to_ids(py::handle obj, const char* what, int64_t vocab, bool allow_2d);

// The UTF-8 bytes of `text`: a str (must be encodable: a lone surrogate is refused with its index),
// or bytes/bytearray passed through unchanged (the library validates them and names the bad offset).
std::string text_bytes(py::handle text, const char* what);

// Decodes library output as UTF-8; by default ill-formed bytes become U+FFFD (the library's
// decoders already follow Hugging Face's lossy decoding, so this does not happen for valid
// tokenizers). Messages use errors="backslashreplace", which keeps odd bytes visible as \xNN.
py::str utf8_str(const char* data, size_t size, const char* errors = "replace");

class Tokenizer;

// ---- Images (images.cpp) -----------------------------------------------------------------------------

// Model-ready pixels read from a float array-like [n, 3, height, width] (or [3, height, width], one
// image, when allow_single): converted to C-contiguous float32 (float64 and other float widths are
// converted; integers are refused, since uint8 pixels need the model's preprocessing). `what` names
// the argument in messages.
struct Pixels {
    py::array_t<float, py::array::c_style | py::array::forcecast> array;
    int64_t n = 0;
    int64_t height = 0;
    int64_t width = 0;
    const float* data() const { return array.data(); }
};
Pixels to_pixels(py::handle obj, const char* what, bool allow_single);

// A uint8 numpy array [height, width] (gray) or [height, width, channels] (1, 3 or 4 channels) as a
// krait_image pointing into `keep` (the array itself, or a packed copy when its rows or channels are
// not packed). `prefix` starts every message ("image 2: ").
krait_image to_image(py::handle obj, const std::string& prefix, py::array& keep);

// A sequence or assistant model's session parameters: threads (thread_count) and context_length
// (None = the model's default, else >= 1).
krait_session_params language_session_params(const std::optional<int64_t>& threads,
                                             const std::optional<int64_t>& context_length);
// The tokenizer a language model's directory brings, or null without tokenizer.json (then
// `no_tokenizer_message` gets the library's reason, quoted when text is asked for).
std::shared_ptr<Tokenizer> model_tokenizer(const std::shared_ptr<ModelHandle>& model, std::string& no_tokenizer_message);
// The `info` dict of a language model (SequenceModel.info; Assistant.info adds its image fields).
py::dict language_info(const krait_model_info& info);

void bind_tokenizer(py::module_& m);
void bind_adapters(py::module_& m);
void bind_sequence_model(py::module_& m);
void bind_classifier(py::module_& m);
void bind_assistant(py::module_& m);

// ---- LoRA adapters (adapter.cpp) -------------------------------------------------------------------

// One krait_adapter reference. Holds the model too: krait.h wants every adapter handle freed before
// its model. Shared by the Adapter object (until unloaded) and by every call that uses it, so an
// adapter unloaded during a call is freed when that call ends (the session's own reference is
// dropped when the binding clears the session's set after the call).
struct AdapterHandle {
    AdapterHandle(std::shared_ptr<ModelHandle> m, krait_adapter* a) : model(std::move(m)), adapter(a) {}
    ~AdapterHandle() { krait_adapter_free(adapter); }
    AdapterHandle(const AdapterHandle&) = delete;
    AdapterHandle& operator=(const AdapterHandle&) = delete;
    std::shared_ptr<ModelHandle> model;
    krait_adapter* adapter;
};

// krait_adapter_target, with its strings copied (they outlive the handle).
struct AdapterTarget {
    std::string module;
    std::string kind;  // "linear", "embedding", "conv1d", "conv2d"
    int32_t rank = 0;
    float scaling = 0;
    bool replaced = false;
};

// krait.Adapter: an adapter loaded for one model. Its facts are copied at load, so they stay
// readable after unload_adapter(); only `handle` goes away then. `handle` is read and reset with the
// GIL held only.
struct Adapter {
    std::string name;
    std::string path;
    int32_t max_rank = 0;
    float lora_alpha = 0;
    bool use_rslora = false;
    int64_t num_parameters = 0;
    std::vector<AdapterTarget> targets;  // adapted modules first, then replaced ones (as the ABI)
    std::vector<std::string> labels;     // of its replacement head; empty if it keeps the model's head
    const ModelHandle* owner = nullptr;  // the model it was loaded for (identity only)
    std::shared_ptr<AdapterHandle> handle;  // null once unloaded
};

// The active set of one call, resolved from `adapters={adapter_or_name: scale}`: holds a reference
// to each adapter until the call (and the reading of its results, such as label strings owned by an
// adapter's head) is done. Thread-agnostic: holds no Python objects.
struct ActiveSet {
    std::vector<std::shared_ptr<Adapter>> adapters;
    std::vector<std::shared_ptr<AdapterHandle>> handles;
    std::vector<const krait_adapter*> raw;  // handles[i]->adapter, as krait_session_set_adapters takes them
    std::vector<float> scales;
    bool empty() const { return raw.empty(); }
    // The adapter whose replacement head is active (with its labels), or null for the model's head.
    const Adapter* head() const;
};

// Sets `set` on `session` for the length of one call and returns the session to the base model
// afterwards, so that between calls a session holds no adapter reference. Use with the session's
// lock held and the GIL released. An empty set touches nothing (the session is already at base).
class ScopedAdapters {
public:
    ScopedAdapters(krait_session* session, const ActiveSet& set);
    ~ScopedAdapters();
    ScopedAdapters(const ScopedAdapters&) = delete;
    ScopedAdapters& operator=(const ScopedAdapters&) = delete;

private:
    krait_session* session_;
    bool active_;
};

// The adapters loaded on one model (one per SequenceModel / Classifier object), by name.
class AdapterRegistry {
public:
    explicit AdapterRegistry(std::shared_ptr<ModelHandle> model) : model_(std::move(model)) {}

    // Loads the PEFT folder `path` with the GIL released. name: None = the folder's name. A name
    // already loaded on this model is refused (INVALID_ARGUMENT) and nothing stays loaded.
    std::shared_ptr<Adapter> load(const std::string& path, const std::optional<std::string>& name);
    // adapter_or_name: an Adapter of this model or the name of one.
    void unload(py::handle adapter_or_name);
    py::dict adapters() const;  // name -> Adapter, in load order
    // adapters: None, a mapping {Adapter or name: scale}, or an ActiveSet already resolved.
    std::shared_ptr<ActiveSet> resolve(py::handle adapters) const;

private:
    std::shared_ptr<Adapter> find(const std::string& name) const;  // null if absent
    std::string names() const;                                   // "'a', 'b'" for messages

    std::shared_ptr<ModelHandle> model_;
    // Touched with the GIL held only (load() re-takes it before inserting), so the GIL guards them.
    std::vector<std::shared_ptr<Adapter>> loaded_;
    std::vector<std::string> loading_;  // explicit names reserved by loads in progress
};

// A tokenizer: standalone (owned, freed here) or borrowed from a model (keeps the model alive).
class Tokenizer {
public:
    static std::shared_ptr<Tokenizer> from_file(const std::string& path);
    Tokenizer(std::shared_ptr<ModelHandle> owner, const krait_tokenizer* borrowed);
    Tokenizer(const Tokenizer&) = delete;
    Tokenizer& operator=(const Tokenizer&) = delete;

    std::vector<int32_t> encode_bytes(const std::string& utf8, bool add_special_tokens) const;  // GIL released inside
    std::string decode_bytes(const Ids& ids, bool skip_special_tokens = false) const;                                         // GIL released inside
    int64_t vocab_size() const { return vocab_size_; }
    const krait_tokenizer* handle() const { return tok_; }

private:
    explicit Tokenizer(krait_tokenizer* owned);
    void read_vocab_size();

    struct Free {
        void operator()(krait_tokenizer* t) const { krait_tokenizer_free(t); }
    };
    std::shared_ptr<ModelHandle> owner_;         // null for a standalone tokenizer
    std::unique_ptr<krait_tokenizer, Free> owned_;  // null when borrowed
    const krait_tokenizer* tok_ = nullptr;
    int64_t vocab_size_ = 0;
};

}  // namespace krait_py
