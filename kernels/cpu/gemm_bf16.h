// BF16 dot products for gemm_packed (gemm.h, bf16_products.h): y[M, n range]
// (= or +=) round_bf16(x) W^T + b on paired BF16 panels, through AMX tiles or
// VDPBF16PS. Internal to the kernels: gemm_packed calls it for the calls that
// qualify (gemm.h: "BF16 dot products"), after checking the range.
#pragma once

#include <cstdint>

#include "kernels/cpu/gemm.h"

namespace krait::kernels {

// f rounded to BF16, to nearest even (NaN stays NaN, quiet): the rounding the
// BF16 dot products apply to x. The plain form the kernels' vector code matches.
inline uint16_t round_to_bf16(float f) {
    uint32_t bits;
    __builtin_memcpy(&bits, &f, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);
    return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

KRAIT_VARIANT_BEGIN
// Runs the call with unit p.bf16_products and returns true, or returns false
// (nothing done) when this variant has no code for that unit (every variant
// but avx512). p.weights must be BF16.
bool gemm_bf16_products(const GemmParams& p, int64_t n_begin, int64_t n_end);
KRAIT_VARIANT_END

}  // namespace krait::kernels
