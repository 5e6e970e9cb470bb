#include "kernels/cpu/winograd.h"

#include <algorithm>
#include <string>

#include "kernels/cpu/kernel_error.h"

namespace krait::kernels {
KRAIT_VARIANT_BEGIN

namespace {

constexpr int64_t L = kWinogradLanes;

// out_k = sum_i B^T[k][i] in_i for the six lane vectors in_i = in + i * in_step,
// written to out + k * out_step. B^T, rows:
//   [1, -3/2, -2, 3/2, 1, 0]  [0, -1, 1/2, 5/2, 1, 0]  [0, 1, -5/2, 1/2, 1, 0]
//   [0, -2, -1, 2, 1, 0]      [0, 1/2, -1, -1/2, 1, 0] [0, 1, -3/2, -2, 3/2, 1]
inline void input_transform_1d(const float* in, int64_t in_step, float* out, int64_t out_step) {
    for (int64_t l = 0; l < L; ++l) {
        const float d0 = in[l], d1 = in[in_step + l], d2 = in[2 * in_step + l], d3 = in[3 * in_step + l],
                    d4 = in[4 * in_step + l], d5 = in[5 * in_step + l];
        const float d31 = d3 - d1, d42 = d4 - d2;
        out[l] = d0 - 2.0f * d2 + d4 + 1.5f * d31;
        out[out_step + l] = d4 + 2.5f * d3 + 0.5f * d2 - d1;
        out[2 * out_step + l] = d4 + 0.5f * d3 - 2.5f * d2 + d1;
        out[3 * out_step + l] = d42 + 2.0f * d31;
        out[4 * out_step + l] = d42 - 0.5f * d31;
        out[5 * out_step + l] = d5 - 2.0f * d3 + 1.5f * d42 + d1;
    }
}

// out_r = sum_k A^T[r][k] in_k, A^T rows (powers of the points, the last column for infinity):
//   [1, 1, 1, 1, 1, 0]  [0, 1, -1, 1/2, -2, 0]  [0, 1, 1, 1/4, 4, 0]  [0, 1, -1, 1/8, -8, 1]
inline void output_transform_1d(const float* in, int64_t in_step, float* out, int64_t out_step) {
    for (int64_t l = 0; l < L; ++l) {
        const float m0 = in[l], m1 = in[in_step + l], m2 = in[2 * in_step + l], m3 = in[3 * in_step + l],
                    m4 = in[4 * in_step + l], m5 = in[5 * in_step + l];
        const float sum12 = m1 + m2, dif12 = m1 - m2;
        out[l] = m0 + sum12 + m3 + m4;
        out[out_step + l] = dif12 + 0.5f * m3 - 2.0f * m4;
        out[2 * out_step + l] = sum12 + 0.25f * m3 + 4.0f * m4;
        out[3 * out_step + l] = dif12 + 0.125f * m3 - 8.0f * m4 + m5;
    }
}

}  // namespace

namespace {

// Input rows 4 * ty - 1 .. 4 * ty + 4 of image b (those under tile row ty),
// channel-last: band[i][1 + col][c] = x[b, c, 4 ty - 1 + i, col], zero outside
// the image and in the padding lanes.
void stage_band(const Winograd43Params& p, const Winograd43Plan& plan, int64_t b, int64_t ty, float* band) {
    const int64_t C = p.weights->in_channels, H = p.height, W = p.width, lanes = plan.in_lanes;
    const int64_t row_floats = plan.band_w * lanes;
    for (int64_t i = 0; i < 6; ++i) {
        float* dst = band + i * row_floats;
        const int64_t ih = ty * kWinogradOut - 1 + i;
        if (ih < 0 || ih >= H) {
            std::fill(dst, dst + row_floats, 0.0f);
            continue;
        }
        std::fill(dst, dst + lanes, 0.0f);  // left border
        std::fill(dst + (W + 1) * lanes, dst + row_floats, 0.0f);  // right border and tail
        // Sixteen channel rows at a time, so the 16 floats of one pixel are written together.
        for (int64_t c0 = 0; c0 < lanes; c0 += L) {
            const int64_t n = std::max<int64_t>(0, std::min(L, C - c0));
            const float* src = p.x + ((b * C + c0) * H + ih) * W;
            for (int64_t col = 0; col < W; ++col) {
                float* px = dst + (col + 1) * lanes + c0;
                for (int64_t l = 0; l < n; ++l) px[l] = src[l * H * W + col];
                for (int64_t l = n; l < L; ++l) px[l] = 0.0f;
            }
        }
    }
}

}  // namespace

void winograd43_chunk(const Winograd43Params& p, const Winograd43Plan& plan, int64_t chunk, float* work) {
    const int64_t total = p.batch * plan.tiles;
    if (chunk < 0 || chunk >= plan.chunks)
        fail_kernel_argument("winograd43_chunk: chunk " + std::to_string(chunk) + " of " + std::to_string(plan.chunks));
    const int64_t g0 = total * chunk / plan.chunks, g1 = total * (chunk + 1) / plan.chunks;
    const int64_t rows = g1 - g0;
    const int64_t Cin_l = plan.in_lanes, Cout_l = plan.out_lanes, Cout = p.weights->out_channels;
    const int64_t H = p.height, W = p.width;
    // band [6][band_w][in_lanes], V [36][chunk_tiles][in_lanes], M [36][chunk_tiles][out_lanes]: row g - g0 of
    // position xi.
    float* band = work;
    float* V = band + 6 * plan.band_w * Cin_l;
    float* M = V + kWinogradPositions * plan.chunk_tiles * Cin_l;
    const int64_t v_step = plan.chunk_tiles * Cin_l, m_step = plan.chunk_tiles * Cout_l;
    alignas(64) float t[6 * 6 * L];

    // Input transform: V_xi = (B^T d B)_xi for each tile's 6x6 block d, 16 channels at a time.
    int64_t band_row = -1;  // (image, tile row) in the band
    for (int64_t g = g0; g < g1; ++g) {
        const int64_t b = g / plan.tiles, ty = g % plan.tiles / plan.tiles_w, tx = g % plan.tiles % plan.tiles_w;
        if (b * plan.tiles_h + ty != band_row) {
            stage_band(p, plan, b, ty, band);
            band_row = b * plan.tiles_h + ty;
        }
        const float* block = band + tx * kWinogradOut * Cin_l;
        float* v = V + (g - g0) * Cin_l;
        for (int64_t c0 = 0; c0 < Cin_l; c0 += L) {
            // Along each of the 6 rows (the row's pixels are Cin_l apart), then down each of the 6 columns.
            for (int64_t i = 0; i < 6; ++i)
                input_transform_1d(block + i * plan.band_w * Cin_l + c0, Cin_l, t + i * 6 * L, L);
            for (int64_t k = 0; k < 6; ++k) input_transform_1d(t + k * L, 6 * L, v + k * v_step + c0, 6 * v_step);
        }
    }

    // M_xi [rows, C_out] = V_xi [rows, C_in] U_xi^T, one packed GEMM per position.
    for (int64_t xi = 0; xi < kWinogradPositions; ++xi) {
        GemmParams gp;
        gp.rows = rows;
        gp.x = V + xi * v_step;
        gp.x_stride = Cin_l;
        gp.weights = &p.weights->u[static_cast<size_t>(xi)];
        gp.y = M + xi * m_step;
        gp.y_stride = Cout_l;
        gemm_packed(gp, 0, Cout);
    }

    // Output transform: Y = A^T M A (4x4 per tile), plus the bias, into y's channel planes.
    alignas(64) float s[6 * 4 * L], o[4 * 4 * L];
    for (int64_t g = g0; g < g1; ++g) {
        const int64_t b = g / plan.tiles, ty = g % plan.tiles / plan.tiles_w, tx = g % plan.tiles % plan.tiles_w;
        const int64_t oh0 = ty * kWinogradOut, ow0 = tx * kWinogradOut;
        const int64_t nh = std::min(kWinogradOut, H - oh0), nw = std::min(kWinogradOut, W - ow0);
        const float* m = M + (g - g0) * Cout_l;
        for (int64_t c0 = 0; c0 < Cout_l && c0 < Cout; c0 += L) {
            for (int64_t i = 0; i < 6; ++i) output_transform_1d(m + i * 6 * m_step + c0, m_step, s + i * 4 * L, L);
            for (int64_t c = 0; c < 4; ++c) output_transform_1d(s + c * L, 4 * L, o + c * L, 4 * L);
            const int64_t n = std::min(L, Cout - c0);
            if (p.bias)
                for (int64_t i = 0; i < 16; ++i)
                    for (int64_t l = 0; l < n; ++l) o[i * L + l] += p.bias[c0 + l];
            if (p.activation != ActivationKind::None) apply_activation(p.activation, o, 16 * L);
            for (int64_t l = 0; l < n; ++l) {
                const int64_t offset = ((b * Cout + c0 + l) * H + oh0) * W + ow0;
                float* plane = p.y + offset;
                if (p.residual) {
                    const float* res = p.residual + offset;
                    const float scale = p.residual_scale ? p.residual_scale[c0 + l] : 1.0f;
                    for (int64_t r = 0; r < nh; ++r)
                        for (int64_t c = 0; c < nw; ++c)
                            plane[r * W + c] = res[r * W + c] + scale * o[(r * 4 + c) * L + l];
                } else {
                    for (int64_t r = 0; r < nh; ++r)
                        for (int64_t c = 0; c < nw; ++c) plane[r * W + c] = o[(r * 4 + c) * L + l];
                }
            }
        }
    }
}

KRAIT_VARIANT_END
}  // namespace krait::kernels
