#include "conversation.h"

#include <pybind11/stl.h>

namespace krait_py {

Conversation::Conversation(std::shared_ptr<ModelHandle> model, const krait_session_params& params,
                           const std::optional<std::string>& system, const std::optional<std::string>& chat_template,
                           const std::string& variables_json, const std::optional<std::string>& load_path)
    : model_(std::move(model)) {
    py::gil_scoped_release nogil;
    check(krait_session_create(model_->model, &params, &session_));
    const char* source = chat_template ? chat_template->c_str() : nullptr;
    const krait_status status =
        load_path ? krait_conversation_load(session_, load_path->c_str(), source, variables_json.c_str(), &conversation_)
                  : krait_conversation_create(session_, system ? system->c_str() : nullptr, source,
                                              variables_json.c_str(), &conversation_);
    if (status != KRAIT_OK) {
        const std::string message = krait_last_error();
        krait_session_free(session_);
        session_ = nullptr;
        fail(status, message);
    }
}

Conversation::~Conversation() {
    krait_conversation_free(conversation_);
    krait_session_free(session_);
}

template <class Call>
py::str Conversation::run(const GenerationRequest& req, std::optional<py::function> on_piece, Call call) {
    TokenSink sink;
    py::function callback;
    if (on_piece) {
        callback = *on_piece;
        sink.on_piece = &callback;
    }
    std::vector<const char*> stop_ptrs;
    const krait_generate_params gp = bind_run(req, sink, stop_ptrs, /*has_tokenizer=*/true);
    krait_status status;
    std::string message, reply;
    {
        py::gil_scoped_release nogil;
        std::lock_guard<std::mutex> lock(mu_);
        ScopedAdapters scoped(session_, *req.adapters);
        status = call(&gp);
        if (status != KRAIT_OK) message = krait_last_error();
        else reply = last_reply();
    }
    if (sink.error) std::rethrow_exception(sink.error);  // the callback's exception comes first
    if (status != KRAIT_OK) fail(status, message);
    return utf8_str(reply.data(), reply.size());
}

std::string Conversation::last_reply() const {
    size_t n = 0;
    if (krait_conversation_get_n_messages(conversation_, &n) != KRAIT_OK || n == 0) return {};
    const char* role = nullptr;
    const char* content = nullptr;
    if (krait_conversation_get_message(conversation_, n - 1, &role, &content) != KRAIT_OK || !content) return {};
    return content;
}

py::str Conversation::say(const std::string& text, const GenerationRequest& req, std::optional<py::function> on_piece,
                          py::handle pixel_values) {
    if (pixel_values.is_none())
        return run(req, std::move(on_piece),
                   [&](const krait_generate_params* gp) { return krait_conversation_say(conversation_, text.c_str(), gp); });
    const Pixels px = to_pixels(pixel_values, "pixel_values", /*allow_single=*/true);
    return run(req, std::move(on_piece), [&](const krait_generate_params* gp) {
        return krait_conversation_say_images(conversation_, text.c_str(), px.data(), px.n, px.height, px.width, gp);
    });
}

py::str Conversation::reply(const GenerationRequest& req, std::optional<py::function> on_piece) {
    return run(req, std::move(on_piece),
               [&](const krait_generate_params* gp) { return krait_conversation_reply(conversation_, gp); });
}

py::str Conversation::regenerate(const GenerationRequest& req, std::optional<py::function> on_piece) {
    return run(req, std::move(on_piece),
               [&](const krait_generate_params* gp) { return krait_conversation_regenerate(conversation_, gp); });
}

void Conversation::add_message(const std::string& role, const std::string& content, py::handle pixel_values) {
    if (pixel_values.is_none()) {
        py::gil_scoped_release nogil;
        std::lock_guard<std::mutex> lock(mu_);
        check(krait_conversation_add_message(conversation_, role.c_str(), content.c_str()));
        return;
    }
    const Pixels px = to_pixels(pixel_values, "pixel_values", /*allow_single=*/true);
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    check(krait_conversation_add_message_images(conversation_, role.c_str(), content.c_str(), px.data(), px.n,
                                                px.height, px.width));
}

void Conversation::undo() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    check(krait_conversation_undo(conversation_));
}

void Conversation::edit(int64_t index, const std::string& content) {
    if (index < 0) fail_argument("index must be >= 0, got " + std::to_string(index));
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    check(krait_conversation_edit(conversation_, static_cast<size_t>(index), content.c_str()));
}

py::list Conversation::history() const {
    std::vector<std::pair<std::string, std::string>> messages;
    {
        py::gil_scoped_release nogil;
        std::lock_guard<std::mutex> lock(mu_);
        size_t n = 0;
        check(krait_conversation_get_n_messages(conversation_, &n));
        for (size_t i = 0; i < n; ++i) {
            const char* role = nullptr;
            const char* content = nullptr;
            check(krait_conversation_get_message(conversation_, i, &role, &content));
            messages.emplace_back(role ? role : "", content ? content : "");
        }
    }
    py::list out;
    for (const auto& [role, content] : messages) {
        py::dict d;
        d["role"] = utf8_str(role.data(), role.size());
        d["content"] = utf8_str(content.data(), content.size());
        out.append(d);
    }
    return out;
}

py::dict Conversation::stats() const {
    krait_conversation_stats st{};
    st.struct_size = sizeof st;
    {
        py::gil_scoped_release nogil;
        std::lock_guard<std::mutex> lock(mu_);
        check(krait_conversation_get_stats(conversation_, &st));
    }
    py::dict d;
    d["prompt_tokens"] = st.prompt_tokens;
    d["reused_tokens"] = st.reused_tokens;
    d["prefilled_tokens"] = st.prefilled_tokens;
    d["generated_tokens"] = st.generated_tokens;
    d["images_encoded"] = st.images_encoded;
    d["images_cached"] = st.images_cached;
    return d;
}

void Conversation::save(const std::string& path) const {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    check(krait_conversation_save(conversation_, path.c_str()));
}

void bind_conversation(py::module_& m) {
    py::class_<Conversation, std::shared_ptr<Conversation>>(
        m, "Conversation", "The compiled half of krait.Conversation (private: use model.conversation()).")
        .def("say", &Conversation::say, py::arg("text"), py::arg("request"), py::arg("on_piece"),
             py::arg("pixel_values") = py::none())
        .def("reply", &Conversation::reply, py::arg("request"), py::arg("on_piece"))
        .def("regenerate", &Conversation::regenerate, py::arg("request"), py::arg("on_piece"))
        .def("add_message", &Conversation::add_message, py::arg("role"), py::arg("content"),
             py::arg("pixel_values") = py::none())
        .def("undo", &Conversation::undo)
        .def("edit", &Conversation::edit, py::arg("index"), py::arg("content"))
        .def_property_readonly("history", &Conversation::history)
        .def_property_readonly("stats", &Conversation::stats)
        .def("save", &Conversation::save, py::arg("path"))
        .def("abort", &Conversation::abort)
        .def("clear_abort", &Conversation::clear_abort);
}

}  // namespace krait_py
