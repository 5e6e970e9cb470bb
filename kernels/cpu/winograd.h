// 3x3 convolutions with stride 1, padding 1 and one group (MambaVision's
// ConvBlocks) by Winograd's minimal filtering F(4x4, 3x3): each 4x4 block of
// outputs is computed from a 6x6 block of inputs as
//     Y = A^T [ sum over input channels of (G g G^T) .* (B^T d B) ] A
// i.e. 36 element-wise products per input/output channel pair instead of
// 4 * 4 * 9 = 144 multiply-adds: a quarter of the direct convolution's.
// The sum over input channels at each of the 36 transform positions xi is a
// GEMM  M_xi[tiles, C_out] = V_xi[tiles, C_in] U_xi^T  on the packed GEMM
// (kernels/cpu/gemm.h), with U_xi = (G g G^T)_xi packed ONCE at load.
//
// Interpolation points 0, 1, -1, 1/2, -2 (and infinity). With Lavin's
// 0, +-1, +-2 the fp32 error on a 160-channel layer is ~7.5e-6 of the
// largest output; these points give ~3.3e-6 (direct convolution: ~5e-7;
// Barabasz et al., "Error analysis and improving the accuracy of Winograd
// convolution for deep neural networks", 2020).
//
// Layouts as kernels/cpu/conv2d.h: x [B, C_in, H, W], y [B, C_out, H, W]
// (the output is the input's size), contiguous. The reference to test
// against is conv2d_ref.
#pragma once

#include "kernels/cpu/variant.h"

#include <cstdint>
#include <vector>

#include "kernels/cpu/activation_kernels.h"
#include "kernels/cpu/gemm.h"

namespace krait::kernels {

// Transform positions (6 x 6) and the output block (4 x 4) of F(4x4, 3x3).
inline constexpr int64_t kWinogradPositions = 36;
inline constexpr int64_t kWinogradOut = 4;
// Channels are handled in blocks of this many lanes (padded with zeros).
inline constexpr int64_t kWinogradLanes = 16;

// The transformed filters: u[xi] packs U_xi [C_out, C_in] for gemm_packed.
// 4x the size of the 3x3 weights. Immutable after packing, shared read-only.
struct Winograd43Weights {
    int64_t in_channels = 0, out_channels = 0;
    std::vector<PackedWeights> u;  // kWinogradPositions entries
    size_t bytes() const;
};

// weight [C_out, C_in, 3, 3] (nn.Conv2d, groups 1). Transforms in double.
Winograd43Weights winograd43_pack(const float* weight, int64_t out_channels, int64_t in_channels);

struct Winograd43Params {
    int64_t batch = 0, height = 0, width = 0;  // output size = input size
    const float* x = nullptr;                  // [batch, C_in, height, width]
    const Winograd43Weights* weights = nullptr;
    const float* bias = nullptr;  // [C_out] or nullptr
    float* y = nullptr;           // [batch, C_out, height, width]; must not overlap x
    // Epilogue, applied while each 4x4 block is still in registers (saves a
    // pass over y for each): y = residual + residual_scale[c] * act(conv + bias).
    ActivationKind activation = ActivationKind::None;
    const float* residual = nullptr;        // [batch, C_out, height, width] or nullptr; may alias y, not x
    const float* residual_scale = nullptr;  // [C_out] or nullptr (1); only with a residual
};

// How a call is cut up: tiles (4x4 output blocks, numbered over the batch in
// (image, tile row, tile column) order) in `chunks` chunks of at most
// `chunk_tiles` (sizes differ by at most one). winograd43_chunk runs one
// chunk: for each tile row it meets, the 6 input rows under it are copied
// channel-last with zero borders into a small band (so a block of 16
// channels of one pixel is one vector load, from L1/L2); then the input
// transform into V, 36 GEMMs, the output transform into y. Chunks are
// independent; each needs its own `work` of work_floats.
struct Winograd43Plan {
    int64_t tiles_h = 0, tiles_w = 0, tiles = 0;  // per image: ceil(H / 4) x ceil(W / 4)
    int64_t band_w = 0;                           // 4 * tiles_w + 2 pixels per band row (borders, tail)
    int64_t in_lanes = 0, out_lanes = 0;          // C_in, C_out rounded up to kWinogradLanes
    int64_t chunk_tiles = 0, chunks = 0;
    int64_t work_floats = 0;  // per chunk in flight: the band, V and M
};

// `parallel` = threads that will run chunks: there are at least
// min(parallel, tiles in the batch) chunks, and a multiple of `parallel` when
// the batch has fewer than 4 chunks of 48 tiles per thread (even shares).
// Throws krait::Error (KRAIT_ERR_INVALID_ARGUMENT) on missing weights or an
// empty input.
Winograd43Plan winograd43_plan(const Winograd43Params& p, int64_t parallel);

// Chunk `chunk` in [0, plan.chunks); `work`: work_floats of scratch.
KRAIT_VARIANT_BEGIN
void winograd43_chunk(const Winograd43Params& p, const Winograd43Plan& plan, int64_t chunk, float* work);
KRAIT_VARIANT_END

}  // namespace krait::kernels
