// onnx::Tensor storage: the per-tensor byte limit while loading, and the BufferPool that lets
// repeated runs reuse buffers instead of fresh pages (tensors may outlive their pool).
#include <gtest/gtest.h>

#include "sdk/core/error.h"
#include "sdk/onnx/onnx_tensor.h"

using namespace krait;
using namespace krait::onnx;

TEST(OnnxTensor, PoolReusesReleasedBuffersOfTheSameSize) {
    BufferPool pool;
    const BufferPoolScope scope(&pool);
    const void* first;
    {
        Tensor a = Tensor::allocate(ElemType::Float, {1000});
        first = a.raw();
        EXPECT_EQ(pool.held_bytes(), 0u);
    }
    EXPECT_GE(pool.held_bytes(), 4000u);
    Tensor b = Tensor::allocate(ElemType::Float, {1000});
    EXPECT_EQ(b.raw(), first);                 // the same buffer again
    Tensor c = Tensor::allocate(ElemType::Float, {1000});
    EXPECT_NE(c.raw(), first);                 // in use: a new one
    Tensor d = Tensor::allocate(ElemType::Int64, {10});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(d.raw()) % 64, 0u);
}

TEST(OnnxTensor, TensorsMayOutliveTheirPool) {
    Tensor kept;
    {
        BufferPool pool;
        const BufferPoolScope scope(&pool);
        kept = Tensor::allocate_zeros(ElemType::Float, {64});
    }
    EXPECT_EQ(kept.data<float>()[63], 0.0f);  // still valid; freed when released (ASan checks)
    kept = Tensor();
}

TEST(OnnxTensor, LoadLimitRefusesHugeShapes) {
    const TensorByteLimit limit(kLoadTensorBytes);
    try {
        Tensor::allocate(ElemType::Float, {int64_t{1} << 20, 1024});  // 4 GiB
        FAIL() << "allocated past the limit";
    } catch (const Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_FORMAT);
        EXPECT_NE(std::string(e.what()).find("over the limit"), std::string::npos) << e.what();
    }
    EXPECT_THROW(Tensor::allocate(ElemType::Float, {-1}), Error);
}
