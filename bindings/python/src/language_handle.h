// What krait.SequenceModel and krait.Assistant both hold: a loaded model of a language kind, one
// session on it, the adapters loaded for it, its tokenizer (if any) and the construction settings
// that conversations and sessions copy. Built once here, so the two classes differ only in their calls.
//
// Locking: a session serves one call at a time (krait.h); every call on `session_` takes `mu_` after
// releasing the GIL (see sequence_model.cpp).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common.h"

namespace krait_py {

class LanguageHandle {
protected:
    // Loads `path` as a model of `kind` (`what` names it in the wrong-kind error) with the
    // SequenceModel / Assistant constructor arguments.
    LanguageHandle(const std::string& path, const std::string& device, std::optional<int64_t> threads,
                   std::optional<int64_t> context_length, const std::string& weights, const std::string& matmul,
                   krait_model_kind kind,
                   const char* what) {
        krait_model_params mp;
        krait_model_params_init(&mp);
        mp.device = parse_device(device);
        mp.weight_precision = parse_weights(weights);
        mp.matmul_precision = parse_matmul(matmul);
        const krait_session_params sp = language_session_params(threads, context_length);
        threads_ = threads;
        session_params_ = sp;

        model_ = load_model(path, mp, kind, what, info_);
        adapters_ = std::make_unique<AdapterRegistry>(model_);
        krait_session* session = nullptr;
        check(krait_session_create(model_->model, &sp, &session));
        session_.reset(session);
        tokenizer_ = model_tokenizer(model_, no_tokenizer_message_);
    }
    LanguageHandle(const LanguageHandle&) = delete;
    LanguageHandle& operator=(const LanguageHandle&) = delete;

    void require_tokenizer(const char* purpose) const {
        if (!tokenizer_)
            fail(KRAIT_ERR_UNSUPPORTED, "cannot use " + std::string(purpose) + " without a tokenizer: " + no_tokenizer_message_);
    }

    struct SessionFree {
        void operator()(krait_session* s) const { krait_session_free(s); }
    };
    // Declared after model_, so destroyed before it (krait.h: free sessions before their model),
    // also when the constructor throws half-way.
    std::shared_ptr<ModelHandle> model_;
    std::unique_ptr<krait_session, SessionFree> session_;
    std::unique_ptr<AdapterRegistry> adapters_;  // each adapter keeps the model alive itself
    std::shared_ptr<Tokenizer> tokenizer_;       // null when the model directory has no tokenizer.json
    std::string no_tokenizer_message_;
    krait_model_info info_{};
    std::optional<int64_t> threads_;
    krait_session_params session_params_{};  // as given at construction (conversations copy it)
    std::mutex mu_;
};

}  // namespace krait_py
