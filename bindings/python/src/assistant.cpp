#include "assistant.h"

#include <pybind11/stl.h>

#include <algorithm>

namespace krait_py {

Assistant::Assistant(const std::string& path, const std::string& device, std::optional<int64_t> threads,
                     std::optional<int64_t> context_length, const std::string& weights, const std::string& matmul)
    : LanguageHandle(path, device, threads, context_length, weights, matmul, KRAIT_MODEL_ASSISTANT, "an assistant") {}

std::shared_ptr<Conversation> Assistant::conversation(const std::optional<std::string>& system,
                                                     const std::optional<std::string>& chat_template,
                                                     const std::string& variables_json,
                                                     const std::optional<std::string>& load_path) const {
    require_tokenizer("a conversation");
    krait_session_params sp = session_params_;
    sp.n_threads = thread_count(threads_);
    return std::make_shared<Conversation>(model_, sp, system, chat_template, variables_json, load_path);
}

template <class Call>
py::array_t<float> Assistant::preprocessed(const Call& call) const {
    const int64_t h = info_.image_height, w = info_.image_width;
    py::array_t<float> out({int64_t{1}, int64_t{3}, h, w});
    const size_t capacity = static_cast<size_t>(out.size());
    float* data = out.mutable_data();
    size_t n = 0;
    krait_status status;
    std::string message;
    {
        py::gil_scoped_release nogil;
        status = call(data, capacity, &n);
        if (status != KRAIT_OK) message = krait_last_error();
    }
    // The encoder takes only its own size: a preprocessor_config.json that makes another (resize
    // without a crop) cannot feed it, and the ABI reports no height and width to shape it by.
    if (status == KRAIT_ERR_BUFFER_TOO_SMALL || (status == KRAIT_OK && n != capacity))
        fail(KRAIT_ERR_UNSUPPORTED, "the model's preprocessing makes " + std::to_string(n) +
                                        " values per image, not the image encoder's 3 x " + std::to_string(h) +
                                        " x " + std::to_string(w) + " (check preprocessor_config.json)");
    if (status != KRAIT_OK) fail(status, message);
    return out;
}

py::array_t<float> Assistant::preprocess_file(const std::string& path) const {
    const krait_model* model = model_->model;
    return preprocessed([&](float* out, size_t capacity, size_t* n) {
        return krait_model_preprocess_image_file(model, path.c_str(), out, capacity, n);
    });
}

py::array_t<float> Assistant::preprocess_encoded(const py::bytes& data) const {
    char* p = nullptr;
    Py_ssize_t size = 0;
    if (PyBytes_AsStringAndSize(data.ptr(), &p, &size) != 0) throw py::error_already_set();
    const krait_model* model = model_->model;
    return preprocessed([&](float* out, size_t capacity, size_t* n) {
        return krait_model_preprocess_image_encoded(model, p, static_cast<size_t>(size), out, capacity, n);
    });
}

py::array_t<float> Assistant::preprocess_pixels(py::handle array) const {
    py::array keep;  // alive until the call returns
    const krait_image image = to_image(array, "image: ", keep);
    const krait_model* model = model_->model;
    return preprocessed([&](float* out, size_t capacity, size_t* n) {
        return krait_model_preprocess_image_pixels(model, &image, out, capacity, n);
    });
}

py::array_t<float> Assistant::forward(py::handle input_ids, py::handle pixel_values, py::handle adapters) {
    const Ids ids = to_ids(input_ids, "input_ids", info_.vocab_size, /*allow_2d=*/true);
    std::optional<Pixels> px;
    if (!pixel_values.is_none()) px = to_pixels(pixel_values, "pixel_values", /*allow_single=*/false);
    const float* pixels = px ? px->data() : nullptr;
    const int64_t n_images = px ? px->n : 0, height = px ? px->height : 0, width = px ? px->width : 0;
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
        check(krait_session_assistant_forward(session_.get(), ids.ptr(), ids.rows, ids.cols, pixels, n_images, height,
                                              width, capacity ? out : &none, capacity, &n));
    }
    return logits;
}

py::array_t<float> Assistant::encode(py::handle pixel_values, py::handle adapters) {
    const Pixels px = to_pixels(pixel_values, "pixel_values", /*allow_single=*/false);
    const std::shared_ptr<ActiveSet> active = adapters_->resolve(adapters);
    py::array_t<float> features({px.n, info_.image_rows, info_.hidden_size});
    float* out = features.mutable_data();
    const float* pixels = px.data();
    const size_t capacity = static_cast<size_t>(features.size());
    {
        py::gil_scoped_release nogil;
        std::lock_guard<std::mutex> lock(mu_);
        ScopedAdapters scoped(session_.get(), *active);
        size_t n = 0;
        static float none = 0;
        check(krait_session_encode_images(session_.get(), pixels, px.n, px.height, px.width, capacity ? out : &none,
                                          capacity, &n));
    }
    return features;
}

std::shared_ptr<GenerationRequest> Assistant::prepare_generation(py::handle prompt, int64_t max_new_tokens,
                                                                 float temperature, int32_t top_k, float top_p,
                                                                 float min_p, float repetition_penalty, py::handle seed,
                                                                 const std::vector<py::handle>& stop, bool stop_at_eos,
                                                                 bool streaming, py::handle adapters,
                                                                 py::handle pixel_values) {
    auto req = std::make_shared<GenerationRequest>();
    req->adapters = adapters_->resolve(adapters);
    const bool text = PyUnicode_Check(prompt.ptr()) || PyBytes_Check(prompt.ptr()) || PyByteArray_Check(prompt.ptr());
    req->prompt = prompt_ids(prompt, tokenizer_.get(), no_tokenizer_message_, info_.vocab_size);
    ImagePrompt images;
    if (!pixel_values.is_none()) {
        const Pixels px = to_pixels(pixel_values, "pixel_values", /*allow_single=*/false);
        images.pixels.assign(px.data(), px.data() + px.array.size());
        images.n_images = px.n;
        images.height = px.height;
        images.width = px.width;
    }
    if (text && info_.image_placement == KRAIT_IMAGES_BEFORE_TEXT) {
        // Images placed before the text: the prompt's images first, then its text.
        std::vector<int32_t> expanded(static_cast<size_t>(images.n_images * info_.image_rows), info_.image_token_id);
        expanded.insert(expanded.end(), req->prompt.data.begin(), req->prompt.data.end());
        req->prompt.data = std::move(expanded);
        req->prompt.cols = static_cast<int64_t>(req->prompt.data.size());
    } else if (text) {
        // As LlavaProcessor writes prompts: each image token stands for image_rows rows.
        std::vector<int32_t> expanded;
        for (int32_t id : req->prompt.data) {
            if (id == info_.image_token_id) expanded.insert(expanded.end(), static_cast<size_t>(info_.image_rows), id);
            else expanded.push_back(id);
        }
        req->prompt.data = std::move(expanded);
        req->prompt.cols = static_cast<int64_t>(req->prompt.data.size());
    }
    req->images = std::move(images);
    set_generation_options(*req, max_new_tokens, temperature, top_k, top_p, min_p, repetition_penalty, seed, stop,
                           stop_at_eos);
    if (streaming || !req->stop_strings.empty()) require_tokenizer(streaming ? "streaming text" : "stop strings");
    return req;
}

py::tuple Assistant::run_generation(const GenerationRequest& req, std::optional<py::function> on_piece) {
    if (on_piece && !tokenizer_) require_tokenizer("streaming text");
    return run_generation_on(session_.get(), mu_, req, std::move(on_piece), tokenizer_ != nullptr,
                             /*from_scratch=*/true);
}

void Assistant::set_threads(std::optional<int64_t> threads) {
    const int32_t n = thread_count(threads);
    {
        py::gil_scoped_release nogil;
        std::lock_guard<std::mutex> lock(mu_);
        check(krait_session_set_threads(session_.get(), n));
    }
    threads_ = threads;
}

py::dict Assistant::info() const {
    py::dict d = language_info(info_);
    d["image_token_id"] = info_.image_token_id;
    d["image_rows"] = info_.image_rows;
    d["image_placement"] = info_.image_placement == KRAIT_IMAGES_BEFORE_TEXT ? "before_text" : "at_marker";
    d["image_height"] = info_.image_height;
    d["image_width"] = info_.image_width;
    return d;
}

void bind_assistant(py::module_& m) {
    py::class_<Assistant>(m, "Assistant", "The compiled half of krait.Assistant (private: use krait.Assistant).")
        .def(py::init<const std::string&, const std::string&, std::optional<int64_t>, std::optional<int64_t>,
                      const std::string&, const std::string&>(),
             py::arg("path"), py::arg("device"), py::arg("threads"), py::arg("context_length"), py::arg("weights"),
             py::arg("matmul"))
        .def("conversation", &Assistant::conversation, py::arg("system"), py::arg("chat_template"),
             py::arg("variables_json"), py::arg("load_path") = py::none())
        .def("preprocess_file", &Assistant::preprocess_file, py::arg("path"))
        .def("preprocess_encoded", &Assistant::preprocess_encoded, py::arg("data"))
        .def("preprocess_pixels", &Assistant::preprocess_pixels, py::arg("array"))
        .def("forward", &Assistant::forward, py::arg("input_ids"), py::arg("pixel_values"),
             py::arg("adapters") = py::none())
        .def("encode", &Assistant::encode, py::arg("pixel_values"), py::arg("adapters") = py::none())
        .def("prepare_generation", &Assistant::prepare_generation, py::arg("prompt"), py::arg("max_new_tokens"),
             py::arg("temperature"), py::arg("top_k"), py::arg("top_p"), py::arg("min_p"),
             py::arg("repetition_penalty"), py::arg("seed"), py::arg("stop"), py::arg("stop_at_eos"),
             py::arg("streaming"), py::arg("adapters"), py::arg("pixel_values"))
        .def("run_generation", &Assistant::run_generation, py::arg("request"), py::arg("on_piece"))
        .def("abort", &Assistant::abort)
        .def("clear_abort", &Assistant::clear_abort)
        .def("load_adapter", &Assistant::load_adapter, py::arg("path"), py::arg("name"))
        .def("unload_adapter", &Assistant::unload_adapter, py::arg("adapter"))
        .def_property_readonly("adapters", &Assistant::adapters)
        .def_property("threads", &Assistant::threads, &Assistant::set_threads)
        .def_property_readonly("tokenizer", &Assistant::tokenizer)
        .def_property_readonly("vocab_size", &Assistant::vocab_size)
        .def_property_readonly("image_token_id", &Assistant::image_token_id)
        .def_property_readonly("image_rows", &Assistant::image_rows)
        .def_property_readonly("image_size", &Assistant::image_size)
        .def_property_readonly("info", &Assistant::info);
}

}  // namespace krait_py
