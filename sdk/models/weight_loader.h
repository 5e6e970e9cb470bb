// WeightLoader: fetches named tensors from a model's safetensors files as
// F32, checking presence, dtype and shape, for any architecture.
//
// F32 tensors that are 4-byte aligned in the mapping are used in place (no
// copy). get() converts F16/BF16 tensors once into buffers owned here (small
// tensors: norms, biases, conv weights); get_stored() hands out the large
// ones (linear and embedding weights) as stored, F16/BF16 in place from the
// memory map, unless the model was loaded with weights upcast to F32. The
// loader must outlive every pointer it hands out: models keep it as a member.
//
// It counts what the weights really occupy: mapped bytes used in place and
// bytes it owns (converted or derived), for krait_model_info's weight_bytes.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu/linear.h"
#include "sdk/io/safetensors.h"
#include "sdk/models/weight_options.h"

namespace krait {

// A weight matrix as the kernels read it: F32 (f32 set) or F16/BF16 in place
// (half set, pointing into the memory map).
struct StoredWeight {
    const float* f32 = nullptr;
    const uint16_t* half = nullptr;
    kernels::WeightType type = kernels::WeightType::F32;
    bool present() const { return f32 || half; }
};

class WeightLoader {
public:
    // options.keep_stored: get_stored() returns F16/BF16 tensors in place
    // (true) or converted to F32 (false: the "upcast to F32" load option).
    // options.bf16_products: PackedStore::pack_replacing lets the BF16 panels
    // it makes from this loader's weights use BF16 dot products.
    explicit WeightLoader(const std::string& model_dir, WeightOptions options = {});
    // The tensors of one safetensors file (`path` names it in messages).
    static std::unique_ptr<WeightLoader> from_file(const std::string& path, WeightOptions options = {});

    // Reads every tensor whose name starts with `from` under the name `to` + the rest instead: a model
    // stored inside another one's checkpoint (LLaVA's language model: "model.layers.0..." is
    // "model.language_model.layers.0..." or "language_model.model.layers.0..."). Rules are tried in the
    // order added; the first whose prefix matches applies. Messages name the tensor as stored.
    void map_prefix(const std::string& from, const std::string& to) { prefixes_.emplace_back(from, to); }

    // The tensor `name` as F32 with exactly `shape`. Throws KRAIT_ERR_FORMAT
    // naming the file and tensor if absent, of a non-float dtype, or mis-shaped.
    const float* get(const std::string& name, const std::vector<int64_t>& shape);
    // As get(), or nullptr when absent (optional tensors such as biases).
    const float* get_optional(const std::string& name, const std::vector<int64_t>& shape);
    bool has(const std::string& name) const { return files_->find(stored_name(name)) != nullptr; }
    // Shape of a present tensor (for reading sizes out of the weights).
    const TensorInfo* info(const std::string& name) const { return files_->find(stored_name(name)); }
    // The name a tensor has in the files (map_prefix applied).
    std::string stored_name(const std::string& name) const;

    // The tensor `name` with exactly `shape`, in its stored precision where
    // that is F16/BF16 (and 2-byte aligned) and the loader keeps weights as
    // stored; otherwise as get(). Same errors as get().
    StoredWeight get_stored(const std::string& name, const std::vector<int64_t>& shape);

    // Gives up a tensor returned by get() or get_stored() whose data now lives
    // elsewhere (a packed copy): a converted buffer is freed, mapped pages (F32
    // or F16/BF16 in place) are dropped from the resident set; either leaves
    // the byte counts. `data` must not be read afterwards. Unknown pointers
    // are ignored.
    void release(const void* data);

    // A buffer owned by the loader (derived weights such as A = -exp(A_log)).
    float* allocate(size_t count);

    int64_t parameters_loaded() const { return parameters_; }
    size_t bytes_as_f32() const { return parameters_ * sizeof(float); }
    const std::string& source_dtype() const { return source_dtype_; }
    // Bytes of the memory map used in place, and bytes of buffers owned here.
    size_t mapped_bytes() const { return mapped_bytes_; }
    size_t owned_bytes() const { return owned_bytes_; }
    bool keeps_stored() const { return options_.keep_stored; }
    const WeightOptions& options() const { return options_; }
    const std::string& dir() const { return dir_; }

private:
    WeightLoader() = default;

    std::string dir_;
    std::unique_ptr<WeightFiles> files_;
    std::vector<std::unique_ptr<float[]>> owned_;
    std::vector<size_t> owned_counts_;                   // floats in owned_[i]
    std::vector<std::pair<const void*, size_t>> mapped_;  // F32 tensors used in place: data, bytes
    int64_t parameters_ = 0;
    std::string source_dtype_;
    WeightOptions options_;
    size_t mapped_bytes_ = 0;
    size_t owned_bytes_ = 0;
    std::vector<std::pair<std::string, std::string>> prefixes_;  // map_prefix rules: from, to

    // The checked tensor (nullptr when absent), counted in parameters_.
    const TensorInfo* find_checked(const std::string& name, const std::vector<int64_t>& shape);
};

}  // namespace krait
