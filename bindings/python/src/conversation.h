// The C++ half of krait.Conversation: a conversation (krait_conversation) on a session of its own,
// so that it keeps its state between calls while the model's generate() and other conversations
// run on their own sessions. krait/__init__.py wraps it (argument defaults, streaming generator).
//
// Locking as in SequenceModel: every call on the session takes `mu_` after releasing the GIL.
#pragma once

#include <mutex>
#include <optional>
#include <string>

#include "common.h"
#include "generation.h"

namespace krait_py {

class Conversation {
public:
    // A new conversation (`load_path` empty) or one saved by save() (`system` is then ignored: the
    // file holds the messages). chat_template: None = the model's own; variables_json: a JSON object
    // of extra template variables.
    Conversation(std::shared_ptr<ModelHandle> model, const krait_session_params& params,
                 const std::optional<std::string>& system, const std::optional<std::string>& chat_template,
                 const std::string& variables_json, const std::optional<std::string>& load_path);
    ~Conversation();
    Conversation(const Conversation&) = delete;
    Conversation& operator=(const Conversation&) = delete;

    // Each returns the assistant's reply; on_piece(token_id, piece) -> truthy to stop, as generate().
    // pixel_values: None, or the user message's pictures, model-ready float32 [n, 3, H, W] (assistants).
    py::str say(const std::string& text, const GenerationRequest& req, std::optional<py::function> on_piece,
                py::handle pixel_values);
    py::str reply(const GenerationRequest& req, std::optional<py::function> on_piece);
    py::str regenerate(const GenerationRequest& req, std::optional<py::function> on_piece);

    // pixel_values: None, or the message's pictures (as say()).
    void add_message(const std::string& role, const std::string& content, py::handle pixel_values);
    void undo();
    void edit(int64_t index, const std::string& content);
    py::list history() const;  // [{"role": ..., "content": ...}, ...]
    py::dict stats() const;    // krait_conversation_stats of the last reply
    void save(const std::string& path) const;
    void abort() { krait_session_abort(session_); }  // any thread, no lock (krait.h)
    void clear_abort() { krait_session_clear_abort(session_); }

private:
    template <class Call>
    py::str run(const GenerationRequest& req, std::optional<py::function> on_piece, Call call);
    std::string last_reply() const;  // content of the last message; with mu_ held

    std::shared_ptr<ModelHandle> model_;  // outlives session_ (freed after it)
    krait_session* session_ = nullptr;
    krait_conversation* conversation_ = nullptr;  // borrows session_; freed first
    mutable std::mutex mu_;
};

void bind_conversation(py::module_& m);

}  // namespace krait_py
