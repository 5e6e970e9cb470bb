// onnx::Tensor: a value of an ONNX graph at run time: an element type, a shape and row-major
// contiguous data. Data is shared, never copied on assignment: an initializer may point into the
// memory-mapped model (its owner keeps the map alive), an op's output owns a fresh 64-byte-aligned
// buffer. Krait's ONNX graphs compute in float32 and index with int64 / int32 / bool.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace krait::onnx {

// ONNX's TensorProto.DataType numbers for the element types Krait runs.
enum class ElemType : int32_t { Undefined = 0, Float = 1, Int32 = 6, Int64 = 7, Bool = 9 };

// "FLOAT", "INT64", ... for any TensorProto.DataType number (messages name types as ONNX does).
const char* elem_type_name(int32_t onnx_type);
// True for the types above (other than Undefined).
bool is_runnable_type(int32_t onnx_type);
size_t elem_size(ElemType type);

using Shape = std::vector<int64_t>;
int64_t shape_numel(const Shape& shape);
std::string shape_string(const Shape& shape);  // "[2, 3, 224, 224]"

// The most bytes one Tensor::allocate may take on this thread (KRAIT_ERR_FORMAT beyond): a shape
// read from a damaged file must not make Krait allocate gigabytes. load_graph lowers it while it
// folds constants and runs the probe at batch 1 (kLoadTensorBytes); runs use kRunTensorBytes.
inline constexpr size_t kLoadTensorBytes = size_t{1} << 30, kRunTensorBytes = size_t{1} << 36;
class TensorByteLimit {
public:
    explicit TensorByteLimit(size_t bytes);
    ~TensorByteLimit();
    TensorByteLimit(const TensorByteLimit&) = delete;
    TensorByteLimit& operator=(const TensorByteLimit&) = delete;
    static size_t current();

private:
    size_t saved_;
};

// Buffers of released tensors kept for reuse: the executor runs the same graph call after call, so
// each op's output finds a buffer of its size that an earlier value gave back, instead of fresh
// pages (a 40 MB activation costs ~10,000 page faults when allocated anew). A pool is owned by a
// caller's workspace and made current on a thread with BufferPoolScope; Tensor::allocate then takes
// from it, and tensors allocated from it give their buffer back when released (or free it when
// the pool is gone). Thread-safe.
class BufferPool {
public:
    BufferPool();
    ~BufferPool();
    BufferPool(const BufferPool&) = delete;
    BufferPool& operator=(const BufferPool&) = delete;
    size_t held_bytes() const;
    struct State;

private:
    friend class Tensor;
    std::shared_ptr<State> state_;
};

class BufferPoolScope {
public:
    explicit BufferPoolScope(BufferPool* pool);  // nullptr: allocations go to the system
    ~BufferPoolScope();
    BufferPoolScope(const BufferPoolScope&) = delete;
    BufferPoolScope& operator=(const BufferPoolScope&) = delete;

private:
    BufferPool* saved_;
};

class Tensor {
public:
    Tensor() = default;
    // A new tensor of `shape`, contents uninitialised (zeroed: allocate_zeros).
    static Tensor allocate(ElemType type, Shape shape);
    static Tensor allocate_zeros(ElemType type, Shape shape);
    // A tensor over `data` that `owner` keeps alive (nullptr owner: the caller guarantees lifetime).
    static Tensor view(ElemType type, Shape shape, const void* data, std::shared_ptr<const void> owner);
    // Scalars and small vectors (constants made by passes and tests).
    static Tensor scalar_float(float v);
    static Tensor from_floats(Shape shape, const std::vector<float>& values);
    static Tensor from_int64s(Shape shape, const std::vector<int64_t>& values);

    bool defined() const { return type_ != ElemType::Undefined; }
    ElemType type() const { return type_; }
    const Shape& shape() const { return shape_; }
    int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
    int64_t dim(int64_t i) const { return shape_[static_cast<size_t>(i)]; }
    int64_t numel() const { return numel_; }
    size_t bytes() const { return static_cast<size_t>(numel_) * elem_size(type_); }

    template <class T> const T* data() const { return static_cast<const T*>(data_); }
    // Writable data: only for a tensor the caller allocated (ops write their fresh outputs).
    template <class T> T* mutable_data() const { return static_cast<T*>(const_cast<void*>(data_)); }
    const void* raw() const { return data_; }

    // The same data under another shape of equal element count (Reshape, Flatten, Squeeze).
    Tensor reshaped(Shape shape) const;
    // True when no other Tensor shares the buffer and it is owned (safe to write in place).
    bool unique_owner() const { return owner_ && owner_.use_count() == 1 && owns_; }

    // Values widened to int64 (Int32 / Int64 / Bool tensors: shapes, axes, indices).
    std::vector<int64_t> to_int64s() const;
    std::vector<float> to_floats() const;  // Float tensors

private:
    ElemType type_ = ElemType::Undefined;
    Shape shape_;
    int64_t numel_ = 0;
    const void* data_ = nullptr;
    std::shared_ptr<const void> owner_;
    bool owns_ = false;
};

}  // namespace krait::onnx
