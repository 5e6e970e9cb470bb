// Status codes to Python exceptions. The exception classes live in krait/_errors.py (plain Python,
// so they can use multiple inheritance such as KraitIOError(KraitError, OSError)); the translator
// asks that module for the class that matches a status.
#include "common.h"

namespace krait_py {

void check(krait_status status) {
    if (status != KRAIT_OK) throw StatusError(status, krait_last_error());
}

void fail(krait_status status, std::string message) { throw StatusError(status, std::move(message)); }

void register_errors(py::module_& m) {
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const StatusError& e) {
            try {
                py::object exc = py::module_::import("krait._errors").attr("error_from_status")(
                    static_cast<int>(e.status()), e.what());
                PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
            } catch (py::error_already_set& inner) {
                // krait._errors could not be imported (a broken install): keep the message anyway.
                inner.restore();
                PyErr_Clear();
                PyErr_SetString(PyExc_RuntimeError, e.what());
            }
        }
    });
}

}  // namespace krait_py
