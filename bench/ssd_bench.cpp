// krait-bench-ssd: one-thread times of the Mamba-2 SSD kernels on the Mamba-2-130m mixer shape
// (24 heads of 64, N 128, one group), per kernel variant the CPU runs: the chunked algorithm
// (ssd_chunked) against the vectorised recurrence (ssd_scan), for calls of L tokens, the chunks of Q = 256 (the checkpoint's), 128 and 64 tokens.
//
//   krait-bench-ssd [L ...]      (default: 1 16 64 256)
//
// White-box (links the core): how mamba2.cpp's kScanMaxTokens was chosen.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/ssd.h"

int main(int argc, char** argv) {
    using namespace krait::kernels;
    std::vector<int64_t> lengths;
    for (int i = 1; i < argc; ++i) lengths.push_back(std::atoll(argv[i]));
    if (lengths.empty()) lengths = {1, 16, 64, 256};
    const int64_t H = 24, P = 64, N = 128, G = 1, E = H * P, CD = E + 2 * G * N;
    std::mt19937 rng(1);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (CpuVariant v : runnable_variants()) {
        const KernelTable& k = *kernel_table(v);
        for (int64_t L : lengths) {
            std::vector<float> xbc(L * CD), dt(L * H), A(H), D(H), bias(H), h(H * P * N, 0.0f), y(L * E);
            for (auto& f : xbc) f = nd(rng) * 0.5f;
            for (auto& f : dt) f = nd(rng) - 1.0f;
            for (int64_t i = 0; i < H; ++i) A[i] = -std::exp(nd(rng)), D[i] = nd(rng), bias[i] = nd(rng) - 2.0f;
            SsdParams p;
            p.length = L, p.heads = H, p.head_dim = P, p.groups = G, p.state = N, p.chunk = 256;
            p.x = xbc.data(), p.x_stride = CD, p.dt = dt.data(), p.dt_stride = H, p.dt_bias = bias.data();
            p.A = A.data(), p.B = xbc.data() + E, p.B_stride = CD, p.C = xbc.data() + E + G * N, p.C_stride = CD;
            p.D = D.data(), p.h = h.data(), p.y = y.data(), p.y_stride = E;
            for (int which = 0; which < 4; ++which) {
                auto fn = which ? k.ssd_chunked : k.ssd_scan;
                const int64_t chunks[4] = {256, 256, 128, 64};
                p.chunk = chunks[which];
                fn(p, 0, H);  // warm-up
                const int reps = static_cast<int>(std::max<int64_t>(3, 2048 / L));
                std::vector<double> times;
                for (int r = 0; r < 5; ++r) {
                    const auto t0 = std::chrono::steady_clock::now();
                    for (int i = 0; i < reps; ++i) fn(p, 0, H);
                    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps);
                }
                std::sort(times.begin(), times.end());
                std::printf("%-8s %-7s Q %3lld L %4lld: %9.1f us per call (one layer), %7.2f us per token\n", k.name,
                            which ? "chunked" : "scan", static_cast<long long>(p.chunk), static_cast<long long>(L), times[2] * 1e6,
                            times[2] * 1e6 / static_cast<double>(L));
            }
        }
    }
}
