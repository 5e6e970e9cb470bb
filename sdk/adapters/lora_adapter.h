// LoraAdapter: one PEFT LoRA adapter folder (adapter_config.json +
// adapter_model.safetensors, optional config.json with label names), loaded
// and checked against one model's AdapterTargets.
//
// An adapter is immutable once loaded and owns copies of its (small) tensors
// in F32, laid out for the forward pass; the base model's weights are never
// touched. Sessions share it through shared_ptr, so it lives until the last
// session using it has moved on, whatever the caller does with its handle.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "sdk/adapters/adapter_targets.h"
#include "sdk/adapters/lora_config.h"

namespace krait {

// The low-rank update of one module: delta(x) = scaling * B (A x).
struct LoraModule {
    std::string name;         // the base module as the checkpoint names it
    std::string adapter_key;  // the module as the adapter file names it
    AdapterTarget target;     // copy of the model's entry (slot, kind, shapes, folded BatchNorm scale)
    int64_t rank = 0;
    float scaling = 0.0f;     // lora_alpha / r (or / sqrt(r) with rslora), before the session's scale
    // Linear:    down = A [r, in],            up = B^T [r, out] (the layout kernels::lora_up streams)
    // Conv2d:    down = A [r, in, kh, kw],    up = B [out, r / groups] (1x1 kernel squeezed)
    // Conv1d:    down = A as K taps [K][r, in] (tap k = A[:, :, k]), up = B [out, r / groups]
    // Embedding: down = A^T [V, r] (row per token), up = B [D, r]
    std::vector<float> down, up;
    // Linear: A packed for kernels::gemm_packed ([r, in] as rank output features), which the down
    // projection runs on: one FMA chain per output whatever the number of rows, so a token's update
    // does not depend on how its sequence was cut into calls (decode steps vs one prefill).
    kernels::PackedWeights down_packed;
};

// A whole module replaced (peft modules_to_save), e.g. a new classifier head.
struct ModuleReplacement {
    std::string name;
    AdapterTarget target;
    int64_t out = 0;            // rows of `weight`; differs from target.out only for a head
    std::vector<float> weight;  // Linear [out, in]; Embedding [V, D]
    std::vector<float> bias;    // [out] or empty
    std::vector<std::string> labels;  // a head's class names (config.json id2label, else "LABEL_<i>")
};

class LoraAdapter {
public:
    // Loads `dir` for the model whose adaptable modules are `targets`. Every
    // tensor must resolve to a module of that model with fitting shapes;
    // throws krait::Error naming the file and key otherwise (IO: missing files;
    // FORMAT: malformed, mismatched, non-finite; UNSUPPORTED: LoRA variants and
    // modules Krait cannot adapt). `name` empty = the folder's name.
    static std::shared_ptr<const LoraAdapter> load(const std::string& dir, const AdapterTargets& targets,
                                                   const std::string& name);

    const std::string& name() const { return name_; }
    const std::string& dir() const { return dir_; }
    const LoraConfig& config() const { return config_; }
    const AdapterTargets* targets() const { return targets_; }  // identifies the model it was loaded for
    const std::vector<LoraModule>& modules() const { return modules_; }
    const std::vector<ModuleReplacement>& replacements() const { return replacements_; }
    // The replaced head, if the adapter has one (its labels are the session's while it is active).
    const ModuleReplacement* head() const;
    int64_t max_rank() const;
    int64_t num_parameters() const;
    // Unique in the process (never reused, unlike an address): tells which adapters computed a
    // session's state (krait_session's AdapterStamp).
    uint64_t serial() const { return serial_; }

private:
    LoraAdapter();

    std::string name_, dir_;
    LoraConfig config_;
    const AdapterTargets* targets_ = nullptr;
    std::vector<LoraModule> modules_;
    std::vector<ModuleReplacement> replacements_;
    uint64_t serial_;
};

}  // namespace krait
