// Packing W for gemm_packed (gemm.h): done once per model at load, outside
// the kernel variants (the packed layout is the same for all of them).
#include "kernels/cpu/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <new>

#include "kernels/cpu/kernel_error.h"

namespace krait::kernels {

namespace {
constexpr size_t kAlign = 64;
}  // namespace

void PackedWeights::Free::operator()(float* p) const { std::free(p); }

void pack_weights_strided(PackedWeights& dst, const float* src, int64_t N, int64_t K, int64_t stride_n,
                          int64_t stride_k) {
    if (N < 0 || K < 0) fail_kernel_argument("pack_weights: negative shape");
    const int64_t panels = (N + kGemmNR - 1) / kGemmNR;
    const size_t floats = static_cast<size_t>(panels * K * kGemmNR);
    if (floats > dst.capacity_ || !dst.data_) {
        // aligned_alloc wants a size that is a multiple of the alignment.
        const size_t bytes = std::max<size_t>((floats * sizeof(float) + kAlign - 1) / kAlign * kAlign, kAlign);
        float* mem = static_cast<float*>(std::aligned_alloc(kAlign, bytes));
        if (!mem) throw std::bad_alloc();
        dst.data_.reset(mem);
        dst.capacity_ = floats;
    }
    dst.n_ = N;
    dst.k_ = K;
    float* out = dst.data_.get();
    for (int64_t j = 0; j < panels; ++j) {
        const int64_t n0 = j * kGemmNR, nv = std::min(kGemmNR, N - n0);
        float* panel = out + j * K * kGemmNR;
        for (int64_t k = 0; k < K; ++k) {
            float* row = panel + k * kGemmNR;
            for (int64_t c = 0; c < nv; ++c) row[c] = src[(n0 + c) * stride_n + k * stride_k];
            for (int64_t c = nv; c < kGemmNR; ++c) row[c] = 0.0f;
        }
    }
}

PackedWeights pack_weights(const float* W, int64_t N, int64_t K) {
    PackedWeights packed;
    pack_weights_strided(packed, W, N, K, K, 1);
    return packed;
}

}  // namespace krait::kernels
