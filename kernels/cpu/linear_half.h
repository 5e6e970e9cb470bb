// y = x W^T + b with W stored as F16 or BF16 ([N, K] row-major, as the
// checkpoint stores nn.Linear.weight), read in place: no F32 copy of W.
//
// Why: decode is memory-bound (every weight is read once per token), so
// reading 2 bytes per weight instead of 4 nearly halves its time, and a
// model mapped as stored needs half the memory of an upcast one.
//
// How: each weight is widened exactly to F32 in registers (BF16: the 16 bits
// shifted left by 16; F16: F16C's vcvtph2ps) and every product is summed in
// F32, so results equal an F32 linear on the widened weights up to the order
// of the sums.
//  - rows <= kHalfGemvRows (decode, small batches): a register-tiled kernel;
//    a tile of 4 weight rows x up to 4 x rows, each 16 (AVX-512) or 8 (AVX2)
//    weights widened once per k step and used by every x row of the tile.
//  - more rows (prefill): blocks of weight rows are widened into a small
//    per-thread F32 buffer (<= 256 KiB, reused from call to call) and
//    multiplied by Eigen's GEMM; the widening is then amortised over the rows.
// Paths: AVX-512F (+F16C) in the avx512 variant, AVX2+FMA+F16C in avx2,
// plain C++ in portable (variant.h); linear_ref (linear.h) is the yardstick.
#pragma once

#include "kernels/cpu/variant.h"

#include <cstdint>
#include <cstring>

#include "kernels/cpu/linear.h"

namespace krait::kernels {

// Calls with at most this many rows take the register-tiled kernel.
inline constexpr int64_t kHalfGemvRows = 4;

inline float bf16_to_f32(uint16_t h) {
    const uint32_t bits = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

// IEEE binary16 -> binary32, exact (subnormals, infinities and NaNs included).
inline float f16_to_f32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: mant * 2^-24, exactly representable in F32
            const float f = static_cast<float>(mant) * (1.0f / 16777216.0f);
            return sign ? -f : f;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

inline float half_to_f32(WeightType type, uint16_t h) {
    return type == WeightType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
}

// dst[i] = src[i] widened to F32, i < n (vectorised; embeddings' row gather).
// Throws std::invalid_argument for WeightType::F32.
KRAIT_VARIANT_BEGIN
void widen_half(WeightType type, const uint16_t* src, int64_t n, float* dst);
KRAIT_VARIANT_END

// As linear() (linear.h) for p.weight_type F16 or BF16, p.weight_half set:
// output features [n_begin, n_end). Thread-safe for disjoint ranges.
// Throws std::invalid_argument when weight_half is null or the type is F32.
KRAIT_VARIANT_BEGIN
void linear_half(const LinearParams& p, int64_t n_begin, int64_t n_end);
KRAIT_VARIANT_END


}  // namespace krait::kernels
