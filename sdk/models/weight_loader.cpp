#include "sdk/models/weight_loader.h"

#include <cstdint>

#include "sdk/core/error.h"
#include "sdk/core/utf8.h"

namespace krait {

WeightLoader::WeightLoader(const std::string& model_dir) : dir_(model_dir), files_(WeightFiles::open_dir(model_dir)) {}

const float* WeightLoader::get(const std::string& name, const std::vector<int64_t>& shape) {
    const float* p = get_optional(name, shape);
    if (!p) fail_format(dir_ + ": missing tensor " + krait::quote(name) + " (expected shape " + shape_to_string(shape) + ")");
    return p;
}

const float* WeightLoader::get_optional(const std::string& name, const std::vector<int64_t>& shape) {
    const TensorInfo* t = files_->find(name);
    if (!t) return nullptr;
    const std::string where = *t->file + ": tensor " + krait::quote(name);
    if (t->dtype != DType::F32 && t->dtype != DType::F16 && t->dtype != DType::BF16)
        fail_format(where + " has dtype " + dtype_name(t->dtype) + ", expected F32, F16 or BF16");
    // A [1, N] or [N, 1, K] checkpoint shape is the same data as our flattened view: compare
    // element counts and the non-unit dimensions.
    auto squeeze = [](const std::vector<int64_t>& s) {
        std::vector<int64_t> out;
        for (int64_t d : s)
            if (d != 1) out.push_back(d);
        return out;
    };
    if (squeeze(t->shape) != squeeze(shape))
        fail_format(where + " has shape " + shape_to_string(t->shape) + ", expected " + shape_to_string(shape));
    if (source_dtype_.empty()) source_dtype_ = dtype_name(t->dtype);
    parameters_ += t->numel();

    const size_t count = static_cast<size_t>(t->numel());
    if (t->dtype == DType::F32 && reinterpret_cast<uintptr_t>(t->data) % alignof(float) == 0)
        return reinterpret_cast<const float*>(t->data);
    float* dst = allocate(count);
    convert_to_f32(t->dtype, t->data, count, dst);
    return dst;
}

float* WeightLoader::allocate(size_t count) {
    owned_.push_back(std::make_unique<float[]>(count));
    return owned_.back().get();
}

}  // namespace krait
