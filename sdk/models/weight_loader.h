// WeightLoader: fetches named tensors from a model's safetensors files as
// F32, checking presence, dtype and shape, for any architecture.
//
// F32 tensors that are 4-byte aligned in the mapping are used in place (no
// copy); F16/BF16 tensors are converted once into buffers owned here. The
// loader must outlive every pointer it hands out: models keep it as a member.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sdk/io/safetensors.h"

namespace krait {

class WeightLoader {
public:
    explicit WeightLoader(const std::string& model_dir);

    // The tensor `name` as F32 with exactly `shape`. Throws KRAIT_ERR_FORMAT
    // naming the file and tensor if absent, of a non-float dtype, or mis-shaped.
    const float* get(const std::string& name, const std::vector<int64_t>& shape);
    // As get(), or nullptr when absent (optional tensors such as biases).
    const float* get_optional(const std::string& name, const std::vector<int64_t>& shape);
    bool has(const std::string& name) const { return files_->find(name) != nullptr; }
    // Shape of a present tensor (for reading sizes out of the weights).
    const TensorInfo* info(const std::string& name) const { return files_->find(name); }

    // A buffer owned by the loader (derived weights such as A = -exp(A_log)).
    float* allocate(size_t count);

    int64_t parameters_loaded() const { return parameters_; }
    size_t bytes_as_f32() const { return parameters_ * sizeof(float); }
    const std::string& source_dtype() const { return source_dtype_; }
    const std::string& dir() const { return dir_; }

private:
    std::string dir_;
    std::unique_ptr<WeightFiles> files_;
    std::vector<std::unique_ptr<float[]>> owned_;
    int64_t parameters_ = 0;
    std::string source_dtype_;
};

}  // namespace krait
