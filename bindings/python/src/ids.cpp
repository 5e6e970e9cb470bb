// Python values -> the ABI's inputs: integer array-likes to int32 ids, text to UTF-8 bytes.
#include <cstdio>
#include <cstring>
#include <limits>

#include "common.h"

namespace krait_py {

namespace {

// The same words the library uses for ids outside [0, vocab), so that an id too large for int32
// (refused here, before narrowing would wrap it) reads like any other out-of-range id.
[[noreturn]] void out_of_range(const char* what, const std::string& value, size_t position, int64_t vocab) {
    fail_argument(std::string(what) + ": token id " + value + " at position " + std::to_string(position) +
                  " is out of range [0, " + std::to_string(vocab) + ")");
}

template <class T>
void narrow_all(const py::array& arr, const char* what, int64_t vocab, std::vector<int32_t>& out) {
    // forcecast between integer types of the same signedness and wider width is lossless.
    auto wide = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(arr);
    if (!wide) throw py::error_already_set();
    const T* src = wide.data();
    const size_t n = static_cast<size_t>(wide.size());
    out.resize(n);
    for (size_t i = 0; i < n; ++i) {
        const T v = src[i];
        if constexpr (std::is_signed_v<T>) {
            if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
                out_of_range(what, std::to_string(v), i, vocab);
        } else {
            if (v > static_cast<T>(std::numeric_limits<int32_t>::max())) out_of_range(what, std::to_string(v), i, vocab);
        }
        out[i] = static_cast<int32_t>(v);
    }
}

// Object arrays (Python ints of any size, e.g. from a list holding 2**70): one element at a time.
void narrow_objects(const py::array& arr, const char* what, int64_t vocab, std::vector<int32_t>& out) {
    py::list items = arr.attr("ravel")().attr("tolist")();
    out.resize(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
        py::handle item = items[i];
        if (PyBool_Check(item.ptr()) || !PyIndex_Check(item.ptr()))
            fail_argument(std::string(what) + ": element at position " + std::to_string(i) + " is " +
                          std::string(py::str(py::type::of(item).attr("__name__"))) + ", not an integer token id");
        py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(item.ptr()));
        if (!index) throw py::error_already_set();
        int overflow = 0;
        const long long v = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
        if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
        if (overflow || v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
            out_of_range(what, std::string(py::str(index)), i, vocab);
        out[i] = static_cast<int32_t>(v);
    }
}

}  // namespace

Ids to_ids(py::handle obj, const char* what, int64_t vocab, bool allow_2d) {
    py::array arr;
    try {
        arr = py::module_::import("numpy").attr("asarray")(obj);
    } catch (py::error_already_set& e) {
        if (!e.matches(PyExc_ValueError) && !e.matches(PyExc_TypeError)) throw;
        fail_argument(std::string(what) + " cannot be read as an integer array: " + e.what());
    }
    Ids ids;
    const auto ndim = arr.ndim();
    if (ndim == 1) {
        ids.rows = 1;
        ids.cols = arr.shape(0);
    } else if (ndim == 2 && allow_2d) {
        ids.rows = arr.shape(0);
        ids.cols = arr.shape(1);
    } else {
        fail_argument(std::string(what) + " must be " + (allow_2d ? "1-D [length] or 2-D [batch, length]" : "1-D") +
                      ", got " + std::to_string(ndim) + " dimensions");
    }
    if (arr.size() == 0) return ids;  // np.asarray([]) is float64: an empty input has no dtype to check

    const char kind = arr.dtype().kind();
    if (kind == 'i') {
        narrow_all<int64_t>(arr, what, vocab, ids.data);
    } else if (kind == 'u') {
        narrow_all<uint64_t>(arr, what, vocab, ids.data);
    } else if (kind == 'O') {
        narrow_objects(arr, what, vocab, ids.data);
    } else {
        fail_argument(std::string(what) + " must hold integer token ids, got dtype " + std::string(py::str(arr.dtype())));
    }
    return ids;
}

std::string text_bytes(py::handle text, const char* what) {
    if (PyUnicode_Check(text.ptr())) {
        Py_ssize_t size = 0;
        const char* data = PyUnicode_AsUTF8AndSize(text.ptr(), &size);
        if (!data) {
            // Only lone surrogates (e.g. from errors="surrogateescape") make a str unencodable.
            PyErr_Clear();
            const Py_ssize_t n = PyUnicode_GetLength(text.ptr());
            for (Py_ssize_t i = 0; i < n; ++i) {
                const Py_UCS4 c = PyUnicode_ReadChar(text.ptr(), i);
                if (c >= 0xD800 && c <= 0xDFFF) {
                    char hex[16];
                    std::snprintf(hex, sizeof hex, "U+%04X", static_cast<unsigned>(c));
                    fail_argument(std::string(what) + " is not valid UTF-8 text: lone surrogate " + hex +
                                  " at character index " + std::to_string(i));
                }
            }
            fail_argument(std::string(what) + " cannot be encoded as UTF-8");
        }
        return std::string(data, static_cast<size_t>(size));
    }
    if (PyBytes_Check(text.ptr())) {
        return std::string(PyBytes_AS_STRING(text.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(text.ptr())));
    }
    if (PyByteArray_Check(text.ptr())) {
        return std::string(PyByteArray_AS_STRING(text.ptr()), static_cast<size_t>(PyByteArray_GET_SIZE(text.ptr())));
    }
    fail_argument(std::string(what) + " must be str or bytes, got " +
                  std::string(py::str(py::type::of(text).attr("__name__"))));
}

py::str utf8_str(const char* data, size_t size, const char* errors) {
    PyObject* s = PyUnicode_DecodeUTF8(data, static_cast<Py_ssize_t>(size), errors);
    if (!s) throw py::error_already_set();
    return py::reinterpret_steal<py::str>(s);
}

}  // namespace krait_py
