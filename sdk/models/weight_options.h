// How a model keeps and multiplies its large weight matrices: what
// krait_model_params' weight_precision and matmul_precision ask for, handed
// from the load options (registry.h) through each family's loader to its
// WeightLoader and PackedStore.
#pragma once

namespace krait {

struct WeightOptions {
    // F16/BF16 linear and embedding weights used as stored, in place or in
    // packed 16-bit panels (true), or upcast to F32 at load (false).
    bool keep_stored = true;
    // BF16 weights kept as stored may be multiplied with BF16 dot products
    // (activations rounded to BF16) in calls of many rows, where the CPU has
    // AMX or AVX512-BF16 (KRAIT_MATMUL_BF16; kernels/cpu/gemm.h).
    bool bf16_products = false;

    // Implicit from a bool: keep_stored alone, as the loaders took it before.
    WeightOptions(bool keep = true, bool bf16 = false) : keep_stored(keep), bf16_products(bf16) {}  // NOLINT
};

}  // namespace krait
