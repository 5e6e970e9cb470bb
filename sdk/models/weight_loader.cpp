#include "sdk/models/weight_loader.h"

#include <cstdint>

#include <sys/mman.h>
#include <unistd.h>

#include "sdk/core/error.h"
#include "sdk/core/utf8.h"

namespace krait {

namespace {

// Drops the whole pages of a mapped tensor that was just converted from the
// process's resident set: its data now lives in the converted copy, and the
// mapping is read-only and file-backed (MAP_PRIVATE, never written), so the
// pages come back from the file if anything reads them again. Without this an
// upcast BF16 model would hold its file's pages too (3x the BF16 size).
void drop_pages(const void* data, size_t bytes) {
    static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
    const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) / page * page;
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);  // advisory: failure is harmless
}

}  // namespace

WeightLoader::WeightLoader(const std::string& model_dir, WeightOptions options)
    : dir_(model_dir), files_(WeightFiles::open_dir(model_dir)), options_(options) {}

std::unique_ptr<WeightLoader> WeightLoader::from_file(const std::string& path, WeightOptions options) {
    auto loader = std::unique_ptr<WeightLoader>(new WeightLoader());
    loader->dir_ = path;
    loader->files_ = WeightFiles::open_file(path);
    loader->options_ = options;
    return loader;
}

std::string WeightLoader::stored_name(const std::string& name) const {
    for (const auto& [from, to] : prefixes_)
        if (name.compare(0, from.size(), from) == 0) return to + name.substr(from.size());
    return name;
}

const float* WeightLoader::get(const std::string& name, const std::vector<int64_t>& shape) {
    const float* p = get_optional(name, shape);
    if (!p) fail_format(dir_ + ": missing tensor " + krait::quote(stored_name(name)) + " (expected shape " + shape_to_string(shape) + ")");
    return p;
}

const TensorInfo* WeightLoader::find_checked(const std::string& logical_name, const std::vector<int64_t>& shape) {
    const std::string name = stored_name(logical_name);
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
    return t;
}

const float* WeightLoader::get_optional(const std::string& name, const std::vector<int64_t>& shape) {
    const TensorInfo* t = find_checked(name, shape);
    if (!t) return nullptr;
    const size_t count = static_cast<size_t>(t->numel());
    if (t->dtype == DType::F32 && reinterpret_cast<uintptr_t>(t->data) % alignof(float) == 0) {
        mapped_bytes_ += count * sizeof(float);
        mapped_.emplace_back(t->data, count * sizeof(float));
        return reinterpret_cast<const float*>(t->data);
    }
    float* dst = allocate(count);
    convert_to_f32(t->dtype, t->data, count, dst);
    drop_pages(t->data, t->nbytes);
    return dst;
}

StoredWeight WeightLoader::get_stored(const std::string& name, const std::vector<int64_t>& shape) {
    const TensorInfo* t = files_->find(stored_name(name));
    const bool half = t && (t->dtype == DType::F16 || t->dtype == DType::BF16);
    if (!options_.keep_stored || !half || reinterpret_cast<uintptr_t>(t->data) % alignof(uint16_t) != 0) {
        StoredWeight w;
        w.f32 = get(name, shape);
        return w;
    }
    find_checked(name, shape);
    StoredWeight w;
    w.half = reinterpret_cast<const uint16_t*>(t->data);
    w.type = t->dtype == DType::BF16 ? kernels::WeightType::BF16 : kernels::WeightType::F16;
    mapped_bytes_ += static_cast<size_t>(t->numel()) * sizeof(uint16_t);
    mapped_.emplace_back(t->data, static_cast<size_t>(t->numel()) * sizeof(uint16_t));
    return w;
}

float* WeightLoader::allocate(size_t count) {
    owned_.push_back(std::make_unique<float[]>(count));
    owned_counts_.push_back(count);
    owned_bytes_ += count * sizeof(float);
    return owned_.back().get();
}

void WeightLoader::release(const void* data) {
    for (size_t i = 0; i < owned_.size(); ++i) {
        if (owned_[i].get() != data) continue;
        owned_bytes_ -= owned_counts_[i] * sizeof(float);
        owned_[i].reset();
        owned_counts_[i] = 0;
        return;
    }
    for (auto& [p, bytes] : mapped_) {
        if (p != data || bytes == 0) continue;
        drop_pages(p, bytes);
        mapped_bytes_ -= bytes;
        bytes = 0;
        return;
    }
}

}  // namespace krait
