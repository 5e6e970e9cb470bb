// The neural-network operators: Conv, BatchNormalization, MaxPool, AveragePool,
// GlobalAveragePool, Gemm, MatMul, LayerNormalization, Softmax. The heavy ones run on Krait's
// kernels: constant weights are packed once in prepare() (node.prepared) — Linear panels for the
// packed GEMM, Winograd filters for 3x3 convs — and every kernel splits its work over ctx.pool.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include <Eigen/Core>

#include "kernels/cpu/dispatch.h"
#include "sdk/core/error.h"
#include "sdk/models/blocks.h"
#include "sdk/models/ops.h"
#include "sdk/onnx/onnx_fusions.h"
#include "sdk/onnx/onnx_ops.h"

namespace krait::onnx {

namespace nn_detail {

namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapMat = Eigen::Map<RowMat>;
using CMapMat = Eigen::Map<const RowMat>;

template <class T>
void grow(std::vector<T>& v, size_t n) {
    if (v.size() < n) v.resize(n);
}

const Tensor* opt_input(const std::vector<const Tensor*>& inputs, size_t i) {
    return i < inputs.size() && inputs[i] && inputs[i]->defined() ? inputs[i] : nullptr;
}

bool output_wanted(const Node& node, size_t i) { return i < node.outputs.size() && node.outputs[i] >= 0; }

const Value* const_input(const Node& node, const Graph& graph, size_t i) {
    if (i >= node.inputs.size() || node.inputs[i] < 0) return nullptr;
    const Value& v = graph.values[static_cast<size_t>(node.inputs[i])];
    return v.is_constant && v.constant.defined() && v.constant.type() == ElemType::Float ? &v : nullptr;
}

bool native_activation(ActKind k, Activation& out) {
    switch (k) {
        case ActKind::None: out = Activation::None; return true;
        case ActKind::Relu: out = Activation::Relu; return true;
        case ActKind::Silu: out = Activation::Silu; return true;
        case ActKind::GeluErf: out = Activation::GeluErf; return true;
        case ActKind::GeluTanh: out = Activation::GeluTanh; return true;
        default: return false;
    }
}

}  // namespace

Act read_act(const Node& node, const std::string& prefix) {
    Act a;
    a.kind = static_cast<ActKind>(node.attr_int(prefix + "act", 0));
    a.a = node.attr_float(prefix + "act_a", 0.0f);
    a.b = node.attr_float(prefix + "act_b", 0.0f);
    return a;
}

void write_act(Node& node, const std::string& prefix, const Act& act) {
    Attribute k;
    k.kind = Attribute::Kind::Int;
    k.i = static_cast<int64_t>(act.kind);
    node.attributes[prefix + "act"] = k;
    Attribute a;
    a.kind = Attribute::Kind::Float;
    a.f = act.a;
    node.attributes[prefix + "act_a"] = a;
    a.f = act.b;
    node.attributes[prefix + "act_b"] = a;
}

void apply_act(const Act& act, float* x, int64_t n) {
    switch (act.kind) {
        case ActKind::None: return;
        case ActKind::Relu:
            for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
            return;
        case ActKind::Clip: {
            const float lo = act.a, hi = act.b;
            for (int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(x[i], lo), hi);
            return;
        }
        case ActKind::HardSigmoid: {
            const float al = act.a, be = act.b;
            for (int64_t i = 0; i < n; ++i) x[i] = std::max(0.0f, std::min(1.0f, al * x[i] + be));
            return;
        }
        case ActKind::HardSwish:
            for (int64_t i = 0; i < n; ++i) x[i] = x[i] * std::max(0.0f, std::min(1.0f, x[i] * (1.0f / 6.0f) + 0.5f));
            return;
        case ActKind::Sigmoid: {
            Eigen::Map<Eigen::ArrayXf> m(x, n);
            m = 1.0f / (1.0f + (-m).exp());
            return;
        }
        case ActKind::LeakyRelu:
            for (int64_t i = 0; i < n; ++i) x[i] = x[i] < 0.0f ? act.a * x[i] : x[i];
            return;
        case ActKind::Silu: kernels::active().apply_activation(kernels::ActivationKind::Silu, x, n); return;
        case ActKind::GeluErf: kernels::active().apply_activation(kernels::ActivationKind::GeluErf, x, n); return;
        case ActKind::GeluTanh: kernels::active().apply_activation(kernels::ActivationKind::GeluTanh, x, n); return;
    }
}

namespace {

// pre-activation, then + residual, then post-activation, over one contiguous span.
struct Epilogue {
    Act pre, post;
    const float* residual = nullptr;
    bool empty() const { return pre.kind == ActKind::None && post.kind == ActKind::None && !residual; }
    void apply(float* y, int64_t offset, int64_t n) const {
        if (residual && (pre.kind == ActKind::None || pre.kind == ActKind::Relu) &&
            (post.kind == ActKind::None || post.kind == ActKind::Relu)) {
            // The usual residual block tail (conv + x, then Relu): one pass instead of three.
            float* v = y + offset;
            const float* r = residual + offset;
            const bool relu1 = pre.kind == ActKind::Relu, relu2 = post.kind == ActKind::Relu;
            if (relu1 && relu2) {
                for (int64_t i = 0; i < n; ++i) {
                    const float t = (v[i] > 0.0f ? v[i] : 0.0f) + r[i];
                    v[i] = t > 0.0f ? t : 0.0f;
                }
            } else if (relu1) {
                for (int64_t i = 0; i < n; ++i) v[i] = (v[i] > 0.0f ? v[i] : 0.0f) + r[i];
            } else if (relu2) {
                for (int64_t i = 0; i < n; ++i) {
                    const float t = v[i] + r[i];
                    v[i] = t > 0.0f ? t : 0.0f;
                }
            } else {
                for (int64_t i = 0; i < n; ++i) v[i] += r[i];
            }
            return;
        }
        apply_act(pre, y + offset, n);
        if (residual) {
            const float* r = residual + offset;
            for (int64_t i = 0; i < n; ++i) y[offset + i] += r[i];
        }
        apply_act(post, y + offset, n);
    }
};

void epilogue_pass(ThreadPool& pool, const Epilogue& e, float* y, int64_t n) {
    if (e.empty() || n <= 0) return;
    pool.parallel_for(n, 16384, [&](int64_t b, int64_t en) { e.apply(y, b, en - b); });
}

// ---------------------------------------------------------------- spatial geometry

struct Spatial {
    std::vector<int64_t> in, kernel, stride, dilation, pad_begin, pad_end, out;
};

// Fills pads and output sizes from the node's auto_pad / pads / ceil_mode.
void spatial_geometry(const Node& node, Spatial& s, bool ceil_mode) {
    const size_t n = s.in.size();
    const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
    std::vector<int64_t> pads = node.attr_ints("pads", {});
    s.pad_begin.assign(n, 0);
    s.pad_end.assign(n, 0);
    s.out.assign(n, 0);
    if (auto_pad == "NOTSET" || auto_pad.empty()) {
        if (!pads.empty()) {
            if (pads.size() != 2 * n) fail_node(node, "pads has " + std::to_string(pads.size()) + " values, expected " + std::to_string(2 * n));
            for (size_t i = 0; i < n; ++i) {
                s.pad_begin[i] = pads[i];
                s.pad_end[i] = pads[i + n];
                if (pads[i] < 0 || pads[i + n] < 0) fail_node(node, "negative pads are not supported");
            }
        }
    } else if (auto_pad != "VALID" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER") {
        fail_node(node, "unknown auto_pad '" + auto_pad + "'");
    }
    for (size_t i = 0; i < n; ++i) {
        const int64_t eff = s.dilation[i] * (s.kernel[i] - 1) + 1;
        if (s.stride[i] <= 0 || s.kernel[i] <= 0 || s.dilation[i] <= 0)
            fail_node(node, "non-positive kernel, stride or dilation");
        if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
            const int64_t out = (s.in[i] + s.stride[i] - 1) / s.stride[i];
            const int64_t total = std::max<int64_t>(0, (out - 1) * s.stride[i] + eff - s.in[i]);
            s.pad_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
            s.pad_end[i] = total - s.pad_begin[i];
            s.out[i] = out;
            continue;
        }
        const int64_t span = s.in[i] + s.pad_begin[i] + s.pad_end[i] - eff;
        if (span < 0) fail_node(node, "the kernel is larger than the padded input");
        int64_t out = (ceil_mode ? (span + s.stride[i] - 1) / s.stride[i] : span / s.stride[i]) + 1;
        if (ceil_mode && (out - 1) * s.stride[i] >= s.in[i] + s.pad_begin[i]) --out;
        s.out[i] = out;
    }
}

// ---------------------------------------------------------------- Conv

struct ConvPrep {
    Tensor weight;  // keeps the constant alive
    PackedStore store;
    const kernels::Winograd43Weights* winograd = nullptr;
};

struct ConvGeom {
    int64_t N = 0, C = 0, H = 1, W = 1, M = 0, kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
    int64_t pt = 0, pl = 0, pb = 0, pr = 0, oh = 1, ow = 1, group = 1;
    int spatial = 2;
};

ConvGeom conv_geometry(const Node& node, const Shape& x, const Shape& w) {
    if (x.size() != 3 && x.size() != 4)
        fail_unsupported(node.describe() + ": Krait runs 1-D and 2-D convolutions only (input " + shape_string(x) + ")");
    if (w.size() != x.size()) fail_node(node, "weight " + shape_string(w) + " does not match input " + shape_string(x));
    ConvGeom g;
    g.spatial = static_cast<int>(x.size()) - 2;
    g.N = x[0];
    g.C = x[1];
    g.M = w[0];
    g.group = node.attr_int("group", 1);
    if (g.group <= 0 || g.C % g.group != 0 || g.M % g.group != 0 || w[1] * g.group != g.C)
        fail_node(node, "input " + shape_string(x) + ", weight " + shape_string(w) + " and group " +
                            std::to_string(g.group) + " do not match");
    Spatial s;
    const size_t n = x.size() - 2;
    for (size_t i = 0; i < n; ++i) s.in.push_back(x[2 + i]);
    s.kernel = node.attr_ints("kernel_shape", {});
    if (s.kernel.empty())
        for (size_t i = 0; i < n; ++i) s.kernel.push_back(w[2 + i]);
    if (s.kernel.size() != n)  // before reading s.kernel[i] below
        fail_node(node, "kernel_shape has " + std::to_string(s.kernel.size()) + " values, expected " + std::to_string(n));
    for (size_t i = 0; i < n; ++i)
        if (s.kernel[i] != w[2 + i]) fail_node(node, "kernel_shape does not match the weight " + shape_string(w));
    s.stride = node.attr_ints("strides", std::vector<int64_t>(n, 1));
    s.dilation = node.attr_ints("dilations", std::vector<int64_t>(n, 1));
    if (s.kernel.size() != n || s.stride.size() != n || s.dilation.size() != n)
        fail_node(node, "kernel_shape, strides or dilations of the wrong length");
    spatial_geometry(node, s, false);
    if (n == 2) {
        g.H = s.in[0]; g.W = s.in[1];
        g.kh = s.kernel[0]; g.kw = s.kernel[1];
        g.sh = s.stride[0]; g.sw = s.stride[1];
        g.dh = s.dilation[0]; g.dw = s.dilation[1];
        g.pt = s.pad_begin[0]; g.pl = s.pad_begin[1]; g.pb = s.pad_end[0]; g.pr = s.pad_end[1];
        g.oh = s.out[0]; g.ow = s.out[1];
    } else {
        g.W = s.in[0]; g.kw = s.kernel[0]; g.sw = s.stride[0]; g.dw = s.dilation[0];
        g.pl = s.pad_begin[0]; g.pr = s.pad_end[0]; g.ow = s.out[0];
    }
    return g;
}

// A conv with one stride and one padding for both axes, dilation 1: Krait's kernels, with the
// epilogue applied tile by tile while the output is still in cache.
void conv_fast(ThreadPool& pool, const ConvGeom& g, int64_t stride, int64_t pad, int64_t H, int64_t W, const float* x,
               const float* weight, const float* bias, const kernels::Winograd43Weights* winograd, float* y,
               const Epilogue& epi, std::vector<float>& scratch) {
    const int64_t P = g.oh * g.ow;
    // Winograd only on enough 4x4 tiles: every chunk streams all 36 transformed weight matrices (4x
    // the 3x3 weights), so on a few tiles (ResNet's 14x14 and 7x7 stages at batch 1) it is bound by
    // weight traffic and im2col + GEMM is faster at 2 threads. A fixed count, not one per thread, so
    // the path (and the bits) do not depend on the thread count.
    const int64_t wino_tiles = g.N * ((g.oh + 3) / 4) * ((g.ow + 3) / 4);
    if (winograd && g.kh == 3 && g.kw == 3 && stride == 1 && pad == 1 && g.group == 1 && wino_tiles >= 32) {
        Conv2dWeights cw;
        cw.weight = weight;
        cw.bias = bias;
        cw.in_channels = g.C;
        cw.out_channels = g.M;
        cw.kernel_h = cw.kernel_w = 3;
        cw.stride = 1;
        cw.padding = 1;
        cw.winograd = winograd;
        ConvEpilogue ce;
        Activation a;
        if (epi.post.kind == ActKind::None && native_activation(epi.pre.kind, a)) {
            ce.activation = a;
            ce.residual = epi.residual;
            run_conv2d(pool, cw, x, g.N, H, W, y, scratch, nullptr, ce);
        } else {
            run_conv2d(pool, cw, x, g.N, H, W, y, scratch);
            epilogue_pass(pool, epi, y, g.N * g.M * P);
        }
        return;
    }
    kernels::Conv2dParams p;
    p.batch = g.N;
    p.in_channels = g.C;
    p.out_channels = g.M;
    p.groups = g.group;
    p.in_h = H;
    p.in_w = W;
    p.kernel_h = g.kh;
    p.kernel_w = g.kw;
    p.stride = stride;
    p.padding = pad;
    p.out_h = g.oh;
    p.out_w = g.ow;
    p.x = x;
    p.weight = weight;
    p.bias = bias;
    p.y = y;
    if (g.N <= 0 || P <= 0) return;
    if (P == 1 && g.group == 1 && g.kh == 1 && g.kw == 1 && pad == 0 && H == 1 && W == 1) {
        // 1x1 on a 1x1 image (squeeze-excitation): y = W x + b, a matrix-vector product per image.
        // (The GEMM path would pad the single column to a 32-wide panel.)
        // Eight partial sums in a fixed order: the same bits however the channels are split.
        pool.parallel_for(g.M, 64, [&](int64_t m0, int64_t m1) {
            for (int64_t n = 0; n < g.N; ++n) {
                const float* xv = x + n * g.C;
                for (int64_t m = m0; m < m1; ++m) {
                    const float* wr = weight + m * g.C;
                    float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
                    int64_t k = 0;
                    for (; k + 8 <= g.C; k += 8)
                        for (int j = 0; j < 8; ++j) acc[j] += wr[k + j] * xv[k + j];
                    for (; k < g.C; ++k) acc[k % 8] += wr[k] * xv[k];
                    const float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
                    y[n * g.M + m] = (bias ? bias[m] : 0.0f) + sum;
                }
                if (!epi.empty()) epi.apply(y, n * g.M + m0, m1 - m0);
            }
        });
        return;
    }
    if (g.C == g.group) {
        // Planes claimed a few at a time (a thread slowed down by another process takes fewer), as
        // many as fit in ~64 KiB (the epilogue then runs on them while they are in cache, in one call).
        const int64_t planes = g.N * g.M;
        const int64_t step = std::max<int64_t>(1, std::min<int64_t>(16384 / P, planes / (4 * pool.size())));
        std::atomic<int64_t> next{0};
        pool.parallel_for(pool.size(), 1, [&](int64_t, int64_t) {
            for (int64_t b = next.fetch_add(step); b < planes; b = next.fetch_add(step)) {
                const int64_t e = std::min(planes, b + step);
                kernels::active().conv2d_depthwise(p, b, e);
                if (!epi.empty()) epi.apply(y, b * P, (e - b) * P);
            }
        });
        return;
    }
    const int64_t images = g.N * g.group;
    const int64_t slots = pool.size();
    if (g.group == 1 && slots > 1 && kernels::conv2d_is_pointwise(p) && images * ((P + 255) / 256) < 2 * slots &&
        g.M >= 24 * slots) {
        // 1x1 convs on few output positions (late stages at batch 1): tiles of columns would leave
        // threads idle or each pad its last 32-column panel, so every thread takes all the positions
        // of an image for a block of output channels (a multiple of the GEMM's 12-row tiles); each
        // packs the (small) activation itself. The sub-problem is the same convolution with fewer
        // output channels: its weight, bias and output rows offset. (With im2col the duplicated
        // gather costs more than it saves: 3x3 convs keep the column split.)
        const int64_t row_blocks = std::max<int64_t>(1, slots / g.N);
        const int64_t rb = (g.M + row_blocks * 12 - 1) / (row_blocks * 12) * 12;
        const int64_t blocks = (g.M + rb - 1) / rb;
        const int64_t K = g.C * g.kh * g.kw;
        const int64_t per_item = kernels::conv2d_im2col_floats(p, P);
        grow(scratch, static_cast<size_t>(std::max<int64_t>(1, slots * per_item)));
        float* scratch_data = scratch.data();
        const int64_t items = g.N * blocks;
        pool.parallel_for(slots, 1, [&](int64_t slot_begin, int64_t slot_end) {
            for (int64_t slot = slot_begin; slot < slot_end; ++slot) {
                float* cols = scratch_data + slot * per_item;
                for (int64_t it = items * slot / slots; it < items * (slot + 1) / slots; ++it) {
                    const int64_t b = it / blocks, r0 = it % blocks * rb, r1 = std::min(g.M, r0 + rb);
                    kernels::Conv2dParams q = p;
                    q.batch = 1;
                    q.out_channels = r1 - r0;
                    q.x = x + b * g.C * H * W;
                    q.weight = weight + r0 * K;
                    q.bias = bias ? bias + r0 : nullptr;
                    q.y = y + (b * g.M + r0) * P;
                    kernels::active().conv2d_gemm_tile(q, 0, 0, 0, P, cols);
                    if (!epi.empty()) epi.apply(y, (b * g.M + r0) * P, (r1 - r0) * P);  // contiguous rows
                }
            }
        });
        return;
    }
    int64_t tiles = std::max<int64_t>((P + 255) / 256, (slots + images - 1) / images);
    // Few items (batch 1): a whole number of them per thread, else one thread does a tile more.
    if (images * tiles < 8 * slots)
        while ((images * tiles) % slots != 0) ++tiles;
    tiles = std::min<int64_t>(tiles, (P + 15) / 16);
    const int64_t tile = (P + tiles - 1) / tiles;
    const int64_t tile_cols = (tile + 15) / 16 * 16;
    tiles = (P + tile_cols - 1) / tile_cols;
    const int64_t per_slot = kernels::conv2d_im2col_floats(p, tile_cols);
    grow(scratch, static_cast<size_t>(std::max<int64_t>(1, slots * per_slot)));
    float* scratch_data = scratch.data();
    const int64_t items = images * tiles;
    const int64_t mpg = g.M / g.group;
    // Tiles are claimed one at a time (a thread slowed down by another process takes fewer); each
    // tile's result does not depend on which thread computes it.
    std::atomic<int64_t> next{0};
    pool.parallel_for(slots, 1, [&](int64_t slot_begin, int64_t slot_end) {
        for (int64_t slot = slot_begin; slot < slot_end; ++slot) {
            float* cols = scratch_data + slot * per_slot;
            for (int64_t it = next.fetch_add(1); it < items; it = next.fetch_add(1)) {
                const int64_t image = it / tiles, t = it % tiles;
                const int64_t c0 = t * tile_cols, c1 = std::min(P, c0 + tile_cols);
                const int64_t b = image / g.group, gr = image % g.group;
                kernels::active().conv2d_gemm_tile(p, b, gr, c0, c1, cols);
                if (!epi.empty() && c0 == 0 && c1 == P)  // whole rows: one contiguous span
                    epi.apply(y, (b * g.M + gr * mpg) * P, mpg * P);
                else if (!epi.empty())
                    for (int64_t oc = gr * mpg; oc < (gr + 1) * mpg; ++oc) epi.apply(y, (b * g.M + oc) * P + c0, c1 - c0);
            }
        }
    });
}

// Any stride / dilation / padding: im2col per (image, group) and an Eigen GEMM.
void conv_generic(ThreadPool& pool, const ConvGeom& g, const float* x, const float* weight, const float* bias, float* y) {
    const int64_t cpg = g.C / g.group, mpg = g.M / g.group, P = g.oh * g.ow, K = cpg * g.kh * g.kw;
    pool.parallel_for(g.N * g.group, 1, [&](int64_t b0, int64_t b1) {
        std::vector<float> cols(static_cast<size_t>(K * P));
        for (int64_t item = b0; item < b1; ++item) {
            const int64_t n = item / g.group, gr = item % g.group;
            for (int64_t c = 0; c < cpg; ++c) {
                const float* xc = x + (n * g.C + gr * cpg + c) * g.H * g.W;
                for (int64_t i = 0; i < g.kh; ++i)
                    for (int64_t j = 0; j < g.kw; ++j) {
                        float* dst = cols.data() + ((c * g.kh + i) * g.kw + j) * P;
                        for (int64_t oy = 0; oy < g.oh; ++oy) {
                            const int64_t iy = oy * g.sh - g.pt + i * g.dh;
                            for (int64_t ox = 0; ox < g.ow; ++ox) {
                                const int64_t ix = ox * g.sw - g.pl + j * g.dw;
                                dst[oy * g.ow + ox] =
                                    (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W) ? xc[iy * g.W + ix] : 0.0f;
                            }
                        }
                    }
            }
            CMapMat wm(weight + gr * mpg * K, mpg, K);
            CMapMat cm(cols.data(), K, P);
            MapMat ym(y + (n * g.M + gr * mpg) * P, mpg, P);
            ym.noalias() = wm * cm;
            if (bias)
                for (int64_t o = 0; o < mpg; ++o) ym.row(o).array() += bias[gr * mpg + o];
        }
    });
}

// ---------------------------------------------------------------- packed linear

struct LinearPrep {
    std::vector<float> weight;  // [N, K] row-major (kept for the M = 1 path of Linear)
    std::vector<float> bias;    // [N] or empty
    PackedStore store;
    Linear layer;
};

// y[rows, N] = x[rows, K] W^T + b, tiles of rows x panels over the pool, `act` per tile.
void linear_tiles(ThreadPool& pool, const Linear& layer, const float* x, int64_t rows, float* y, const Act& act) {
    const int64_t N = layer.out_features, K = layer.in_features;
    if (rows <= 0) return;
    if (rows > 48) {
        // Many rows (a ViT's tokens): split over output features, every thread taking all rows of its
        // panels, so each packed weight is read from memory once (row blocks would stream the whole
        // weight once per block); the activation is a second pass over rows.
        run_linear(pool, layer, x, rows, K, y, N);
        if (act.kind != ActKind::None)
            pool.parallel_for(rows, 8, [&](int64_t r0, int64_t r1) {
                for (int64_t i = r0; i < r1; ++i) apply_act(act, y + i * N, N);
            });
        return;
    }
    const int64_t panels = (N + kernels::kGemmNR - 1) / kernels::kGemmNR;
    const int64_t rb = rows >= 96 ? 48 : rows;
    const int64_t row_blocks = (rows + rb - 1) / rb;
    const int64_t T = std::max(1, pool.size());
    int64_t ppt = std::max<int64_t>(1, std::min<int64_t>(8, row_blocks * panels / (3 * T)));
    ppt = std::min(ppt, panels);
    const int64_t col_blocks = (panels + ppt - 1) / ppt;
    const int64_t tiles = row_blocks * col_blocks;
    pool.parallel_for(tiles, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t cb = t % col_blocks, r = t / col_blocks;
            const int64_t r0 = r * rb, r1 = std::min(rows, r0 + rb);
            const int64_t n0 = cb * ppt * kernels::kGemmNR, n1 = std::min(N, n0 + ppt * kernels::kGemmNR);
            run_linear_block(layer, x + r0 * K, r1 - r0, K, y + r0 * N, N, false, n0, n1);
            if (act.kind != ActKind::None)
                for (int64_t i = r0; i < r1; ++i) apply_act(act, y + i * N + n0, n1 - n0);
        }
    });
}

// Plain batched GEMMs: c[item] = a[item] b[item], `items` of [M, K] x [K, N] at the given offsets.
void batched_gemm(ThreadPool& pool, int64_t items, int64_t M, int64_t K, int64_t N,
                  const std::vector<int64_t>& a_off, const std::vector<int64_t>& b_off, const float* a, const float* b,
                  float* c) {
    const int64_t T = pool.size();
    int64_t row_chunks = 1;
    if (items < T) row_chunks = std::max<int64_t>(1, std::min<int64_t>((T + items - 1) / items, M / 16));
    const int64_t rc = (M + row_chunks - 1) / row_chunks;
    row_chunks = M > 0 ? (M + rc - 1) / rc : 1;
    pool.parallel_for(items * row_chunks, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t item = t / row_chunks, r0 = (t % row_chunks) * rc, r1 = std::min(M, r0 + rc);
            if (r1 <= r0) continue;
            CMapMat am(a + a_off[static_cast<size_t>(item)] + r0 * K, r1 - r0, K);
            CMapMat bm(b + b_off[static_cast<size_t>(item)], K, N);
            MapMat cm(c + item * M * N + r0 * N, r1 - r0, N);
            if (K == 0) cm.setZero();
            else cm.noalias() = am * bm;
        }
    });
}

}  // namespace

void conv_prepare(Node& node, const Graph& graph) {
    const Value* w = const_input(node, graph, 1);
    if (!w) return;
    const Shape& ws = w->constant.shape();
    if (ws.size() != 4) return;
    const int64_t group = node.attr_int("group", 1);
    const auto strides = node.attr_ints("strides", {1, 1});
    const auto dil = node.attr_ints("dilations", {1, 1});
    if (group != 1 || ws[2] != 3 || ws[3] != 3 || strides != std::vector<int64_t>{1, 1} ||
        dil != std::vector<int64_t>{1, 1})
        return;
    const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
    const auto pads = node.attr_ints("pads", {});
    const bool pad1 = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER" ||
                      ((auto_pad == "NOTSET" || auto_pad.empty()) && pads == std::vector<int64_t>{1, 1, 1, 1});
    if (!pad1) return;
    // Winograd pays for itself on wide layers; tiny ones stay on im2col (exact to the last bits too).
    if (ws[0] < 16 || ws[1] < 16) return;
    auto prep = std::make_shared<ConvPrep>();
    prep->weight = w->constant;
    prep->winograd = prep->store.pack_winograd(prep->weight.data<float>(), ws[0], ws[1], 3, 3, 1, 1, 1);
    node.prepared = prep;
}

void conv_run(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, OpContext& ctx) {
    const Tensor& X = require_input(node, inputs, 0, ElemType::Float);
    const Tensor& Wt = require_input(node, inputs, 1, ElemType::Float);
    const Tensor* B = opt_input(inputs, 2);
    const Tensor* R = opt_input(inputs, 3);
    const ConvGeom g = conv_geometry(node, X.shape(), Wt.shape());
    if (B && (B->type() != ElemType::Float || B->numel() != g.M))
        fail_node(node, "bias " + shape_string(B->shape()) + " does not match " + std::to_string(g.M) + " output channels");
    Shape out_shape = g.spatial == 2 ? Shape{g.N, g.M, g.oh, g.ow} : Shape{g.N, g.M, g.ow};
    Tensor Y = Tensor::allocate(ElemType::Float, out_shape);
    Epilogue epi;
    epi.pre = read_act(node, "");
    epi.post = read_act(node, "post_");
    if (R) {
        if (R->type() != ElemType::Float || R->shape() != out_shape)
            fail_node(node, "residual " + shape_string(R->shape()) + " does not match the output " + shape_string(out_shape));
        epi.residual = R->data<float>();
    }
    const ConvPrep* prep = static_cast<const ConvPrep*>(node.prepared.get());
    const float* weight = Wt.data<float>();
    const float* bias = B ? B->data<float>() : nullptr;
    float* y = Y.mutable_data<float>();
    const bool dil1 = g.dh == 1 && g.dw == 1;
    if (dil1 && g.sh == g.sw && g.pt == g.pb && g.pl == g.pr && g.pt == g.pl) {
        conv_fast(ctx.pool, g, g.sw, g.pt, g.H, g.W, X.data<float>(), weight, bias, prep ? prep->winograd : nullptr, y,
                  epi, ctx.scratch);
    } else if (dil1 && g.sh == g.sw) {
        // Asymmetric padding: pad the input once, then a padding-0 conv.
        const int64_t Hp = g.H + g.pt + g.pb, Wp = g.W + g.pl + g.pr;
        Tensor xp = Tensor::allocate_zeros(ElemType::Float, {g.N, g.C, Hp, Wp});
        float* dst = xp.mutable_data<float>();
        const float* src = X.data<float>();
        ctx.pool.parallel_for(g.N * g.C, 1, [&](int64_t p0, int64_t p1) {
            for (int64_t p = p0; p < p1; ++p)
                for (int64_t i = 0; i < g.H; ++i)
                    std::memcpy(dst + (p * Hp + i + g.pt) * Wp + g.pl, src + (p * g.H + i) * g.W,
                                sizeof(float) * static_cast<size_t>(g.W));
        });
        conv_fast(ctx.pool, g, g.sw, 0, Hp, Wp, dst, weight, bias, nullptr, y, epi, ctx.scratch);
    } else {
        conv_generic(ctx.pool, g, X.data<float>(), weight, bias, y);
        epilogue_pass(ctx.pool, epi, y, Y.numel());
    }
    outputs[0] = std::move(Y);
}

void matmul_prepare(Node& node, const Graph& graph) {
    const Value* w = const_input(node, graph, 1);
    if (!w || w->constant.rank() != 2) return;
    const int64_t K = w->constant.dim(0), N = w->constant.dim(1);
    if (K <= 0 || N <= 0) return;
    auto prep = std::make_shared<LinearPrep>();
    prep->weight.resize(static_cast<size_t>(N * K));
    const float* b = w->constant.data<float>();
    for (int64_t k = 0; k < K; ++k)
        for (int64_t n = 0; n < N; ++n) prep->weight[static_cast<size_t>(n * K + k)] = b[k * N + n];
    const Value* bias = const_input(node, graph, 2);
    if (bias) {
        if (bias->constant.numel() != N) return;  // an odd broadcast: the general path handles it
        prep->bias = bias->constant.to_floats();
    } else if (node.inputs.size() > 2 && node.inputs[2] >= 0) {
        return;  // a bias computed at run time
    }
    prep->layer = make_linear(prep->weight.data(), nullptr, kernels::WeightType::F32,
                              prep->bias.empty() ? nullptr : prep->bias.data(), K, N);
    prep->store.pack(prep->layer);
    node.prepared = prep;
}

void matmul_run(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, OpContext& ctx) {
    const Tensor& A = require_input(node, inputs, 0, ElemType::Float);
    const Tensor& B = require_input(node, inputs, 1, ElemType::Float);
    const Tensor* bias = opt_input(inputs, 2);
    const Act act = read_act(node, "");
    if (A.rank() == 0 || B.rank() == 0) fail_node(node, "MatMul of a scalar");
    const LinearPrep* prep = static_cast<const LinearPrep*>(node.prepared.get());
    if (prep && B.rank() == 2 && A.shape().back() == B.dim(0)) {
        const int64_t K = B.dim(0), N = B.dim(1);
        Shape out(A.shape().begin(), A.shape().end() - 1);
        out.push_back(N);
        Tensor Y = Tensor::allocate(ElemType::Float, out);
        linear_tiles(ctx.pool, prep->layer, A.data<float>(), K ? A.numel() / K : 0, Y.mutable_data<float>(), act);
        outputs[0] = std::move(Y);
        return;
    }
    Shape as = A.shape(), bs = B.shape();
    const bool a1 = as.size() == 1, b1 = bs.size() == 1;
    if (a1) as.insert(as.begin(), 1);
    if (b1) bs.push_back(1);
    const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
    if (bs[bs.size() - 2] != K)
        fail_node(node, "shapes " + shape_string(A.shape()) + " and " + shape_string(B.shape()) + " do not multiply");
    const Shape ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
    const Shape batch = broadcast_shapes(ab, bb, node);
    Shape out = batch;
    if (!a1) out.push_back(M);
    if (!b1) out.push_back(N);
    Tensor Y = Tensor::allocate(ElemType::Float, out);
    const int64_t items = shape_numel(batch);
    std::vector<int64_t> a_off(static_cast<size_t>(items)), b_off(static_cast<size_t>(items));
    const size_t r = batch.size();
    std::vector<int64_t> idx(r, 0);
    for (int64_t it = 0; it < items; ++it) {
        int64_t ao = 0, bo = 0, astride = M * K, bstride = K * N;
        for (size_t d = r; d-- > 0;) {
            const size_t da = d + ab.size() - r, db = d + bb.size() - r;  // may underflow: check with d >= r - size
            if (d >= r - ab.size()) {
                if (ab[da] != 1) ao += idx[d] * astride;
                astride *= ab[da];
            }
            if (d >= r - bb.size()) {
                if (bb[db] != 1) bo += idx[d] * bstride;
                bstride *= bb[db];
            }
        }
        a_off[static_cast<size_t>(it)] = ao;
        b_off[static_cast<size_t>(it)] = bo;
        for (size_t d = r; d-- > 0;) {
            if (++idx[d] < batch[d]) break;
            idx[d] = 0;
        }
    }
    float* y = Y.mutable_data<float>();
    batched_gemm(ctx.pool, items, M, K, N, a_off, b_off, A.data<float>(), B.data<float>(), y);
    if (bias) {
        if (bias->numel() != N || bias->type() != ElemType::Float) fail_node(node, "bias does not match the output columns");
        const float* bb2 = bias->data<float>();
        const int64_t rows = N ? Y.numel() / N : 0;
        ctx.pool.parallel_for(rows, 64, [&](int64_t r0, int64_t r1) {
            for (int64_t i = r0; i < r1; ++i)
                for (int64_t n = 0; n < N; ++n) y[i * N + n] += bb2[n];
        });
    }
    if (act.kind != ActKind::None) {
        Epilogue e;
        e.pre = act;
        epilogue_pass(ctx.pool, e, y, Y.numel());
    }
    outputs[0] = std::move(Y);
}

void layer_norm_run(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                    OpContext& ctx) {
    const Tensor& X = require_input(node, inputs, 0, ElemType::Float);
    const Tensor* S = opt_input(inputs, 1);
    const Tensor* Bi = opt_input(inputs, 2);
    const int64_t axis = normalize_axis(node.attr_int("axis", -1), X.rank(), node);
    const float eps = node.attr_float("epsilon", 1e-5f);
    const int64_t rows = shape_numel(Shape(X.shape().begin(), X.shape().begin() + axis));
    const int64_t dim = shape_numel(Shape(X.shape().begin() + axis, X.shape().end()));
    // Scale / bias broadcast to the normalised shape (usually exactly it).
    std::vector<float> s_full, b_full;
    auto expand = [&](const Tensor* t, std::vector<float>& full) -> const float* {
        if (!t) return nullptr;
        if (t->type() != ElemType::Float) fail_node(node, "scale / bias must be float");
        if (t->numel() == dim) return t->data<float>();
        const Shape norm(X.shape().begin() + axis, X.shape().end());
        const Shape bs = broadcast_shapes(norm, t->shape(), node);
        if (bs != norm) fail_node(node, "scale / bias " + shape_string(t->shape()) + " do not broadcast to " + shape_string(norm));
        full.resize(static_cast<size_t>(dim));
        const Shape& ts = t->shape();
        const size_t r = norm.size();
        for (int64_t i = 0; i < dim; ++i) {
            int64_t rem = i, off = 0, stride = 1;
            for (size_t d = r; d-- > 0;) {
                const int64_t c = rem % norm[d];
                rem /= norm[d];
                if (d >= r - ts.size()) {
                    const int64_t td = ts[d - (r - ts.size())];
                    if (td != 1) off += c * stride;
                    stride *= td;
                }
            }
            full[static_cast<size_t>(i)] = t->data<float>()[off];
        }
        return full.data();
    };
    const float* sp = expand(S, s_full);
    const float* bp = expand(Bi, b_full);
    Tensor Y = Tensor::allocate(ElemType::Float, X.shape());
    if (rows > 0 && dim > 0) {
        LayerNormWeights ln;
        ln.weight = sp;
        ln.bias = bp;
        ln.dim = dim;
        ln.eps = eps;
        run_layer_norm(ctx.pool, ln, X.data<float>(), rows, dim, Y.mutable_data<float>(), dim);
    }
    const bool want_mean = output_wanted(node, 1), want_inv = output_wanted(node, 2);
    if (want_mean || want_inv) {
        Shape st = X.shape();
        for (size_t d = static_cast<size_t>(axis); d < st.size(); ++d) st[d] = 1;
        Tensor mean = Tensor::allocate(ElemType::Float, st), inv = Tensor::allocate(ElemType::Float, st);
        const float* x = X.data<float>();
        for (int64_t r = 0; r < rows; ++r) {
            double s = 0, ss = 0;
            for (int64_t i = 0; i < dim; ++i) s += x[r * dim + i];
            const double m = dim ? s / dim : 0.0;
            for (int64_t i = 0; i < dim; ++i) ss += (x[r * dim + i] - m) * (x[r * dim + i] - m);
            mean.mutable_data<float>()[r] = static_cast<float>(m);
            inv.mutable_data<float>()[r] = static_cast<float>(1.0 / std::sqrt((dim ? ss / dim : 0.0) + eps));
        }
        if (outputs.size() > 1) outputs[1] = mean;
        if (outputs.size() > 2) outputs[2] = inv;
    }
    outputs[0] = std::move(Y);
}

}  // namespace nn_detail

namespace {

using namespace nn_detail;

// ---------------------------------------------------------------- BatchNormalization

struct BnPrep {
    std::vector<float> scale, shift;
};

void bn_coefficients(const Node& node, const float* gamma, const float* beta, const float* mean, const float* var,
                     int64_t C, float eps, std::vector<float>& scale, std::vector<float>& shift) {
    scale.resize(static_cast<size_t>(C));
    shift.resize(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
        const double s = gamma[c] / std::sqrt(static_cast<double>(var[c]) + eps);
        scale[static_cast<size_t>(c)] = static_cast<float>(s);
        shift[static_cast<size_t>(c)] = static_cast<float>(beta[c] - mean[c] * s);
    }
}

void bn_check(const Node& node) {
    if (node.attr_int("training_mode", 0) != 0)
        fail_unsupported(node.describe() + ": BatchNormalization in training mode is not supported (inference only)");
    for (size_t i = 1; i < node.outputs.size(); ++i)
        if (node.outputs[i] >= 0)
            fail_unsupported(node.describe() + ": BatchNormalization's running mean / variance outputs (training) are not supported");
}

void bn_prepare(Node& node, const Graph& graph) {
    bn_check(node);
    const Value *g = const_input(node, graph, 1), *b = const_input(node, graph, 2), *m = const_input(node, graph, 3),
                *v = const_input(node, graph, 4);
    if (!g || !b || !m || !v) return;
    const int64_t C = g->constant.numel();
    if (b->constant.numel() != C || m->constant.numel() != C || v->constant.numel() != C) return;
    auto prep = std::make_shared<BnPrep>();
    bn_coefficients(node, g->constant.data<float>(), b->constant.data<float>(), m->constant.data<float>(),
                    v->constant.data<float>(), C, node.attr_float("epsilon", 1e-5f), prep->scale, prep->shift);
    node.prepared = prep;
}

void bn_run(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, OpContext& ctx) {
    bn_check(node);
    const Tensor& X = require_input(node, inputs, 0, ElemType::Float);
    if (X.rank() < 2) fail_node(node, "input must have a channel dimension");
    const int64_t N = X.dim(0), C = X.dim(1), P = X.numel() / std::max<int64_t>(1, N * C);
    std::vector<float> sc, sh;
    const BnPrep* prep = static_cast<const BnPrep*>(node.prepared.get());
    if (!prep || static_cast<int64_t>(prep->scale.size()) != C) {
        const float* p[4];
        for (size_t i = 0; i < 4; ++i) {
            const Tensor& t = require_input(node, inputs, i + 1, ElemType::Float);
            if (t.numel() != C) fail_node(node, "parameter " + std::to_string(i + 1) + " does not have " + std::to_string(C) + " values");
            p[i] = t.data<float>();
        }
        bn_coefficients(node, p[0], p[1], p[2], p[3], C, node.attr_float("epsilon", 1e-5f), sc, sh);
    }
    const float* scale = prep && static_cast<int64_t>(prep->scale.size()) == C ? prep->scale.data() : sc.data();
    const float* shift = prep && static_cast<int64_t>(prep->shift.size()) == C ? prep->shift.data() : sh.data();
    Tensor Y = Tensor::allocate(ElemType::Float, X.shape());
    const float* x = X.data<float>();
    float* y = Y.mutable_data<float>();
    ctx.pool.parallel_for(N * C, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, P)), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            const float s = scale[p % C], b = shift[p % C];
            for (int64_t i = 0; i < P; ++i) y[p * P + i] = x[p * P + i] * s + b;
        }
    });
    outputs[0] = std::move(Y);
}

// ---------------------------------------------------------------- pools

struct PoolGeom {
    // Depth axis D (3-D pools; 1 otherwise), then H (1 for 1-D) and W.
    int64_t N, C, D, H, W, kd, kh, kw, sd, sh, sw, dd, dh, dw, pf, pk, pt, pl, pb, pr, od, oh, ow;
};

PoolGeom pool_geometry(const Node& node, const Tensor& X) {
    if (X.rank() < 3 || X.rank() > 5)
        fail_unsupported(node.describe() + ": Krait runs 1-D, 2-D and 3-D pooling only (input " + shape_string(X.shape()) + ")");
    const size_t n = static_cast<size_t>(X.rank() - 2);
    Spatial s;
    for (size_t i = 0; i < n; ++i) s.in.push_back(X.dim(2 + static_cast<int64_t>(i)));
    s.kernel = node.attr_ints("kernel_shape", {});
    if (s.kernel.size() != n) fail_node(node, "kernel_shape must have " + std::to_string(n) + " values");
    s.stride = node.attr_ints("strides", std::vector<int64_t>(n, 1));
    s.dilation = node.attr_ints("dilations", std::vector<int64_t>(n, 1));
    if (s.stride.size() != n || s.dilation.size() != n) fail_node(node, "strides or dilations of the wrong length");
    spatial_geometry(node, s, node.attr_int("ceil_mode", 0) != 0);
    // Left-pad the per-axis values to 3 axes.
    auto at = [&](const std::vector<int64_t>& v, size_t axis, int64_t fill) {
        const size_t off = 3 - n;
        return axis < off ? fill : v[axis - off];
    };
    PoolGeom g{};
    g.N = X.dim(0);
    g.C = X.dim(1);
    g.D = at(s.in, 0, 1); g.H = at(s.in, 1, 1); g.W = at(s.in, 2, 1);
    g.kd = at(s.kernel, 0, 1); g.kh = at(s.kernel, 1, 1); g.kw = at(s.kernel, 2, 1);
    g.sd = at(s.stride, 0, 1); g.sh = at(s.stride, 1, 1); g.sw = at(s.stride, 2, 1);
    g.dd = at(s.dilation, 0, 1); g.dh = at(s.dilation, 1, 1); g.dw = at(s.dilation, 2, 1);
    g.pf = at(s.pad_begin, 0, 0); g.pt = at(s.pad_begin, 1, 0); g.pl = at(s.pad_begin, 2, 0);
    g.pk = at(s.pad_end, 0, 0); g.pb = at(s.pad_end, 1, 0); g.pr = at(s.pad_end, 2, 0);
    g.od = at(s.out, 0, 1); g.oh = at(s.out, 1, 1); g.ow = at(s.out, 2, 1);
    return g;
}

Shape pool_out_shape(const Tensor& X, const PoolGeom& g) {
    if (X.rank() == 5) return {g.N, g.C, g.od, g.oh, g.ow};
    return X.rank() == 4 ? Shape{g.N, g.C, g.oh, g.ow} : Shape{g.N, g.C, g.ow};
}

// Calls fn(out_index, window visitor) for every output position of plane p: the visitor passes
// (input offset in the plane, inside the input, inside the padded input) for each window element.
template <class Fn>
void pool_plane(const PoolGeom& g, Fn&& fn) {
    for (int64_t oz = 0; oz < g.od; ++oz)
        for (int64_t oy = 0; oy < g.oh; ++oy)
            for (int64_t ox = 0; ox < g.ow; ++ox) {
                const int64_t z0 = oz * g.sd - g.pf, y0 = oy * g.sh - g.pt, x0 = ox * g.sw - g.pl;
                fn((oz * g.oh + oy) * g.ow + ox, [&](auto&& visit) {
                    for (int64_t a = 0; a < g.kd; ++a) {
                        const int64_t iz = z0 + a * g.dd;
                        const bool pz = iz >= -g.pf && iz < g.D + g.pk, vz = iz >= 0 && iz < g.D;
                        for (int64_t i = 0; i < g.kh; ++i) {
                            const int64_t iy = y0 + i * g.dh;
                            const bool py = pz && iy >= -g.pt && iy < g.H + g.pb, vy = vz && iy >= 0 && iy < g.H;
                            for (int64_t j = 0; j < g.kw; ++j) {
                                const int64_t ix = x0 + j * g.dw;
                                const bool px = py && ix >= -g.pl && ix < g.W + g.pr, vx = vy && ix >= 0 && ix < g.W;
                                visit(vx ? (iz * g.H + iy) * g.W + ix : -1, px, iy, ix);
                            }
                        }
                    }
                });
            }
}

void maxpool_run(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, OpContext& ctx) {
    const Tensor& X = require_input(node, inputs, 0, ElemType::Float);
    const PoolGeom g = pool_geometry(node, X);
    Tensor Y = Tensor::allocate(ElemType::Float, pool_out_shape(X, g));
    const bool want_idx = output_wanted(node, 1);
    const bool col_major = node.attr_int("storage_order", 0) != 0;
    Tensor I;
    if (want_idx) I = Tensor::allocate(ElemType::Int64, pool_out_shape(X, g));
    int64_t* idx = want_idx ? I.mutable_data<int64_t>() : nullptr;
    const float* x = X.data<float>();
    float* y = Y.mutable_data<float>();
    const int64_t in_plane = g.D * g.H * g.W, out_plane = g.od * g.oh * g.ow;
    if (!want_idx && g.D == 1 && g.kd == 1 && g.dd == 1 && g.dh == 1 && g.dw == 1) {
        // Separable: for each output row the max down the window's rows (vectorised along the
        // input row), then across the window's columns. max(m, v) keeps a NaN once seen, so a window
        // with a NaN gives NaN as below; one with no element in the image gives -inf.
        const auto mx = [](float m, float v) { return (v > m || v != v) ? v : m; };
        constexpr float kNegInf = -std::numeric_limits<float>::infinity();
        ctx.pool.parallel_for(g.N * g.C, 1, [&](int64_t p0, int64_t p1) {
            std::vector<float> col(static_cast<size_t>(g.W));
            for (int64_t p = p0; p < p1; ++p) {
                const float* xp = x + p * in_plane;
                float* yp = y + p * out_plane;
                for (int64_t oy = 0; oy < g.oh; ++oy) {
                    const int64_t y0 = oy * g.sh - g.pt;
                    const int64_t i0 = std::max<int64_t>(0, y0), i1 = std::min<int64_t>(g.H, y0 + g.kh);
                    float* c = col.data();
                    std::fill(c, c + g.W, kNegInf);
                    for (int64_t iy = i0; iy < i1; ++iy) {
                        const float* xr = xp + iy * g.W;
                        for (int64_t ix = 0; ix < g.W; ++ix) c[ix] = mx(c[ix], xr[ix]);
                    }
                    float* yr = yp + oy * g.ow;
                    for (int64_t ox = 0; ox < g.ow; ++ox) {
                        const int64_t x0 = ox * g.sw - g.pl;
                        const int64_t j0 = std::max<int64_t>(0, x0), j1 = std::min<int64_t>(g.W, x0 + g.kw);
                        float m = kNegInf;
                        for (int64_t ix = j0; ix < j1; ++ix) m = mx(m, c[ix]);
                        yr[ox] = m;
                    }
                }
            }
        });
        outputs[0] = std::move(Y);
        return;
    }
    ctx.pool.parallel_for(g.N * g.C, 1, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            const float* xp = x + p * in_plane;
            pool_plane(g, [&](int64_t o, auto&& window) {
                float m = -std::numeric_limits<float>::infinity();
                int64_t best = -1;
                window([&](int64_t off, bool, int64_t iy, int64_t ix) {
                    if (off < 0) return;
                    const float v = xp[off];
                    if (v > m || std::isnan(v) || best < 0) {
                        m = v;
                        best = col_major && g.D == 1 ? ix * g.H + iy : off;
                    }
                });
                y[p * out_plane + o] = m;
                if (idx) idx[p * out_plane + o] = p * in_plane + std::max<int64_t>(best, 0);
            });
        }
    });
    outputs[0] = std::move(Y);
    if (want_idx && outputs.size() > 1) outputs[1] = std::move(I);
}

void avgpool_run(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, OpContext& ctx) {
    const Tensor& X = require_input(node, inputs, 0, ElemType::Float);
    const PoolGeom g = pool_geometry(node, X);
    const bool include_pad = node.attr_int("count_include_pad", 0) != 0;
    Tensor Y = Tensor::allocate(ElemType::Float, pool_out_shape(X, g));
    const float* x = X.data<float>();
    float* y = Y.mutable_data<float>();
    const int64_t in_plane = g.D * g.H * g.W, out_plane = g.od * g.oh * g.ow;
    ctx.pool.parallel_for(g.N * g.C, 1, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            const float* xp = x + p * in_plane;
            pool_plane(g, [&](int64_t o, auto&& window) {
                double sum = 0;
                int64_t count = 0, padded = 0;
                window([&](int64_t off, bool in_pad, int64_t, int64_t) {
                    if (in_pad) ++padded;
                    if (off < 0) return;
                    sum += xp[off];
                    ++count;
                });
                const int64_t div = include_pad ? padded : count;
                y[p * out_plane + o] = div > 0 ? static_cast<float>(sum / static_cast<double>(div)) : 0.0f;
            });
        }
    });
    outputs[0] = std::move(Y);
}

void global_avgpool_run(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                        OpContext& ctx) {
    const Tensor& X = require_input(node, inputs, 0, ElemType::Float);
    if (X.rank() < 2) fail_node(node, "input must be [N, C, ...]");
    Shape out = X.shape();
    for (size_t d = 2; d < out.size(); ++d) out[d] = 1;
    const int64_t planes = X.dim(0) * X.dim(1);
    const int64_t P = planes ? X.numel() / planes : 0;
    Tensor Y = Tensor::allocate(ElemType::Float, out);
    const float* x = X.data<float>();
    float* y = Y.mutable_data<float>();
    ctx.pool.parallel_for(planes, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, P)), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            const double s = Eigen::Map<const Eigen::ArrayXf>(x + p * P, P).cast<double>().sum();
            y[p] = P ? static_cast<float>(s / static_cast<double>(P)) : 0.0f;
        }
    });
    outputs[0] = std::move(Y);
}

// ---------------------------------------------------------------- Gemm

struct GemmPrep {
    std::vector<float> weight, bias;  // weight [N, K] = alpha * op(B)^T; bias [N] = beta * C (row-broadcast C)
    PackedStore store;
    Linear layer;
    bool bias_folded = false;
};

void gemm_prepare(Node& node, const Graph& graph) {
    const Value* b = const_input(node, graph, 1);
    if (!b || b->constant.rank() != 2) return;
    const bool transB = node.attr_int("transB", 0) != 0;
    const float alpha = node.attr_float("alpha", 1.0f), beta = node.attr_float("beta", 1.0f);
    const int64_t K = transB ? b->constant.dim(1) : b->constant.dim(0);
    const int64_t N = transB ? b->constant.dim(0) : b->constant.dim(1);
    if (K <= 0 || N <= 0) return;
    auto prep = std::make_shared<GemmPrep>();
    prep->weight.resize(static_cast<size_t>(N * K));
    const float* src = b->constant.data<float>();
    for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k)
            prep->weight[static_cast<size_t>(n * K + k)] = alpha * (transB ? src[n * K + k] : src[k * N + n]);
    const bool has_c = node.inputs.size() > 2 && node.inputs[2] >= 0;
    const Value* c = const_input(node, graph, 2);
    if (c) {
        const Shape& cs = c->constant.shape();
        const bool row_broadcast = cs.empty() || (cs.size() == 1 && (cs[0] == N || cs[0] == 1)) ||
                                   (cs.size() == 2 && cs[0] == 1 && (cs[1] == N || cs[1] == 1));
        if (row_broadcast) {
            const auto cv = c->constant.to_floats();
            prep->bias.resize(static_cast<size_t>(N));
            for (int64_t n = 0; n < N; ++n) prep->bias[static_cast<size_t>(n)] = beta * (cv.size() == 1 ? cv[0] : cv[static_cast<size_t>(n)]);
            prep->bias_folded = true;
        }
    } else if (!has_c) {
        prep->bias_folded = true;
    }
    prep->layer = make_linear(prep->weight.data(), nullptr, kernels::WeightType::F32,
                              prep->bias.empty() ? nullptr : prep->bias.data(), K, N);
    prep->store.pack(prep->layer);
    node.prepared = prep;
}

void gemm_run(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, OpContext& ctx) {
    const Tensor& A = require_input(node, inputs, 0, ElemType::Float);
    const Tensor& B = require_input(node, inputs, 1, ElemType::Float);
    const Tensor* C = opt_input(inputs, 2);
    if (A.rank() != 2 || B.rank() != 2) fail_node(node, "A and B must be 2-D");
    const bool transA = node.attr_int("transA", 0) != 0, transB = node.attr_int("transB", 0) != 0;
    const float alpha = node.attr_float("alpha", 1.0f), beta = node.attr_float("beta", 1.0f);
    const int64_t M = transA ? A.dim(1) : A.dim(0), K = transA ? A.dim(0) : A.dim(1);
    const int64_t Kb = transB ? B.dim(1) : B.dim(0), N = transB ? B.dim(0) : B.dim(1);
    if (K != Kb) fail_node(node, "shapes " + shape_string(A.shape()) + " and " + shape_string(B.shape()) + " do not multiply");
    Tensor Y = Tensor::allocate(ElemType::Float, {M, N});
    float* y = Y.mutable_data<float>();
    const GemmPrep* prep = static_cast<const GemmPrep*>(node.prepared.get());
    const float* a = A.data<float>();
    std::vector<float> at;
    if (transA && (prep || true)) {
        at.resize(static_cast<size_t>(M * K));
        MapMat(at.data(), M, K) = CMapMat(a, K, M).transpose();
        a = at.data();
    }
    bool c_done = false;
    if (prep) {
        linear_tiles(ctx.pool, prep->layer, a, M, y, Act{});
        c_done = prep->bias_folded;
    } else {
        const float* b = B.data<float>();
        std::vector<float> bt;
        if (transB) {
            bt.resize(static_cast<size_t>(K * N));
            MapMat(bt.data(), K, N) = CMapMat(b, N, K).transpose();
            b = bt.data();
        }
        std::vector<int64_t> zero(1, 0);
        batched_gemm(ctx.pool, 1, M, K, N, zero, zero, a, b, y);
        if (alpha != 1.0f)
            for (int64_t i = 0; i < M * N; ++i) y[i] *= alpha;
    }
    if (C && !c_done && beta != 0.0f) {
        const Shape& cs = C->shape();
        if (cs.size() > 2) fail_node(node, "C must have rank <= 2");
        const int64_t cm = cs.size() == 2 ? cs[0] : 1, cn = cs.empty() ? 1 : cs.back();
        if ((cm != 1 && cm != M) || (cn != 1 && cn != N))
            fail_node(node, "C " + shape_string(cs) + " does not broadcast to [" + std::to_string(M) + ", " + std::to_string(N) + "]");
        const float* c = C->data<float>();
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) y[i * N + j] += beta * c[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)];
    }
    outputs[0] = std::move(Y);
}

// ---------------------------------------------------------------- Softmax

void softmax_run(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, OpContext& ctx) {
    const Tensor& X = require_input(node, inputs, 0, ElemType::Float);
    const bool legacy = node.since_version > 0 && node.since_version < 13;
    const int64_t rank = X.rank();
    const int64_t axis = normalize_axis(node.attr_int("axis", legacy ? 1 : -1), rank, node);
    int64_t outer = 1, n = 1, inner = 1;
    if (rank == 0) {
        n = 1;
    } else if (legacy) {
        for (int64_t d = 0; d < axis; ++d) outer *= X.dim(d);
        for (int64_t d = axis; d < rank; ++d) n *= X.dim(d);
    } else {
        for (int64_t d = 0; d < axis; ++d) outer *= X.dim(d);
        n = X.dim(axis);
        for (int64_t d = axis + 1; d < rank; ++d) inner *= X.dim(d);
    }
    Tensor Y = Tensor::allocate(ElemType::Float, X.shape());
    const float* x = X.data<float>();
    float* y = Y.mutable_data<float>();
    if (X.numel() == 0) {
        outputs[0] = std::move(Y);
        return;
    }
    if (inner == 1) {
        ctx.pool.parallel_for(outer, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, n)), [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) {
                Eigen::Map<const Eigen::ArrayXf> xr(x + r * n, n);
                Eigen::Map<Eigen::ArrayXf> yr(y + r * n, n);
                const float m = xr.maxCoeff();
                yr = (xr - m).exp();
                const float s = yr.sum();
                yr *= 1.0f / s;
            }
        });
    } else {
        ctx.pool.parallel_for(outer, 1, [&](int64_t r0, int64_t r1) {
            std::vector<float> mx(static_cast<size_t>(inner)), sum(static_cast<size_t>(inner));
            for (int64_t r = r0; r < r1; ++r) {
                const float* xr = x + r * n * inner;
                float* yr = y + r * n * inner;
                std::fill(mx.begin(), mx.end(), -std::numeric_limits<float>::infinity());
                std::fill(sum.begin(), sum.end(), 0.0f);
                for (int64_t k = 0; k < n; ++k)
                    for (int64_t i = 0; i < inner; ++i) mx[static_cast<size_t>(i)] = std::max(mx[static_cast<size_t>(i)], xr[k * inner + i]);
                for (int64_t k = 0; k < n; ++k)
                    for (int64_t i = 0; i < inner; ++i) {
                        const float e = std::exp(xr[k * inner + i] - mx[static_cast<size_t>(i)]);
                        yr[k * inner + i] = e;
                        sum[static_cast<size_t>(i)] += e;
                    }
                for (int64_t k = 0; k < n; ++k)
                    for (int64_t i = 0; i < inner; ++i) yr[k * inner + i] /= sum[static_cast<size_t>(i)];
            }
        });
    }
    outputs[0] = std::move(Y);
}

}  // namespace

void register_nn_ops() {
    register_op({"", "Conv", {1, 11}, conv_run, conv_prepare, 2, 3});
    register_op({"", "BatchNormalization", {1, 6, 7, 9, 14, 15}, bn_run, bn_prepare, 5, 5});
    register_op({"", "MaxPool", {1, 8, 10, 11, 12}, maxpool_run, nullptr, 1, 1});
    register_op({"", "AveragePool", {1, 7, 10, 11, 19, 22}, avgpool_run, nullptr, 1, 1});
    register_op({"", "GlobalAveragePool", {1, 22}, global_avgpool_run, nullptr, 1, 1});
    register_op({"", "Gemm", {1, 6, 7, 9, 11, 13}, gemm_run, gemm_prepare, 2, 3});
    register_op({"", "MatMul", {1, 9, 13}, matmul_run, matmul_prepare, 2, 2});
    register_op({"", "LayerNormalization", {17}, layer_norm_run, nullptr, 1, 3});
    register_op({"", "Softmax", {1, 11, 13}, softmax_run, nullptr, 1, 1});
}

}  // namespace krait::onnx
