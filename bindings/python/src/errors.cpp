// Status codes to Python exceptions, and the argument helpers shared by the model classes. The exception classes live in krait/_errors.py (plain Python,
// so they can use multiple inheritance such as KraitIOError(KraitError, OSError)); the translator
// asks that module for the class that matches a status.
#include <cstring>
#include <limits>

#include "common.h"

namespace krait_py {

void check(krait_status status) {
    if (status != KRAIT_OK) throw StatusError(status, krait_last_error());
}

void fail(krait_status status, std::string message) { throw StatusError(status, std::move(message)); }

krait_device parse_device(const std::string& device) {
    if (device == "cpu") return KRAIT_DEVICE_CPU;
    if (device == "cuda") return KRAIT_DEVICE_CUDA;  // the library says whether this build has it
    fail_argument("device must be \"cpu\" or \"cuda\", got \"" + device + "\"");
}

krait_weight_precision parse_weights(const std::string& weights) {
    if (weights == "stored") return KRAIT_WEIGHTS_STORED;
    if (weights == "f32") return KRAIT_WEIGHTS_F32;
    fail_argument("weights must be \"stored\" or \"f32\", got \"" + weights + "\"");
}

krait_matmul_precision parse_matmul(const std::string& matmul) {
    if (matmul == "exact") return KRAIT_MATMUL_EXACT;
    if (matmul == "bf16") return KRAIT_MATMUL_BF16;
    fail_argument("matmul must be \"exact\" or \"bf16\", got \"" + matmul + "\"");
}

const char* kind_name(krait_model_kind kind) {
    switch (kind) {
        case KRAIT_MODEL_SEQUENCE: return "sequence";
        case KRAIT_MODEL_CLASSIFIER: return "classifier";
        case KRAIT_MODEL_ASSISTANT: return "assistant";
        default: return "unknown";
    }
}

std::shared_ptr<ModelHandle> load_model(const std::string& path, const krait_model_params& params,
                                        krait_model_kind expected, const char* what, krait_model_info& info) {
    krait_model* model = nullptr;
    {
        py::gil_scoped_release nogil;
        check(krait_model_load(path.c_str(), &params, &model));
    }
    auto handle = std::make_shared<ModelHandle>(model);
    info.struct_size = sizeof info;
    check(krait_model_get_info(model, &info));
    if (info.kind != expected)
        fail(KRAIT_ERR_WRONG_KIND, path + ": a " + kind_name(info.kind) + " model, not " + what);
    return handle;
}

int32_t thread_count(const std::optional<int64_t>& threads) {
    if (!threads) return 0;  // all cores
    if (*threads < 0 || *threads > std::numeric_limits<int32_t>::max())
        fail_argument("threads must be None (all cores) or an integer >= 0, got " + std::to_string(*threads));
    return static_cast<int32_t>(*threads);
}

void register_errors(py::module_& m) {
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const StatusError& e) {
            // The library promises UTF-8 messages; decoding with backslashreplace anyway means a
            // message that broke that promise still raises the status's KraitError (its odd bytes
            // shown as \xNN) instead of a UnicodeDecodeError from inside the translator.
            py::object message;  // null until decoded
            try {
                message = utf8_str(e.what(), std::strlen(e.what()), "backslashreplace");
                py::object exc = py::module_::import("krait._errors").attr("error_from_status")(
                    static_cast<int>(e.status()), message);
                PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
            } catch (py::error_already_set& inner) {
                // krait._errors could not be imported (a broken install): keep the message anyway.
                inner.restore();
                PyErr_Clear();
                if (message.ptr()) PyErr_SetObject(PyExc_RuntimeError, message.ptr());
                else PyErr_SetString(PyExc_RuntimeError, "krait: an error whose message could not be decoded");
            }
        }
    });
}

}  // namespace krait_py
