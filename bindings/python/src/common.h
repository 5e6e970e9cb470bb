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

// Decodes library output as UTF-8; ill-formed bytes become U+FFFD (the library's decoders already
// follow Hugging Face's lossy decoding, so this does not happen for valid tokenizers).
py::str utf8_str(const char* data, size_t size);

class Tokenizer;
void bind_tokenizer(py::module_& m);
void bind_sequence_model(py::module_& m);
void bind_classifier(py::module_& m);

// A tokenizer: standalone (owned, freed here) or borrowed from a model (keeps the model alive).
class Tokenizer {
public:
    static std::shared_ptr<Tokenizer> from_file(const std::string& path);
    Tokenizer(std::shared_ptr<ModelHandle> owner, const krait_tokenizer* borrowed);
    Tokenizer(const Tokenizer&) = delete;
    Tokenizer& operator=(const Tokenizer&) = delete;

    std::vector<int32_t> encode_bytes(const std::string& utf8, bool add_special_tokens) const;  // GIL released inside
    std::string decode_bytes(const Ids& ids) const;                                              // GIL released inside
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
