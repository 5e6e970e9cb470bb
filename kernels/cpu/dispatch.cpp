#include "kernels/cpu/dispatch.h"

#include <atomic>
#include <cstdlib>

#if defined(__x86_64__) && defined(__clang__) && __clang_major__ < 16
#include <cpuid.h>
#endif

namespace krait::kernels {

// Each variant's table (kernel_table.cpp, compiled once per variant). CMake
// defines KRAIT_HAVE_VARIANT_<NAME> for the variants it builds.
namespace portable {
const KernelTable& kernel_table();
}
#if defined(KRAIT_HAVE_VARIANT_AVX2)
namespace avx2 {
const KernelTable& kernel_table();
}
#endif
#if defined(KRAIT_HAVE_VARIANT_AVX512)
namespace avx512 {
const KernelTable& kernel_table();
}
#endif

const char* variant_name(CpuVariant v) {
    switch (v) {
        case CpuVariant::portable: return "portable";
        case CpuVariant::avx2: return "avx2";
        case CpuVariant::avx512: return "avx512";
    }
    return "unknown";
}

std::optional<CpuVariant> parse_variant(std::string_view name) {
    for (CpuVariant v : {CpuVariant::portable, CpuVariant::avx2, CpuVariant::avx512})
        if (name == variant_name(v)) return v;
    return std::nullopt;
}

#if defined(__x86_64__) && defined(__clang__) && __clang_major__ < 16
namespace {
bool x86_64_v3() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    const bool f16c = c & (1u << 29), movbe = c & (1u << 22);
    if (!__get_cpuid(0x80000001u, &a, &b, &c, &d)) return false;
    const bool lzcnt = c & (1u << 5);
    return f16c && movbe && lzcnt && __builtin_cpu_supports("avx") && __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
           __builtin_cpu_supports("popcnt") && __builtin_cpu_supports("sse3") && __builtin_cpu_supports("ssse3") &&
           __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("sse4.2");
}
}  // namespace
#endif

bool cpu_supports(CpuVariant v) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    // libgcc's cpuid reading also checks XGETBV: the OS must save the YMM / ZMM state.
    __builtin_cpu_init();
    switch (v) {
        case CpuVariant::portable: return true;
#if defined(__clang__) && __clang_major__ < 16
        // clang before 16 knows no level names: the features of x86-64-v3 (and -v4) one by one, those
        // its __builtin_cpu_supports does not name (F16C, MOVBE, LZCNT) from cpuid.
        case CpuVariant::avx2: return x86_64_v3();
        case CpuVariant::avx512:
            return x86_64_v3() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                   __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
                   __builtin_cpu_supports("avx512vl");
#else
        case CpuVariant::avx2: return __builtin_cpu_supports("x86-64-v3");
        case CpuVariant::avx512: return __builtin_cpu_supports("x86-64-v4");
#endif
    }
    return false;
#else
    return v == CpuVariant::portable;
#endif
}

const KernelTable* kernel_table(CpuVariant v) {
    if (!cpu_supports(v)) return nullptr;
    switch (v) {
        case CpuVariant::portable: return &portable::kernel_table();
#if defined(KRAIT_HAVE_VARIANT_AVX2)
        case CpuVariant::avx2: return &avx2::kernel_table();
#endif
#if defined(KRAIT_HAVE_VARIANT_AVX512)
        case CpuVariant::avx512: return &avx512::kernel_table();
#endif
        default: return nullptr;
    }
}

std::vector<CpuVariant> runnable_variants() {
    std::vector<CpuVariant> out;
    for (CpuVariant v : {CpuVariant::portable, CpuVariant::avx2, CpuVariant::avx512})
        if (kernel_table(v)) out.push_back(v);
    return out;
}

namespace {

const KernelTable* best_table(std::optional<CpuVariant> cap) {
    const KernelTable* best = nullptr;
    for (CpuVariant v : runnable_variants())
        if (!cap || v <= *cap) best = kernel_table(v);
    return best;  // portable always qualifies
}

std::atomic<const KernelTable*> g_active{nullptr};

}  // namespace

const KernelTable& active() {
    const KernelTable* t = g_active.load(std::memory_order_acquire);
    if (!t) {
        // The cap from the environment (an unknown value caps nothing; the SDK
        // warns about it, sdk/core/cpu_kernels.h).
        const char* env = std::getenv("KRAIT_CPU_VARIANT");
        const KernelTable* best = best_table(env ? parse_variant(env) : std::nullopt);
        // First caller wins; a concurrent select_variant() is never overwritten.
        g_active.compare_exchange_strong(t, best, std::memory_order_acq_rel);
        t = g_active.load(std::memory_order_acquire);
    }
    return *t;
}

CpuVariant select_variant(std::optional<CpuVariant> cap) {
    const KernelTable* t = best_table(cap);
    g_active.store(t, std::memory_order_release);
    return t->variant;
}

}  // namespace krait::kernels
