// LoraConfig: adapter_config.json of a PEFT LoRA adapter, as peft 0.21 writes it.
//
// Only what changes the computation is read; unknown fields are ignored (peft
// adds fields often). Features Krait does not implement are refused by name
// (DoRA, lora_bias, trained biases, other PEFT methods) rather than ignored,
// because ignoring them would give silently different outputs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace krait {

struct LoraConfig {
    int64_t r = 8;
    double lora_alpha = 8.0;
    bool use_rslora = false;
    bool fan_in_fan_out = false;
    // peft's patterns, in file order (the first match wins, as peft's get_pattern_key).
    std::vector<std::pair<std::string, int64_t>> rank_pattern;
    std::vector<std::pair<std::string, double>> alpha_pattern;
    // target_modules: a list of module-name suffixes, or one regex matched
    // against the whole name, or "all-linear"; absent = not checked.
    std::optional<std::vector<std::string>> target_list;
    std::optional<std::string> target_regex;
    bool all_linear = false;
    std::vector<std::string> modules_to_save;

    // Parses adapter_config.json text. Throws KRAIT_ERR_FORMAT naming the
    // field, KRAIT_ERR_UNSUPPORTED for non-LoRA methods and LoRA variants.
    static LoraConfig from_json_text(const std::string& text, const std::string& origin);

    // Per-module rank / alpha (rank_pattern / alpha_pattern, else r / lora_alpha)
    // for a module name as the adapter spells it ("vit.layers.0.attention.q_proj").
    int64_t rank_for(const std::string& module) const;
    double alpha_for(const std::string& module) const;
    // alpha / r, or alpha / sqrt(r) with use_rslora.
    double scaling_for(const std::string& module, int64_t rank) const;
    // Whether target_modules names `module` (always true when it is absent or "all-linear").
    bool targets(const std::string& module) const;
    // Whether `module` is (or ends with) one of modules_to_save.
    bool saves(const std::string& module) const;
};

}  // namespace krait
