// PEFT adapter_config.json (sdk/adapters/lora_config.h): r, lora_alpha, target_modules (a list or
// a regex), rank_pattern / alpha_pattern (peft's regex keys), modules_to_save, use_rslora and the
// refused variants (DoRA, biases, other PEFT types); then the per-module queries on typical names.
#include "fuzz_common.h"
#include "sdk/adapters/lora_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    krait_fuzz::run("adapter_config.json", [&] {
        const auto config = krait::LoraConfig::from_json_text(text, "fuzz/adapter_config.json");
        for (const char* module : {"backbone.layers.0.mixer.in_proj", "model.layers.1.self_attn.q_proj",
                                   "vit.encoder.layer.0.attention.attention.query", "classifier", "lm_head",
                                   "model.levels.2.blocks.3.mixer.x_proj", ""}) {
            const int64_t rank = config.rank_for(module);
            (void)config.alpha_for(module);
            if (rank > 0) (void)config.scaling_for(module, rank);
            (void)config.targets(module);
            (void)config.saves(module);
        }
    });
    return 0;
}
