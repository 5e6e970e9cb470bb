#include "sdk/onnx/onnx_tensor.h"

#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <new>

#include "sdk/core/error.h"

namespace krait::onnx {

const char* elem_type_name(int32_t t) {
    static const char* const names[] = {"UNDEFINED", "FLOAT",   "UINT8",     "INT8",    "UINT16",    "INT16",
                                        "INT32",     "INT64",   "STRING",    "BOOL",    "FLOAT16",   "DOUBLE",
                                        "UINT32",    "UINT64",  "COMPLEX64", "COMPLEX128", "BFLOAT16"};
    if (t >= 0 && t < static_cast<int32_t>(sizeof(names) / sizeof(names[0]))) return names[t];
    if (t >= 17 && t <= 28) return "FLOAT8/INT4/FLOAT4/FLOAT6";
    return "unknown type";
}

bool is_runnable_type(int32_t t) {
    return t == static_cast<int32_t>(ElemType::Float) || t == static_cast<int32_t>(ElemType::Int32) ||
           t == static_cast<int32_t>(ElemType::Int64) || t == static_cast<int32_t>(ElemType::Bool);
}

size_t elem_size(ElemType type) {
    switch (type) {
        case ElemType::Float: return 4;
        case ElemType::Int32: return 4;
        case ElemType::Int64: return 8;
        case ElemType::Bool: return 1;
        default: return 0;
    }
}

int64_t shape_numel(const Shape& shape) {
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d < 0) fail_format("tensor shape " + shape_string(shape) + " has a negative dimension");
        if (d != 0 && n > (int64_t{1} << 40) / d)
            fail_argument("tensor shape " + shape_string(shape) + " has more than 2^40 elements");
        n *= d;
    }
    return n;
}

std::string shape_string(const Shape& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

namespace {
thread_local size_t tensor_byte_limit = kRunTensorBytes;

// Tensor buffers come from operator new (64-byte aligned), like every other allocation of the
// library, so a program's replacement (tests/alloc's failing allocator) sees them too.
constexpr std::align_val_t kTensorAlign{64};
void* new_buffer(size_t bytes) { return ::operator new(bytes, kTensorAlign); }  // throws bad_alloc
void free_buffer(const void* p) { ::operator delete(const_cast<void*>(p), kTensorAlign); }
}  // namespace

TensorByteLimit::TensorByteLimit(size_t bytes) : saved_(tensor_byte_limit) { tensor_byte_limit = bytes; }
TensorByteLimit::~TensorByteLimit() { tensor_byte_limit = saved_; }
size_t TensorByteLimit::current() { return tensor_byte_limit; }

struct BufferPool::State {
    std::mutex mutex;
    std::multimap<size_t, void*> free;  // capacity -> buffer
    size_t held = 0;
    ~State() {
        for (auto& [cap, p] : free) free_buffer(p);
    }
};

BufferPool::BufferPool() : state_(std::make_shared<State>()) {}
BufferPool::~BufferPool() = default;  // buffers still in use free themselves when released

size_t BufferPool::held_bytes() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->held;
}

namespace {
thread_local BufferPool* current_pool = nullptr;
}

BufferPoolScope::BufferPoolScope(BufferPool* pool) : saved_(current_pool) { current_pool = pool; }
BufferPoolScope::~BufferPoolScope() { current_pool = saved_; }

Tensor Tensor::allocate(ElemType type, Shape shape) {
    Tensor t;
    t.type_ = type;
    t.numel_ = shape_numel(shape);
    if (t.bytes() > tensor_byte_limit)
        fail_format("a tensor of shape " + shape_string(shape) + " would take " + std::to_string(t.bytes()) +
                    " bytes, over the limit of " + std::to_string(tensor_byte_limit) + " (a damaged shape?)");
    t.shape_ = std::move(shape);
    // 64-byte aligned (whole cache lines, aligned vector loads); at least one line so data() is never null.
    const size_t bytes = (std::max<size_t>(t.bytes(), 1) + 63) / 64 * 64;
    if (BufferPool* pool = current_pool) {
        const std::shared_ptr<BufferPool::State>& state = pool->state_;
        void* p = nullptr;
        size_t capacity = bytes;
        {
            std::lock_guard<std::mutex> lock(state->mutex);
            auto it = state->free.lower_bound(bytes);
            if (it != state->free.end() && it->first <= 2 * bytes) {  // close enough: reuse
                p = it->second;
                capacity = it->first;
                state->held -= capacity;
                state->free.erase(it);
            }
        }
        if (!p) p = new_buffer(bytes);
        std::weak_ptr<BufferPool::State> weak = state;
        // The deleter runs in destructors: it must not throw, so a buffer the pool cannot take back
        // (no memory for the map's node) is simply freed.
        t.owner_ = std::shared_ptr<const void>(p, [weak, capacity](const void* q) noexcept {
            if (auto s = weak.lock()) {
                std::lock_guard<std::mutex> lock(s->mutex);
                try {
                    s->free.emplace(capacity, const_cast<void*>(q));
                    s->held += capacity;
                    return;
                } catch (const std::bad_alloc&) {
                }
            }
            free_buffer(q);
        });
        t.data_ = p;
        t.owns_ = true;
        return t;
    }
    void* p = new_buffer(bytes);
    t.owner_ = std::shared_ptr<const void>(p, [](const void* q) { free_buffer(q); });
    t.data_ = p;
    t.owns_ = true;
    return t;
}

Tensor Tensor::allocate_zeros(ElemType type, Shape shape) {
    Tensor t = allocate(type, std::move(shape));
    std::memset(const_cast<void*>(t.data_), 0, t.bytes());
    return t;
}

Tensor Tensor::view(ElemType type, Shape shape, const void* data, std::shared_ptr<const void> owner) {
    Tensor t;
    t.type_ = type;
    t.numel_ = shape_numel(shape);
    t.shape_ = std::move(shape);
    t.data_ = data;
    t.owner_ = std::move(owner);
    return t;
}

Tensor Tensor::scalar_float(float v) { return from_floats({}, {v}); }

Tensor Tensor::from_floats(Shape shape, const std::vector<float>& values) {
    Tensor t = allocate(ElemType::Float, std::move(shape));
    if (static_cast<int64_t>(values.size()) != t.numel()) fail_argument("from_floats: value count does not match the shape");
    if (!values.empty()) std::memcpy(t.mutable_data<float>(), values.data(), values.size() * sizeof(float));
    return t;
}

Tensor Tensor::from_int64s(Shape shape, const std::vector<int64_t>& values) {
    Tensor t = allocate(ElemType::Int64, std::move(shape));
    if (static_cast<int64_t>(values.size()) != t.numel()) fail_argument("from_int64s: value count does not match the shape");
    if (!values.empty()) std::memcpy(t.mutable_data<int64_t>(), values.data(), values.size() * sizeof(int64_t));
    return t;
}

Tensor Tensor::reshaped(Shape shape) const {
    Tensor t = *this;
    const int64_t n = shape_numel(shape);
    if (n != numel_)
        fail_format("cannot reshape " + shape_string(shape_) + " (" + std::to_string(numel_) + " elements) to " +
                    shape_string(shape));
    t.shape_ = std::move(shape);
    return t;
}

std::vector<int64_t> Tensor::to_int64s() const {
    std::vector<int64_t> v(static_cast<size_t>(numel_));
    switch (type_) {
        case ElemType::Int64:
            if (!v.empty()) std::memcpy(v.data(), data_, v.size() * 8);
            break;
        case ElemType::Int32:
            for (size_t i = 0; i < v.size(); ++i) v[i] = data<int32_t>()[i];
            break;
        case ElemType::Bool:
            for (size_t i = 0; i < v.size(); ++i) v[i] = data<uint8_t>()[i] != 0;
            break;
        default: fail_format(std::string("expected an integer tensor, got ") + elem_type_name(static_cast<int32_t>(type_)));
    }
    return v;
}

std::vector<float> Tensor::to_floats() const {
    if (type_ != ElemType::Float)
        fail_format(std::string("expected a FLOAT tensor, got ") + elem_type_name(static_cast<int32_t>(type_)));
    return std::vector<float>(data<float>(), data<float>() + numel_);
}

}  // namespace krait::onnx
