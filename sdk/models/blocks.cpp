#include "sdk/models/blocks.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/cpu/dispatch.h"
#include "sdk/core/error.h"

namespace krait {

namespace {

kernels::ActivationKind kind_of(Activation act) {
    switch (act) {
        case Activation::None: return kernels::ActivationKind::None;
        case Activation::Relu: return kernels::ActivationKind::Relu;
        case Activation::GeluErf: return kernels::ActivationKind::GeluErf;
        case Activation::GeluTanh: return kernels::ActivationKind::GeluTanh;
        case Activation::QuickGelu: return kernels::ActivationKind::QuickGelu;
        case Activation::Silu: return kernels::ActivationKind::Silu;
    }
    fail_argument("unknown activation " + std::to_string(static_cast<int>(act)));
}

void check_linear(const Linear& l, const char* what) {
    if ((!l.weight && !l.weight_half && !l.packed) || l.in_features <= 0 || l.out_features <= 0)
        fail_argument(std::string(what) + ": missing weight or non-positive features");
}

// Rows per step of the MLP and attention: bounds the scratch (a 1024 x 3072
// hidden block is 12 MiB) while keeping GEMMs large enough to run at speed.
constexpr int64_t kRowBlock = 1024;

template <class T>
void grow(std::vector<T>& v, size_t n) {
    if (v.size() < n) v.resize(n);
}

}  // namespace

void run_layer_norm(ThreadPool& pool, const LayerNormWeights& ln, const float* x, int64_t rows, int64_t x_stride,
                    float* y, int64_t y_stride) {
    if (ln.dim <= 0) fail_argument("layer norm: non-positive dim " + std::to_string(ln.dim));
    if (x_stride < ln.dim || y_stride < ln.dim) fail_argument("layer norm: row stride smaller than dim");
    kernels::LayerNormParams p;
    p.rows = rows;
    p.dim = ln.dim;
    p.x = x;
    p.x_stride = x_stride;
    p.weight = ln.weight;
    p.bias = ln.bias;
    p.eps = ln.eps;
    p.y = y;
    p.y_stride = y_stride;
    // ~16 KiB of rows per chunk at ViT widths: enough work to pay for a wake-up.
    const int64_t grain = std::max<int64_t>(1, 4096 / ln.dim);
    pool.parallel_for(rows, grain, [&](int64_t begin, int64_t end) { kernels::active().layer_norm(p, begin, end); });
}

void run_activation(ThreadPool& pool, Activation act, float* x, int64_t n) {
    const auto kind = kind_of(act);
    if (kind == kernels::ActivationKind::None || n <= 0) return;
    pool.parallel_for(n, 16384, [&](int64_t begin, int64_t end) { kernels::active().apply_activation(kind, x + begin, end - begin); });
}

void run_activation_rows(ThreadPool& pool, Activation act, float* x, int64_t rows, int64_t cols, int64_t stride) {
    const auto kind = kind_of(act);
    if (kind == kernels::ActivationKind::None || rows <= 0 || cols <= 0) return;
    const int64_t grain = std::max<int64_t>(1, 16384 / cols);
    pool.parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) kernels::active().apply_activation(kind, x + r * stride, cols);
    });
}

void run_mlp(ThreadPool& pool, const MlpWeights& mlp, const float* x, int64_t rows, float* y, bool accumulate,
             std::vector<float>& scratch, const LoraSet* lora) {
    check_linear(mlp.fc1, "mlp fc1");
    check_linear(mlp.fc2, "mlp fc2");
    const int64_t dim = mlp.fc1.in_features, hidden = mlp.fc1.out_features;
    if (mlp.fc2.in_features != hidden || mlp.fc2.out_features != dim)
        fail_argument("mlp: fc2 is [" + std::to_string(mlp.fc2.out_features) + ", " +
                      std::to_string(mlp.fc2.in_features) + "], expected [" + std::to_string(dim) + ", " +
                      std::to_string(hidden) + "]");
    if (rows <= 0) return;
    const auto kind = kind_of(mlp.act);
    const int64_t block = std::min(rows, kRowBlock);
    grow(scratch, static_cast<size_t>(block * hidden));
    float* h = scratch.data();
    for (int64_t r0 = 0; r0 < rows; r0 += block) {
        const int64_t n_rows = std::min(block, rows - r0);
        if (lora && lora->find(mlp.fc1.slot)) {
            // fc1 carries adapter terms: the generic path, then the activation.
            run_linear(pool, mlp.fc1, x + r0 * dim, n_rows, dim, h, hidden, false, lora);
            run_activation(pool, mlp.act, h, n_rows * hidden);
            run_linear(pool, mlp.fc2, h, n_rows, hidden, y + r0 * dim, dim, accumulate, lora);
            continue;
        }
        // fc1 and the activation in one pass: each thread activates the
        // hidden columns it has just written, while they are in its cache.
        const int64_t grain = n_rows == 1 ? 64 : kernels::kGemmNR;
        pool.parallel_for(hidden, grain, [&](int64_t begin, int64_t end) {
            run_linear_block(mlp.fc1, x + r0 * dim, n_rows, dim, h, hidden, false, begin, end);
            for (int64_t r = 0; r < n_rows; ++r) kernels::active().apply_activation(kind, h + r * hidden + begin, end - begin);
        });
        run_linear(pool, mlp.fc2, h, n_rows, hidden, y + r0 * dim, dim, accumulate, lora);
    }
}

void run_self_attention(ThreadPool& pool, const AttentionWeights& attn, const float* x, int64_t sequences,
                        int64_t tokens, float* y, bool accumulate, std::vector<float>& scratch,
                        const LoraSet* lora) {
    const int64_t H = attn.num_heads, hd = attn.head_dim, dim = H * hd;
    if (H <= 0 || hd <= 0) fail_argument("attention: num_heads and head_dim must be positive");
    check_linear(attn.out, "attention out");
    if (attn.out.in_features != dim || attn.out.out_features != dim)
        fail_argument("attention: out projection is [" + std::to_string(attn.out.out_features) + ", " +
                      std::to_string(attn.out.in_features) + "], expected [" + std::to_string(dim) + ", " +
                      std::to_string(dim) + "] (num_heads * head_dim)");
    const bool fused = attn.qkv.weight != nullptr || attn.qkv.packed != nullptr;
    if (fused) {
        check_linear(attn.qkv, "attention qkv");
        if (attn.qkv.in_features != dim || attn.qkv.out_features != 3 * dim)
            fail_argument("attention: qkv projection is [" + std::to_string(attn.qkv.out_features) + ", " +
                          std::to_string(attn.qkv.in_features) + "], expected [" + std::to_string(3 * dim) + ", " +
                          std::to_string(dim) + "]");
    } else {
        for (const Linear* l : {&attn.q, &attn.k, &attn.v}) {
            check_linear(*l, "attention q/k/v");
            if (l->in_features != dim || l->out_features != dim)
                fail_argument("attention: q/k/v projection is [" + std::to_string(l->out_features) + ", " +
                              std::to_string(l->in_features) + "], expected [" + std::to_string(dim) + ", " +
                              std::to_string(dim) + "]");
        }
    }
    if (sequences <= 0 || tokens <= 0) return;

    // Whole sequences per step: about kRowBlock rows, and enough (sequence,
    // head) pairs for about four rounds over the threads, so long sequences
    // (ViT at 384: 577 tokens, 12 heads) do not leave threads idle.
    const int64_t slots = pool.size();
    const int64_t seqs_per_step =
        std::min(sequences, std::max<int64_t>({1, kRowBlock / tokens, (4 * slots + H - 1) / H}));
    const int64_t step_rows = seqs_per_step * tokens;
    const int64_t d3 = 3 * dim;
    const int64_t per_slot = kernels::attention_scratch_floats(tokens);
    grow(scratch, static_cast<size_t>(step_rows * d3 + slots * per_slot));
    float* qkv = scratch.data();             // [step_rows, q | k | v], head h at columns h*hd of each part
    float* head_scratch = qkv + step_rows * d3;

    for (int64_t s0 = 0; s0 < sequences; s0 += seqs_per_step) {
        const int64_t n_seq = std::min(seqs_per_step, sequences - s0);
        const int64_t rows = n_seq * tokens;
        const float* xs = x + s0 * tokens * dim;
        if (fused) {
            run_linear(pool, attn.qkv, xs, rows, dim, qkv, d3, false, lora);
        } else {
            run_linear(pool, attn.q, xs, rows, dim, qkv, d3, false, lora);
            run_linear(pool, attn.k, xs, rows, dim, qkv + dim, d3, false, lora);
            run_linear(pool, attn.v, xs, rows, dim, qkv + 2 * dim, d3, false, lora);
        }
        // (sequence, head) pairs split statically over one slot per thread;
        // each head's output overwrites its own Q columns.
        const int64_t tasks = n_seq * H;
        pool.parallel_for(slots, 1, [&](int64_t slot_begin, int64_t slot_end) {
            for (int64_t slot = slot_begin; slot < slot_end; ++slot) {
                float* mine = head_scratch + slot * per_slot;
                for (int64_t t = tasks * slot / slots; t < tasks * (slot + 1) / slots; ++t) {
                    const int64_t s = t / H, h = t % H;
                    float* base = qkv + s * tokens * d3 + h * hd;
                    kernels::AttentionParams p;
                    p.tokens = tokens;
                    p.head_dim = hd;
                    p.q = base;
                    p.k = base + dim;
                    p.v = base + 2 * dim;
                    p.out = base;
                    p.q_stride = p.k_stride = p.v_stride = p.out_stride = d3;
                    p.scale = 1.0f / std::sqrt(static_cast<float>(hd));
                    p.causal = attn.causal;
                    kernels::active().attention(p, mine);
                }
            }
        });
        run_linear(pool, attn.out, qkv, rows, d3, y + s0 * tokens * dim, dim, accumulate, lora);
    }
}

void run_cached_attention(ThreadPool& pool, const CachedAttention& attn, const float* q, int64_t q_stride, int64_t batch,
                          int64_t tokens, const float* const* k_cache, const float* const* v_cache,
                          int64_t cache_stride, const int64_t* past, float* out, int64_t out_stride,
                          std::vector<float>& scratch) {
    const int64_t H = attn.heads, KV = attn.kv_heads, hd = attn.head_dim;
    if (H <= 0 || KV <= 0 || hd <= 0 || H % KV != 0)
        fail_argument("attention: " + std::to_string(H) + " heads over " + std::to_string(KV) + " KV heads of size " +
                      std::to_string(hd) + " is not a valid layout");
    if (batch <= 0 || tokens <= 0) return;
    int64_t longest = 0;
    for (int64_t b = 0; b < batch; ++b) longest = std::max(longest, past[b] + tokens);
    const int64_t slots = pool.size();
    const int64_t per_slot = kernels::attention_scratch_floats(tokens, longest);
    grow(scratch, static_cast<size_t>(slots * per_slot));
    const int64_t group = H / KV, tasks = batch * H;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    pool.parallel_for(slots, 1, [&](int64_t slot_begin, int64_t slot_end) {
        for (int64_t slot = slot_begin; slot < slot_end; ++slot) {
            float* mine = scratch.data() + slot * per_slot;
            for (int64_t t = tasks * slot / slots; t < tasks * (slot + 1) / slots; ++t) {
                const int64_t b = t / H, h = t % H, kvh = h / group;
                kernels::AttentionParams p;
                p.tokens = tokens;
                p.keys = past[b] + tokens;
                p.head_dim = hd;
                p.q = q + b * tokens * q_stride + h * hd;
                p.q_stride = q_stride;
                p.k = k_cache[b] + kvh * hd;
                p.v = v_cache[b] + kvh * hd;
                p.k_stride = p.v_stride = cache_stride;
                p.out = out + b * tokens * out_stride + h * hd;
                p.out_stride = out_stride;
                p.scale = scale;
                p.causal = true;
                p.query_offset = past[b];
                p.window = attn.window;
                kernels::active().attention(p, mine);
            }
        }
    });
}

int64_t conv2d_output_size(int64_t input, int64_t kernel, int64_t stride, int64_t padding) {
    if (input <= 0 || kernel <= 0 || stride <= 0 || padding < 0)
        fail_argument("conv2d: input " + std::to_string(input) + ", kernel " + std::to_string(kernel) + ", stride " +
                      std::to_string(stride) + ", padding " + std::to_string(padding) + " are not valid");
    const int64_t span = input + 2 * padding - kernel;
    if (span < 0)
        fail_argument("conv2d: input of size " + std::to_string(input) + " (padding " + std::to_string(padding) +
                      ") is smaller than the kernel " + std::to_string(kernel));
    return span / stride + 1;
}

namespace {

void check_conv(const Conv2dWeights& c) {
    if (!c.weight) fail_argument("conv2d: missing weight");
    if (c.in_channels <= 0 || c.out_channels <= 0 || c.groups <= 0 || c.kernel_h <= 0 || c.kernel_w <= 0 ||
        c.stride <= 0 || c.padding < 0)
        fail_argument("conv2d: non-positive channels, groups, kernel or stride, or negative padding");
    if (c.in_channels % c.groups != 0 || c.out_channels % c.groups != 0)
        fail_argument("conv2d: channels " + std::to_string(c.in_channels) + " -> " + std::to_string(c.out_channels) +
                      " are not divisible by groups " + std::to_string(c.groups));
}

}  // namespace

namespace {

// `fused` (Winograd path only): the epilogue to apply in the output transform.
void conv2d_base(ThreadPool& pool, const Conv2dWeights& conv, const float* x, int64_t batch, int64_t h, int64_t w,
                 float* y, std::vector<float>& scratch, const ConvEpilogue* fused = nullptr) {
    check_conv(conv);
    kernels::Conv2dParams p;
    p.batch = batch;
    p.in_channels = conv.in_channels;
    p.out_channels = conv.out_channels;
    p.groups = conv.groups;
    p.in_h = h;
    p.in_w = w;
    p.kernel_h = conv.kernel_h;
    p.kernel_w = conv.kernel_w;
    p.stride = conv.stride;
    p.padding = conv.padding;
    p.out_h = conv2d_output_size(h, conv.kernel_h, conv.stride, conv.padding);
    p.out_w = conv2d_output_size(w, conv.kernel_w, conv.stride, conv.padding);
    p.x = x;
    p.weight = conv.weight;
    p.bias = conv.bias;
    p.y = y;
    if (batch <= 0) return;
    if (h <= 0 || w <= 0) fail_argument("conv2d: empty input " + std::to_string(h) + "x" + std::to_string(w));
    if (!x || !y) fail_argument("conv2d: missing input or output buffer");
    {
        // Every output reads a whole neighbourhood of the input: they must not overlap.
        const float* x_end = x + batch * conv.in_channels * h * w;
        const float* y_end = y + batch * conv.out_channels * p.out_h * p.out_w;
        if (x < y_end && y < x_end) fail_argument("conv2d: output buffer overlaps the input");
    }

    if (conv.winograd) {
        if (conv.kernel_h != 3 || conv.kernel_w != 3 || conv.stride != 1 || conv.padding != 1 || conv.groups != 1 ||
            conv.winograd->in_channels != conv.in_channels || conv.winograd->out_channels != conv.out_channels)
            fail_argument("conv2d: Winograd filters given for a conv that is not 3x3 / stride 1 / padding 1 / groups 1 "
                          "with the same channels");
        kernels::Winograd43Params wp;
        wp.batch = batch;
        wp.height = h;
        wp.width = w;
        wp.x = x;
        wp.weights = conv.winograd;
        wp.bias = conv.bias;
        wp.y = y;
        if (fused) {
            wp.activation = kind_of(fused->activation);
            wp.residual = fused->residual;
            wp.residual_scale = fused->residual_scale;
        }
        const int64_t slots = pool.size();
        const kernels::Winograd43Plan plan = kernels::winograd43_plan(wp, slots);
        grow(scratch, static_cast<size_t>(slots * plan.work_floats));
        pool.parallel_for(slots, 1, [&](int64_t slot_begin, int64_t slot_end) {
            for (int64_t slot = slot_begin; slot < slot_end; ++slot) {
                float* work = scratch.data() + slot * plan.work_floats;
                for (int64_t c = plan.chunks * slot / slots; c < plan.chunks * (slot + 1) / slots; ++c)
                    kernels::active().winograd43_chunk(wp, plan, c, work);
            }
        });
        return;
    }
    if (conv.in_channels == conv.groups) {
        // Depthwise: one input channel per group, direct loops per output plane.
        pool.parallel_for(batch * conv.out_channels, 1,
                          [&](int64_t begin, int64_t end) { kernels::active().conv2d_depthwise(p, begin, end); });
        return;
    }
    // GEMM tiles of output positions per (image, group). Tiles of up to 256
    // columns keep each thread's im2col block in its cache; smaller tiles
    // (whole multiples of 16) when there are fewer images than threads.
    const int64_t positions = p.out_h * p.out_w;
    const int64_t images = batch * conv.groups;
    const int64_t slots = pool.size();
    int64_t tiles = std::max<int64_t>((positions + 255) / 256, (slots + images - 1) / images);
    tiles = std::min<int64_t>(tiles, (positions + 15) / 16);
    const int64_t tile = (positions + tiles - 1) / tiles;
    const int64_t tile_cols = (tile + 15) / 16 * 16;
    tiles = (positions + tile_cols - 1) / tile_cols;
    const int64_t per_slot = kernels::conv2d_im2col_floats(p, tile_cols);
    grow(scratch, static_cast<size_t>(std::max<int64_t>(1, slots * per_slot)));
    const int64_t items = images * tiles;
    pool.parallel_for(slots, 1, [&](int64_t slot_begin, int64_t slot_end) {
        for (int64_t slot = slot_begin; slot < slot_end; ++slot) {
            float* cols = scratch.data() + slot * per_slot;
            for (int64_t it = items * slot / slots; it < items * (slot + 1) / slots; ++it) {
                const int64_t image = it / tiles, t = it % tiles;
                const int64_t c0 = t * tile_cols, c1 = std::min(positions, c0 + tile_cols);
                kernels::active().conv2d_gemm_tile(p, image / conv.groups, image % conv.groups, c0, c1, cols);
            }
        }
    });
}

// y += the active LoRA terms of `conv` (before any activation).
void add_conv2d_lora(ThreadPool& pool, const Conv2dWeights& conv, const SlotAdapters& active, const float* x,
                     int64_t batch, int64_t h, int64_t w, float* y) {
    const int64_t oh = conv2d_output_size(h, conv.kernel_h, conv.stride, conv.padding);
    const int64_t ow = conv2d_output_size(w, conv.kernel_w, conv.stride, conv.padding);
    const int64_t positions = oh * ow, out = conv.out_channels;
    std::vector<float> t, t_scratch;
    for (const LoraTerm& term : active.terms) {
        const LoraModule& m = *term.module;
        const int64_t rank = m.rank, groups = m.target.groups;
        const int64_t rank_per_group = rank / groups, out_per_group = out / groups;
        // t [batch, r, oh, ow] = A * x: a conv with the base's geometry and r outputs.
        Conv2dWeights down;
        down.weight = m.down.data();
        down.in_channels = conv.in_channels;
        down.out_channels = rank;
        down.kernel_h = conv.kernel_h;
        down.kernel_w = conv.kernel_w;
        down.stride = conv.stride;
        down.padding = conv.padding;
        grow(t, static_cast<size_t>(batch * rank * positions));
        conv2d_base(pool, down, x, batch, h, w, t.data(), t_scratch);
        // y[b, o] += scale * bn[o] * sum_j B[o, j] t[b, group(o) * r/g + j]: B is a grouped 1x1 conv.
        pool.parallel_for(batch * out, 1, [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) {
                const int64_t b = i / out, o = i % out;
                const float coef = term.scale * (m.target.out_scale ? m.target.out_scale[o] : 1.0f);
                float* dst = y + i * positions;
                const float* src = t.data() + (b * rank + (o / out_per_group) * rank_per_group) * positions;
                for (int64_t j = 0; j < rank_per_group; ++j) {
                    const float c = coef * m.up[o * rank_per_group + j];
                    const float* tj = src + j * positions;
                    for (int64_t p = 0; p < positions; ++p) dst[p] += c * tj[p];
                }
            }
        });
    }
}

}  // namespace

void run_conv2d(ThreadPool& pool, const Conv2dWeights& conv, const float* x, int64_t batch, int64_t h, int64_t w,
                float* y, std::vector<float>& scratch, const LoraSet* lora, const ConvEpilogue& epilogue) {
    const SlotAdapters* active = lora ? lora->find(conv.slot) : nullptr;
    const bool has_epilogue = epilogue.activation != Activation::None || epilogue.residual;
    const int64_t out = conv.out_channels;
    const auto out_positions = [&] {
        return conv2d_output_size(h, conv.kernel_h, conv.stride, conv.padding) *
               conv2d_output_size(w, conv.kernel_w, conv.stride, conv.padding);
    };
    if (epilogue.residual && batch > 0) {
        const int64_t n_out = batch * out * out_positions(), n_in = batch * conv.in_channels * h * w;
        const float* r = epilogue.residual;
        if ((r < y + n_out && y < r + n_out) || (x && r < x + n_in && x < r + n_out))
            fail_argument("conv2d: the residual overlaps the input or the output");
    }
    // Fused: the Winograd path applies the epilogue itself, unless LoRA terms must come before it.
    const bool fuse = has_epilogue && conv.winograd && !(active && !active->terms.empty());
    conv2d_base(pool, conv, x, batch, h, w, y, scratch, fuse ? &epilogue : nullptr);
    if (active && batch > 0) add_conv2d_lora(pool, conv, *active, x, batch, h, w, y);
    if (!has_epilogue || fuse || batch <= 0) return;
    const int64_t positions = out_positions();
    if (epilogue.activation != Activation::None) run_activation(pool, epilogue.activation, y, batch * out * positions);
    if (epilogue.residual) {
        pool.parallel_for(batch * out, 1, [&](int64_t p0, int64_t p1) {
            for (int64_t plane = p0; plane < p1; ++plane) {
                const float s = epilogue.residual_scale ? epilogue.residual_scale[plane % out] : 1.0f;
                float* dst = y + plane * positions;
                const float* res = epilogue.residual + plane * positions;
                for (int64_t i = 0; i < positions; ++i) dst[i] = res[i] + s * dst[i];
            }
        });
    }
}

void add_conv1d_lora(ThreadPool& pool, const SlotAdapters& active, const float* x, int64_t x_stride,
                     int64_t sequences, int64_t tokens, float* y, int64_t y_stride) {
    std::vector<float> t;
    for (const LoraTerm& term : active.terms) {
        const LoraModule& m = *term.module;
        const int64_t rank = m.rank, in = m.target.in, out = m.target.out, K = m.target.kernel_w;
        const int64_t left = m.target.padding;  // 'same': (K - 1) / 2 zeros before, the rest after
        const int64_t rank_per_group = rank / m.target.groups, out_per_group = out / m.target.groups;
        // t [sequences * tokens, r] = sum over taps k of x shifted by k - left, times A_k^T (one GEMM per tap).
        grow(t, static_cast<size_t>(sequences * tokens * rank));
        pool.parallel_for(sequences, 1, [&](int64_t s0, int64_t s1) {
            for (int64_t s = s0; s < s1; ++s) {
                float* ts = t.data() + s * tokens * rank;
                std::fill(ts, ts + tokens * rank, 0.0f);
                for (int64_t k = 0; k < K; ++k) {
                    const int64_t shift = k - left;  // output t reads input t + shift
                    const int64_t t0 = std::max<int64_t>(0, -shift), t1 = std::min(tokens, tokens - shift);
                    if (t1 <= t0) continue;
                    kernels::LinearParams p;
                    p.rows = t1 - t0;
                    p.in_features = in;
                    p.out_features = rank;
                    p.x = x + (s * tokens + t0 + shift) * x_stride;
                    p.x_stride = x_stride;
                    p.weight = m.down.data() + k * rank * in;
                    p.y = ts + t0 * rank;
                    p.y_stride = rank;
                    p.accumulate = true;
                    kernels::active().linear(p, 0, rank);
                }
            }
        });
        // y[row, o] += scale * sum_j B[o, j] t[row, group(o) * r/g + j]
        pool.parallel_for(sequences * tokens, 16, [&](int64_t r0, int64_t r1) {
            for (int64_t row = r0; row < r1; ++row) {
                const float* tr = t.data() + row * rank;
                float* dst = y + row * y_stride;
                for (int64_t o = 0; o < out; ++o) {
                    const float* b = m.up.data() + o * rank_per_group;
                    const float* tg = tr + (o / out_per_group) * rank_per_group;
                    float acc = 0.0f;
                    for (int64_t j = 0; j < rank_per_group; ++j) acc += b[j] * tg[j];
                    dst[o] += term.scale * acc;
                }
            }
        });
    }
}

void register_conv2d(AdapterTargets& targets, const std::string& name, Conv2dWeights& conv, const float* out_scale) {
    AdapterTarget t;
    t.kind = TargetKind::Conv2d;
    t.in = conv.in_channels;
    t.out = conv.out_channels;
    t.kernel_h = conv.kernel_h;
    t.kernel_w = conv.kernel_w;
    t.stride = conv.stride;
    t.padding = conv.padding;
    t.groups = conv.groups;
    t.has_bias = conv.bias != nullptr;
    t.out_scale = out_scale;
    conv.slot = targets.add(name, t);
}

void fold_batch_norm(const Conv2dWeights& conv, const float* gamma, const float* beta, const float* mean,
                     const float* var, float eps, std::vector<float>& weight_out, std::vector<float>& bias_out) {
    check_conv(conv);
    if (!gamma || !beta || !mean || !var) fail_argument("fold_batch_norm: missing BatchNorm parameters");
    const int64_t per_out = conv.in_channels / conv.groups * conv.kernel_h * conv.kernel_w;
    weight_out.resize(static_cast<size_t>(conv.out_channels * per_out));
    bias_out.resize(static_cast<size_t>(conv.out_channels));
    for (int64_t oc = 0; oc < conv.out_channels; ++oc) {
        if (!(var[oc] + eps > 0.0f))
            fail_format("fold_batch_norm: running_var[" + std::to_string(oc) + "] + eps is not positive");
        // In double, rounded once: as close to the unfolded conv + BN as fp32 allows.
        const double s = static_cast<double>(gamma[oc]) / std::sqrt(static_cast<double>(var[oc]) + eps);
        for (int64_t i = 0; i < per_out; ++i)
            weight_out[oc * per_out + i] = static_cast<float>(conv.weight[oc * per_out + i] * s);
        const double b = conv.bias ? conv.bias[oc] : 0.0;
        bias_out[oc] = static_cast<float>((b - mean[oc]) * s + beta[oc]);
    }
}

void run_selective_ssm(ThreadPool& pool, const SelectiveSsmWeights& ssm, const float* u, int64_t u_stride,
                       const float* z, int64_t z_stride, int64_t sequences, int64_t tokens, float* const* h, float* y,
                       int64_t y_stride, float* scratch, const LoraSet* lora) {
    const int64_t E = ssm.channels, N = ssm.state, R = ssm.rank, M = sequences * tokens;
    const int64_t dbl = R + 2 * N;
    float* x_dbl = scratch;                                 // [M, R + 2N]: dt_r | B | C
    float* dt = x_dbl + M * dbl;                            // [M, E]: dt_proj(dt_r), before dt_bias
    run_linear(pool, ssm.x_proj, u, M, u_stride, x_dbl, dbl, false, lora);
    run_linear(pool, ssm.dt_proj, x_dbl, M, dbl, dt, E, false, lora);

    constexpr int64_t kBlock = 16;  // channels per work item: one AVX-512 vector
    const int64_t blocks = (E + kBlock - 1) / kBlock;
    pool.parallel_for(sequences * blocks, 1, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            const int64_t s = i / blocks, e0 = (i % blocks) * kBlock, e1 = std::min(E, e0 + kBlock);
            const int64_t row0 = s * tokens;
            kernels::SelectiveScanParams p;
            p.length = tokens;
            p.channels = E;
            p.state = N;
            p.u = u + row0 * u_stride;
            p.u_stride = u_stride;
            p.delta = dt + row0 * E;
            p.delta_stride = E;
            p.delta_bias = ssm.dt_bias;
            p.delta_softplus = true;
            p.A = ssm.A;
            p.B = x_dbl + row0 * dbl + R;
            p.B_stride = dbl;
            p.C = x_dbl + row0 * dbl + R + N;
            p.C_stride = dbl;
            p.D = ssm.D;
            p.z = z ? z + row0 * z_stride : nullptr;
            p.z_stride = z_stride;
            p.h = h[s];
            p.y = y + row0 * y_stride;
            p.y_stride = y_stride;
            kernels::active().selective_scan(p, e0, e1);
        }
    });
}

}  // namespace krait
