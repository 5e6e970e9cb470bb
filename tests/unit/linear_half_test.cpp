// The F16/BF16-weight linear kernel (kernels/cpu/linear_half.h) against the
// plain reference (linear_ref, double accumulation of the exactly widened
// weights) on random shapes: odd sizes, rows 1..300 (both the register-tiled
// path and the widen-a-block-then-GEMM path), strides, accumulate, bias or
// not, each weight type, and several output splits (as threads split them).
//
// Tolerance: max |a - b| <= 2e-5 * max(1, max |b|): the widening is exact, so
// only the order of the F32 sums differs from the reference.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/dispatch.h"

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace {

using krait::kernels::WeightType;

std::vector<float> random_vector(std::mt19937& rng, size_t n) {
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

// Random 16-bit weights of magnitude ~[2^-6, 2]: random sign and mantissa bits.
std::vector<uint16_t> random_half(std::mt19937& rng, size_t n, WeightType type) {
    std::vector<uint16_t> v(n);
    std::uniform_int_distribution<int> bits(0, 0xffff);
    for (auto& h : v) {
        const int r = bits(rng);
        if (type == WeightType::BF16) h = static_cast<uint16_t>((r & 0x807f) | ((121 + r % 7) << 7));   // exp 2^-6..2^0
        else h = static_cast<uint16_t>((r & 0x83ff) | ((9 + r % 7) << 10));                            // exp 2^-6..2^0
    }
    return v;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, float rel) {
    ASSERT_EQ(got.size(), want.size());
    float scale = 1.0f;
    for (float w : want) scale = std::max(scale, std::fabs(w));
    float worst = 0.0f;
    size_t at = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_TRUE(std::isfinite(got[i])) << "non-finite at " << i;
        const float d = std::fabs(got[i] - want[i]);
        if (d > worst) worst = d, at = i;
    }
    EXPECT_LE(worst, rel * scale) << "worst difference at index " << at << ": " << got[at] << " vs " << want[at];
}

TEST(HalfConversion, F16MatchesTheHardwareOnEveryValue) {
    for (uint32_t h = 0; h < 0x10000; ++h) {
        const float got = krait::kernels::f16_to_f32(static_cast<uint16_t>(h));
#if defined(__F16C__)
        const float want = _cvtsh_ss(static_cast<unsigned short>(h));
        if (std::isnan(want)) {
            EXPECT_TRUE(std::isnan(got)) << h;
        } else {
            ASSERT_EQ(got, want) << "f16 bits " << h;
        }
#else
        (void)got;
#endif
    }
    EXPECT_EQ(krait::kernels::f16_to_f32(0x3c00), 1.0f);
    EXPECT_EQ(krait::kernels::f16_to_f32(0xc000), -2.0f);
    EXPECT_EQ(krait::kernels::f16_to_f32(0x0001), std::ldexp(1.0f, -24));
    EXPECT_EQ(krait::kernels::bf16_to_f32(0x3f80), 1.0f);
    EXPECT_EQ(krait::kernels::bf16_to_f32(0xc040), -3.0f);
}

TEST(HalfConversion, WidenHalfMatchesScalar) {
    std::mt19937 rng(3);
    for (WeightType type : {WeightType::F16, WeightType::BF16}) {
        for (int64_t n : {1, 7, 16, 33, 100}) {
            auto h = random_half(rng, static_cast<size_t>(n), type);
            std::vector<float> out(static_cast<size_t>(n));
            krait::kernels::active().widen_half(type, h.data(), n, out.data());
            for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[i], krait::kernels::half_to_f32(type, h[i]));
        }
    }
}

TEST(LinearHalf, MatchesReferenceOnRandomShapes) {
    std::mt19937 rng(11);
    std::uniform_int_distribution<int64_t> pick_rows(1, 300), pick_k(1, 200), pick_n(1, 150);
    std::vector<std::array<int64_t, 3>> shapes = {{1, 1, 1},   {1, 7, 5},    {1, 768, 67}, {2, 17, 33}, {3, 16, 4},
                                                  {4, 33, 9},  {5, 64, 129}, {37, 40, 70}, {300, 19, 41}};
    for (int i = 0; i < 12; ++i) shapes.push_back({pick_rows(rng), pick_k(rng), pick_n(rng)});
    for (const auto& s : shapes) {
        const int64_t M = s[0], K = s[1], N = s[2];
        for (WeightType type : {WeightType::F16, WeightType::BF16}) {
            for (int variant = 0; variant < 4; ++variant) {
                const bool strided = variant & 1, accumulate = variant & 2;
                const int64_t xs = strided ? K + 3 : K, ys = strided ? N + 5 : N;
                auto x = random_vector(rng, M * xs), b = random_vector(rng, N), y0 = random_vector(rng, M * ys);
                auto w = random_half(rng, N * K, type);
                auto y_ref = y0, y_opt = y0;
                krait::kernels::LinearParams p;
                p.rows = M;
                p.in_features = K;
                p.out_features = N;
                p.x = x.data();
                p.x_stride = xs;
                p.bias = variant == 1 ? nullptr : b.data();
                p.y_stride = ys;
                p.accumulate = accumulate;
                p.weight_type = type;
                p.weight_half = w.data();
                p.y = y_ref.data();
                krait::kernels::linear_ref(p);
                // Split the outputs as 1, 2 and 3 threads would (any boundaries are allowed).
                for (int parts : {1, 2, 3}) {
                    y_opt = y0;
                    for (int t = 0; t < parts; ++t) {
                        const int64_t b0 = N * t / parts, b1 = N * (t + 1) / parts;
                        p.y = y_opt.data();
                        krait::kernels::active().linear(p, b0, b1);
                    }
                    SCOPED_TRACE("M=" + std::to_string(M) + " K=" + std::to_string(K) + " N=" + std::to_string(N) +
                                 (type == WeightType::BF16 ? " bf16" : " f16") + " variant " + std::to_string(variant) +
                                 " parts " + std::to_string(parts));
                    expect_close(y_opt, y_ref, 2e-5f);
                }
            }
        }
    }
}

TEST(LinearHalf, RefusesF32AndMissingWeights) {
    krait::kernels::LinearParams p;
    p.rows = 1;
    p.in_features = 2;
    p.out_features = 2;
    EXPECT_THROW(krait::kernels::active().linear_half(p, 0, 2), std::invalid_argument);
    p.weight_type = WeightType::BF16;
    EXPECT_THROW(krait::kernels::active().linear_half(p, 0, 2), std::invalid_argument);
}

}  // namespace
