// Threaded building blocks shared by every model: each splits one kernel
// from kernels/cpu over a session's ThreadPool. Written once, used by all.
//
// Every adaptable layer carries the slot number its model registered in its
// AdapterTargets; when a call has active LoRA adapters (a LoraSet), the
// functions here add their low-rank terms, unmerged:
//   y = W x + b + sum_i scale_i * B_i (A_i x)
// or use a module that an adapter replaces (modules_to_save).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/winograd.h"
#include "sdk/models/language_model.h"
#include "sdk/adapters/lora_set.h"
#include "sdk/core/thread_pool.h"
#include "sdk/models/weight_loader.h"

namespace krait {

// An nn.Linear as loaded: weight [out, in] row-major, optional bias [out].
// The weight is F32 (weight) or, for models loaded as stored, F16/BF16 read
// in place from the memory map (weight_half, weight = nullptr), or only its
// packed panels (packed; weight and weight_half nullptr after pack_replacing).
struct Linear {
    const float* weight = nullptr;
    const float* bias = nullptr;
    int64_t in_features = 0;
    int64_t out_features = 0;
    int32_t slot = -1;  // AdapterTargets slot; -1 = not adaptable
    // The weight packed for kernels::gemm_packed (owned by the model's
    // PackedStore): F32 panels, or F16/BF16 panels of a weight kept as stored.
    // Used when a call has more than one row, or for every call when the
    // row-major weight was given back (weight and weight_half both nullptr);
    // nullptr = Eigen / linear_half.
    const kernels::PackedWeights* packed = nullptr;
    kernels::WeightType weight_type = kernels::WeightType::F32;
    const uint16_t* weight_half = nullptr;  // [out, in] when weight_type is F16/BF16
};

// A Linear over a weight as the loader returned it (weight_loader.h's StoredWeight
// holds the same three fields): F32 or in-place F16/BF16.
Linear make_linear(const float* weight_f32, const uint16_t* weight_half, kernels::WeightType type, const float* bias,
                   int64_t in_features, int64_t out_features);

// Owns the packed copies of a model's linear layers, made once at load. The
// packed GEMM runs at ~1.5x Eigen's (no per-call repacking of the weights);
// single-row calls stream the original row-major weight unless the layer was
// packed with pack_replacing() (then the packed copy serves every call). F32
// weights give F32 panels, F16/BF16 weights kept as stored give panels in
// their own type (half the bytes; kernels/cpu/gemm.h); the packed copy is the
// only copy held once pack_replacing gave the row-major one back.
class PackedStore {
public:
    // Packs an F32 layer, keeping its row-major weight too (single rows read
    // it). Throws KRAIT_ERR_INTERNAL for an F16/BF16 layer.
    void pack(Linear& layer);
    // Packs `layer` (F32, or F16/BF16 as stored) and gives its row-major
    // weight back to `loader` (freed if it was converted, its mapped pages
    // dropped if used in place): the packed copy then serves every call,
    // single rows included, and the model holds one copy of the weights.
    // layer.weight and layer.weight_half become nullptr.
    void pack_replacing(Linear& layer, WeightLoader& loader);
    // The Winograd filters of a 3x3 / stride 1 / padding 1 / groups 1 conv
    // (4x its weights; each such conv then does a quarter of the multiply-adds).
    // Returns the transformed weights, or nullptr for a conv of another shape.
    const kernels::Winograd43Weights* pack_winograd(const float* weight, int64_t out_channels, int64_t in_channels,
                                                   int64_t kernel_h, int64_t kernel_w, int64_t stride, int64_t padding,
                                                   int64_t groups);
    size_t bytes() const { return bytes_; }

private:
    std::vector<std::unique_ptr<kernels::PackedWeights>> items_;
    std::vector<std::unique_ptr<kernels::Winograd43Weights>> winograd_;
    size_t bytes_ = 0;
};

// An nn.Embedding: weight [num_embeddings, dim], F32 or F16/BF16 in place
// (as Linear; rows are widened as they are gathered).
struct Embedding {
    const float* weight = nullptr;
    int64_t num_embeddings = 0;
    int64_t dim = 0;
    int32_t slot = -1;
    kernels::WeightType weight_type = kernels::WeightType::F32;
    const uint16_t* weight_half = nullptr;  // [num_embeddings, dim] when weight_type is F16/BF16
};

// The layer a call uses: `layer`, or its replacement under `lora` (same
// input width; a replaced classifier head may have another out_features).
Linear effective_linear(const Linear& layer, const LoraSet* lora);

// y[rows, out] (=|+=) x[rows, in] W^T + b (+ active LoRA terms), split over output features.
void run_linear(ThreadPool& pool, const Linear& layer, const float* x, int64_t rows, int64_t x_stride, float* y,
                int64_t y_stride, bool accumulate = false, const LoraSet* lora = nullptr);

// One thread's share of a linear layer (no adapters): output columns
// [begin, end), which must be whole kGemmNR panels except at the end.
void run_linear_block(const Linear& layer, const float* x, int64_t rows, int64_t x_stride, float* y, int64_t y_stride,
                      bool accumulate, int64_t begin, int64_t end);

// out[b * length + t] = E[ids[b * ids_stride + t]] (+ active LoRA terms), rows of `dim` floats.
// Ids must be in range (checked by the caller).
void run_embedding(ThreadPool& pool, const Embedding& table, const int32_t* ids, int64_t batch, int64_t length,
                   int64_t ids_stride, float* out, const LoraSet* lora = nullptr);

// The input rows of an eval (language_model.h's TokenRows) into out [batch * length, dim]: the ids'
// embeddings (run_embedding), or the given embedding rows copied.
void run_input_rows(ThreadPool& pool, const Embedding& table, const TokenRows& in, int64_t batch, int64_t length,
                    float* out, const LoraSet* lora);

// Registers a Linear's slot: `name` as the checkpoint names the module.
void register_linear(AdapterTargets& targets, const std::string& name, Linear& layer, bool is_head = false);

}  // namespace krait
