// Optimised CPU kernels against their plain reference versions on random
// shapes (odd sizes, strides, state carried across calls).
//
// Tolerance: max |a - b| <= 1e-5 * max(1, max |b|) — fp32 rounding of
// differently ordered sums and of Eigen's vectorised exp (~1 ulp).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernels/cpu/dispatch.h"
#include "sdk/core/thread_pool.h"
#include "sdk/models/ops.h"

namespace {

std::vector<float> random_vector(std::mt19937& rng, size_t n, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, float rel = 1e-5f) {
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

TEST(Linear, MatchesReferenceOnRandomShapes) {
    std::mt19937 rng(1);
    krait::ThreadPool pool(2);
    const int64_t shapes[][3] = {{1, 7, 5}, {1, 768, 1536}, {3, 17, 33}, {37, 64, 129}, {130, 96, 200}};
    for (const auto& s : shapes) {
        for (bool strided : {false, true}) {
            for (bool accumulate : {false, true}) {
                const int64_t M = s[0], K = s[1], N = s[2];
                const int64_t xs = strided ? K + 3 : K, ys = strided ? N + 5 : N;
                auto x = random_vector(rng, M * xs), w = random_vector(rng, N * K), b = random_vector(rng, N);
                auto y0 = random_vector(rng, M * ys);
                auto y_ref = y0, y_opt = y0;
                krait::kernels::LinearParams p{M, K, N, x.data(), xs, w.data(), b.data(), y_ref.data(), ys, accumulate};
                krait::kernels::linear_ref(p);
                krait::run_linear(pool, {w.data(), b.data(), K, N}, x.data(), M, xs, y_opt.data(), ys, accumulate);
                SCOPED_TRACE("M=" + std::to_string(M) + " K=" + std::to_string(K) + " N=" + std::to_string(N));
                expect_close(y_opt, y_ref, 2e-5f);
            }
        }
    }
}

TEST(LoraUp, MatchesReferenceAndIgnoresTheColumnSplit) {
    std::mt19937 rng(5);
    const int64_t shapes[][3] = {{1, 4, 3072}, {1, 8, 80}, {3, 1, 17}, {37, 16, 129}, {256, 8, 1536}};  // rows, r, out
    for (const auto& s : shapes) {
        const int64_t rows = s[0], r = s[1], out = s[2], ts = r + 2, ys = out + 3;
        auto t = random_vector(rng, rows * ts), bt = random_vector(rng, r * out), y0 = random_vector(rng, rows * ys);
        auto y_ref = y0, y_whole = y0, y_split = y0;
        krait::kernels::LoraUpParams p{rows, r, t.data(), ts, bt.data(), out, y_ref.data(), ys};
        krait::kernels::lora_up_ref(p);
        p.y = y_whole.data();
        krait::kernels::active().lora_up(p, 0, out);
        p.y = y_split.data();  // odd cuts, in reverse order
        const int64_t cut1 = out / 3, cut2 = out - out / 5;
        krait::kernels::active().lora_up(p, cut2, out);
        krait::kernels::active().lora_up(p, cut1, cut2);
        krait::kernels::active().lora_up(p, 0, cut1);
        SCOPED_TRACE("rows=" + std::to_string(rows) + " r=" + std::to_string(r) + " out=" + std::to_string(out));
        expect_close(y_whole, y_ref, 1e-5f);
        EXPECT_EQ(y_split, y_whole);  // bitwise: the column split does not change any sum
    }
}

TEST(RmsNorm, MatchesDoublePrecision) {
    std::mt19937 rng(2);
    const int64_t rows = 5, dim = 77;
    auto x = random_vector(rng, rows * dim, -3, 3), w = random_vector(rng, dim);
    std::vector<float> y(rows * dim), want(rows * dim);
    krait::kernels::active().rms_norm(x.data(), dim, w.data(), y.data(), dim, rows, dim, 1e-5f);
    for (int64_t r = 0; r < rows; ++r) {
        double ss = 0;
        for (int64_t i = 0; i < dim; ++i) ss += double(x[r * dim + i]) * x[r * dim + i];
        const double inv = 1.0 / std::sqrt(ss / dim + 1e-5);
        for (int64_t i = 0; i < dim; ++i) want[r * dim + i] = float(w[i] * (x[r * dim + i] * inv));
    }
    expect_close(y, want);
}

struct ConvCase {
    int64_t L, C, K;
};

TEST(CausalConv1d, OptimisedMatchesReferenceWithHistory) {
    std::mt19937 rng(3);
    for (ConvCase cc : {ConvCase{1, 5, 4}, ConvCase{9, 33, 4}, ConvCase{40, 16, 3}, ConvCase{7, 19, 1}, ConvCase{3, 8, 6}}) {
        for (bool silu : {true, false}) {
            const int64_t L = cc.L, C = cc.C, K = cc.K, xs = 2 * C;
            auto x = random_vector(rng, L * xs), w = random_vector(rng, C * K), b = random_vector(rng, C);
            auto hist0 = random_vector(rng, (K - 1) * C);
            auto hist_ref = hist0, hist_opt = hist0;
            std::vector<float> y_ref(L * C), y_opt(L * C);
            krait::kernels::CausalConv1dParams p{L, C, K, x.data(), xs, w.data(), b.data(), hist_ref.data(), silu,
                                                 y_ref.data(), C};
            krait::kernels::causal_conv1d_ref(p);
            p.history = hist_opt.data();
            p.y = y_opt.data();
            // Two channel ranges, as two threads would run them.
            krait::kernels::active().causal_conv1d(p, 0, C / 2);
            krait::kernels::active().causal_conv1d(p, C / 2, C);
            SCOPED_TRACE("L=" + std::to_string(L) + " C=" + std::to_string(C) + " K=" + std::to_string(K));
            expect_close(y_opt, y_ref);
            expect_close(hist_opt, hist_ref, 0.0f);
        }
    }
}

TEST(CausalConv1d, SplitSequenceEqualsWholeSequence) {
    // Prefill in two pieces carrying the history == one pass from zero history.
    std::mt19937 rng(4);
    const int64_t L = 23, C = 12, K = 4, split = 10;
    auto x = random_vector(rng, L * C), w = random_vector(rng, C * K), b = random_vector(rng, C);
    std::vector<float> y_whole(L * C), y_split(L * C), hist((K - 1) * C, 0.0f);
    krait::kernels::CausalConv1dParams p{L, C, K, x.data(), C, w.data(), b.data(), nullptr, true, y_whole.data(), C};
    krait::kernels::causal_conv1d_ref(p);
    p.history = hist.data();
    p.length = split;
    p.y = y_split.data();
    krait::kernels::active().causal_conv1d(p, 0, C);
    p.length = L - split;
    p.x = x.data() + split * C;
    p.y = y_split.data() + split * C;
    krait::kernels::active().causal_conv1d(p, 0, C);
    expect_close(y_split, y_whole);
}

struct ScanCase {
    int64_t L, E, N;
    bool z, D, bias, softplus;
};

TEST(SelectiveScan, OptimisedMatchesReference) {
    std::mt19937 rng(5);
    const ScanCase cases[] = {{1, 8, 16, true, true, true, true},   {13, 37, 16, true, true, true, true},
                              {64, 48, 8, false, true, true, true}, {5, 17, 3, true, false, false, false},
                              {300, 24, 4, true, true, true, true}, {9, 64, 1, false, false, true, true}};
    for (const auto& sc : cases) {
        const int64_t L = sc.L, E = sc.E, N = sc.N;
        auto u = random_vector(rng, L * E), delta = random_vector(rng, L * E, -4, 1), bias = random_vector(rng, E, -3, 0);
        auto A = random_vector(rng, N * E, -8, -0.5f), B = random_vector(rng, L * 2 * N), D = random_vector(rng, E);
        auto z = random_vector(rng, L * E, -3, 3);
        if (!sc.softplus)
            for (auto& d : delta) d = std::fabs(d) * 0.1f;  // must be positive without softplus
        auto h0 = random_vector(rng, N * E);
        auto h_ref = h0, h_opt = h0;
        std::vector<float> y_ref(L * E), y_opt(L * E);
        krait::kernels::SelectiveScanParams p;
        p.length = L;
        p.channels = E;
        p.state = N;
        p.u = u.data();
        p.u_stride = E;
        p.delta = delta.data();
        p.delta_stride = E;
        p.delta_bias = sc.bias ? bias.data() : nullptr;
        p.delta_softplus = sc.softplus;
        p.A = A.data();
        p.B = B.data();  // B and C interleaved in one [L, 2N] buffer, as x_proj writes them
        p.B_stride = 2 * N;
        p.C = B.data() + N;
        p.C_stride = 2 * N;
        p.D = sc.D ? D.data() : nullptr;
        p.z = sc.z ? z.data() : nullptr;
        p.z_stride = E;
        p.h = h_ref.data();
        p.y = y_ref.data();
        p.y_stride = E;
        krait::kernels::selective_scan_ref(p);
        p.h = h_opt.data();
        p.y = y_opt.data();
        const int64_t mid = (E / 3 / 8) * 8;
        krait::kernels::active().selective_scan(p, 0, mid);
        krait::kernels::active().selective_scan(p, mid, E);
        SCOPED_TRACE("L=" + std::to_string(L) + " E=" + std::to_string(E) + " N=" + std::to_string(N));
        expect_close(y_opt, y_ref);
        expect_close(h_opt, h_ref);
    }
}

// With one state, h0 = 0 and u = B = C = 1 the scan's output is softplus(delta) itself: checked
// against log1p(exp(x)) in double over its whole range, including the tail where 1 + exp(x) rounds
// to 1 in fp32 (x < -17, where a plain log(1 + exp(x)) would return 0) and PyTorch's linear part
// above 20. Within 4 ulps (2.4e-7 relative) everywhere.
TEST(SelectiveScan, SoftplusIsAccurateAcrossItsRange) {
    std::vector<float> delta;
    for (float x = -60.0f; x <= 60.0f; x += 0.0625f) delta.push_back(x);
    for (float x : {-87.0f, -20.5f, -17.3f, -1e-3f, 0.0f, 1e-6f, 19.99f, 20.0f, 20.01f, 88.0f, 100.0f}) delta.push_back(x);
    const int64_t L = static_cast<int64_t>(delta.size());
    std::vector<float> ones(L, 1.0f), bc(2 * L, 1.0f), y(L), h(1, 0.0f);
    const float A = -1e-30f;  // exp(delta * A) == 1 in fp32: h_t = h_{t-1} + delta_t, so reset h each step
    for (int64_t t = 0; t < L; ++t) {
        krait::kernels::SelectiveScanParams p;
        p.length = 1, p.channels = 1, p.state = 1;
        p.u = ones.data(), p.u_stride = 1, p.delta = delta.data() + t, p.delta_stride = 1, p.delta_softplus = true;
        p.A = &A, p.B = bc.data(), p.B_stride = 2, p.C = bc.data() + 1, p.C_stride = 2;
        h[0] = 0.0f;
        p.h = h.data(), p.y = y.data() + t, p.y_stride = 1;
        krait::kernels::active().selective_scan(p, 0, 1);
    }
    for (int64_t t = 0; t < L; ++t) {
        const double x = delta[t];
        const double want = x > 20.0 ? x : std::log1p(std::exp(x));
        EXPECT_LE(std::fabs(y[t] - want), 2.4e-7 * want) << "softplus(" << x << ") = " << y[t] << ", want " << want;
    }
}

TEST(ThreadPool, CoversRangeExactlyOnce) {
    for (int threads : {1, 2, 3, 5}) {
        krait::ThreadPool pool(threads);
        for (int64_t n : {1, 7, 64, 1000}) {
            std::vector<int> hits(n, 0);
            pool.parallel_for(n, 16, [&](int64_t b, int64_t e) {
                for (int64_t i = b; i < e; ++i) ++hits[i];
            });
            for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i], 1) << "threads " << threads << " n " << n << " i " << i;
        }
    }
}

// A chunk that throws, on the calling thread or on a worker, makes parallel_for throw that exception
// after every other chunk is done or skipped (the job lives on the caller's stack): no thread ends,
// nothing runs after the call returns, and the pool keeps working. Repeated so that the chunks land
// on different threads.
TEST(ThreadPool, ExceptionInAChunkReachesTheCaller) {
    krait::ThreadPool pool(4);
    for (int round = 0; round < 200; ++round) {
        const int64_t failing = round % 4;  // the chunk [failing, failing + 1)
        std::atomic<int> running{0};
        EXPECT_THROW(pool.parallel_for(4, 1,
                                       [&](int64_t b, int64_t) {
                                           running.fetch_add(1);
                                           if (b == failing) {
                                               running.fetch_sub(1);
                                               throw std::runtime_error("chunk " + std::to_string(b));
                                           }
                                           running.fetch_sub(1);
                                       }),
                     std::runtime_error);
        ASSERT_EQ(running.load(), 0) << "a chunk was still running when parallel_for returned (round " << round << ")";
        std::vector<int> hits(64, 0);
        pool.parallel_for(64, 1, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) ++hits[static_cast<size_t>(i)];
        });
        ASSERT_EQ(std::count(hits.begin(), hits.end(), 1), 64) << "round " << round;
    }
}

// The pools of a process share one set of workers. Whatever the other callers do, a pool cuts a range
// into the same chunks (the results of a split computation depend only on them), covers it exactly
// once, and a chunk may itself call parallel_for without deadlocking.
namespace {
std::vector<std::pair<int64_t, int64_t>> chunks_of(const krait::ThreadPool& pool, int64_t n, int64_t grain) {
    std::mutex m;
    std::vector<std::pair<int64_t, int64_t>> seen;
    pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
        std::lock_guard<std::mutex> lock(m);
        seen.push_back({b, e});
    });
    std::sort(seen.begin(), seen.end());
    return seen;
}
}  // namespace

TEST(ThreadPool, SharedWorkersKeepChunksUnderConcurrentCallers) {
    EXPECT_EQ(krait::ThreadPool::shared_workers(), krait::ThreadPool::hardware_threads() - 1);
    const int sizes[] = {1, 2, 3, 8};
    std::vector<std::vector<std::pair<int64_t, int64_t>>> alone;
    for (int t : sizes) alone.push_back(chunks_of(krait::ThreadPool(t), 1000, 16));
    std::atomic<int> mismatches{0}, bad_cover{0};
    std::vector<std::thread> callers;
    for (int c = 0; c < 6; ++c) {
        callers.emplace_back([&, c] {
            const int which = c % 4;
            krait::ThreadPool pool(sizes[which]);
            krait::ThreadPool inner(2);
            for (int rep = 0; rep < 200; ++rep) {
                if (chunks_of(pool, 1000, 16) != alone[which]) ++mismatches;
                // Nested: every chunk runs a parallel_for of its own.
                std::vector<std::atomic<int>> hits(500);
                pool.parallel_for(5, 1, [&](int64_t b, int64_t e) {
                    for (int64_t i = b; i < e; ++i)
                        inner.parallel_for(100, 7, [&](int64_t ib, int64_t ie) {
                            for (int64_t j = ib; j < ie; ++j) hits[i * 100 + j].fetch_add(1);
                        });
                });
                for (auto& h : hits)
                    if (h.load() != 1) ++bad_cover;
            }
        });
    }
    for (auto& t : callers) t.join();
    EXPECT_EQ(mismatches.load(), 0);
    EXPECT_EQ(bad_cover.load(), 0);
}

TEST(Determinism, KernelsGiveBitwiseEqualResultsAtAnyBufferAlignment) {
    // Sessions must reproduce each other exactly, whatever addresses their
    // buffers get: run each kernel on copies shifted by 0..3 floats.
    std::mt19937 rng(6);
    const int64_t L = 11, E = 40, N = 16, K = 4;
    auto u = random_vector(rng, L * E + 8), delta = random_vector(rng, L * E + 8, -3, 1), A = random_vector(rng, N * E, -4, -1);
    auto BC = random_vector(rng, L * 2 * N), z = random_vector(rng, L * E + 8), D = random_vector(rng, E);
    auto w = random_vector(rng, E * K), bias = random_vector(rng, E);
    std::vector<std::vector<float>> scan_out, conv_out;
    for (int shift = 0; shift < 4; ++shift) {
        // The same values, placed `shift` floats further into a buffer.
        auto shifted = [shift](const std::vector<float>& v) {
            std::vector<float> out(v.size() + 4);
            std::copy(v.begin(), v.end(), out.begin() + shift);
            return out;
        };
        std::vector<float> us = shifted(u), ds = shifted(delta), zs = shifted(z);
        std::vector<float> y(L * E + 8), h(N * E + 8, 0.0f), yc(L * E + 8);
        krait::kernels::SelectiveScanParams p;
        p.length = L; p.channels = E; p.state = N;
        p.u = us.data() + shift; p.u_stride = E;
        p.delta = ds.data() + shift; p.delta_stride = E;
        p.A = A.data(); p.B = BC.data(); p.B_stride = 2 * N; p.C = BC.data() + N; p.C_stride = 2 * N;
        p.D = D.data(); p.z = zs.data() + shift; p.z_stride = E;
        p.h = h.data() + shift; p.y = y.data() + shift; p.y_stride = E;
        krait::kernels::active().selective_scan(p, 0, E);
        scan_out.emplace_back(y.begin() + shift, y.begin() + shift + L * E);
        krait::kernels::CausalConv1dParams c{L, E, K, us.data() + shift, E, w.data(), bias.data(), nullptr, true,
                                             yc.data() + shift, E};
        krait::kernels::active().causal_conv1d(c, 0, E);
        conv_out.emplace_back(yc.begin() + shift, yc.begin() + shift + L * E);
    }
    for (int shift = 1; shift < 4; ++shift) {
        EXPECT_EQ(scan_out[shift], scan_out[0]) << "selective_scan differs at shift " << shift;
        EXPECT_EQ(conv_out[shift], conv_out[0]) << "causal_conv1d differs at shift " << shift;
    }
}

TEST(Determinism, LinearGivesBitwiseEqualResultsAtAnyBufferAlignment) {
    std::mt19937 rng(7);
    for (int64_t M : {1, 3, 40}) {
        const int64_t K = 37, N = 29;
        auto x = random_vector(rng, M * K + 8), w = random_vector(rng, N * K + 8);
        std::vector<std::vector<float>> outs;
        for (int shift = 0; shift < 4; ++shift) {
            std::vector<float> xs(x.size() + 4), ws(w.size() + 4), y(M * N + 8);
            std::copy(x.begin(), x.end(), xs.begin() + shift);
            std::copy(w.begin(), w.end(), ws.begin() + shift);
            krait::kernels::LinearParams p{M, K, N, xs.data() + shift, K, ws.data() + shift, nullptr, y.data() + shift, N, false};
            krait::kernels::active().linear(p, 0, N);
            outs.emplace_back(y.begin() + shift, y.begin() + shift + M * N);
        }
        for (int shift = 1; shift < 4; ++shift) EXPECT_EQ(outs[shift], outs[0]) << "M=" << M << " shift " << shift;
    }
}

}  // namespace
