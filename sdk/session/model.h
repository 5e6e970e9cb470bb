// krait_model: the C handle of a loaded model — immutable weights plus what
// goes with them (the tokenizer of a sequence model; the label names and the
// preprocessing of a classifier), shared by any number of sessions and threads.
#pragma once

#include <exception>
#include <memory>
#include <mutex>
#include <string>

#include "krait/krait.h"
#include "sdk/adapters/lora_adapter.h"
#include "sdk/chat/chat_template.h"
#include "sdk/image/preprocess.h"
#include "sdk/models/assistant.h"
#include "sdk/models/classifier.h"
#include "sdk/models/language_model.h"
#include "sdk/models/registry.h"
#include "sdk/tokenizer/tokenizer.h"

// The tokenizer handle: a standalone one (krait_tokenizer_load) or one owned
// by a model (krait_model_get_tokenizer, borrowed).
struct krait_tokenizer {
    std::unique_ptr<krait::Tokenizer> impl;
};

struct krait_model {
    // Loads `dir` with the model family that config.json's model_type names
    // (sdk/models/registry.h); throws krait::Error. The tokenizer is optional (tokenizer.json).
    krait_model(const std::string& dir, const krait_model_params& params);
    ~krait_model();

    krait_model_kind kind = KRAIT_MODEL_SEQUENCE;
    std::string dir;
    // Where tokenizer.json, tokenizer_config.json and the chat template are: `dir`, or a composite
    // assistant's language model directory (sdk/models/composite_assistant.h).
    std::string text_dir;
    const krait::ModelFamily* family = nullptr;  // the registry's entry that loaded it
    // As `kind` says: a language model (lm), a classifier, or an assistant: its image encoder and
    // projector (assistant) and its language model (lm, shared with it).
    std::shared_ptr<krait::LanguageModel> lm;            // KRAIT_MODEL_SEQUENCE, KRAIT_MODEL_ASSISTANT
    std::unique_ptr<krait::ClassifierModel> classifier;  // KRAIT_MODEL_CLASSIFIER
    std::unique_ptr<krait::AssistantModel> assistant;    // KRAIT_MODEL_ASSISTANT
    krait::PreprocessConfig preprocess;                  // classifier and assistant: image -> model input
    krait_tokenizer tokenizer;  // impl is null when the directory has no tokenizer.json

    // Throw KRAIT_ERR_WRONG_KIND naming the call when the model is not of the kind it needs. The
    // sequence calls serve assistants too (their language model, text only).
    void require_sequence(const char* call) const;
    void require_classifier(const char* call) const;
    void require_assistant(const char* call) const;

    // Throws KRAIT_ERR_INVALID_ARGUMENT naming the first id outside [0, vocab).
    void check_ids(const int32_t* ids, size_t n) const;
    int64_t vocab_size() const { return lm->vocab_size(); }
    // The model's chat template (sdk/chat), read and parsed at the first use,
    // so that a model whose template this version cannot parse still loads.
    // Thread-safe; throws the reading / parsing error on every call.
    const krait::chat::ChatTemplate& chat_template() const;

    // The modules LoRA adapters may change, whatever the kind.
    const krait::AdapterTargets& adapter_targets() const {
        if (assistant) return assistant->adapter_targets();
        return lm ? lm->adapter_targets() : classifier->adapter_targets();
    }

private:
    mutable std::once_flag chat_template_once_;
    mutable std::unique_ptr<krait::chat::ChatTemplate> chat_template_;
    mutable std::exception_ptr chat_template_error_;
};

// The adapter handle: one caller's reference to a loaded adapter. Sessions
// that have the adapter active hold references of their own.
struct krait_adapter {
    std::shared_ptr<const krait::LoraAdapter> impl;
    const krait_model* model = nullptr;
};
