#include "session.h"

#include <pybind11/stl.h>

namespace krait_py {

int64_t State::n_tokens() const {
    int64_t n = 0;
    check(krait_state_get_n_tokens(state_, &n));
    return n;
}

Session::Session(std::shared_ptr<ModelHandle> model, const krait_session_params& params,
                 std::shared_ptr<Tokenizer> tokenizer, std::string no_tokenizer_message, int64_t vocab_size)
    : model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      no_tokenizer_message_(std::move(no_tokenizer_message)),
      vocab_size_(vocab_size) {
    py::gil_scoped_release nogil;
    check(krait_session_create(model_->model, &params, &session_));
}

Session::~Session() { krait_session_free(session_); }

py::array_t<float> Session::append(py::handle prompt) {
    const Ids ids = prompt_ids(prompt, tokenizer_.get(), no_tokenizer_message_, vocab_size_);
    py::array_t<float> logits(vocab_size_);
    float* out = logits.mutable_data();
    {
        py::gil_scoped_release nogil;
        std::lock_guard<std::mutex> lock(mu_);
        check(krait_session_append(session_, ids.ptr(), ids.data.size(), out, static_cast<size_t>(vocab_size_)));
    }
    return logits;
}

py::tuple Session::generate(const GenerationRequest& req, std::optional<py::function> on_piece) {
    if (on_piece && !tokenizer_)
        fail(KRAIT_ERR_UNSUPPORTED, "cannot use streaming text without a tokenizer: " + no_tokenizer_message_);
    return run_generation_on(session_, mu_, req, std::move(on_piece), tokenizer_ != nullptr, /*from_scratch=*/false);
}

std::vector<int32_t> Session::context() const {
    size_t n = 0;
    check(krait_session_get_tokens(session_, nullptr, 0, &n));  // size query
    std::vector<int32_t> ids(n);
    if (n) check(krait_session_get_tokens(session_, ids.data(), ids.size(), &n));
    ids.resize(n);
    return ids;
}

py::list Session::tokens() const {
    std::vector<int32_t> ids;
    {
        py::gil_scoped_release nogil;
        std::lock_guard<std::mutex> lock(mu_);
        ids = context();
    }
    return py::cast(ids);
}

int64_t Session::n_tokens() const {
    size_t n = 0;
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    check(krait_session_get_tokens(session_, nullptr, 0, &n));
    return static_cast<int64_t>(n);
}

std::shared_ptr<State> Session::snapshot() {
    krait_state* state = nullptr;
    {
        py::gil_scoped_release nogil;
        std::lock_guard<std::mutex> lock(mu_);
        check(krait_session_snapshot(session_, &state));
    }
    return std::make_shared<State>(model_, state);
}

void Session::restore(const State& state) {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    check(krait_session_restore(session_, state.get()));
}

void Session::truncate(int64_t n_tokens) {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    check(krait_session_truncate(session_, n_tokens));
}

void Session::reset() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    check(krait_session_reset(session_));
}

void Session::save_state(const std::string& path) {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    check(krait_session_save_state(session_, path.c_str()));
}

void Session::load_state(const std::string& path) {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    check(krait_session_load_state(session_, path.c_str()));
}

void bind_session(py::module_& m) {
    py::class_<State, std::shared_ptr<State>> state(m, "State", R"doc(
An immutable copy of a Session's state (``session.snapshot()``): its context tokens, the model's
state (a KV cache or Mamba's recurrent state) and the logits after them.

It keeps its model alive and may be restored (``Session.restore(state)``) into any session of that
model, any number of times, also from several threads at once.)doc");
    state.attr("__module__") = "krait";  // public as krait.State: so named in signatures and help()
    state.def_property_readonly("n_tokens", &State::n_tokens, "How many context tokens it holds.")
        .def("__repr__", [](const State& s) { return "<krait.State n_tokens=" + std::to_string(s.n_tokens()) + ">"; });
    py::class_<Session, std::shared_ptr<Session>>(m, "Session", "The compiled half of krait.Session (private).")
        .def("append", &Session::append, py::arg("prompt"), "Prefills `prompt` (text or ids); float32 logits [vocab] after it.")
        .def("generate", &Session::generate, py::arg("request"), py::arg("on_piece"),
             "Runs a prepared request after the context; (ids, text). on_piece(id, text) -> stop? streams.")
        .def_property_readonly("tokens", &Session::tokens, "The context's ids.")
        .def_property_readonly("n_tokens", &Session::n_tokens, "The context's length.")
        .def("snapshot", &Session::snapshot, "A State copy of the session.")
        .def("restore", &Session::restore, py::arg("state"), "Puts a State back.")
        .def("truncate", &Session::truncate, py::arg("n_tokens"), "Keeps the first n_tokens tokens.")
        .def("reset", &Session::reset, "Empties the context.")
        .def("save_state", &Session::save_state, py::arg("path"), "Writes the state to a file.")
        .def("load_state", &Session::load_state, py::arg("path"), "Reads a state file.")
        .def("abort", &Session::abort, "Asks the running call to stop.")
        .def("clear_abort", &Session::clear_abort, "Withdraws an unused abort request.");
}

}  // namespace krait_py
