// AdapterTargets: the modules of a loaded model that a LoRA adapter may
// change, by the names checkpoints give them, and how adapter module names
// map onto them for this architecture.
//
// Each model registers its adaptable modules once, at load: every Linear,
// Embedding and convolution gets a slot number (stored in the model's own
// weight structs) and a description of its shape. Adapters resolve their keys
// against this table when they are loaded, and sessions pass the resolved
// per-slot terms (LoraSet) to the forward pass. The table is immutable after
// the model is loaded, so adapters can be loaded from any thread at any time.
#pragma once

#include <cstdint>
#include <map>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/linear_half.h"

namespace krait {

enum class TargetKind { Linear, Embedding, Conv1d, Conv2d };

const char* target_kind_name(TargetKind kind);

struct AdapterTarget {
    TargetKind kind = TargetKind::Linear;
    int32_t slot = -1;
    // Linear: in/out features. Embedding: in = num_embeddings (V), out = embedding_dim.
    // Conv: in/out channels.
    int64_t in = 0, out = 0;
    int64_t kernel_h = 1, kernel_w = 1, stride = 1, padding = 0, groups = 1;  // convs (Conv1d: kernel_w only)
    bool has_bias = false;  // the base module's bias (a modules_to_save replacement must match)
    // A BatchNorm folded into this conv at load: the adapter's delta passes
    // through it too, BN(conv(x) + d) = folded(x) + out_scale * d. [out] or nullptr.
    const float* out_scale = nullptr;
    // Whether modules_to_save may replace this module, and whether the
    // replacement may have another number of outputs (a classifier head).
    bool replaceable = false;
    bool is_head = false;
    // The model's own weight (F32, [out, in] / [V, D]) where an adapter file may
    // hold a copy of it (peft's save_embedding_layers for embeddings and lm_head).
    // F16/BF16 models loaded as stored: base_weight is nullptr and the weight is here.
    const float* base_weight = nullptr;
    const uint16_t* base_weight_half = nullptr;
    kernels::WeightType base_weight_type = kernels::WeightType::F32;
    // Packed linears that keep no row-major copy (PackedStore::pack_replacing): the packed weight.
    const kernels::PackedWeights* base_packed = nullptr;
    bool has_base_weight() const { return base_weight || base_weight_half || base_packed; }
    // Element i of the base weight ([out, in] / [V, D] row-major order), widened to F32.
    float base_weight_at(size_t i) const {
        if (base_weight) return base_weight[i];
        if (base_weight_half) return kernels::half_to_f32(base_weight_type, base_weight_half[i]);
        const int64_t K = base_packed->in_features(), n = static_cast<int64_t>(i) / K, k = static_cast<int64_t>(i) % K;
        return base_packed->at(n, k);
    }
    // Non-empty: the module exists but Krait cannot adapt it; this says why.
    std::string unsupported;
};

class AdapterTargets {
public:
    // Registers `name` (as the checkpoint names it, e.g.
    // "backbone.layers.0.mixer.in_proj") and returns its slot.
    int32_t add(const std::string& name, AdapterTarget target);
    // A module that exists but cannot be adapted (the reason is reported to users).
    void add_unsupported(const std::string& name, TargetKind kind, const std::string& why);
    // Adapter names that differ from checkpoint names: every rule whose regex
    // matches the whole adapter module name rewrites it (ECMAScript format,
    // "$1" for groups) before the lookup, e.g. transformers 5's
    // "vit.layers.(\d+).attention.q_proj" -> "vit.encoder.layer.$1.attention.attention.query".
    void add_alias(const std::string& pattern, const std::string& replacement);

    // The target an adapter's module name designates, after the aliases; nullptr if none.
    // `resolved` receives the checkpoint name.
    const AdapterTarget* resolve(const std::string& adapter_module, std::string* resolved = nullptr) const;

    // Adds every module of `other` (another model's table: an assistant's image encoder) under
    // `prefix` + its name, with slots numbered after this table's, and its aliases with the prefix
    // on both sides. Returns the offset of other's slots in this table (other's slot s is now
    // offset + s). Throws KRAIT_ERR_INVALID_ARGUMENT for a name registered twice.
    int32_t merge(const AdapterTargets& other, const std::string& prefix = "");
    size_t slots() const { return slot_count_; }
    const std::string& architecture() const { return architecture_; }
    void set_architecture(std::string arch) { architecture_ = std::move(arch); }

private:
    std::string architecture_;
    std::map<std::string, AdapterTarget> targets_;
    struct Alias {
        std::string pattern;  // the source of `re` (merge() prefixes it)
        std::regex re;
        std::string replacement;
    };
    std::vector<Alias> aliases_;
    size_t slot_count_ = 0;
};

}  // namespace krait
