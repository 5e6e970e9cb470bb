// PEFT adapter folders (sdk/adapters/lora_adapter.h): adapter_config.json + adapter_model.safetensors
// loaded against real models' adaptable modules (a Mamba language model and a ViT classifier of
// tests/fixtures/lora): tensor names resolved to modules, shapes, ranks, dtypes, modules_to_save heads.
// Input: a 2-byte little-endian length n, then n bytes of adapter_config.json, then the
// adapter_model.safetensors bytes (tests/fuzz/make_corpus.py makes seeds of that form).
#include <algorithm>
#include <filesystem>
#include <memory>

#include "fuzz_common.h"
#include "sdk/adapters/lora_adapter.h"
#include "sdk/models/mamba.h"
#include "sdk/models/vit.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::unique_ptr<krait::MambaModel> mamba =
        krait::MambaModel::load(krait_fuzz::source_path("tests/fixtures/lora/mamba"));
    static const std::unique_ptr<krait::ViTModel> vit =
        krait::ViTModel::load(krait_fuzz::source_path("tests/fixtures/lora/vit"));
    static const std::string dir = [] {
        const std::string d = krait_fuzz::scratch_dir() + "/adapter";
        std::filesystem::create_directories(d);
        return d;
    }();
    if (size < 2) return 0;
    const size_t n = std::min<size_t>(data[0] | (size_t(data[1]) << 8), size - 2);
    krait_fuzz::write_file(dir + "/adapter_config.json", data + 2, n);
    krait_fuzz::write_file(dir + "/adapter_model.safetensors", data + 2 + n, size - 2 - n);
    for (const krait::AdapterTargets* targets : {&mamba->adapter_targets(), &vit->adapter_targets()}) {
        krait_fuzz::run("adapter", [&] {
            const auto adapter = krait::LoraAdapter::load(dir, *targets, "fuzz");
            (void)adapter->max_rank();
            (void)adapter->num_parameters();
            (void)adapter->head();
        });
    }
    return 0;
}
