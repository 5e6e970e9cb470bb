#include "kernels/cpu/conv2d.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/gemm.h"

namespace krait::kernels {
KRAIT_VARIANT_BEGIN

namespace {

// Output positions o with 0 <= o * stride - padding + k < n: [first, last).
void valid_range(int64_t k, int64_t stride, int64_t padding, int64_t n, int64_t out, int64_t& first, int64_t& last) {
    // o * stride >= padding - k  and  o * stride <= n - 1 + padding - k
    const int64_t lo = padding - k, hi = n - 1 + padding - k;
    first = lo <= 0 ? 0 : (lo + stride - 1) / stride;
    last = hi < 0 ? 0 : std::min(out, hi / stride + 1);
    if (last < first) last = first;
}

}  // namespace

namespace {

// Sixteen floats in whatever registers the variant has (one zmm, two ymm, four xmm); any alignment.
typedef float Vec16 __attribute__((vector_size(64), aligned(4), may_alias));
constexpr int64_t kV = 16;
#define KRAIT_LOAD16(p) (*reinterpret_cast<const Vec16*>(p))
#define KRAIT_STORE16(p, v) (*reinterpret_cast<Vec16*>(p) = (v))

}  // namespace

// Each plane: the input is copied, zero padded, into S x S phase planes
//     B[rp][cp][i][j] = x_padded[i * S + rp][j * S + cp]   (row length Lq),
// so that output (oh, ow) = sum over taps (kh, kw) of w * B[kh % S][kw % S][oh + kh / S][ow + kw / S]:
// for every tap the outputs, flattened as oh * Lq + ow, read a contiguous run of one phase plane.
// The outputs are computed flattened, 16 lanes at a time (four vectors in flight, single vectors
// for the tail), the columns ow >= OW of each row discarded. Each output sums bias then its taps in
// (kh, kw) order, zeros standing in for the padding: no dependence on alignment or on how planes
// are split.
void conv2d_depthwise(const Conv2dParams& p, int64_t plane_begin, int64_t plane_end) {
    const int64_t mult = p.out_channels / p.in_channels;  // outputs per input channel
    const int64_t KH = p.kernel_h, KW = p.kernel_w, S = p.stride, P = p.padding;
    const int64_t OH = p.out_h, OW = p.out_w, H = p.in_h, W = p.in_w;
    if (OH <= 0 || OW <= 0) return;
    const int64_t Hp = H + 2 * P, Wp = W + 2 * P;
    const int64_t Lq = std::max((Wp + S - 1) / S, OW + (KW - 1) / S);
    const int64_t Hq = std::max((Hp + S - 1) / S, OH + (KH - 1) / S);
    const int64_t flat = (OH * Lq + kV - 1) / kV * kV;  // outputs computed, flattened
    const int64_t flat4 = flat / (4 * kV) * (4 * kV);   // those in blocks of four vectors
    const int64_t phase_floats = Hq * Lq + Lq + 4 * kV;  // + slack for the last block's reads
    thread_local std::vector<float> buf, out;
    if (buf.size() < static_cast<size_t>(S * S * phase_floats)) buf.resize(static_cast<size_t>(S * S * phase_floats));
    if (out.size() < static_cast<size_t>(flat)) out.resize(static_cast<size_t>(flat));
    float* B = buf.data();
    float* o = out.data();
    // Planes of one geometry write the same interior cells: the zero padding left by an earlier
    // call of this thread with the same geometry (and buffer) is still in place.
    thread_local int64_t zeroed[6] = {-1, -1, -1, -1, -1, -1};
    thread_local const float* zeroed_buf = nullptr;
    const int64_t key[6] = {H, W, P, S, Lq, Hq};
    if (zeroed_buf != B || !std::equal(key, key + 6, zeroed)) {
        std::fill(B, B + S * S * phase_floats, 0.0f);
        std::copy(key, key + 6, zeroed);
        zeroed_buf = B;
    }
    // Where tap (kh, kw) starts reading, relative to B (no divisions in the loops below).
    thread_local std::vector<int64_t> taps;
    taps.resize(static_cast<size_t>(KH * KW));
    for (int64_t kh = 0; kh < KH; ++kh)
        for (int64_t kw = 0; kw < KW; ++kw)
            taps[static_cast<size_t>(kh * KW + kw)] = ((kh % S) * S + kw % S) * phase_floats + (kh / S) * Lq + kw / S;
    const int64_t* tap = taps.data();
    const int64_t ntaps = KH * KW;
    const float* staged_x = nullptr;  // the channel plane in B (a multiplier > 1 reuses it)
    for (int64_t plane = plane_begin; plane < plane_end; ++plane) {
        const int64_t b = plane / p.out_channels, oc = plane % p.out_channels;
        const float* x = p.x + (b * p.in_channels + oc / mult) * H * W;
        const float* w = p.weight + oc * KH * KW;
        float* y = p.y + plane * OH * OW;
        if (x != staged_x) {
            // Interior only: the padding stays zero from the fill above (every plane writes the same cells).
            for (int64_t ih = 0; ih < H; ++ih) {
                const int64_t i = ih + P;
                const float* xr = x + ih * W;
                if (S == 1) {
                    std::copy(xr, xr + W, B + i * Lq + P);
                } else {
                    for (int64_t cp = 0; cp < S; ++cp) {  // columns j = iw + P with j % S == cp
                        const int64_t iw0 = ((cp - P) % S + S) % S;
                        float* dst = B + ((i % S) * S + cp) * phase_floats + (i / S) * Lq + (iw0 + P) / S;
                        const float* src = xr + iw0;
                        const int64_t n = (W - iw0 + S - 1) / S;
                        if (S == 2) {  // a constant stride: deinterleaved with vector shuffles
                            for (int64_t q = 0; q < n; ++q) dst[q] = src[2 * q];
                        } else {
                            for (int64_t q = 0; q < n; ++q) dst[q] = src[q * S];
                        }
                    }
                }
            }
            staged_x = x;
        }
        const float init = p.bias ? p.bias[oc] : 0.0f;
        for (int64_t f = flat4; f < flat; f += kV) {  // the tail, one vector at a time (small planes)
            Vec16 a0 = init - Vec16{};
            for (int64_t t = 0; t < ntaps; ++t) a0 += w[t] * KRAIT_LOAD16(B + tap[t] + f);
            KRAIT_STORE16(o + f, a0);
        }
        for (int64_t f = 0; f < flat4; f += 4 * kV) {
            Vec16 a0 = init - Vec16{}, a1 = a0, a2 = a0, a3 = a0;
            for (int64_t t = 0; t < ntaps; ++t) {  // taps in (kh, kw) order
                const float* src = B + tap[t] + f;
                const float wv = w[t];
                a0 += wv * KRAIT_LOAD16(src);
                a1 += wv * KRAIT_LOAD16(src + kV);
                a2 += wv * KRAIT_LOAD16(src + 2 * kV);
                a3 += wv * KRAIT_LOAD16(src + 3 * kV);
            }
            KRAIT_STORE16(o + f, a0);
            KRAIT_STORE16(o + f + kV, a1);
            KRAIT_STORE16(o + f + 2 * kV, a2);
            KRAIT_STORE16(o + f + 3 * kV, a3);
        }
        for (int64_t oh = 0; oh < OH; ++oh) std::copy(o + oh * Lq, o + oh * Lq + OW, y + oh * OW);
    }
}
#undef KRAIT_LOAD16
#undef KRAIT_STORE16

void conv2d_gemm_tile(const Conv2dParams& p, int64_t b, int64_t g, int64_t col_begin, int64_t col_end, float* cols) {
    const int64_t n = col_end - col_begin;
    if (n <= 0) return;
    const int64_t cin_g = p.in_channels / p.groups, cout_g = p.out_channels / p.groups;
    const int64_t KH = p.kernel_h, KW = p.kernel_w, K = cin_g * KH * KW;
    const int64_t H = p.in_h, W = p.in_w, OW = p.out_w, positions = p.out_h * p.out_w;
    const float* x = p.x + (b * p.in_channels + g * cin_g) * H * W;

    const float* rhs;
    int64_t rhs_stride;
    if (conv2d_is_pointwise(p)) {
        rhs = x + col_begin;  // [C_in/g, H*W] is already the im2col matrix
        rhs_stride = H * W;
    } else {
        // cols [K, n]: row (ic, kh, kw), column = output position (oh, ow).
        // Walked one output row at a time: the valid span of each row is a
        // contiguous (stride 1) or strided gather, the rest zero padding.
        const int64_t S = p.stride, P = p.padding;
        for (int64_t ic = 0; ic < cin_g; ++ic) {
            const float* xc = x + ic * H * W;
            for (int64_t kh = 0; kh < KH; ++kh) {
                for (int64_t kw = 0; kw < KW; ++kw) {
                    float* out = cols + ((ic * KH + kh) * KW + kw) * n;
                    int64_t first, last;
                    valid_range(kw, S, P, W, OW, first, last);
                    const int64_t shift = kw - P;
                    for (int64_t c = col_begin; c < col_end;) {
                        const int64_t oh = c / OW, ow0 = c % OW, ow1 = std::min(OW, ow0 + (col_end - c));
                        float* o = out + (c - col_begin);  // o[j] is column (oh, ow0 + j)
                        const int64_t ih = oh * S - P + kh;
                        const int64_t span = ow1 - ow0;
                        if (ih < 0 || ih >= H) {
                            std::fill(o, o + span, 0.0f);
                        } else {
                            const float* xr = xc + ih * W;
                            const int64_t a = std::clamp(first, ow0, ow1) - ow0;
                            const int64_t b = std::clamp(last, ow0 + a, ow1) - ow0;
                            std::fill(o, o + a, 0.0f);
                            if (S == 1) std::copy(xr + ow0 + a + shift, xr + ow0 + b + shift, o + a);
                            else
                                for (int64_t j = a; j < b; ++j) o[j] = xr[(ow0 + j) * S + shift];
                            std::fill(o + b, o + span, 0.0f);
                        }
                        c += ow1 - ow0;
                    }
                }
            }
        }
        rhs = cols;
        rhs_stride = n;
    }
    // Y[cout_g, n] = Wg[cout_g, K] X[K, n] as the packed GEMM's y = x W^T: the
    // conv weight is its x (rows = output channels) and the im2col block,
    // packed into panels of output positions, its W. Packing costs K * n
    // copies against cout_g * K * n multiply-adds, and the block is reused by
    // every output channel. Each worker thread keeps its own panel buffer.
    thread_local PackedWeights panels;
    pack_weights_strided(panels, rhs, n, K, /*stride_n=*/1, /*stride_k=*/rhs_stride);
    float* y = p.y + (b * p.out_channels + g * cout_g) * positions + col_begin;
    GemmParams gp;
    gp.rows = cout_g;
    gp.x = p.weight + g * cout_g * K;
    gp.x_stride = K;
    gp.weights = &panels;
    gp.y = y;
    gp.y_stride = positions;
    if (p.bias) {  // the bias is per output channel (a row here): start each row from it
        for (int64_t oc = 0; oc < cout_g; ++oc) std::fill(y + oc * positions, y + oc * positions + n, p.bias[g * cout_g + oc]);
        gp.accumulate = true;
    }
    gemm_packed(gp, 0, n);
}

KRAIT_VARIANT_END
}  // namespace krait::kernels
