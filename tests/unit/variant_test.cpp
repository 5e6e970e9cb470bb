// Kernel variants (kernels/cpu/variant.h, dispatch.h): which ones this CPU
// runs, the cap from KRAIT_CPU_VARIANT, and that every table is complete.
// CTest runs this binary once per variant with KRAIT_CPU_VARIANT set.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "kernels/cpu/dispatch.h"

namespace {

using krait::kernels::CpuVariant;
namespace kn = krait::kernels;

TEST(KernelVariants, PortableAlwaysRunsAndVariantsAreOrdered) {
    const auto runnable = kn::runnable_variants();
    ASSERT_FALSE(runnable.empty());
    EXPECT_EQ(runnable.front(), CpuVariant::portable);
    for (size_t i = 1; i < runnable.size(); ++i) EXPECT_LT(runnable[i - 1], runnable[i]);
    // A CPU that runs a variant runs every smaller one (x86-64-v4 implies v3).
    for (CpuVariant v : runnable)
        for (int smaller = 0; smaller < static_cast<int>(v); ++smaller)
            EXPECT_TRUE(kn::cpu_supports(static_cast<CpuVariant>(smaller)));
}

TEST(KernelVariants, TablesAreCompleteAndNamed) {
    for (CpuVariant v : kn::runnable_variants()) {
        const kn::KernelTable* t = kn::kernel_table(v);
        ASSERT_NE(t, nullptr);
        EXPECT_EQ(t->variant, v);
        EXPECT_STREQ(t->name, kn::variant_name(v));
        // Every entry is set (the struct is all pointers after the two names).
        const auto* first = reinterpret_cast<void* const*>(&t->gemm_packed);
        const size_t entries = (sizeof(kn::KernelTable) - offsetof(kn::KernelTable, gemm_packed)) / sizeof(void*);
        for (size_t i = 0; i < entries; ++i) EXPECT_NE(first[i], nullptr) << t->name << " entry " << i;
    }
}

TEST(KernelVariants, NamesRoundTrip) {
    for (CpuVariant v : {CpuVariant::portable, CpuVariant::avx2, CpuVariant::avx512})
        EXPECT_EQ(kn::parse_variant(kn::variant_name(v)), v);
    EXPECT_FALSE(kn::parse_variant("avx512f").has_value());
    EXPECT_FALSE(kn::parse_variant("").has_value());
}

// The variant CTest asked for is the one the kernels run, when the CPU has it.
TEST(KernelVariants, EnvironmentCapSelectsTheVariant) {
    const char* env = std::getenv("KRAIT_CPU_VARIANT");
    if (!env) GTEST_SKIP() << "KRAIT_CPU_VARIANT not set (CTest sets it for the per-variant runs)";
    const auto wanted = kn::parse_variant(env);
    ASSERT_TRUE(wanted.has_value()) << "unknown KRAIT_CPU_VARIANT " << env;
    if (!kn::cpu_supports(*wanted))
        GTEST_SKIP() << "this CPU cannot run the " << env << " kernels; the kernels run " << kn::active().name;
    EXPECT_EQ(kn::active().variant, *wanted);
}

TEST(KernelVariants, SelectVariantCapsAndRestores) {
    const CpuVariant before = kn::active().variant;
    EXPECT_EQ(kn::select_variant(CpuVariant::portable), CpuVariant::portable);
    EXPECT_EQ(kn::active().variant, CpuVariant::portable);
    const CpuVariant best = kn::select_variant(std::nullopt);
    EXPECT_EQ(best, kn::runnable_variants().back());
    kn::select_variant(before);
    EXPECT_EQ(kn::active().variant, before);
}

}  // namespace
