// Image inputs shared by krait.Classifier and krait.Assistant: model-ready float pixels and raw
// uint8 pixel arrays (krait_image).
#include <limits>

#include "common.h"

namespace krait_py {

Pixels to_pixels(py::handle obj, const char* what, bool allow_single) {
    const std::string name(what);
    py::array arr = py::array::ensure(obj);
    if (!arr) fail_argument(name + " must be a float32 array [batch, 3, height, width]");
    if (arr.dtype().kind() != 'f')
        fail_argument(name + " must hold floats (float32 [batch, 3, height, width]), got dtype " +
                      std::string(py::str(arr.dtype())));
    // Float arrays of other widths are converted (float64 is NumPy's default); integers are refused
    // above, since uint8 pixels need the model's preprocessing.
    Pixels p;
    p.array = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(arr);
    if (!p.array) throw py::error_already_set();
    const py::ssize_t ndim = p.array.ndim();
    if (ndim != 4 && !(allow_single && ndim == 3))
        fail_argument(name + (allow_single ? " must be [batch, 3, height, width] or [3, height, width], got "
                                           : " must be [n_images, 3, height, width], got ") +
                      std::to_string(ndim) + " dimensions");
    const bool single = ndim == 3;
    p.n = single ? 1 : p.array.shape(0);
    const int64_t channels = p.array.shape(single ? 0 : 1);
    p.height = p.array.shape(single ? 1 : 2);
    p.width = p.array.shape(single ? 2 : 3);
    if (channels != 3) fail_argument(name + " must have 3 channels (RGB, NCHW), got " + std::to_string(channels));
    return p;
}

krait_image to_image(py::handle obj, const std::string& prefix, py::array& keep) {
    py::array a = py::array::ensure(obj);
    if (!a) fail_argument(prefix + "not an array");
    // By kind and width, not dtype identity: a byte-order-marked '<u1' is another dtype object.
    if (a.dtype().kind() != 'u' || a.dtype().itemsize() != 1)
        fail_argument(prefix + "pixel arrays must be uint8 [height, width] or [height, width, channels], got dtype " +
                      std::string(py::str(a.dtype())));
    if (a.ndim() != 2 && a.ndim() != 3)
        fail_argument(prefix + "pixel arrays must be [height, width] or [height, width, channels], got " +
                      std::to_string(a.ndim()) + " dimensions");
    const int64_t channels = a.ndim() == 3 ? a.shape(2) : 1;
    if (channels != 1 && channels != 3 && channels != 4)
        fail_argument(prefix + "channels must be 1, 3 or 4, got " + std::to_string(channels));
    if (a.shape(0) > std::numeric_limits<int32_t>::max() || a.shape(1) > std::numeric_limits<int32_t>::max())
        fail_argument(prefix + "the image is too large");
    // Rows may be strided (a crop of a larger array); pixels within a row must be packed.
    const bool packed_rows = a.shape(1) <= 1 || a.strides(1) == channels;
    const bool packed_channels = a.ndim() == 2 || channels == 1 || a.strides(2) == 1;
    if (!packed_rows || !packed_channels || a.strides(0) < 0) a = py::array_t<uint8_t, py::array::c_style>::ensure(a);
    krait_image im{};
    im.struct_size = sizeof im;
    im.pixels = static_cast<const uint8_t*>(a.data());
    im.width = static_cast<int32_t>(a.shape(1));
    im.height = static_cast<int32_t>(a.shape(0));
    im.row_stride = a.shape(0) > 1 ? a.strides(0) : 0;
    im.channels = static_cast<int32_t>(channels);
    keep = std::move(a);
    return im;
}

}  // namespace krait_py
