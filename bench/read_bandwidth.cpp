#include "read_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

namespace krait_bench {

double read_bandwidth_gbs(int threads, size_t bytes, int repeats) {
    using Clock = std::chrono::steady_clock;
    threads = std::max(threads, 1);
    const size_t n = bytes / sizeof(float);
    std::vector<float> buf(n, 1.0f);
    double best = 0;
    for (int r = 0; r < repeats; ++r) {
        std::vector<double> sums(static_cast<size_t>(threads));
        const auto t0 = Clock::now();
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t) {
            pool.emplace_back([&, t] {
                const size_t begin = n * static_cast<size_t>(t) / static_cast<size_t>(threads);
                const size_t end = n * static_cast<size_t>(t + 1) / static_cast<size_t>(threads);
                // 64 independent partial sums: several SIMD accumulators, so the loop is limited
                // by memory, not by the latency of one add chain.
                float acc[64] = {};
                for (size_t i = begin; i + 64 <= end; i += 64)
                    for (int k = 0; k < 64; ++k) acc[k] += buf[i + k];
                double s = 0;
                for (float a : acc) s += a;
                sums[static_cast<size_t>(t)] = s;
            });
        }
        for (auto& th : pool) th.join();
        const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
        double total = 0;
        for (double s : sums) total += s;
        if (total < 0) std::printf("%f", total);  // keeps the loads
        best = std::max(best, static_cast<double>(n * sizeof(float)) / dt / 1e9);
    }
    return best;
}

}  // namespace krait_bench
