// Kernel variants: one binary, the right instructions on every x86-64 CPU.
//
// The optimized kernels (gemm.cpp, attention.cpp, ... : the files CMake lists
// in KRAIT_KERNEL_VARIANT_SOURCES) are compiled once per instruction set:
//     portable  the target's baseline (x86-64: SSE2; any other architecture)
//     avx2      x86-64-v3: AVX2, FMA, F16C (Haswell, Zen 1 and later)
//     avx512    x86-64-v4: AVX-512 F/BW/DQ/VL (Skylake-SP, Zen 4 and later)
// Each copy lives in its own namespace, krait::kernels::<variant>, and its
// entry points reach the rest of the library only through that variant's
// KernelTable (dispatch.h), which picks the variant at run time from cpuid.
//
// Why a namespace per copy is not enough: the copies share inline code
// (Eigen's templates, std::vector, ...) that the compiler emits as weak
// symbols in every object, each compiled with that object's instruction set;
// a plain link would keep ONE of them for all callers, so the portable path
// could end up calling an AVX-512 copy of an Eigen routine and crash on an
// older CPU. CMake therefore links each variant's objects into one
// relocatable object (ld -r --force-group-allocation) and makes every symbol
// in it local except the krait::kernels::<variant>:: entry points
// (objcopy --keep-global-symbol): each variant keeps its own copies.
// tools/check_kernel_variants.sh checks the result: no AVX instruction
// outside the avx2 / avx512 code, and the test suite runs on emulated CPUs
// without AVX-512 and without AVX.
//
// In a header, the entry points of a kernel are declared between
// KRAIT_VARIANT_BEGIN and KRAIT_VARIANT_END. While a variant is compiled
// (KRAIT_KERNEL_VARIANT defined) that is the inline namespace of the variant,
// so the kernels call each other (conv2d -> gemm) within their own variant.
// Everywhere else the declarations sit in a namespace that is never defined,
// so code outside the kernels cannot call a variant by accident: it goes
// through kernels::active() (dispatch.h).
#pragma once

#if defined(KRAIT_KERNEL_VARIANT)
#define KRAIT_VARIANT_BEGIN inline namespace KRAIT_KERNEL_VARIANT {
#else
#define KRAIT_VARIANT_BEGIN namespace through_dispatch_only {
#endif
#define KRAIT_VARIANT_END }
