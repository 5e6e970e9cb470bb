// The parts of the Winograd F(4x4, 3x3) convolution done once per model or
// per call, outside the kernel variants: the filter transform and the plan.
#include "kernels/cpu/winograd.h"

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/kernel_error.h"

namespace krait::kernels {

namespace {

// G [6][3] for the points 0, 1, -1, 1/2, -2, infinity (row j: (1, a_j, a_j^2) / prod_{l != j} (a_j - a_l)).
constexpr double kG[6][3] = {
    {1.0, 0.0, 0.0},
    {1.0 / 3, 1.0 / 3, 1.0 / 3},
    {-1.0 / 3, 1.0 / 3, -1.0 / 3},
    {-16.0 / 15, -8.0 / 15, -4.0 / 15},
    {1.0 / 15, -2.0 / 15, 4.0 / 15},
    {0.0, 0.0, 1.0},
};

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

}  // namespace

size_t Winograd43Weights::bytes() const {
    size_t total = 0;
    for (const PackedWeights& w : u) total += w.bytes();
    return total;
}

Winograd43Weights winograd43_pack(const float* weight, int64_t out_channels, int64_t in_channels) {
    if (!weight || out_channels <= 0 || in_channels <= 0)
        fail_kernel_argument("winograd43_pack: need a weight and positive channel counts, got " +
                      std::to_string(out_channels) + " x " + std::to_string(in_channels));
    Winograd43Weights w;
    w.in_channels = in_channels;
    w.out_channels = out_channels;
    w.u.reserve(kWinogradPositions);
    std::vector<float> u(static_cast<size_t>(out_channels * in_channels));
    for (int64_t xi = 0; xi < kWinogradPositions; ++xi) {
        const double* gr = kG[xi / 6];  // along the kernel's rows
        const double* gc = kG[xi % 6];  // along its columns
        for (int64_t oi = 0; oi < out_channels * in_channels; ++oi) {
            const float* g = weight + oi * 9;  // [3][3]
            double acc = 0.0;
            for (int a = 0; a < 3; ++a)
                for (int b = 0; b < 3; ++b) acc += gr[a] * static_cast<double>(g[a * 3 + b]) * gc[b];
            u[static_cast<size_t>(oi)] = static_cast<float>(acc);
        }
        w.u.push_back(pack_weights(u.data(), out_channels, in_channels));
    }
    return w;
}

Winograd43Plan winograd43_plan(const Winograd43Params& p, int64_t parallel) {
    if (!p.weights || p.weights->u.size() != static_cast<size_t>(kWinogradPositions))
        fail_kernel_argument("winograd43: no transformed weights");
    if (p.batch <= 0 || p.height <= 0 || p.width <= 0)
        fail_kernel_argument("winograd43: empty input " + std::to_string(p.batch) + " x " + std::to_string(p.height) + " x " +
                      std::to_string(p.width));
    Winograd43Plan plan;
    plan.tiles_h = (p.height + kWinogradOut - 1) / kWinogradOut;
    plan.tiles_w = (p.width + kWinogradOut - 1) / kWinogradOut;
    plan.tiles = plan.tiles_h * plan.tiles_w;
    plan.band_w = plan.tiles_w * kWinogradOut + 2;
    plan.in_lanes = round_up(p.weights->in_channels, kWinogradLanes);
    plan.out_lanes = round_up(p.weights->out_channels, kWinogradLanes);
    // Chunks of <= 48 tiles (four 12-row GEMM tiles): V and M of one chunk,
    // 36 * 48 * (C_in + C_out) floats, stay within the core's 1 MiB L2 up to
    // C_in + C_out = 144 and spill little beyond. At least one chunk per thread.
    const int64_t total = p.batch * plan.tiles;
    parallel = std::max<int64_t>(1, parallel);
    int64_t chunks = (total + 47) / 48;
    if (chunks < 4 * parallel) chunks = round_up(chunks, parallel);  // even shares when there are few
    plan.chunks = std::min(chunks, total);
    plan.chunk_tiles = (total + plan.chunks - 1) / plan.chunks;
    plan.work_floats =
        6 * plan.band_w * plan.in_lanes + kWinogradPositions * plan.chunk_tiles * (plan.in_lanes + plan.out_lanes);
    return plan;
}

}  // namespace krait::kernels
