// BF16 dot products: the instructions that multiply BF16 weights by
// activations rounded to BF16 and sum in F32, where the CPU has them.
//
// gemm_packed's default for BF16 weights widens them exactly and multiplies
// by the F32 activations (one FMA chain per output, independent of the row
// count: gemm.h). A model loaded with KRAIT_MATMUL_BF16 also allows this
// faster, rounded form for calls with many rows (prompt prefill, image
// encoders), through the best unit here:
//     amx          Intel AMX (AMX-TILE + AMX-BF16; Sapphire Rapids and later):
//                  16 x 16 output tiles, 32 k per instruction;
//     avx512_bf16  VDPBF16PS (AVX512-BF16; Cooper Lake, Zen 4 and later):
//                  16 outputs x 2 k per instruction, twice the F32 FMA rate;
//     none         neither: the exact path serves every call.
// Each BF16 x BF16 product is exact in F32 (8-bit by 8-bit significands);
// the only rounding is the activations' (relative 2^-9) and the F32 sums'.
//
// Like the kernel variants (dispatch.h), the unit is picked once from cpuid,
// with the operating system's consent where it is needed (Linux hands out
// AMX's 8 KiB tile state per process on request: arch_prctl), capped by the
// environment variable KRAIT_BF16_PRODUCTS (none, avx512_bf16 or amx; read
// at the first call) or by select_bf16_products().
#pragma once

#include <optional>
#include <string_view>

namespace krait::kernels {

// Ordered: a CPU with AMX-BF16 has AVX512-BF16 too (every one shipped so far);
// a cap at avx512_bf16 keeps AMX unused.
enum class Bf16Products : int { none = 0, avx512_bf16 = 1, amx = 2 };

// "none", "avx512_bf16", "amx"; parse_bf16_products is the inverse (nullopt for any other text).
const char* bf16_products_name(Bf16Products u);
std::optional<Bf16Products> parse_bf16_products(std::string_view name);

// The best unit this CPU and operating system run (AMX: after the process was
// granted the tile state; asked for here, once). Thread-safe.
Bf16Products bf16_products_supported();

// The unit in use: the supported one, capped by KRAIT_BF16_PRODUCTS (read at
// the first call) or select_bf16_products. Thread-safe.
Bf16Products bf16_products();

// The unit the kernels actually use: bf16_products(), or none when the active
// kernel variant (dispatch.h) is not avx512 (only the avx512 kernels have the
// units' code). What krait_cpu_bf16_products() reports. Thread-safe.
Bf16Products bf16_products_in_use();

// Caps the unit bf16_products() returns (nullopt: no cap, not even the
// environment's) and returns the unit now in use. For tests and benchmarks.
Bf16Products select_bf16_products(std::optional<Bf16Products> cap);

}  // namespace krait::kernels
