#include "kernels/cpu/conv2d.h"

#include <algorithm>

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

void conv2d_depthwise(const Conv2dParams& p, int64_t plane_begin, int64_t plane_end) {
    const int64_t mult = p.out_channels / p.in_channels;  // outputs per input channel
    const int64_t KH = p.kernel_h, KW = p.kernel_w, S = p.stride, P = p.padding;
    const int64_t OH = p.out_h, OW = p.out_w, H = p.in_h, W = p.in_w;
    for (int64_t plane = plane_begin; plane < plane_end; ++plane) {
        const int64_t b = plane / p.out_channels, oc = plane % p.out_channels;
        const float* x = p.x + (b * p.in_channels + oc / mult) * H * W;
        const float* w = p.weight + oc * KH * KW;
        float* y = p.y + plane * OH * OW;
        const float init = p.bias ? p.bias[oc] : 0.0f;
        for (int64_t oh = 0; oh < OH; ++oh) {
            float* yr = y + oh * OW;
            std::fill(yr, yr + OW, init);
            for (int64_t kh = 0; kh < KH; ++kh) {
                const int64_t ih = oh * S - P + kh;
                if (ih < 0 || ih >= H) continue;
                const float* xr = x + ih * W;
                for (int64_t kw = 0; kw < KW; ++kw) {
                    const float wv = w[kh * KW + kw];
                    int64_t first, last;
                    valid_range(kw, S, P, W, OW, first, last);
                    const int64_t shift = kw - P;
                    // Each output element sums its taps in (kh, kw) order
                    // whatever the vectorisation: no dependence on alignment.
                    if (S == 1) {
                        for (int64_t ow = first; ow < last; ++ow) yr[ow] += wv * xr[ow + shift];
                    } else {
                        for (int64_t ow = first; ow < last; ++ow) yr[ow] += wv * xr[ow * S + shift];
                    }
                }
            }
        }
    }
}

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
