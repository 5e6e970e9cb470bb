// The C++ half of krait.SequenceModel: one model and one session. krait/__init__.py wraps it
// (argument defaults, GenerationResult, the streaming generator).
//
// Locking: a session serves one call at a time (krait.h), but Python threads may share the object,
// and a streaming generate() runs on a background thread. Every session call therefore takes
// `mu_`, always after releasing the GIL (a thread holding the GIL never waits on mu_, so the two
// locks cannot deadlock; the streaming callback takes the GIL while holding mu_). A call's adapter
// set is put on the session and taken off again within that lock (ScopedAdapters, adapter.cpp).
#include <pybind11/stl.h>

#include <limits>
#include <mutex>
#include <optional>

#include "common.h"
#include "conversation.h"
#include "generation.h"
#include "language_handle.h"
#include "session.h"

namespace krait_py {

class SequenceModel : LanguageHandle {
public:
    SequenceModel(const std::string& path, const std::string& device, std::optional<int64_t> threads,
                  std::optional<int64_t> context_length, const std::string& weights, const std::string& matmul)
        : LanguageHandle(path, device, threads, context_length, weights, matmul, KRAIT_MODEL_SEQUENCE, "a sequence model") {}

    // input_ids [batch, length] (or [length]) -> float32 logits [batch, length, vocab] (adapters do
    // not change the vocabulary).
    py::array_t<float> forward(py::handle input_ids, py::handle adapters) {
        const Ids ids = to_ids(input_ids, "input_ids", info_.vocab_size, /*allow_2d=*/true);
        const std::shared_ptr<ActiveSet> active = adapters_->resolve(adapters);
        py::array_t<float> logits({ids.rows, ids.cols, info_.vocab_size});
        float* out = logits.mutable_data();
        const size_t capacity = static_cast<size_t>(logits.size());
        {
            py::gil_scoped_release nogil;
            std::lock_guard<std::mutex> lock(mu_);
            ScopedAdapters scoped(session_.get(), *active);
            size_t n = 0;
            static float none = 0;
            check(krait_session_forward(session_.get(), ids.ptr(), ids.rows, ids.cols, capacity ? out : &none, capacity, &n));
        }
        return logits;
    }

    // Checks and converts generate()'s arguments (eagerly, on the caller's thread). prompt: str or
    // bytes (encoded with the model's tokenizer, no special tokens) or 1-D ids.
    std::shared_ptr<GenerationRequest> prepare_generation(py::handle prompt, int64_t max_new_tokens, float temperature,
                                                          int32_t top_k, float top_p, float min_p,
                                                          float repetition_penalty, py::handle seed,
                                                          const std::vector<py::handle>& stop, bool stop_at_eos,
                                                          bool streaming, py::handle adapters) {
        auto req = std::make_shared<GenerationRequest>();
        req->adapters = adapters_->resolve(adapters);
        req->prompt = prompt_ids(prompt, tokenizer_.get(), no_tokenizer_message_, info_.vocab_size);
        set_generation_options(*req, max_new_tokens, temperature, top_k, top_p, min_p, repetition_penalty, seed, stop,
                               stop_at_eos);
        // Text needs the tokenizer: a model without one (the test fixtures) generates ids only.
        if (streaming || !req->stop_strings.empty()) require_tokenizer(streaming ? "streaming text" : "stop strings");
        return req;
    }

    // Runs a prepared request from an empty context (like transformers' generate). Returns
    // (ids, text) as run_generation_on (generation.h).
    py::tuple run_generation(const GenerationRequest& req, std::optional<py::function> on_piece) {
        if (on_piece && !tokenizer_) require_tokenizer("streaming text");
        return run_generation_on(session_.get(), mu_, req, std::move(on_piece), tokenizer_ != nullptr,
                                 /*from_scratch=*/true);
    }

    void abort() { krait_session_abort(session_.get()); }              // any thread, no lock (krait.h)
    void clear_abort() { krait_session_clear_abort(session_.get()); }  // idem

    py::object threads() const { return threads_ ? py::cast(*threads_) : py::none(); }
    void set_threads(std::optional<int64_t> threads) {
        const int32_t n = thread_count(threads);
        {
            py::gil_scoped_release nogil;
            std::lock_guard<std::mutex> lock(mu_);
            check(krait_session_set_threads(session_.get(), n));
        }
        threads_ = threads;
    }

    std::shared_ptr<Adapter> load_adapter(const std::string& path, const std::optional<std::string>& name) {
        return adapters_->load(path, name);
    }
    void unload_adapter(py::handle adapter_or_name) { adapters_->unload(adapter_or_name); }
    py::dict adapters() const { return adapters_->adapters(); }

    // A conversation on a session of its own (same threads and context length as this model's),
    // new or loaded from `load_path`.
    std::shared_ptr<Conversation> conversation(const std::optional<std::string>& system,
                                               const std::optional<std::string>& chat_template,
                                               const std::string& variables_json,
                                               const std::optional<std::string>& load_path) const {
        require_tokenizer("a conversation");
        krait_session_params sp = session_params_;
        sp.n_threads = thread_count(threads_);
        return std::make_shared<Conversation>(model_, sp, system, chat_template, variables_json, load_path);
    }

    // A session of its own with an empty context (same threads and context length as this model's).
    std::shared_ptr<Session> session() const {
        krait_session_params sp = session_params_;
        sp.n_threads = thread_count(threads_);
        return std::make_shared<Session>(model_, sp, tokenizer_, no_tokenizer_message_, info_.vocab_size);
    }

    py::object tokenizer() const { return tokenizer_ ? py::cast(tokenizer_) : py::none(); }

    // messages / variables arrive as JSON text (the Python side serialises them).
    std::string apply_chat_template(const std::string& messages_json, bool add_generation_prompt,
                                    const std::string& variables_json, std::optional<std::string> chat_template) const {
        py::gil_scoped_release nogil;
        const char* source = chat_template ? chat_template->c_str() : nullptr;
        std::string text(messages_json.size() * 2 + 256, '\0');
        size_t n = 0;
        krait_status status = krait_model_apply_chat_template(model_->model, messages_json.c_str(), add_generation_prompt,
                                                              variables_json.c_str(), source, text.data(), text.size(), &n);
        if (status == KRAIT_ERR_BUFFER_TOO_SMALL) {
            text.resize(n);
            status = krait_model_apply_chat_template(model_->model, messages_json.c_str(), add_generation_prompt,
                                                     variables_json.c_str(), source, text.data(), text.size(), &n);
        }
        check(status);
        text.resize(n);
        return text;
    }
    int64_t vocab_size() const { return info_.vocab_size; }

    py::dict info() const { return language_info(info_); }
};

krait_session_params language_session_params(const std::optional<int64_t>& threads,
                                             const std::optional<int64_t>& context_length) {
    krait_session_params sp;
    krait_session_params_init(&sp);
    sp.n_threads = thread_count(threads);
    if (context_length) {
        if (*context_length < 1)
            fail_argument("context_length must be None (the model's default) or >= 1, got " +
                          std::to_string(*context_length));
        sp.context_length = *context_length;
    }
    return sp;
}

py::dict language_info(const krait_model_info& info) {
    py::dict d;
    auto token = [](int32_t id) { return id < 0 ? py::object(py::none()) : py::object(py::int_(id)); };
    d["kind"] = kind_name(info.kind);
    d["architecture"] = info.architecture ? info.architecture : "";
    d["vocab_size"] = info.vocab_size;
    d["hidden_size"] = info.hidden_size;
    d["num_layers"] = info.num_layers;
    d["state_size"] = info.state_size;
    d["num_parameters"] = info.num_parameters;
    d["weight_bytes"] = info.weight_bytes;
    d["bos_token_id"] = token(info.bos_token_id);
    d["eos_token_id"] = token(info.eos_token_id);
    d["source_dtype"] = info.source_dtype ? info.source_dtype : "";
    return d;
}

void bind_sequence_model(py::module_& m) {
    py::class_<GenerationRequest, std::shared_ptr<GenerationRequest>>(
        m, "GenerationRequest", "generate()'s options, checked and converted by prepare_generation() (private).");
    py::class_<SequenceModel>(m, "SequenceModel", "The compiled half of krait.SequenceModel (private: use krait.SequenceModel).")
        .def(py::init<const std::string&, const std::string&, std::optional<int64_t>, std::optional<int64_t>,
                      const std::string&, const std::string&>(),
             py::arg("path"), py::arg("device"), py::arg("threads"), py::arg("context_length"), py::arg("weights"),
             py::arg("matmul"))
        .def("forward", &SequenceModel::forward, py::arg("input_ids"), py::arg("adapters") = py::none())
        .def("prepare_generation", &SequenceModel::prepare_generation, py::arg("prompt"), py::arg("max_new_tokens"),
             py::arg("temperature"), py::arg("top_k"), py::arg("top_p"), py::arg("min_p"),
             py::arg("repetition_penalty"), py::arg("seed"), py::arg("stop"), py::arg("stop_at_eos"),
             py::arg("streaming"), py::arg("adapters") = py::none())
        .def("run_generation", &SequenceModel::run_generation, py::arg("request"), py::arg("on_piece"))
        .def("abort", &SequenceModel::abort)
        .def("clear_abort", &SequenceModel::clear_abort)
        .def("load_adapter", &SequenceModel::load_adapter, py::arg("path"), py::arg("name"))
        .def("unload_adapter", &SequenceModel::unload_adapter, py::arg("adapter"))
        .def_property_readonly("adapters", &SequenceModel::adapters)
        .def_property("threads", &SequenceModel::threads, &SequenceModel::set_threads)
        .def("apply_chat_template", &SequenceModel::apply_chat_template, py::arg("messages_json"),
             py::arg("add_generation_prompt"), py::arg("variables_json"), py::arg("chat_template"))
        .def("conversation", &SequenceModel::conversation, py::arg("system"), py::arg("chat_template"),
             py::arg("variables_json"), py::arg("load_path"))
        .def("session", &SequenceModel::session)
        .def_property_readonly("tokenizer", &SequenceModel::tokenizer)
        .def_property_readonly("vocab_size", &SequenceModel::vocab_size)
        .def_property_readonly("info", &SequenceModel::info);
}

}  // namespace krait_py
