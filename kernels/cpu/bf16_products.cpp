#include "kernels/cpu/bf16_products.h"

#include <atomic>
#include <cstdlib>

#include "kernels/cpu/dispatch.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define KRAIT_BF16_X86 1
#endif
#if defined(KRAIT_BF16_X86) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace krait::kernels {

const char* bf16_products_name(Bf16Products u) {
    switch (u) {
        case Bf16Products::none: return "none";
        case Bf16Products::avx512_bf16: return "avx512_bf16";
        case Bf16Products::amx: return "amx";
    }
    return "unknown";
}

std::optional<Bf16Products> parse_bf16_products(std::string_view name) {
    for (Bf16Products u : {Bf16Products::none, Bf16Products::avx512_bf16, Bf16Products::amx})
        if (name == bf16_products_name(u)) return u;
    return std::nullopt;
}

namespace {

#if defined(KRAIT_BF16_X86)
uint64_t xcr0() {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (static_cast<uint64_t>(hi) << 32) | lo;
}

// Linux (5.16+) enables AMX's tile data state per process, on request.
bool amx_permitted() {
#if defined(__linux__)
    constexpr long kArchReqXcompPerm = 0x1023;  // ARCH_REQ_XCOMP_PERM
    constexpr long kXfeatureTileData = 18;      // XFEATURE_XTILEDATA
    return ::syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureTileData) == 0;
#else
    return false;
#endif
}
#endif

Bf16Products detect() {
#if defined(KRAIT_BF16_X86)
    // The units run inside the avx512 kernels (x86-64-v4: the OS saves the ZMM state).
    if (!cpu_supports(CpuVariant::avx512)) return Bf16Products::none;
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return Bf16Products::none;
    const bool amx = (d >> 22 & 1u) && (d >> 24 & 1u);  // AMX-BF16, AMX-TILE
    unsigned a1 = 0, b1, c1, d1;
    const bool avx512_bf16 = a >= 1 && __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1) && (a1 >> 5 & 1u);
    const bool tile_state = (xcr0() & (uint64_t{3} << 17)) == (uint64_t{3} << 17);  // XTILECFG, XTILEDATA
    if (amx && avx512_bf16 && tile_state && amx_permitted()) return Bf16Products::amx;
    if (avx512_bf16) return Bf16Products::avx512_bf16;
#endif
    return Bf16Products::none;
}

std::atomic<int> g_active{-1};

Bf16Products capped(std::optional<Bf16Products> cap) {
    const Bf16Products best = bf16_products_supported();
    return cap && *cap < best ? *cap : best;
}

}  // namespace

Bf16Products bf16_products_supported() {
    static const Bf16Products supported = detect();
    return supported;
}

Bf16Products bf16_products() {
    int v = g_active.load(std::memory_order_acquire);
    if (v < 0) {
        const char* env = std::getenv("KRAIT_BF16_PRODUCTS");
        const int wanted = static_cast<int>(capped(env ? parse_bf16_products(env) : std::nullopt));
        g_active.compare_exchange_strong(v, wanted, std::memory_order_acq_rel);  // a select_... wins
        v = g_active.load(std::memory_order_acquire);
    }
    return static_cast<Bf16Products>(v);
}

Bf16Products bf16_products_in_use() {
    return active().variant == CpuVariant::avx512 ? bf16_products() : Bf16Products::none;
}

Bf16Products select_bf16_products(std::optional<Bf16Products> cap) {
    const Bf16Products u = capped(cap);
    g_active.store(static_cast<int>(u), std::memory_order_release);
    return u;
}

}  // namespace krait::kernels
