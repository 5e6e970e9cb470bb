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
    py::class_<State, std::shared_ptr<State>>(m, "State")
        .def_property_readonly("n_tokens", &State::n_tokens)
        .def("__repr__", [](const State& s) { return "<krait.State n_tokens=" + std::to_string(s.n_tokens()) + ">"; });
    py::class_<Session, std::shared_ptr<Session>>(m, "Session")
        .def("append", &Session::append, py::arg("prompt"))
        .def("generate", &Session::generate, py::arg("request"), py::arg("on_piece"))
        .def_property_readonly("tokens", &Session::tokens)
        .def_property_readonly("n_tokens", &Session::n_tokens)
        .def("snapshot", &Session::snapshot)
        .def("restore", &Session::restore, py::arg("state"))
        .def("truncate", &Session::truncate, py::arg("n_tokens"))
        .def("reset", &Session::reset)
        .def("save_state", &Session::save_state, py::arg("path"))
        .def("load_state", &Session::load_state, py::arg("path"))
        .def("abort", &Session::abort)
        .def("clear_abort", &Session::clear_abort);
}

}  // namespace krait_py
