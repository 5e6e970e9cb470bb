#include "sdk/models/ops.h"

#include <cstring>

#include "kernels/cpu/dispatch.h"

#include "sdk/core/error.h"
#include "sdk/core/text_file.h"

namespace krait {

namespace {

kernels::LinearParams linear_params(const Linear& layer, const float* x, int64_t rows, int64_t x_stride, float* y,
                                    int64_t y_stride, bool accumulate) {
    kernels::LinearParams p;
    p.rows = rows;
    p.in_features = layer.in_features;
    p.out_features = layer.out_features;
    p.x = x;
    p.x_stride = x_stride;
    p.weight = layer.weight;
    p.bias = layer.bias;
    p.y = y;
    p.y_stride = y_stride;
    p.accumulate = accumulate;
    p.weight_type = layer.weight_type;
    p.weight_half = layer.weight_half;
    return p;
}

// Whole cache lines of output per thread; small layers stay on one thread.
// Multi-row calls split into whole panels of the packed GEMM (kGemmNR = 32).
int64_t output_grain(int64_t rows) { return rows == 1 ? 64 : kernels::kGemmNR; }

// The base GEMM of one thread's output columns [begin, end).
void linear_block(const Linear& layer, const kernels::LinearParams& p, int64_t begin, int64_t end) {
    // Packed and released (pack_replacing): no row-major weight left; gemm.h measured M = 1 on par with Eigen
    // (F32), and ahead of linear_half for F16/BF16 panels (docs/PERFORMANCE.md).
    if (layer.packed && (p.rows > 1 || (!layer.weight && !layer.weight_half))) {
        kernels::GemmParams g;
        g.rows = p.rows;
        g.x = p.x;
        g.x_stride = p.x_stride;
        g.weights = layer.packed;
        g.bias = p.bias;
        g.y = p.y;
        g.y_stride = p.y_stride;
        g.accumulate = p.accumulate;
        if (layer.packed->bf16_products_allowed()) g.bf16_products = kernels::bf16_products();
        kernels::active().gemm_packed(g, begin, end);
    } else {
        kernels::active().linear(p, begin, end);
    }
}

}  // namespace

Linear make_linear(const float* weight_f32, const uint16_t* weight_half, kernels::WeightType type, const float* bias,
                   int64_t in_features, int64_t out_features) {
    Linear l;
    l.weight = weight_f32;
    l.bias = bias;
    l.in_features = in_features;
    l.out_features = out_features;
    l.weight_type = type;
    l.weight_half = weight_half;
    return l;
}

void PackedStore::pack(Linear& layer) {
    if (layer.weight_type != kernels::WeightType::F32 || !layer.weight)
        fail(KRAIT_ERR_INTERNAL, "PackedStore::pack: only F32 weights can be packed");
    items_.push_back(std::make_unique<kernels::PackedWeights>(
        kernels::pack_weights(layer.weight, layer.out_features, layer.in_features)));
    bytes_ += items_.back()->bytes();
    layer.packed = items_.back().get();
}

void PackedStore::pack_replacing(Linear& layer, WeightLoader& loader) {
    if (layer.weight_type == kernels::WeightType::F32) {
        pack(layer);
        loader.release(layer.weight);
        layer.weight = nullptr;
        return;
    }
    if (!layer.weight_half) fail(KRAIT_ERR_INTERNAL, "PackedStore::pack_replacing: no F16/BF16 weight");
    items_.push_back(std::make_unique<kernels::PackedWeights>(
        kernels::pack_weights_half(layer.weight_half, layer.weight_type, layer.out_features, layer.in_features)));
    items_.back()->allow_bf16_products(loader.options().bf16_products);
    bytes_ += items_.back()->bytes();
    layer.packed = items_.back().get();
    loader.release(layer.weight_half);
    layer.weight_half = nullptr;
}

const kernels::Winograd43Weights* PackedStore::pack_winograd(const float* weight, int64_t out_channels,
                                                             int64_t in_channels, int64_t kernel_h, int64_t kernel_w,
                                                             int64_t stride, int64_t padding, int64_t groups) {
    if (kernel_h != 3 || kernel_w != 3 || stride != 1 || padding != 1 || groups != 1) return nullptr;
    winograd_.push_back(std::make_unique<kernels::Winograd43Weights>(
        kernels::winograd43_pack(weight, out_channels, in_channels)));
    bytes_ += winograd_.back()->bytes();
    return winograd_.back().get();
}

void run_linear_block(const Linear& layer, const float* x, int64_t rows, int64_t x_stride, float* y, int64_t y_stride,
                      bool accumulate, int64_t begin, int64_t end) {
    linear_block(layer, linear_params(layer, x, rows, x_stride, y, y_stride, accumulate), begin, end);
}

Linear effective_linear(const Linear& layer, const LoraSet* lora) {
    const ModuleReplacement* r = lora ? lora->replacement(layer.slot) : nullptr;
    if (!r) return layer;
    return Linear{r->weight.data(), r->bias.empty() ? nullptr : r->bias.data(), layer.in_features, r->out, layer.slot,
                  nullptr};
}

void run_linear(ThreadPool& pool, const Linear& layer, const float* x, int64_t rows, int64_t x_stride, float* y,
                int64_t y_stride, bool accumulate, const LoraSet* lora) {
    const SlotAdapters* active = lora ? lora->find(layer.slot) : nullptr;
    const Linear base = effective_linear(layer, lora);
    const kernels::LinearParams p = linear_params(base, x, rows, x_stride, y, y_stride, accumulate);
    if (!active || active->terms.empty()) {
        pool.parallel_for(base.out_features, output_grain(rows),
                          [&](int64_t begin, int64_t end) { linear_block(base, p, begin, end); });
        return;
    }

    // Down: t[rows, R] = x A_i^T * scale_i for every term, side by side (R = sum of ranks).
    // The buffer belongs to the calling (session) thread; workers only read it.
    thread_local std::vector<float> t_buffer;
    int64_t R = 0;
    for (const LoraTerm& term : active->terms) R += term.module->rank;
    float* t = grow_buffer(t_buffer, rows * R);
    pool.parallel_for(rows, 32, [&](int64_t r0, int64_t r1) {
        int64_t offset = 0;
        for (const LoraTerm& term : active->terms) {
            const int64_t rank = term.module->rank;
            kernels::GemmParams down;  // t[rows, rank] = x A^T, on the packed A (one FMA chain per output)
            down.rows = r1 - r0;
            down.x = x + r0 * x_stride;
            down.x_stride = x_stride;
            down.weights = &term.module->down_packed;
            down.y = t + r0 * R + offset;
            down.y_stride = R;
            kernels::active().gemm_packed(down, 0, rank);
            for (int64_t r = r0; r < r1; ++r)
                for (int64_t j = 0; j < rank; ++j) t[r * R + offset + j] *= term.scale;
            offset += rank;
        }
    });
    // Up, fused with the base GEMM: each thread adds t B_i^T to the output columns it has just written.
    pool.parallel_for(base.out_features, output_grain(rows), [&](int64_t begin, int64_t end) {
        linear_block(base, p, begin, end);
        int64_t offset = 0;
        for (const LoraTerm& term : active->terms) {
            kernels::LoraUpParams up;
            up.rows = rows;
            up.rank = term.module->rank;
            up.t = t + offset;
            up.t_stride = R;
            up.Bt = term.module->up.data();  // B^T for linear modules
            up.out_features = base.out_features;
            up.y = y;
            up.y_stride = y_stride;
            kernels::active().lora_up(up, begin, end);
            offset += term.module->rank;
        }
    });
}

void run_input_rows(ThreadPool& pool, const Embedding& table, const TokenRows& in, int64_t batch, int64_t length,
                    float* out, const LoraSet* lora) {
    if (in.ids) return run_embedding(pool, table, in.ids, batch, length, in.stride, out, lora);
    const int64_t D = table.dim;
    for (int64_t b = 0; b < batch; ++b)
        std::memcpy(out + b * length * D, in.embeddings + b * in.stride * D, sizeof(float) * static_cast<size_t>(length * D));
}

void run_embedding(ThreadPool& pool, const Embedding& table, const int32_t* ids, int64_t batch, int64_t length,
                   int64_t ids_stride, float* out, const LoraSet* lora) {
    const SlotAdapters* active = lora ? lora->find(table.slot) : nullptr;
    const bool replaced = active && active->replacement;
    const float* weight = replaced ? active->replacement->weight.data() : table.weight;
    const bool half = !replaced && table.weight_type != kernels::WeightType::F32;
    const int64_t D = table.dim;
    pool.parallel_for(batch * length, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t row = r0; row < r1; ++row) {
            const int64_t id = ids[(row / length) * ids_stride + row % length];
            float* dst = out + row * D;
            if (half) kernels::active().widen_half(table.weight_type, table.weight_half + id * D, D, dst);
            else std::memcpy(dst, weight + id * D, sizeof(float) * static_cast<size_t>(D));
            if (!active) continue;
            // peft's Embedding LoRA: E[id] + scale * B A[:, id], with A^T stored row per token.
            for (const LoraTerm& term : active->terms) {
                const int64_t rank = term.module->rank;
                const float* a = term.module->down.data() + id * rank;  // [r]
                const float* B = term.module->up.data();                 // [D, r]
                for (int64_t d = 0; d < D; ++d) {
                    float acc = 0.0f;
                    for (int64_t j = 0; j < rank; ++j) acc += B[d * rank + j] * a[j];
                    dst[d] += term.scale * acc;
                }
            }
        }
    });
}

void register_linear(AdapterTargets& targets, const std::string& name, Linear& layer, bool is_head) {
    AdapterTarget t;
    t.kind = TargetKind::Linear;
    t.in = layer.in_features;
    t.out = layer.out_features;
    t.has_bias = layer.bias != nullptr;
    t.replaceable = true;
    t.is_head = is_head;
    t.base_weight = layer.weight;
    t.base_weight_half = layer.weight_half;
    t.base_weight_type = layer.weight_type;
    t.base_packed = layer.packed;
    layer.slot = targets.add(name, t);
}

}  // namespace krait
