// Packing W for gemm_packed (gemm.h): done once per model at load, outside
// the kernel variants (the packed layout is the same for all of them).
#include "kernels/cpu/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <new>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#include <unistd.h>
#define KRAIT_PACK_MMAP 1
#endif

#include "kernels/cpu/kernel_error.h"
#include "kernels/cpu/linear_half.h"

namespace krait::kernels {

namespace {
constexpr size_t kAlign = 64;
[[maybe_unused]] constexpr size_t kMapAtLeast = size_t{1} << 20;

// Panel j of the logical [N, K] weight whose element (n, k) is src[n * stride_n + k * stride_k],
// zero-padded past N: out[j][k][c].
template <typename E>
void pack_panels(E* out, const E* src, int64_t N, int64_t K, int64_t stride_n, int64_t stride_k) {
    const int64_t panels = (N + kGemmNR - 1) / kGemmNR;
    for (int64_t j = 0; j < panels; ++j) {
        const int64_t n0 = j * kGemmNR, nv = std::min(kGemmNR, N - n0);
        E* panel = out + j * K * kGemmNR;
        for (int64_t k = 0; k < K; ++k) {
            E* row = panel + k * kGemmNR;
            for (int64_t c = 0; c < nv; ++c) row[c] = src[(n0 + c) * stride_n + k * stride_k];
            for (int64_t c = nv; c < kGemmNR; ++c) row[c] = E{0};
        }
    }
}

// BF16 panels, k paired: out[j][k / 2][c][k % 2] (gemm.h), Kp rows of k, zero past K and N.
void pack_panels_paired(uint16_t* out, const uint16_t* src, int64_t N, int64_t K, int64_t Kp) {
    const int64_t panels = (N + kGemmNR - 1) / kGemmNR;
    for (int64_t j = 0; j < panels; ++j) {
        const int64_t n0 = j * kGemmNR, nv = std::min(kGemmNR, N - n0);
        uint16_t* panel = out + j * Kp * kGemmNR;
        for (int64_t k = 0; k < Kp; ++k) {
            uint16_t* pair_row = panel + (k / 2) * (2 * kGemmNR) + k % 2;
            for (int64_t c = 0; c < kGemmNR; ++c) pair_row[2 * c] = (c < nv && k < K) ? src[(n0 + c) * K + k] : 0;
        }
    }
}
}  // namespace

void PackedWeightsFree::operator()(unsigned char* p) const {
#if defined(KRAIT_PACK_MMAP)
    if (mapped) {
        ::munmap(p, mapped);
        return;
    }
#endif
    ::operator delete(p, std::align_val_t(kAlign));
}

void PackedWeights::reserve(size_t bytes) {
    if (bytes <= capacity_ && data_) return;
    data_.reset();
#if defined(KRAIT_PACK_MMAP)
    // A model's panels live as long as the model: pages of their own, returned to the system when it is
    // freed (from the heap, freed blocks can stay resident, and another model loaded next reuses them).
    if (bytes >= kMapAtLeast) {
        const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
        const size_t rounded = (bytes + page - 1) / page * page;
        void* mem = ::mmap(nullptr, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) throw std::bad_alloc();
        data_ = std::unique_ptr<unsigned char[], PackedWeightsFree>(static_cast<unsigned char*>(mem), PackedWeightsFree{rounded});
        capacity_ = bytes;
        return;
    }
#endif
    // Through operator new (aligned, nothrow), like every other allocation of the library, so a
    // program's replacement (tests/alloc's failing allocator) sees it too.
    auto* mem = static_cast<unsigned char*>(::operator new(std::max<size_t>(bytes, 1), std::align_val_t(kAlign), std::nothrow));
    if (!mem) throw std::bad_alloc();
    data_ = std::unique_ptr<unsigned char[], PackedWeightsFree>(mem, PackedWeightsFree{0});
    capacity_ = bytes;
}

float PackedWeights::at(int64_t n, int64_t k) const {
    const int64_t i = index_in_panel(n, k);
    if (type_ == WeightType::F32) return panel(n / kGemmNR)[i];
    return half_to_f32(type_, panel_half(n / kGemmNR)[i]);
}

void pack_weights_strided(PackedWeights& dst, const float* src, int64_t N, int64_t K, int64_t stride_n,
                          int64_t stride_k) {
    if (N < 0 || K < 0) fail_kernel_argument("pack_weights: negative shape");
    const int64_t panels = (N + kGemmNR - 1) / kGemmNR;
    dst.reserve(static_cast<size_t>(panels * K * kGemmNR) * sizeof(float));
    dst.n_ = N;
    dst.k_ = K;
    dst.kp_ = K;
    dst.type_ = WeightType::F32;
    pack_panels(reinterpret_cast<float*>(dst.data_.get()), src, N, K, stride_n, stride_k);
}

PackedWeights pack_weights(const float* W, int64_t N, int64_t K) {
    PackedWeights packed;
    pack_weights_strided(packed, W, N, K, K, 1);
    return packed;
}

PackedWeights pack_weights_half(const uint16_t* W, WeightType type, int64_t N, int64_t K) {
    if (type == WeightType::F32) fail_kernel_argument("pack_weights_half: the weights are F32");
    if (N < 0 || K < 0) fail_kernel_argument("pack_weights_half: negative shape");
    PackedWeights packed;
    const int64_t panels = (N + kGemmNR - 1) / kGemmNR;
    const int64_t Kp = type == WeightType::BF16 ? (K + kGemmBf16KAlign - 1) / kGemmBf16KAlign * kGemmBf16KAlign : K;
    packed.reserve(static_cast<size_t>(panels * Kp * kGemmNR) * sizeof(uint16_t));
    packed.n_ = N;
    packed.k_ = K;
    packed.kp_ = Kp;
    packed.type_ = type;
    auto* out = reinterpret_cast<uint16_t*>(packed.data_.get());
    if (type == WeightType::BF16) pack_panels_paired(out, W, N, K, Kp);
    else pack_panels(out, W, N, K, K, int64_t{1});
    return packed;
}

}  // namespace krait::kernels
