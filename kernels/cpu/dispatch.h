// The kernel variant this process runs, picked at run time (variant.h).
//
// Every optimized kernel is reached through a KernelTable, one per variant
// compiled into the library:
//     kernels::active().gemm_packed(params, n_begin, n_end);
// active() is the best variant the CPU runs (cpuid, with the operating
// system's support for the wider registers), capped by the environment
// variable KRAIT_CPU_VARIANT (portable, avx2 or avx512; read at the first
// call) or by select_variant(). CTest runs the kernel and conformance tests
// once per variant this way (tests/CMakeLists.txt); kernel_table(v) reaches
// any variant the CPU runs directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "kernels/cpu/activation_kernels.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/conv1d.h"
#include "kernels/cpu/conv1d_same.h"
#include "kernels/cpu/conv2d.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/layer_norm.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/linear_half.h"
#include "kernels/cpu/lora.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/rope.h"
#include "kernels/cpu/selective_scan.h"
#include "kernels/cpu/ssd.h"
#include "kernels/cpu/winograd.h"

namespace krait::kernels {

// Ordered: a CPU that runs a variant runs every smaller one.
enum class CpuVariant : int {
    portable = 0,  // baseline instructions of the target (x86-64: SSE2)
    avx2 = 1,      // x86-64-v3: AVX2, FMA, F16C
    avx512 = 2,    // x86-64-v4: AVX-512 F, BW, DQ, VL
};

// "portable", "avx2", "avx512".
const char* variant_name(CpuVariant v);
// The inverse of variant_name; nullopt for any other text.
std::optional<CpuVariant> parse_variant(std::string_view name);

// The entry points of one variant; see each kernel's header for its contract.
struct KernelTable {
    CpuVariant variant;
    const char* name;
    void (*gemm_packed)(const GemmParams& p, int64_t n_begin, int64_t n_end);
    void (*linear)(const LinearParams& p, int64_t n_begin, int64_t n_end);
    void (*linear_half)(const LinearParams& p, int64_t n_begin, int64_t n_end);
    void (*widen_half)(WeightType type, const uint16_t* src, int64_t n, float* dst);
    void (*lora_up)(const LoraUpParams& p, int64_t begin, int64_t end);
    void (*attention)(const AttentionParams& p, float* scratch);
    void (*rope)(const RopeParams& p, int64_t row_begin, int64_t row_end);
    void (*rms_norm)(const float* x, int64_t x_stride, const float* weight, float* y, int64_t y_stride, int64_t rows,
                     int64_t dim, float eps);
    void (*layer_norm)(const LayerNormParams& p, int64_t row_begin, int64_t row_end);
    void (*apply_activation)(ActivationKind kind, float* x, int64_t n);
    void (*causal_conv1d)(const CausalConv1dParams& p, int64_t c_begin, int64_t c_end);
    void (*same_conv1d)(const SameConv1dParams& p, int64_t c_begin, int64_t c_end);
    void (*selective_scan)(const SelectiveScanParams& p, int64_t e_begin, int64_t e_end);
    void (*ssd_chunked)(const SsdParams& p, int64_t h_begin, int64_t h_end);
    void (*ssd_scan)(const SsdParams& p, int64_t h_begin, int64_t h_end);
    void (*gated_rms_norm)(const float* y, int64_t y_stride, const float* z, int64_t z_stride, const float* weight,
                           float* out, int64_t out_stride, int64_t rows, int64_t channels, int64_t groups, float eps);
    void (*conv2d_depthwise)(const Conv2dParams& p, int64_t plane_begin, int64_t plane_end);
    void (*conv2d_gemm_tile)(const Conv2dParams& p, int64_t b, int64_t g, int64_t col_begin, int64_t col_end,
                             float* cols);
    void (*winograd43_chunk)(const Winograd43Params& p, const Winograd43Plan& plan, int64_t chunk, float* work);
};

// Whether this CPU (and its operating system) can run variant v.
bool cpu_supports(CpuVariant v);

// The variants compiled into this build that this CPU runs, smallest first
// (portable is always there).
std::vector<CpuVariant> runnable_variants();

// The table of variant v, or nullptr when v is not compiled into this build
// or the CPU cannot run it.
const KernelTable* kernel_table(CpuVariant v);

// The table in use: the best runnable variant, or the best one within the
// cap (KRAIT_CPU_VARIANT at the first call, or select_variant). Thread-safe; a kernel call in flight
// keeps the table it started with.
const KernelTable& active();

// Caps the variant active() returns (nullopt: no cap, not even the
// environment's) and returns the variant now active. For tests and
// benchmarks; a model's results may differ in the last bits from one variant
// to another, so switching while a model runs makes its outputs mix them.
CpuVariant select_variant(std::optional<CpuVariant> cap);

}  // namespace krait::kernels
