// kernels::gemm_packed (prepacked fp32 GEMM) against kernels::linear_ref
// (plain triple loop, double accumulation), and its determinism promises.
//
// Tolerance: per element, |got - ref| <= 1e-5 * magnitude, where magnitude =
// sum_k |x[m,k] W[n,k]| + |bias[n]| + |y0| (y0 only when accumulating): the
// size of what was summed, so a cancelling sum is not held to an absolute
// error it cannot meet. fp32 chains of K <= 3072 terms stay well inside it
// (error ~ sqrt(K) * 6e-8 of the magnitude).
// Determinism tests compare bit patterns (memcmp), not values.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <limits>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/gemm_bf16.h"
#include "sdk/core/error.h"

namespace {

using krait::kernels::GemmParams;
using krait::kernels::kGemmNR;
using krait::kernels::PackedWeights;
using krait::kernels::WeightType;

// f (|f| <= 1) rounded to BF16 (truncated) or F16 (truncated; subnormals rounded).
uint16_t to_half(WeightType type, float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    if (type == WeightType::BF16) return static_cast<uint16_t>(bits >> 16);
    const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
    const int e = static_cast<int>((bits >> 23) & 0xffu) - 112;
    if (e <= 0) return static_cast<uint16_t>(sign | static_cast<uint16_t>(std::lrint(std::fabs(f) * 16777216.0f)));
    return static_cast<uint16_t>(sign | (e << 10) | ((bits & 0x7fffffu) >> 13));
}

// The variant under test: the one CTest selected with KRAIT_CPU_VARIANT (tests/CMakeLists.txt).
void gemm_packed(const GemmParams& p, int64_t n_begin, int64_t n_end) {
    krait::kernels::active().gemm_packed(p, n_begin, n_end);
}

std::vector<float> random_vector(std::mt19937& rng, size_t n, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

std::string shape_name(int64_t M, int64_t K, int64_t N) {
    return "M=" + std::to_string(M) + " K=" + std::to_string(K) + " N=" + std::to_string(N);
}

// One problem: inputs, the reference output and the per-element magnitude.
struct Problem {
    int64_t M, K, N, xs, ys;
    bool accumulate;
    std::vector<float> x, w, bias, y0, ref, magnitude;
    PackedWeights packed;

    // F16 / BF16 problems: w holds the 16-bit weights widened, `packed` the half panels,
    // packed_f32 the F32 panels of w.
    WeightType type = WeightType::F32;
    std::vector<uint16_t> w_half;
    PackedWeights packed_f32;

    Problem(std::mt19937& rng, int64_t M_, int64_t K_, int64_t N_, int64_t x_pad, int64_t y_pad, bool with_bias,
            bool accumulate_, WeightType type_ = WeightType::F32)
        : M(M_), K(K_), N(N_), xs(K_ + x_pad), ys(N_ + y_pad), accumulate(accumulate_), type(type_) {
        x = random_vector(rng, static_cast<size_t>(M * xs));
        w = random_vector(rng, static_cast<size_t>(N * K));
        if (type != WeightType::F32) {
            // Some tiny weights, so that F16 subnormals are in play.
            for (size_t i = 0; i < w.size(); i += 7) w[i] *= 1e-5f;
            w_half.resize(w.size());
            for (size_t i = 0; i < w.size(); ++i) {
                w_half[i] = to_half(type, w[i]);
                w[i] = krait::kernels::half_to_f32(type, w_half[i]);
            }
        }
        if (with_bias) bias = random_vector(rng, static_cast<size_t>(N));
        y0 = random_vector(rng, static_cast<size_t>(M * ys), -2.0f, 2.0f);
        ref = y0;
        krait::kernels::LinearParams lp{
            M, K, N, x.data(), xs, w.data(), bias.empty() ? nullptr : bias.data(), ref.data(), ys, accumulate};
        krait::kernels::linear_ref(lp);
        magnitude.assign(ref.size(), 0.0f);
        for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) {
                double s = bias.empty() ? 0.0 : std::fabs(bias[n]);
                if (accumulate) s += std::fabs(y0[m * ys + n]);
                for (int64_t k = 0; k < K; ++k) s += std::fabs(static_cast<double>(x[m * xs + k]) * w[n * K + k]);
                magnitude[m * ys + n] = static_cast<float>(s);
            }
        if (type == WeightType::F32) {
            packed = krait::kernels::pack_weights(w.data(), N, K);
        } else {
            packed = krait::kernels::pack_weights_half(w_half.data(), type, N, K);
            packed_f32 = krait::kernels::pack_weights(w.data(), N, K);
        }
    }

    // y from gemm_packed over [0, N) in one call on the F32 panels of the widened weights.
    std::vector<float> run_whole_f32() const {
        std::vector<float> y = y0;
        GemmParams p = params(x.data(), y.data());
        p.weights = &packed_f32;
        gemm_packed(p, 0, N);
        return y;
    }

    GemmParams params(const float* x_ptr, float* y_ptr) const {
        GemmParams p;
        p.rows = M;
        p.x = x_ptr;
        p.x_stride = xs;
        p.weights = &packed;
        p.bias = bias.empty() ? nullptr : bias.data();
        p.y = y_ptr;
        p.y_stride = ys;
        p.accumulate = accumulate;
        return p;
    }

    // y from gemm_packed over [0, N) in one call.
    std::vector<float> run_whole() const {
        std::vector<float> y = y0;
        gemm_packed(params(x.data(), y.data()), 0, N);
        return y;
    }

    // Checks values inside [M, N) against the reference, and that the row
    // padding past N was not touched.
    void expect_matches(const std::vector<float>& y) const {
        ASSERT_EQ(y.size(), ref.size());
        double worst_ratio = 0;
        int64_t worst_at = -1;
        for (int64_t m = 0; m < M; ++m) {
            for (int64_t n = 0; n < ys; ++n) {
                const int64_t i = m * ys + n;
                if (n >= N) {
                    ASSERT_EQ(std::memcmp(&y[i], &y0[i], sizeof(float)), 0)
                        << "padding written at m=" << m << " n=" << n;
                    continue;
                }
                ASSERT_TRUE(std::isfinite(y[i])) << "non-finite at m=" << m << " n=" << n;
                const double d = std::fabs(static_cast<double>(y[i]) - ref[i]);
                const double tol = 1e-5 * magnitude[i] + 1e-30;
                if (d / tol > worst_ratio) worst_ratio = d / tol, worst_at = i;
            }
        }
        EXPECT_LE(worst_ratio, 1.0) << "worst element " << worst_at << ": got " << y[worst_at] << ", reference "
                                    << ref[worst_at] << ", magnitude " << magnitude[worst_at];
    }
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Odd and ViT/MambaVision-like shapes: M across row-tile and M-block tails,
// K across the K blocking (768), N across panel tails.
const int64_t kShapes[][3] = {
    {1, 1, 1},     {1, 7, 5},      {3, 17, 33},    {17, 64, 31},   {12, 16, 32},
    {13, 33, 64},  {25, 80, 96},   {49, 100, 129}, {197, 768, 80}, {197, 96, 200},
    {50, 769, 40}, {31, 1600, 70}, {5, 3072, 48},  {100, 5, 1000}, {64, 320, 160},
};

TEST(GemmPacked, MatchesReferenceOnRandomShapes) {
    std::mt19937 rng(7);
    int cases = 0;
    for (const auto& s : kShapes) {
        for (bool accumulate : {false, true}) {
            for (bool with_bias : {false, true}) {
                const Problem pr(rng, s[0], s[1], s[2], 0, 0, with_bias, accumulate);
                SCOPED_TRACE(shape_name(s[0], s[1], s[2]) + (accumulate ? " accumulate" : "") +
                             (with_bias ? " bias" : ""));
                pr.expect_matches(pr.run_whole());
                ++cases;
            }
        }
    }
    EXPECT_EQ(cases, 60);
}

TEST(GemmPacked, StridedRowsLeaveThePaddingAlone) {
    std::mt19937 rng(8);
    const int64_t shapes[][3] = {{3, 17, 33}, {29, 200, 70}, {197, 768, 96}};
    for (const auto& s : shapes) {
        for (bool accumulate : {false, true}) {
            const Problem pr(rng, s[0], s[1], s[2], /*x_pad=*/5, /*y_pad=*/11, true, accumulate);
            SCOPED_TRACE(shape_name(s[0], s[1], s[2]) + (accumulate ? " accumulate" : ""));
            pr.expect_matches(pr.run_whole());
        }
    }
}

// y = x W^T + b with K == 0 is y = b (or y += b).
TEST(GemmPacked, EmptyKGivesBias) {
    std::mt19937 rng(9);
    for (bool accumulate : {false, true}) {
        const Problem pr(rng, 4, 0, 40, 0, 0, true, accumulate);
        pr.expect_matches(pr.run_whole());
    }
}

TEST(GemmPacked, NoRowsIsANoOp) {
    std::mt19937 rng(10);
    const Problem pr(rng, 3, 8, 40, 0, 0, true, false);
    std::vector<float> y = pr.y0;
    GemmParams p = pr.params(pr.x.data(), y.data());
    p.rows = 0;
    gemm_packed(p, 0, 40);
    EXPECT_TRUE(same_bits(y, pr.y0));
}

// Any split of [0, N) at panel boundaries gives the same bits as one call,
// whatever the order the parts run in.
TEST(GemmPacked, PanelSplitsAreBitwiseIdenticalToOneCall) {
    std::mt19937 rng(11);
    const int64_t shapes[][3] = {{17, 300, 200}, {197, 768, 333}, {40, 1600, 96}};
    for (const auto& s : shapes) {
        for (bool accumulate : {false, true}) {
            const Problem pr(rng, s[0], s[1], s[2], 2, 3, true, accumulate);
            SCOPED_TRACE(shape_name(s[0], s[1], s[2]));
            const std::vector<float> whole = pr.run_whole();
            const int64_t N = pr.N, panels = (N + kGemmNR - 1) / kGemmNR;
            // The thread split helper, 1..9 parts.
            for (int64_t parts = 1; parts <= 9; ++parts) {
                std::vector<float> y = pr.y0;
                int64_t covered = 0;
                for (int64_t i = parts - 1; i >= 0; --i) {  // backwards: order must not matter
                    const int64_t b = krait::kernels::gemm_split(N, parts, i);
                    const int64_t e = krait::kernels::gemm_split(N, parts, i + 1);
                    ASSERT_LE(b, e);
                    ASSERT_TRUE(b % kGemmNR == 0 || b == N) << b;
                    const int64_t np = (e - b + kGemmNR - 1) / kGemmNR;
                    ASSERT_TRUE(np == panels / parts || np == panels / parts + 1) << np << " panels of " << panels;
                    covered += e - b;
                    gemm_packed(pr.params(pr.x.data(), y.data()), b, e);
                }
                EXPECT_EQ(covered, N);
                EXPECT_EQ(krait::kernels::gemm_split(N, parts, 0), 0);
                EXPECT_EQ(krait::kernels::gemm_split(N, parts, parts), N);
                EXPECT_TRUE(same_bits(y, whole)) << parts << " parts";
            }
            // Random cut points on panel boundaries.
            for (int trial = 0; trial < 10; ++trial) {
                std::vector<int64_t> cuts = {0, N};
                std::uniform_int_distribution<int64_t> panel(0, panels);
                for (int c = 0; c < 3; ++c) cuts.push_back(std::min(N, panel(rng) * kGemmNR));
                std::sort(cuts.begin(), cuts.end());
                std::vector<float> y = pr.y0;
                for (size_t c = 0; c + 1 < cuts.size(); ++c)
                    gemm_packed(pr.params(pr.x.data(), y.data()), cuts[c], cuts[c + 1]);
                EXPECT_TRUE(same_bits(y, whole)) << "trial " << trial;
            }
        }
    }
}

// Each row's result does not depend on M or on which rows share its call.
TEST(GemmPacked, RowSplitsAreBitwiseIdenticalToOneCall) {
    std::mt19937 rng(12);
    const Problem pr(rng, 197, 800, 100, 1, 0, true, true);
    const std::vector<float> whole = pr.run_whole();
    for (int64_t step : {1, 5, 13, 50}) {
        std::vector<float> y = pr.y0;
        for (int64_t r0 = 0; r0 < pr.M; r0 += step) {
            GemmParams p = pr.params(pr.x.data() + r0 * pr.xs, y.data() + r0 * pr.ys);
            p.rows = std::min(step, pr.M - r0);
            gemm_packed(p, 0, pr.N);
        }
        EXPECT_TRUE(same_bits(y, whole)) << "rows in steps of " << step;
    }
}

// x and y at every 4-byte offset within a cache line give the same bits.
TEST(GemmPacked, MisalignedBuffersAreBitwiseIdentical) {
    std::mt19937 rng(13);
    const Problem pr(rng, 37, 333, 70, 0, 0, true, true);
    const std::vector<float> whole = pr.run_whole();
    for (int64_t shift = 0; shift < 16; ++shift) {
        std::vector<float> x_buf(pr.x.size() + 16), y_buf(pr.y0.size() + 16);
        std::copy(pr.x.begin(), pr.x.end(), x_buf.begin() + shift);
        std::copy(pr.y0.begin(), pr.y0.end(), y_buf.begin() + (15 - shift));
        gemm_packed(pr.params(x_buf.data() + shift, y_buf.data() + (15 - shift)), 0, pr.N);
        const std::vector<float> y(y_buf.begin() + (15 - shift), y_buf.begin() + (15 - shift) + pr.y0.size());
        EXPECT_TRUE(same_bits(y, whole)) << "x shifted by " << shift << " floats";
    }
}

// The variants with FMA (avx2, avx512) compute the same chains of fused
// multiply-adds, so they agree bit for bit; the portable one (no FMA on
// baseline x86-64) agrees with the reference within the tolerance.
TEST(GemmPacked, VariantsAgree) {
    using krait::kernels::CpuVariant;
    std::mt19937 rng(14);
    for (const auto& s : kShapes) {
        const Problem pr(rng, s[0], s[1], s[2], 1, 2, true, true);
        SCOPED_TRACE(shape_name(s[0], s[1], s[2]));
        std::vector<std::vector<float>> fma_results;
        for (CpuVariant v : krait::kernels::runnable_variants()) {
            SCOPED_TRACE(krait::kernels::variant_name(v));
            std::vector<float> y = pr.y0;
            krait::kernels::kernel_table(v)->gemm_packed(pr.params(pr.x.data(), y.data()), 0, pr.N);
            pr.expect_matches(y);
            if (v != CpuVariant::portable) fma_results.push_back(y);
        }
        for (size_t i = 1; i < fma_results.size(); ++i) EXPECT_TRUE(same_bits(fma_results[0], fma_results[i]));
    }
}

TEST(GemmPacked, PackedLayoutIsPanelsOfKMajorColumns) {
    std::mt19937 rng(15);
    const int64_t N = 70, K = 9;
    const auto w = random_vector(rng, N * K);
    const PackedWeights packed = krait::kernels::pack_weights(w.data(), N, K);
    ASSERT_EQ(packed.out_features(), N);
    ASSERT_EQ(packed.in_features(), K);
    ASSERT_EQ(packed.panels(), 3);
    EXPECT_EQ(packed.bytes(), static_cast<size_t>(3 * K * kGemmNR * sizeof(float)));
    for (int64_t j = 0; j < packed.panels(); ++j) {
        EXPECT_EQ(reinterpret_cast<uintptr_t>(packed.panel(j)) % 64, 0u) << "panel " << j;
        for (int64_t k = 0; k < K; ++k)
            for (int64_t c = 0; c < kGemmNR; ++c) {
                const int64_t n = j * kGemmNR + c;
                EXPECT_EQ(packed.panel(j)[k * kGemmNR + c], n < N ? w[n * K + k] : 0.0f);
            }
    }
    // The strided form packs the transpose [K, N] to the same panels, and
    // reuses the allocation when it is big enough.
    std::vector<float> wt(N * K);
    for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k) wt[k * N + n] = w[n * K + k];
    const auto bigger = random_vector(rng, (N + 10) * K);
    PackedWeights again = krait::kernels::pack_weights(bigger.data(), N + 10, K);
    const float* before = again.panel(0);
    krait::kernels::pack_weights_strided(again, wt.data(), N, K, 1, N);
    EXPECT_EQ(again.panel(0), before);
    ASSERT_EQ(again.out_features(), N);
    EXPECT_EQ(std::memcmp(again.panel(0), packed.panel(0), packed.bytes()), 0);
}

TEST(GemmPacked, RejectsRangesOffPanelBoundaries) {
    std::mt19937 rng(16);
    const Problem pr(rng, 2, 8, 70, 0, 0, false, false);
    std::vector<float> y = pr.y0;
    const GemmParams p = pr.params(pr.x.data(), y.data());
    EXPECT_THROW(gemm_packed(p, 1, 70), std::invalid_argument);   // begin not on a panel
    EXPECT_THROW(gemm_packed(p, 0, 40), std::invalid_argument);   // end neither on a panel nor N
    EXPECT_THROW(gemm_packed(p, 64, 96), std::invalid_argument);  // past N
    EXPECT_THROW(gemm_packed(p, 64, 32), std::invalid_argument);  // reversed
    GemmParams none = p;
    none.weights = nullptr;
    EXPECT_THROW(gemm_packed(none, 0, 70), std::invalid_argument);
    try {
        gemm_packed(p, 16, 70);
        FAIL() << "no error";
    } catch (const std::invalid_argument& e) {  // kernels throw standard exceptions (kernels/cpu/kernel_error.h)
        EXPECT_NE(std::string(e.what()).find("[16, 70)"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(same_bits(y, pr.y0));  // nothing written
    gemm_packed(p, 64, 70);            // the tail panel alone is fine
}

#if defined(__linux__)
// Floats placed flush against an inaccessible page, after the end or before
// the start, so a read outside the buffer (a full-width load of a tail, say)
// faults instead of passing unnoticed.
class Guarded {
public:
    Guarded(const std::vector<float>& v, bool guard_after) : n_(v.size()) {
        page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
        const size_t bytes = std::max<size_t>(n_ * sizeof(float), 1);
        data_pages_ = (bytes + page_ - 1) / page_;
        size_ = (data_pages_ + 1) * page_;
        void* mem = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) throw std::bad_alloc();
        base_ = static_cast<char*>(mem);
        if (guard_after) {
            mprotect(base_ + data_pages_ * page_, page_, PROT_NONE);
            data_ = reinterpret_cast<float*>(base_ + data_pages_ * page_ - n_ * sizeof(float));
        } else {
            mprotect(base_, page_, PROT_NONE);
            data_ = reinterpret_cast<float*>(base_ + page_);
        }
        std::copy(v.begin(), v.end(), data_);
    }
    ~Guarded() { munmap(base_, size_); }
    Guarded(const Guarded&) = delete;
    Guarded& operator=(const Guarded&) = delete;
    float* data() { return data_; }
    std::vector<float> copy() const { return std::vector<float>(data_, data_ + n_); }

private:
    size_t n_, page_ = 0, data_pages_ = 0, size_ = 0;
    char* base_ = nullptr;
    float* data_ = nullptr;
};

// x, bias and y each end (or start) right at an unmapped page: tails of M, N
// and K must be handled without touching a byte outside the buffers.
TEST(GemmPacked, ReadsNothingOutsideTheBuffers) {
    std::mt19937 rng(17);
    const int64_t shapes[][3] = {{1, 1, 1}, {5, 3, 7}, {13, 17, 45}, {197, 770, 70}};
    for (const auto& s : shapes) {
        for (bool after : {true, false}) {
            const Problem pr(rng, s[0], s[1], s[2], 0, 0, true, true);
            SCOPED_TRACE(shape_name(s[0], s[1], s[2]) + (after ? " guard after" : " guard before"));
            Guarded x(pr.x, after), bias(pr.bias, after), y(pr.y0, after);
            GemmParams p = pr.params(x.data(), y.data());
            p.bias = bias.data();
            gemm_packed(p, 0, pr.N);
            EXPECT_TRUE(same_bits(y.copy(), pr.run_whole()));
            // The last panel alone, too (its bias slice ends at the guard).
            const int64_t last = (pr.N - 1) / kGemmNR * kGemmNR;
            Guarded y2(pr.y0, after);
            p.y = y2.data();
            gemm_packed(p, last, pr.N);
            const std::vector<float> got = y2.copy(), want = y.copy();
            for (int64_t m = 0; m < pr.M; ++m)
                for (int64_t n = last; n < pr.N; ++n) ASSERT_EQ(got[m * pr.N + n], want[m * pr.N + n]);
        }
    }
}
#endif

}  // namespace

// F16 / BF16 panels: half the bytes, and every result bitwise equal to the F32
// panels' on the widened weights (same chains; the widening is exact), so within
// the reference's tolerance too. Odd shapes, M = 1 (decode) and M > 1, K across
// the K blocking, N across panel tails and the few-row multi-panel tiles.
TEST(GemmPackedHalf, BitwiseEqualToF32PanelsOnTheWidenedWeights) {
    const int64_t shapes[][3] = {{1, 1, 1},      {1, 7, 5},       {1, 33, 129},  {1, 576, 1536}, {1, 1600, 300},
                                 {2, 17, 257},   {3, 100, 160},   {3, 1537, 33}, {4, 64, 200},   {5, 3100, 70},
                                 {13, 33, 64},   {25, 80, 96},    {49, 100, 129}, {31, 769, 40}, {1, 5, 1000}};
    for (WeightType type : {WeightType::BF16, WeightType::F16}) {
        std::mt19937 rng(11);
        for (const auto& s : shapes) {
            for (int variant = 0; variant < 2; ++variant) {
                const bool bias = variant == 0, acc = variant == 1;
                const Problem pr(rng, s[0], s[1], s[2], variant, 3 * variant, bias, acc, type);
                SCOPED_TRACE(std::string(type == WeightType::BF16 ? "BF16 " : "F16 ") + shape_name(s[0], s[1], s[2]) +
                             (bias ? " bias" : " accumulate"));
                ASSERT_EQ(pr.packed.type(), type);
                // BF16 panels hold K rounded up to kGemmBf16KAlign (paired rows, gemm.h).
                const int64_t Kp = type == WeightType::BF16
                                       ? (s[1] + krait::kernels::kGemmBf16KAlign - 1) /
                                             krait::kernels::kGemmBf16KAlign * krait::kernels::kGemmBf16KAlign
                                       : s[1];
                EXPECT_EQ(pr.packed.padded_k(), Kp);
                EXPECT_EQ(pr.packed.bytes() * 2 * s[1], pr.packed_f32.bytes() * Kp);
                const std::vector<float> y = pr.run_whole();
                EXPECT_TRUE(same_bits(y, pr.run_whole_f32()));
                pr.expect_matches(y);
            }
        }
    }
}

TEST(GemmPackedHalf, PanelAndRowSplitsAreBitwiseIdenticalToOneCall) {
    std::mt19937 rng(5);
    for (WeightType type : {WeightType::BF16, WeightType::F16}) {
        const Problem pr(rng, 7, 300, 333, 0, 0, true, false, type);
        const std::vector<float> whole = pr.run_whole();
        for (int64_t parts : {2, 3, 5}) {
            std::vector<float> y = pr.y0;
            for (int64_t i = 0; i < parts; ++i)
                gemm_packed(pr.params(pr.x.data(), y.data()), krait::kernels::gemm_split(pr.N, parts, i),
                            krait::kernels::gemm_split(pr.N, parts, i + 1));
            EXPECT_TRUE(same_bits(y, whole)) << parts << " column parts";
        }
        std::vector<float> y = pr.y0;
        for (int64_t r = 0; r < pr.M; ++r) {
            GemmParams p = pr.params(pr.x.data() + r * pr.xs, y.data() + r * pr.ys);
            p.rows = 1;
            gemm_packed(p, 0, pr.N);
        }
        EXPECT_TRUE(same_bits(y, whole)) << "row by row";
    }
}

TEST(GemmPackedHalf, LayoutHoldsTheStoredBits) {
    std::mt19937 rng(3);
    const int64_t N = 45, K = 9;
    std::vector<uint16_t> w(N * K);
    for (auto& v : w) v = static_cast<uint16_t>(rng() & 0x3fffu);  // finite in both types
    for (WeightType type : {WeightType::BF16, WeightType::F16}) {
        const PackedWeights packed = krait::kernels::pack_weights_half(w.data(), type, N, K);
        ASSERT_EQ(packed.panels(), 2);
        // F16: [K][32] per panel. BF16: k paired, [Kp / 2][32][2] with Kp = 32 (K rounded up), zeros past K.
        const int64_t Kp = type == WeightType::BF16 ? 32 : K;
        ASSERT_EQ(packed.padded_k(), Kp);
        EXPECT_EQ(packed.bytes(), static_cast<size_t>(2 * Kp * kGemmNR * 2));
        for (int64_t j = 0; j < packed.panels(); ++j) {
            EXPECT_EQ(reinterpret_cast<uintptr_t>(packed.panel_half(j)) % 64, 0u);
            for (int64_t k = 0; k < Kp; ++k)
                for (int64_t c = 0; c < kGemmNR; ++c) {
                    const int64_t n = j * kGemmNR + c;
                    const int64_t i = type == WeightType::BF16 ? (k / 2) * 64 + 2 * c + k % 2 : k * kGemmNR + c;
                    EXPECT_EQ(packed.index_in_panel(n, k), i);
                    EXPECT_EQ(packed.panel_half(j)[i], n < N && k < K ? w[n * K + k] : 0);
                    if (k >= K) continue;
                    if (n < N) {
                        EXPECT_EQ(packed.at(n, k), krait::kernels::half_to_f32(type, w[n * K + k]));
                    }
                }
        }
    }
    EXPECT_THROW(krait::kernels::pack_weights_half(w.data(), WeightType::F32, N, K), std::invalid_argument);
}

// ---- BF16 dot products (kernels/cpu/gemm_bf16.cpp) ----------------------------------------------
// Reference: linear_ref on x rounded to BF16 (round_to_bf16) and the BF16 weights, double sums.
// Each BF16 x BF16 product is exact in F32, so the kernels differ from it only by F32 summation:
// the same tolerance as the exact path, 1e-5 of the magnitude (the summed |terms|).
namespace {

using krait::kernels::Bf16Products;

struct Bf16Problem {
    Problem base;         // x, BF16 weights (packed), bias, y0
    std::vector<float> xr, ref, magnitude;  // x rounded to BF16; the reference on xr
    Bf16Problem(std::mt19937& rng, int64_t M, int64_t K, int64_t N, bool bias, bool accumulate)
        : base(rng, M, K, N, 3, 5, bias, accumulate, WeightType::BF16) {
        base.packed.allow_bf16_products(true);
        xr = base.x;
        for (float& v : xr) v = krait::kernels::bf16_to_f32(krait::kernels::round_to_bf16(v));
        ref = base.y0;
        krait::kernels::LinearParams lp{M, K, N, xr.data(), base.xs, base.w.data(),
                                        bias ? base.bias.data() : nullptr, ref.data(), base.ys, accumulate};
        krait::kernels::linear_ref(lp);
        magnitude.assign(ref.size(), 0.0f);
        for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) {
                double s = bias ? std::fabs(base.bias[n]) : 0.0;
                if (accumulate) s += std::fabs(base.y0[m * base.ys + n]);
                for (int64_t k = 0; k < K; ++k) s += std::fabs(static_cast<double>(xr[m * base.xs + k]) * base.w[n * K + k]);
                magnitude[m * base.ys + n] = static_cast<float>(s);
            }
    }
    std::vector<float> run(Bf16Products unit, int64_t n_begin, int64_t n_end, std::vector<float> y) const {
        GemmParams p = base.params(base.x.data(), y.data());
        p.bf16_products = unit;
        gemm_packed(p, n_begin, n_end);
        return y;
    }
    void expect_matches(const std::vector<float>& y) const {
        double worst = 0;
        for (int64_t m = 0; m < base.M; ++m)
            for (int64_t n = 0; n < base.ys; ++n) {
                const int64_t i = m * base.ys + n;
                if (n >= base.N) {
                    ASSERT_EQ(std::memcmp(&y[i], &base.y0[i], sizeof(float)), 0) << "padding written at m=" << m;
                    continue;
                }
                ASSERT_TRUE(std::isfinite(y[i])) << "m=" << m << " n=" << n;
                worst = std::max(worst, std::fabs(static_cast<double>(y[i]) - ref[i]) / (1e-5 * magnitude[i] + 1e-30));
            }
        EXPECT_LE(worst, 1.0) << "worst error / tolerance";
    }
};

// The units this CPU runs, through the variant under test: only avx512 has them.
std::vector<Bf16Products> units_under_test() {
    std::vector<Bf16Products> units;
    for (Bf16Products u : {Bf16Products::avx512_bf16, Bf16Products::amx})
        if (u <= krait::kernels::bf16_products_supported()) units.push_back(u);
    return units;
}

}  // namespace

TEST(GemmBf16Products, MatchTheReferenceOnRoundedActivations) {
    if (krait::kernels::active().variant != krait::kernels::CpuVariant::avx512)
        GTEST_SKIP() << "the BF16 dot products are in the avx512 kernels; this run tests "
                     << krait::kernels::active().name << " (IgnoredElsewhere covers it)";
    const auto units = units_under_test();
    if (units.empty()) GTEST_SKIP() << "this CPU has neither AVX512-BF16 nor AMX";
    // M from the threshold (16) across AMX's 32-row blocks, K across pairs and 32-k tiles (odd K:
    // padding), N across panel tails; large K and M across the M blocks of the rounded x.
    const int64_t shapes[][3] = {{16, 1, 1},   {16, 7, 5},     {17, 33, 64},    {31, 31, 33},  {32, 64, 32},
                                 {33, 100, 70}, {64, 768, 96},  {100, 129, 200}, {197, 768, 80}, {300, 1600, 40},
                                 {80, 5000, 36}, {600, 2048, 64}};
    std::mt19937 rng(21);
    for (const auto& s : shapes)
        for (int variant = 0; variant < 2; ++variant) {
            const Bf16Problem pr(rng, s[0], s[1], s[2], variant == 0, variant == 1);
            for (Bf16Products u : units) {
                SCOPED_TRACE(shape_name(s[0], s[1], s[2]) + " " + krait::kernels::bf16_products_name(u) +
                             (variant == 0 ? " bias" : " accumulate"));
                const std::vector<float> y = pr.run(u, 0, s[2], pr.base.y0);
                pr.expect_matches(y);
                // Column ranges on panel boundaries: the same bits as one call (each column is computed alone).
                std::vector<float> split = pr.base.y0;
                for (int64_t i = 0; i < 3; ++i)
                    split = pr.run(u, krait::kernels::gemm_split(s[2], 3, i), krait::kernels::gemm_split(s[2], 3, i + 1),
                                   split);
                EXPECT_TRUE(same_bits(split, y)) << "3 column parts";
            }
        }
}

// Below kBf16ProductsMinRows rows, or on weights that do not allow it, or where the CPU has no unit, a
// call asking for BF16 products computes the exact chain: the same bits as without asking.
TEST(GemmBf16Products, ExactWhereNotAllowedOrTooFewRows) {
    std::mt19937 rng(22);
    for (Bf16Products u : {Bf16Products::none, Bf16Products::avx512_bf16, Bf16Products::amx}) {
        if (u > krait::kernels::bf16_products_supported()) continue;  // the caller vouches for the CPU
        SCOPED_TRACE(krait::kernels::bf16_products_name(u));
        for (int64_t M : {1, 3, 15}) {
            const Bf16Problem pr(rng, M, 100, 70, true, false);
            EXPECT_TRUE(same_bits(pr.run(u, 0, 70, pr.base.y0), pr.base.run_whole())) << "M=" << M;
        }
        Bf16Problem pr(rng, 40, 100, 70, true, false);
        pr.base.packed.allow_bf16_products(false);
        EXPECT_TRUE(same_bits(pr.run(u, 0, 70, pr.base.y0), pr.base.run_whole())) << "not allowed";
    }
}

// The other variants ignore the request: exact chains, the same bits as without it.
TEST(GemmBf16Products, IgnoredElsewhere) {
    std::mt19937 rng(23);
    const Bf16Problem pr(rng, 40, 300, 70, true, true);
    for (krait::kernels::CpuVariant v : krait::kernels::runnable_variants()) {
        if (v == krait::kernels::CpuVariant::avx512) continue;
        SCOPED_TRACE(krait::kernels::variant_name(v));
        std::vector<float> asked = pr.base.y0, plain = pr.base.y0;
        GemmParams p = pr.base.params(pr.base.x.data(), asked.data());
        p.bf16_products = Bf16Products::amx;
        krait::kernels::kernel_table(v)->gemm_packed(p, 0, 70);
        krait::kernels::kernel_table(v)->gemm_packed(pr.base.params(pr.base.x.data(), plain.data()), 0, 70);
        EXPECT_TRUE(same_bits(asked, plain));
    }
}

TEST(GemmBf16Products, RoundingIsToNearestEven) {
    using krait::kernels::round_to_bf16;
    EXPECT_EQ(round_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(round_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie, even stays
    EXPECT_EQ(round_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie, odd rounds up
    EXPECT_EQ(round_to_bf16(std::bit_cast<float>(0x3f808001u)), 0x3f81);  // above the tie
    EXPECT_EQ(round_to_bf16(std::bit_cast<float>(0x7f7fffffu)), 0x7f80);  // FLT_MAX rounds to infinity
    EXPECT_EQ(round_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
    EXPECT_TRUE(std::isnan(krait::kernels::bf16_to_f32(round_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
    EXPECT_TRUE(std::isnan(krait::kernels::bf16_to_f32(round_to_bf16(std::bit_cast<float>(0x7f800001u)))));
}

TEST(Bf16ProductsSelection, NamesAndCap) {
    using krait::kernels::bf16_products_name;
    for (Bf16Products u : {Bf16Products::none, Bf16Products::avx512_bf16, Bf16Products::amx})
        EXPECT_EQ(krait::kernels::parse_bf16_products(bf16_products_name(u)), u);
    EXPECT_FALSE(krait::kernels::parse_bf16_products("AMX").has_value());
    const Bf16Products before = krait::kernels::bf16_products();
    EXPECT_EQ(krait::kernels::select_bf16_products(Bf16Products::none), Bf16Products::none);
    EXPECT_EQ(krait::kernels::bf16_products(), Bf16Products::none);
    EXPECT_EQ(krait::kernels::select_bf16_products(std::nullopt), krait::kernels::bf16_products_supported());
    krait::kernels::select_bf16_products(before);
    EXPECT_EQ(krait::kernels::bf16_products(), before);
    // AMX implies AVX512-BF16 here (bf16_products.h), and both need the avx512 kernels.
    if (krait::kernels::bf16_products_supported() != Bf16Products::none) {
        EXPECT_TRUE(krait::kernels::cpu_supports(krait::kernels::CpuVariant::avx512));
    }
}
