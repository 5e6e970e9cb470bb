// kernels/cpu/winograd (3x3 stride-1 convolution by Winograd F(4x4, 3x3))
// against kernels::conv2d_ref (seven loops in double), directly and through
// run_conv2d as the models call it.
//
// Tolerance, per output element: |got - ref| <= 2e-6 * magnitude, where
// magnitude = sum over the taps of |w * x| + |bias|: the size of what was
// summed (a cancelling sum is not held to an error it cannot meet). Winograd
// forms its sums from transformed values up to ~8x the inputs, so it is
// less exact than a direct fp32 sum (observed here: <= 8.7e-7 of the
// magnitude and <= 2.5e-6 of the largest output); the test also bounds the
// error by 1e-5 of the largest output, the project's fp32 tolerance for logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/dispatch.h"
#include "sdk/core/error.h"
#include "sdk/core/thread_pool.h"
#include "sdk/models/blocks.h"

namespace {

namespace kn = krait::kernels;

std::vector<float> random_vector(std::mt19937& rng, size_t n, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

struct Case {
    int64_t batch, cin, cout, h, w;
    bool bias;
    std::string name() const {
        return "batch " + std::to_string(batch) + ", " + std::to_string(cin) + " -> " + std::to_string(cout) +
               " channels, " + std::to_string(h) + "x" + std::to_string(w) + (bias ? ", bias" : "");
    }
};

// The reference output and the per-element magnitude.
struct Problem {
    Case c;
    std::vector<float> x, w, b, ref, magnitude;
    kn::Winograd43Weights packed;

    Problem(std::mt19937& rng, const Case& c_) : c(c_) {
        x = random_vector(rng, static_cast<size_t>(c.batch * c.cin * c.h * c.w), -2.0f, 2.0f);
        w = random_vector(rng, static_cast<size_t>(c.cout * c.cin * 9), -0.5f, 0.5f);
        if (c.bias) b = random_vector(rng, static_cast<size_t>(c.cout));
        kn::Conv2dParams p = params();
        ref.assign(static_cast<size_t>(c.batch * c.cout * c.h * c.w), 0.0f);
        p.y = ref.data();
        kn::conv2d_ref(p);
        // |w| * |x| through the same reference gives the magnitudes.
        std::vector<float> ax(x.size()), aw(w.size()), ab(b.size());
        std::transform(x.begin(), x.end(), ax.begin(), [](float v) { return std::fabs(v); });
        std::transform(w.begin(), w.end(), aw.begin(), [](float v) { return std::fabs(v); });
        std::transform(b.begin(), b.end(), ab.begin(), [](float v) { return std::fabs(v); });
        magnitude.assign(ref.size(), 0.0f);
        p.x = ax.data(), p.weight = aw.data(), p.bias = ab.empty() ? nullptr : ab.data(), p.y = magnitude.data();
        kn::conv2d_ref(p);
        packed = kn::winograd43_pack(w.data(), c.cout, c.cin);
    }
    kn::Conv2dParams params() const {
        kn::Conv2dParams p;
        p.batch = c.batch, p.in_channels = c.cin, p.out_channels = c.cout, p.in_h = c.h, p.in_w = c.w;
        p.kernel_h = p.kernel_w = 3, p.stride = 1, p.padding = 1, p.out_h = c.h, p.out_w = c.w;
        p.x = x.data(), p.weight = w.data(), p.bias = b.empty() ? nullptr : b.data();
        return p;
    }
    krait::Conv2dWeights conv() const {
        krait::Conv2dWeights cw{w.data(), b.empty() ? nullptr : b.data(), c.cin, c.cout, 3, 3, 1, 1, 1};
        cw.winograd = &packed;
        return cw;
    }
    ::testing::AssertionResult close(const std::vector<float>& got) const {
        float largest = 0.0f, worst_rel = 0.0f, worst_abs = 0.0f;
        for (float r : ref) largest = std::max(largest, std::fabs(r));
        for (size_t i = 0; i < ref.size(); ++i) {
            if (!std::isfinite(got[i])) return ::testing::AssertionFailure() << "non-finite output at " << i;
            const float d = std::fabs(got[i] - ref[i]);
            worst_abs = std::max(worst_abs, d);
            if (magnitude[i] > 0) worst_rel = std::max(worst_rel, d / magnitude[i]);
            if (d > 2e-6f * magnitude[i])
                return ::testing::AssertionFailure() << "element " << i << ": got " << got[i] << ", want " << ref[i]
                                                     << ", error " << d << " > 2e-6 x magnitude " << magnitude[i];
        }
        if (worst_abs > 1e-5f * largest)
            return ::testing::AssertionFailure() << "max error " << worst_abs << " > 1e-5 x largest output " << largest;
        return ::testing::AssertionSuccess() << "worst error " << worst_rel << " of the magnitude";
    }
};

const Case kCases[] = {
    {1, 1, 1, 1, 1, true},       // one pixel: only the centre tap sees data
    {1, 3, 5, 2, 3, false},      // smaller than one 4x4 tile
    {2, 16, 16, 8, 8, true},     // whole tiles, whole lane blocks
    {3, 24, 40, 13, 11, true},   // odd sizes: partial tiles at the right and bottom edges
    {2, 17, 33, 7, 30, false},   // channels off the 16-lane blocks, wide image
    {1, 48, 48, 4, 4, true},     // the demo MambaVision's second level: one tile
    {1, 80, 80, 56, 56, true},   // MambaVision-T's first level
    {2, 160, 160, 14, 14, true}, // MambaVision-T's second level (at 112x112 input), > 48 tiles in total
};

TEST(Winograd43, MatchesReferenceOnRandomShapes) {
    std::mt19937 rng(91);
    for (const Case& c : kCases) {
        const Problem pr(rng, c);
        for (int threads : {1, 2, 5}) {
            krait::ThreadPool pool(threads);
            std::vector<float> got(pr.ref.size(), NAN), scratch;
            const krait::Conv2dWeights cw = pr.conv();
            krait::run_conv2d(pool, cw, pr.x.data(), c.batch, c.h, c.w, got.data(), scratch);
            EXPECT_TRUE(pr.close(got)) << c.name() << ", threads " << threads;
        }
    }
}

// Each tile's sums do not depend on the chunk it falls in (the GEMM's rows are
// independent), so any thread count and any chunking give the same bits.
TEST(Winograd43, BitwiseIndependentOfThreadsAndChunks) {
    std::mt19937 rng(92);
    const Problem pr(rng, Case{3, 24, 40, 13, 11, true});
    std::vector<float> first;
    for (int64_t parallel : {1, 2, 3, 7, 64}) {
        kn::Winograd43Params p;
        p.batch = pr.c.batch, p.height = pr.c.h, p.width = pr.c.w, p.x = pr.x.data(), p.weights = &pr.packed;
        p.bias = pr.b.data();
        std::vector<float> y(pr.ref.size(), NAN);
        p.y = y.data();
        const kn::Winograd43Plan plan = kn::winograd43_plan(p, parallel);
        EXPECT_GE(plan.chunks, std::min<int64_t>(parallel, pr.c.batch * plan.tiles));
        std::vector<float> work(static_cast<size_t>(plan.work_floats));
        for (int64_t c = plan.chunks - 1; c >= 0; --c) kn::active().winograd43_chunk(p, plan, c, work.data());
        if (first.empty()) {
            first = y;
            EXPECT_TRUE(pr.close(y));
        }
        EXPECT_EQ(std::memcmp(y.data(), first.data(), y.size() * sizeof(float)), 0) << "parallel " << parallel;
    }
}

// The im2col path and the Winograd path compute the same convolution.
TEST(Winograd43, AgreesWithTheIm2colPath) {
    std::mt19937 rng(93);
    const Problem pr(rng, Case{2, 32, 24, 9, 10, true});
    krait::ThreadPool pool(2);
    std::vector<float> a(pr.ref.size()), b(pr.ref.size()), scratch;
    krait::Conv2dWeights cw = pr.conv();
    krait::run_conv2d(pool, cw, pr.x.data(), 2, 9, 10, a.data(), scratch);
    cw.winograd = nullptr;
    krait::run_conv2d(pool, cw, pr.x.data(), 2, 9, 10, b.data(), scratch);
    EXPECT_TRUE(pr.close(a));
    EXPECT_TRUE(pr.close(b));
}

// The epilogue y = residual + scale * act(conv + bias), fused into the output transform, equals the
// same steps run as separate passes after the im2col conv (run_conv2d without Winograd filters).
TEST(Winograd43, FusedEpilogueEqualsSeparatePasses) {
    std::mt19937 rng(94);
    krait::ThreadPool pool(2);
    for (const Case& c : {Case{2, 24, 24, 9, 10, true}, Case{1, 40, 40, 13, 7, false}}) {
        const Problem pr(rng, c);
        const auto residual = random_vector(rng, pr.ref.size(), -3.0f, 3.0f);
        const auto scale = random_vector(rng, static_cast<size_t>(c.cout), -1.0f, 1.0f);
        for (const krait::Activation act : {krait::Activation::None, krait::Activation::GeluTanh, krait::Activation::Relu})
            for (const bool with_scale : {false, true}) {
                krait::ConvEpilogue then;
                then.activation = act;
                then.residual = residual.data();
                then.residual_scale = with_scale ? scale.data() : nullptr;
                std::vector<float> fused(pr.ref.size(), NAN), separate(pr.ref.size(), NAN), scratch;
                krait::Conv2dWeights cw = pr.conv();
                krait::run_conv2d(pool, cw, pr.x.data(), c.batch, c.h, c.w, fused.data(), scratch, nullptr, then);
                cw.winograd = nullptr;
                krait::run_conv2d(pool, cw, pr.x.data(), c.batch, c.h, c.w, separate.data(), scratch, nullptr, then);
                // Both differ from the exact result by the conv's rounding (2e-6 of the magnitude, bounded
                // through the activation's slope <= 1.13 and |scale| <= 1), plus a few ulps of the epilogue.
                for (size_t i = 0; i < fused.size(); ++i)
                    ASSERT_NEAR(fused[i], separate[i], 2 * 1.13 * 2e-6 * pr.magnitude[i] + 4e-6 * (1 + std::fabs(separate[i])))
                        << c.name() << ", activation " << static_cast<int>(act) << ", scale " << with_scale << ", element " << i;
            }
    }
}

TEST(Winograd43, BadArguments) {
    EXPECT_THROW(kn::winograd43_pack(nullptr, 4, 4), std::invalid_argument);
    std::vector<float> w(4 * 4 * 9, 0.1f);
    EXPECT_THROW(kn::winograd43_pack(w.data(), 0, 4), std::invalid_argument);
    const kn::Winograd43Weights packed = kn::winograd43_pack(w.data(), 4, 4);
    EXPECT_EQ(packed.u.size(), static_cast<size_t>(kn::kWinogradPositions));
    EXPECT_GE(packed.bytes(), 36u * 4 * 4 * sizeof(float));

    kn::Winograd43Params p;
    EXPECT_THROW(kn::winograd43_plan(p, 1), std::invalid_argument);  // no weights
    p.weights = &packed;
    EXPECT_THROW(kn::winograd43_plan(p, 1), std::invalid_argument);  // empty input
    p.batch = 1, p.height = 0, p.width = 3;
    EXPECT_THROW(kn::winograd43_plan(p, 1), std::invalid_argument);

    // Filters transformed for another conv are refused by run_conv2d, not misread.
    krait::ThreadPool pool(1);
    std::vector<float> x(2 * 5 * 5), y(8 * 5 * 5), scratch;
    krait::Conv2dWeights cw{w.data(), nullptr, 2, 8, 3, 3, 1, 1, 1};
    cw.winograd = &packed;  // 4 -> 4 channels
    EXPECT_THROW(krait::run_conv2d(pool, cw, x.data(), 1, 5, 5, y.data(), scratch), krait::Error);
    // A residual that overlaps the output (or the input) is refused: the epilogue reads it while writing y.
    krait::Conv2dWeights four{w.data(), nullptr, 4, 4, 3, 3, 1, 1, 1};
    four.winograd = &packed;
    std::vector<float> x4(4 * 5 * 5, 1.0f), y4(4 * 5 * 5);
    krait::ConvEpilogue then;
    then.residual = y4.data() + 3;
    EXPECT_THROW(krait::run_conv2d(pool, four, x4.data(), 1, 5, 5, y4.data(), scratch, nullptr, then), krait::Error);
    then.residual = x4.data();
    EXPECT_THROW(krait::run_conv2d(pool, four, x4.data(), 1, 5, 5, y4.data(), scratch, nullptr, then), krait::Error);
    krait::Conv2dWeights strided{w.data(), nullptr, 4, 4, 3, 3, 2, 1, 1};
    strided.winograd = &packed;
    EXPECT_THROW(krait::run_conv2d(pool, strided, x.data(), 1, 5, 5, y.data(), scratch), krait::Error);

    // Only 3x3 / stride 1 / padding 1 / groups 1 convs get Winograd filters.
    krait::PackedStore store;
    EXPECT_EQ(store.pack_winograd(w.data(), 4, 4, 3, 3, 2, 1, 1), nullptr);
    EXPECT_EQ(store.pack_winograd(w.data(), 4, 4, 3, 3, 1, 0, 1), nullptr);
    EXPECT_EQ(store.pack_winograd(w.data(), 4, 2, 3, 3, 1, 1, 2), nullptr);
    EXPECT_NE(store.pack_winograd(w.data(), 4, 4, 3, 3, 1, 1, 1), nullptr);
}

}  // namespace
