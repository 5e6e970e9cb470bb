// Generation options shared by SequenceModel.generate(), Session.generate() and the Conversation
// calls: the request checked once on the caller's thread, the token callback that streams pieces to
// Python, and the generation run itself.
#pragma once

#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common.h"

namespace krait_py {

// The images of an assistant's prompt (Assistant.generate), copied so that the request holds no
// Python object: float32 [n_images, 3, height, width]; n_images 0 = none.
struct ImagePrompt {
    std::vector<float> pixels;
    int64_t n_images = 0;
    int64_t height = 0;
    int64_t width = 0;
};

// generate()'s arguments, checked and converted; reusable.
struct GenerationRequest {
    Ids prompt;
    std::vector<std::string> stop_strings;
    krait_generate_params params{};  // stop_strings, on_token and user_data are set per run
    std::shared_ptr<ActiveSet> adapters = std::make_shared<ActiveSet>();  // empty: the base model
    // Set for an assistant: the prompt (if any) is appended with these images
    // (krait_session_append_images), then the generation continues with an empty prompt.
    std::optional<ImagePrompt> images;
};

// Checks and sets generate()'s options on `req` (everything but the prompt, the adapters and the
// images): max_new_tokens in [1, 2**31), stop strings (str or bytes, no NUL), seed (None or an
// integer in [0, 2**64)), sampling.
void set_generation_options(GenerationRequest& req, int64_t max_new_tokens, float temperature, int32_t top_k,
                            float top_p, float min_p, float repetition_penalty, py::handle seed,
                            const std::vector<py::handle>& stop, bool stop_at_eos);

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

// A prompt as token ids: str or bytes (encoded with `tokenizer`, no special tokens; without a
// tokenizer UNSUPPORTED, quoting `no_tokenizer_message`) or a 1-D integer array-like.
Ids prompt_ids(py::handle prompt, const Tokenizer* tokenizer, const std::string& no_tokenizer_message, int64_t vocab);

// Runs `req` on `session` under `mu` (taken after releasing the GIL), with the request's adapters
// active for the call; from an empty context if `from_scratch`, else after the session's context.
// With req.images, the prompt and its images are appended first (one prefill), in the same lock.
// Returns (ids, text): the new token ids and the text of the pieces ("" without a tokenizer).
// on_piece(token_id, piece) -> truthy to stop; called on this thread, once per token.
py::tuple run_generation_on(krait_session* session, std::mutex& mu, const GenerationRequest& req,
                            std::optional<py::function> on_piece, bool has_tokenizer, bool from_scratch);

}  // namespace krait_py
