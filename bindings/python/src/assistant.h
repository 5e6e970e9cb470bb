// The C++ half of krait.Assistant: a vision-language assistant (KRAIT_MODEL_ASSISTANT: LLaVA) and
// one session on it, over krait_model_preprocess_image_*, krait_session_assistant_forward,
// krait_session_encode_images and krait_session_append_images (krait.h, "Assistants").
// krait/__init__.py wraps it (image inputs of mixed kinds, argument defaults, GenerationResult, the
// streaming generator).
//
// Locking as in sequence_model.cpp: every session call takes `mu_` after releasing the GIL, and a
// call's adapter set lives on the session only within that lock. Preprocessing is a model call
// (thread-safe) and takes no lock.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "conversation.h"
#include "common.h"
#include "generation.h"
#include "language_handle.h"

namespace krait_py {

class Assistant : LanguageHandle {
public:
    Assistant(const std::string& path, const std::string& device, std::optional<int64_t> threads,
              std::optional<int64_t> context_length, const std::string& weights, const std::string& matmul);
    Assistant(const Assistant&) = delete;
    Assistant& operator=(const Assistant&) = delete;

    // One image made model-ready -> float32 [1, 3, image_height, image_width].
    py::array_t<float> preprocess_file(const std::string& path) const;
    py::array_t<float> preprocess_encoded(const py::bytes& data) const;
    py::array_t<float> preprocess_pixels(py::handle array) const;  // uint8 [h, w] / [h, w, c]

    // input_ids [batch, length] (or [length]), pixel_values [n_images, 3, h, w] or None
    // -> float32 logits [batch, length, vocab].
    py::array_t<float> forward(py::handle input_ids, py::handle pixel_values, py::handle adapters);
    // pixel_values [n, 3, h, w] -> float32 features [n, image_rows, hidden].
    py::array_t<float> encode(py::handle pixel_values, py::handle adapters);

    // Checks and converts generate()'s arguments on the caller's thread. prompt: text (encoded
    // without special tokens, each image token then repeated image_rows times) or 1-D ids (already
    // expanded); pixel_values: the prompt's images or None.
    std::shared_ptr<GenerationRequest> prepare_generation(py::handle prompt, int64_t max_new_tokens, float temperature,
                                                          int32_t top_k, float top_p, float min_p,
                                                          float repetition_penalty, py::handle seed,
                                                          const std::vector<py::handle>& stop, bool stop_at_eos,
                                                          bool streaming, py::handle adapters, py::handle pixel_values);
    // Runs a prepared request from an empty context; returns (ids, text) as run_generation_on.
    py::tuple run_generation(const GenerationRequest& req, std::optional<py::function> on_piece);

    void abort() { krait_session_abort(session_.get()); }              // any thread, no lock (krait.h)
    void clear_abort() { krait_session_clear_abort(session_.get()); }  // idem
    py::object threads() const { return threads_ ? py::cast(*threads_) : py::none(); }
    void set_threads(std::optional<int64_t> threads);

    std::shared_ptr<Adapter> load_adapter(const std::string& path, const std::optional<std::string>& name) {
        return adapters_->load(path, name);
    }
    void unload_adapter(py::handle adapter_or_name) { adapters_->unload(adapter_or_name); }
    py::dict adapters() const { return adapters_->adapters(); }

    py::object tokenizer() const { return tokenizer_ ? py::cast(tokenizer_) : py::none(); }
    int64_t vocab_size() const { return info_.vocab_size; }
    int32_t image_token_id() const { return info_.image_token_id; }
    int64_t image_rows() const { return info_.image_rows; }
    py::tuple image_size() const { return py::make_tuple(info_.image_height, info_.image_width); }
    py::dict info() const;
    // A conversation on a session of its own (same threads and context length as this assistant's).
    std::shared_ptr<Conversation> conversation(const std::optional<std::string>& system,
                                               const std::optional<std::string>& chat_template,
                                               const std::string& variables_json,
                                               const std::optional<std::string>& load_path = std::nullopt) const;

private:
    // Runs one krait_model_preprocess_image_* call into [1, 3, image_height, image_width].
    template <class Call>
    py::array_t<float> preprocessed(const Call& call) const;
};

}  // namespace krait_py
