// The chunked SSD kernel (Mamba-2) against the plain recurrence, on random shapes: odd lengths,
// lengths shorter than, equal to and not a multiple of the chunk, one and several groups, a
// nonzero initial state, dt clamped or not. Tolerance: fp32, outputs and final states within 1e-5
// relative to max(1, max |reference|) (the two sum in different orders). The vectorised recurrence
// (ssd_scan, the decode step) is checked the same way. Both run through kernels::active(), so CTest's
// per-variant runs check each variant (KRAIT_CPU_VARIANT).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/ssd.h"

namespace {

struct Case {
    int64_t L, H, P, G, N, Q;
    bool clamp;
};

float max_abs(const std::vector<float>& v) {
    float m = 1.0f;
    for (float x : v) m = std::max(m, std::fabs(x));
    return m;
}

using SsdFn = void (*)(const krait::kernels::SsdParams&, int64_t, int64_t);

void check_against_recurrence(SsdFn fn) {
    const Case cases[] = {{1, 2, 4, 1, 8, 8, false},   {7, 4, 8, 2, 16, 8, false}, {8, 4, 8, 1, 16, 8, false},
                          {37, 6, 5, 3, 7, 8, true},   {45, 8, 8, 2, 16, 16, false}, {100, 4, 16, 4, 32, 32, false},
                          {257, 2, 8, 1, 16, 64, true}, {33, 3, 3, 1, 5, 1, false},
                          // The Mamba-2-130m head shape (P 64, N 128), and N with a tail past 16 lanes.
                          {70, 4, 64, 1, 128, 32, false}, {19, 4, 6, 2, 37, 8, false}};
    std::mt19937 rng(17);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::uniform_real_distribution<float> ud(0.0f, 1.0f);
    for (const Case& c : cases) {
        SCOPED_TRACE("L " + std::to_string(c.L) + " H " + std::to_string(c.H) + " G " + std::to_string(c.G) + " Q " +
                     std::to_string(c.Q));
        const int64_t E = c.H * c.P, GN = c.G * c.N;
        // Inputs inside one padded buffer with row strides wider than the rows, as the model passes them.
        const int64_t xs = E + 3, ds = c.H + 1, bs = 2 * GN + 2;
        std::vector<float> x(c.L * xs), dt(c.L * ds), bc(c.L * bs), A(c.H), D(c.H), bias(c.H), h0(c.H * c.P * c.N);
        for (auto& v : x) v = nd(rng);
        for (auto& v : dt) v = nd(rng) - 1.0f;
        for (auto& v : bc) v = nd(rng) * 0.5f;
        for (auto& v : A) v = -std::exp(std::log(0.05f) + ud(rng) * std::log(160.0f));
        for (auto& v : D) v = nd(rng);
        for (auto& v : bias) v = nd(rng) - 2.0f;
        for (auto& v : h0) v = nd(rng);
        krait::kernels::SsdParams p;
        p.length = c.L;
        p.heads = c.H;
        p.head_dim = c.P;
        p.groups = c.G;
        p.state = c.N;
        p.chunk = c.Q;
        p.x = x.data();
        p.x_stride = xs;
        p.dt = dt.data();
        p.dt_stride = ds;
        p.dt_bias = bias.data();
        if (c.clamp) p.dt_min = 0.01f, p.dt_max = 0.3f;
        p.A = A.data();
        p.B = bc.data();
        p.B_stride = bs;
        p.C = bc.data() + GN;
        p.C_stride = bs;
        p.D = D.data();
        p.y_stride = E;
        std::vector<float> y_ref(c.L * E), y_chk(c.L * E), h_ref = h0, h_chk = h0;
        p.h = h_ref.data();
        p.y = y_ref.data();
        krait::kernels::ssd_ref(p);
        p.h = h_chk.data();
        p.y = y_chk.data();
        // Heads split in two calls, as threads would.
        fn(p, 0, c.H / 2);
        fn(p, c.H / 2, c.H);
        const float tol = 1e-5f;
        const float ys = max_abs(y_ref), hs = max_abs(h_ref);
        for (size_t i = 0; i < y_ref.size(); ++i)
            ASSERT_NEAR(y_chk[i], y_ref[i], tol * ys) << "y at " << i;
        for (size_t i = 0; i < h_ref.size(); ++i)
            ASSERT_NEAR(h_chk[i], h_ref[i], tol * hs) << "state at " << i;
    }
}

TEST(SsdKernel, ChunkedMatchesRecurrence) { check_against_recurrence(krait::kernels::active().ssd_chunked); }

TEST(SsdKernel, ScanMatchesRecurrence) { check_against_recurrence(krait::kernels::active().ssd_scan); }

TEST(SsdKernel, RejectsBadShapes) {
    krait::kernels::SsdParams p;
    p.heads = 3;
    p.groups = 2;
    p.head_dim = 1;
    p.state = 1;
    EXPECT_THROW(krait::kernels::active().ssd_chunked(p, 0, 3), std::invalid_argument);
    EXPECT_THROW(krait::kernels::active().ssd_scan(p, 0, 3), std::invalid_argument);
}

TEST(SsdKernel, GatedRmsNormMatchesFormula) {
    // y * silu(z), normalised over 2 groups of 3.
    const float y[6] = {1, 2, 3, -1, 0.5f, 2}, z[6] = {0.5f, -1, 2, 1, 1, -0.5f}, w[6] = {1, 2, 1, 0.5f, 1, 1};
    float out[6];
    krait::kernels::active().gated_rms_norm(y, 6, z, 6, w, out, 6, 1, 6, 2, 1e-5f);
    for (int g = 0; g < 2; ++g) {
        float v[3], ss = 0;
        for (int i = 0; i < 3; ++i) {
            const float zz = z[g * 3 + i];
            v[i] = y[g * 3 + i] * zz / (1 + std::exp(-zz));
            ss += v[i] * v[i];
        }
        for (int i = 0; i < 3; ++i) EXPECT_NEAR(out[g * 3 + i], w[g * 3 + i] * v[i] / std::sqrt(ss / 3 + 1e-5f), 1e-6f);
    }
}

}  // namespace
