// safetensors containers from memory (sdk/io/safetensors.h): the 8-byte header length, the JSON
// header (dtypes, shapes, data_offsets, __metadata__), the checks of offsets against the buffer.
// Whatever is accepted must describe bytes inside the buffer with nbytes = numel * dtype size.
#include <cstdlib>

#include "fuzz_common.h"
#include "sdk/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    krait_fuzz::run("safetensors", [&] {
        krait::SafetensorsFile file(data, size, "fuzz.safetensors");
        for (const auto& [name, t] : file.tensors()) {
            if (t.data < data || t.nbytes > size || t.data + t.nbytes > data + size) std::abort();
            if (static_cast<uint64_t>(t.numel()) * krait::dtype_size(t.dtype) != t.nbytes) std::abort();
            (void)krait::shape_to_string(t.shape);
        }
        for (const auto& [key, value] : file.metadata()) (void)value.size();
    });
    return 0;
}
