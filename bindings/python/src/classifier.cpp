// The C++ half of krait.Classifier: one classifier model and one session on it. krait/__init__.py
// wraps it (image inputs of mixed kinds, results in input order).
//
// Locking as in sequence_model.cpp: every session call takes `mu_` after releasing the GIL, and a
// call's adapter set lives on the session only within that lock. An adapter may replace the head:
// the logits' width and the labels of a call then follow that call's set (the session's
// krait_session_get_num_labels; label strings owned by the adapter, which the call keeps alive).
#include <pybind11/stl.h>

#include <algorithm>
#include <limits>
#include <mutex>
#include <optional>

#include "common.h"

namespace krait_py {

class Classifier {
public:
    Classifier(const std::string& path, const std::string& device, std::optional<int64_t> threads,
               std::optional<int64_t> max_image_pixels, std::optional<int64_t> batch_size, const std::string& weights,
               const std::string& matmul, std::optional<std::string> preprocessor_config) {
        krait_model_params mp;
        krait_model_params_init(&mp);
        if (preprocessor_config) mp.preprocessor_config = preprocessor_config->c_str();  // read during the load
        mp.device = parse_device(device);
        mp.weight_precision = parse_weights(weights);
        mp.matmul_precision = parse_matmul(matmul);
        krait_session_params sp;
        krait_session_params_init(&sp);
        sp.n_threads = thread_count(threads);
        if (max_image_pixels) {
            if (*max_image_pixels <= 0)
                fail_argument("max_image_pixels must be None (default) or > 0, got " + std::to_string(*max_image_pixels));
            sp.max_image_pixels = *max_image_pixels;
        }
        if (batch_size) {
            if (*batch_size < 0 || *batch_size > std::numeric_limits<int32_t>::max())
                fail_argument("batch_size must be None (default), 0 (all at once) or > 0, got " +
                              std::to_string(*batch_size));
            sp.max_batch = static_cast<int32_t>(*batch_size);
        }
        threads_ = threads;

        model_ = load_model(path, mp, KRAIT_MODEL_CLASSIFIER, "an image classifier", info_);
        adapters_ = std::make_unique<AdapterRegistry>(model_);
        krait_model* model = model_->model;
        for (int64_t i = 0; i < info_.num_labels; ++i) {
            const char* name = nullptr;
            check(krait_model_get_label(model, static_cast<int32_t>(i), &name));
            labels_.emplace_back(name);
        }
        krait_session* session = nullptr;
        check(krait_session_create(model, &sp, &session));
        session_.reset(session);
    }

    // krait_model_describe: an ONNX graph's inputs, outputs, opsets and passes ("" for other families).
    std::string describe() const {
        size_t n = 0;
        check(krait_model_describe(model_->model, nullptr, 0, &n));
        std::string text(n, '\0');
        if (n) check(krait_model_describe(model_->model, text.data(), text.size(), &n));
        return text;
    }

    Classifier(const Classifier&) = delete;
    Classifier& operator=(const Classifier&) = delete;

    // pixel_values float32 [batch, 3, height, width] (or [3, height, width]) -> logits [batch, num_labels]
    // (num_labels of the call's head).
    py::array_t<float> forward(py::handle pixel_values, py::handle adapters) {
        const std::shared_ptr<ActiveSet> active = adapters_->resolve(adapters);
        const Pixels px = to_pixels(pixel_values, "pixel_values", /*allow_single=*/true);
        const int64_t batch = px.n, height = px.height, width = px.width;
        const float* in = px.data();
        int64_t num_labels = info_.num_labels;
        std::vector<float> out;  // sized once the call's head is known (under the lock)
        {
            py::gil_scoped_release nogil;
            std::lock_guard<std::mutex> lock(mu_);
            ScopedAdapters scoped(session_.get(), *active);
            if (!active->empty()) check(krait_session_get_num_labels(session_.get(), &num_labels));
            size_t n = 0;
            // A size query first: the library checks batch * num_labels against overflow.
            check(krait_session_classifier_forward(session_.get(), in, batch, height, width, nullptr, 0, &n));
            out.resize(n);
            check(krait_session_classifier_forward(session_.get(), in, batch, height, width, out.data(), out.size(), &n));
        }
        py::array_t<float> logits({batch, num_labels});
        if (static_cast<size_t>(logits.size()) != out.size())
            fail(KRAIT_ERR_INTERNAL, "classifier forward wrote " + std::to_string(out.size()) + " logits for " +
                                         std::to_string(batch) + " x " + std::to_string(num_labels));
        std::copy(out.begin(), out.end(), logits.mutable_data());
        return logits;
    }

    py::list classify_files(const std::vector<std::string>& paths, int32_t top_k, py::handle adapters) {
        std::vector<const char*> ptrs;
        for (const auto& p : paths) ptrs.push_back(p.c_str());
        return run(paths.size(), top_k, adapters, [&](krait_classification* out, size_t capacity, size_t* n) {
            return krait_session_classify_files(session_.get(), ptrs.data(), ptrs.size(), top_k, out, capacity, n);
        });
    }

    py::list classify_encoded(const std::vector<py::bytes>& images, int32_t top_k, py::handle adapters) {
        std::vector<const void*> data;
        std::vector<size_t> sizes;
        for (const py::bytes& b : images) {
            char* p = nullptr;
            Py_ssize_t size = 0;
            if (PyBytes_AsStringAndSize(b.ptr(), &p, &size) != 0) throw py::error_already_set();
            data.push_back(p);
            sizes.push_back(static_cast<size_t>(size));
        }
        return run(images.size(), top_k, adapters, [&](krait_classification* out, size_t capacity, size_t* n) {
            return krait_session_classify_encoded(session_.get(), data.data(), sizes.data(), data.size(), top_k, out,
                                                  capacity, n);
        });
    }

    // uint8 arrays [height, width] (gray) or [height, width, channels] with channels 1, 3 or 4.
    py::list classify_pixels(const std::vector<py::handle>& arrays, int32_t top_k, py::handle adapters) {
        std::vector<py::array> keep;  // alive until the call returns
        std::vector<krait_image> images;
        for (size_t i = 0; i < arrays.size(); ++i) {
            py::array a;
            images.push_back(to_image(arrays[i], "image " + std::to_string(i) + ": ", a));
            keep.push_back(std::move(a));
        }
        return run(images.size(), top_k, adapters, [&](krait_classification* out, size_t capacity, size_t* n) {
            return krait_session_classify_pixels(session_.get(), images.data(), images.size(), top_k, out, capacity, n);
        });
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

    const std::vector<std::string>& labels() const { return labels_; }
    int64_t num_labels() const { return info_.num_labels; }

    // The labels of the head a call with `adapters` uses: the set is checked as a call would check it
    // (the session says how many classes its head has), then named from the adapter that brings the
    // head, or from the model.
    std::vector<std::string> labels_for(py::handle adapters) {
        const std::shared_ptr<ActiveSet> active = adapters_->resolve(adapters);
        if (active->empty()) return labels_;
        int64_t n = 0;
        {
            py::gil_scoped_release nogil;
            std::lock_guard<std::mutex> lock(mu_);
            ScopedAdapters scoped(session_.get(), *active);
            check(krait_session_get_num_labels(session_.get(), &n));
        }
        const Adapter* head = active->head();
        const std::vector<std::string>& names = head ? head->labels : labels_;
        if (static_cast<int64_t>(names.size()) != n)
            fail(KRAIT_ERR_INTERNAL, "the session's head has " + std::to_string(n) + " labels but " +
                                         (head ? "adapter '" + head->name + "'" : std::string("the model")) + " names " +
                                         std::to_string(names.size()));
        return names;
    }

    std::shared_ptr<Adapter> load_adapter(const std::string& path, const std::optional<std::string>& name) {
        return adapters_->load(path, name);
    }
    void unload_adapter(py::handle adapter_or_name) { adapters_->unload(adapter_or_name); }
    py::dict adapters() const { return adapters_->adapters(); }
    std::shared_ptr<ActiveSet> resolve_adapters(py::handle adapters) const { return adapters_->resolve(adapters); }
    py::tuple image_size() const { return py::make_tuple(info_.image_height, info_.image_width); }

    py::dict info() const {
        py::dict d;
        d["kind"] = kind_name(info_.kind);
        d["architecture"] = info_.architecture ? info_.architecture : "";
        d["num_labels"] = info_.num_labels;
        d["image_height"] = info_.image_height;
        d["image_width"] = info_.image_width;
        d["num_parameters"] = info_.num_parameters;
        d["weight_bytes"] = info_.weight_bytes;
        d["source_dtype"] = info_.source_dtype ? info_.source_dtype : "";
        return d;
    }

private:
    // Size query, then the classify call with the GIL released; per image a list of (label, probability).
    // The labels' strings belong to the model or to the head's adapter, which `active` keeps alive
    // until they are copied.
    template <class Call>
    py::list run(size_t n_images, int32_t top_k, py::handle adapters, const Call& call) {
        const std::shared_ptr<ActiveSet> active = adapters_->resolve(adapters);
        std::vector<krait_classification> flat;
        size_t n = 0;
        {
            py::gil_scoped_release nogil;
            std::lock_guard<std::mutex> lock(mu_);
            ScopedAdapters scoped(session_.get(), *active);
            check(call(nullptr, 0, &n));
            flat.resize(n);
            check(call(flat.data(), flat.size(), &n));
        }
        py::list out;
        const size_t k = n_images ? n / n_images : 0;
        for (size_t i = 0; i < n_images; ++i) {
            py::list row;
            for (size_t j = 0; j < k; ++j) {
                const krait_classification& c = flat[i * k + j];
                row.append(py::make_tuple(py::str(c.label ? c.label : ""), py::float_(c.probability)));
            }
            out.append(row);
        }
        return out;
    }

    struct SessionFree {
        void operator()(krait_session* s) const { krait_session_free(s); }
    };
    // Declared after model_, so destroyed before it (krait.h: free sessions before their model).
    std::shared_ptr<ModelHandle> model_;
    std::unique_ptr<krait_session, SessionFree> session_;
    std::unique_ptr<AdapterRegistry> adapters_;  // each adapter keeps the model alive itself
    krait_model_info info_{};
    std::vector<std::string> labels_;
    std::optional<int64_t> threads_;
    std::mutex mu_;
};

void bind_classifier(py::module_& m) {
    py::class_<Classifier>(m, "Classifier", "The compiled half of krait.Classifier (private: use krait.Classifier).")
        .def(py::init<const std::string&, const std::string&, std::optional<int64_t>, std::optional<int64_t>,
                      std::optional<int64_t>, const std::string&, const std::string&, std::optional<std::string>>(),
             py::arg("path"), py::arg("device"), py::arg("threads"), py::arg("max_image_pixels"), py::arg("batch_size"),
             py::arg("weights"), py::arg("matmul"), py::arg("preprocessor_config") = py::none())
        .def("forward", &Classifier::forward, py::arg("pixel_values"), py::arg("adapters") = py::none())
        .def("classify_files", &Classifier::classify_files, py::arg("paths"), py::arg("top_k"), py::arg("adapters") = py::none())
        .def("classify_encoded", &Classifier::classify_encoded, py::arg("images"), py::arg("top_k"), py::arg("adapters") = py::none())
        .def("classify_pixels", &Classifier::classify_pixels, py::arg("arrays"), py::arg("top_k"), py::arg("adapters") = py::none())
        .def("abort", &Classifier::abort)
        .def("clear_abort", &Classifier::clear_abort)
        .def("load_adapter", &Classifier::load_adapter, py::arg("path"), py::arg("name"))
        .def("unload_adapter", &Classifier::unload_adapter, py::arg("adapter"))
        .def_property_readonly("adapters", &Classifier::adapters)
        .def("resolve_adapters", &Classifier::resolve_adapters, py::arg("adapters") = py::none())
        .def("labels_for", &Classifier::labels_for, py::arg("adapters") = py::none())
        .def_property("threads", &Classifier::threads, &Classifier::set_threads)
        .def_property_readonly("labels", &Classifier::labels)
        .def_property_readonly("num_labels", &Classifier::num_labels)
        .def_property_readonly("image_size", &Classifier::image_size)
        .def_property_readonly("info", &Classifier::info)
        .def("describe", &Classifier::describe);
}

}  // namespace krait_py
