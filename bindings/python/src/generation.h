// Generation options shared by SequenceModel.generate() and the Conversation calls: the request
// checked once on the caller's thread, and the token callback that streams pieces to Python.
#pragma once

#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "common.h"

namespace krait_py {

// generate()'s arguments, checked and converted; reusable.
struct GenerationRequest {
    Ids prompt;
    std::vector<std::string> stop_strings;
    krait_generate_params params{};  // stop_strings, on_token and user_data are set per run
    std::shared_ptr<ActiveSet> adapters = std::make_shared<ActiveSet>();  // empty: the base model
};

// State shared with the krait_token_fn callback during one call.
struct TokenSink {
    std::string text;                 // every piece, concatenated
    py::function* on_piece = nullptr; // Python callback (streaming), or null
    std::exception_ptr error;         // raised by the Python side; re-raised after the C call returns
};

// The krait_generate_params of one run of `req`: its stop strings (pointers into req, kept in
// `stop_ptrs`) and, when the model has a tokenizer, the callback feeding `sink`. Without a
// tokenizer there is no text to collect and the library refuses a token callback.
krait_generate_params bind_run(const GenerationRequest& req, TokenSink& sink, std::vector<const char*>& stop_ptrs,
                               bool has_tokenizer);

}  // namespace krait_py
