#include "generation.h"

#include <algorithm>
#include <limits>

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

void set_generation_options(GenerationRequest& req, int64_t max_new_tokens, float temperature, int32_t top_k,
                            float top_p, float min_p, float repetition_penalty, py::handle seed,
                            const std::vector<py::handle>& stop, bool stop_at_eos) {
    if (max_new_tokens <= 0 || max_new_tokens > std::numeric_limits<int32_t>::max())
        fail_argument("max_new_tokens must be in [1, 2**31), got " + std::to_string(max_new_tokens));
    for (size_t i = 0; i < stop.size(); ++i) {
        std::string s = text_bytes(stop[i], "stop string");
        if (s.find('\0') != std::string::npos)
            fail_argument("stop string " + std::to_string(i) + " contains a NUL character");
        req.stop_strings.push_back(std::move(s));
    }
    uint64_t seed_value = 0;
    if (!seed.is_none()) {
        bool ok = !PyBool_Check(seed.ptr()) && PyIndex_Check(seed.ptr());
        if (ok) {
            py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(seed.ptr()));
            if (!index) throw py::error_already_set();
            seed_value = PyLong_AsUnsignedLongLong(index.ptr());
            if (seed_value == static_cast<uint64_t>(-1) && PyErr_Occurred()) {
                PyErr_Clear();
                ok = false;
            }
        }
        if (!ok) fail_argument("seed must be None or an integer in [0, 2**64), got " + std::string(py::repr(seed)));
    }
    krait_generate_params& gp = req.params;
    krait_generate_params_init(&gp);
    gp.max_new_tokens = static_cast<int32_t>(max_new_tokens);
    gp.sampling.temperature = temperature;
    gp.sampling.top_k = top_k;
    gp.sampling.top_p = top_p;
    gp.sampling.min_p = min_p;
    gp.sampling.repetition_penalty = repetition_penalty;
    gp.sampling.seed = seed_value;
    gp.stop_at_eos = stop_at_eos ? 1 : 0;
}

Ids prompt_ids(py::handle prompt, const Tokenizer* tokenizer, const std::string& no_tokenizer_message, int64_t vocab) {
    if (!PyUnicode_Check(prompt.ptr()) && !PyBytes_Check(prompt.ptr()) && !PyByteArray_Check(prompt.ptr()))
        return to_ids(prompt, "prompt", vocab, /*allow_2d=*/false);
    const std::string text = text_bytes(prompt, "prompt");
    if (!tokenizer) fail(KRAIT_ERR_UNSUPPORTED, "cannot use a text prompt without a tokenizer: " + no_tokenizer_message);
    Ids ids;
    ids.data = tokenizer->encode_bytes(text, /*add_special_tokens=*/false);
    ids.rows = 1;
    ids.cols = static_cast<int64_t>(ids.data.size());
    return ids;
}

py::tuple run_generation_on(krait_session* session, std::mutex& mu, const GenerationRequest& req,
                            std::optional<py::function> on_piece, bool has_tokenizer, bool from_scratch) {
    TokenSink sink;
    py::function callback;
    if (on_piece) {
        callback = *on_piece;
        sink.on_piece = &callback;
    }
    std::vector<const char*> stop_ptrs;
    const krait_generate_params gp = bind_run(req, sink, stop_ptrs, has_tokenizer);

    // Room for max_new_tokens ids, left uninitialised: pages are only touched as ids are written,
    // so a generous max_new_tokens that ends early at EOS costs no memory.
    const size_t capacity = static_cast<size_t>(gp.max_new_tokens);
    std::unique_ptr<int32_t[]> out(new int32_t[capacity]);
    size_t n = 0;
    krait_status status = KRAIT_OK;
    std::string message;
    {
        py::gil_scoped_release nogil;
        std::lock_guard<std::mutex> lock(mu);
        ScopedAdapters scoped(session, *req.adapters);
        if (from_scratch) status = krait_session_reset(session);
        const int32_t* prompt = req.prompt.ptr();
        size_t n_prompt = req.prompt.data.size();
        if (status == KRAIT_OK && req.images && n_prompt > 0) {
            const ImagePrompt& im = *req.images;
            status = krait_session_append_images(session, prompt, n_prompt, im.n_images ? im.pixels.data() : nullptr,
                                                 im.n_images, im.height, im.width, nullptr, 0);
            n_prompt = 0;  // generation continues after the context
        }
        if (status == KRAIT_OK) status = krait_session_generate(session, prompt, n_prompt, &gp, out.get(), capacity, &n);
        if (status != KRAIT_OK) message = krait_last_error();
    }
    if (sink.error) std::rethrow_exception(sink.error);  // the callback's exception comes first
    if (status != KRAIT_OK) fail(status, message);
    n = std::min(n, capacity);
    py::list ids(n);
    for (size_t i = 0; i < n; ++i) ids[i] = py::int_(out[i]);
    return py::make_tuple(ids, utf8_str(sink.text.data(), sink.text.size()));
}

}  // namespace krait_py
