#include "generation.h"

namespace krait_py {

namespace {

// Runs on the generating thread with the GIL released. Must not let an exception escape into C.
int on_token(int32_t token_id, const char* piece, size_t piece_len, void* user_data) noexcept {
    auto* sink = static_cast<TokenSink*>(user_data);
    try {
        sink->text.append(piece, piece_len);
        py::gil_scoped_acquire gil;
        // Ctrl-C during a long generation stops it between tokens.
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        if (!sink->on_piece) return 0;
        py::object stop = (*sink->on_piece)(token_id, utf8_str(piece, piece_len));
        return PyObject_IsTrue(stop.ptr()) == 1 ? 1 : 0;
    } catch (...) {
        sink->error = std::current_exception();
        return 1;  // stop generating; the error is raised once the library returns
    }
}

}  // namespace

krait_generate_params bind_run(const GenerationRequest& req, TokenSink& sink, std::vector<const char*>& stop_ptrs,
                               bool has_tokenizer) {
    krait_generate_params gp = req.params;
    stop_ptrs.clear();
    for (const auto& s : req.stop_strings) stop_ptrs.push_back(s.c_str());
    gp.stop_strings = stop_ptrs.empty() ? nullptr : stop_ptrs.data();
    gp.n_stop_strings = stop_ptrs.size();
    if (has_tokenizer) {
        gp.on_token = on_token;
        gp.user_data = &sink;
    }
    return gp;
}

}  // namespace krait_py
