// Every model family's config.json (sdk/models/*_config.h, vit.h, mambavision.h, llava.h,
// clip_vision.h, composite_assistant.h, vision_config.h), the registry's choice of a family
// (family_for_config) and the image-preprocessing settings (preprocessor_config.json and the
// timm fields of MambaVision's config.json, sdk/image/preprocess.h): each input goes through all
// of them, as a model directory's config.json may be read by any.
#include <nlohmann/json.hpp>

#include "fuzz_common.h"
#include "sdk/image/preprocess.h"
#include "sdk/models/clip_vision.h"
#include "sdk/models/composite_assistant.h"
#include "sdk/models/llama_config.h"
#include "sdk/models/llava.h"
#include "sdk/models/mamba2_config.h"
#include "sdk/models/mamba_config.h"
#include "sdk/models/mambavision.h"
#include "sdk/models/registry.h"
#include "sdk/models/vit.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace krait;
    const std::string text(reinterpret_cast<const char*>(data), size);
    const std::string origin = "fuzz/config.json";
    krait_fuzz::run("mamba", [&] { MambaConfig::from_json_text(text, origin); });
    krait_fuzz::run("mamba2", [&] { Mamba2Config::from_json_text(text, origin); });
    krait_fuzz::run("llama", [&] { LlamaConfig::from_json_text(text, origin); });
    krait_fuzz::run("vit", [&] { ViTConfig::from_json_text(text, origin); });
    krait_fuzz::run("mambavision", [&] { MambaVisionConfig::from_json_text(text, origin); });
    krait_fuzz::run("llava", [&] { LlavaConfig::from_json_text(text, origin); });
    krait_fuzz::run("composite", [&] { CompositeAssistantConfig::from_json_text(text, origin, "/nonexistent-krait-dir"); });
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception&) {
        return 0;
    }
    krait_fuzz::run("clip", [&] {
        ClipVisionConfig::from_json(json.is_object() && json.contains("vision_config") ? json["vision_config"] : json,
                                    origin);
    });
    krait_fuzz::run("registry", [&] { family_for_config(json, origin); });
    for (int source = 0; source < 2; ++source) {
        krait_fuzz::run("preprocess", [&] {
            const PreprocessConfig cfg = source == 0 ? preprocess_config_from_hf_json(text, origin, 224, 224)
                                                     : preprocess_config_from_mambavision_json(text, origin, 224, 224);
            validate_preprocess_config(cfg);
            (void)preprocess_output_size(cfg, 37, 53);
        });
    }
    return 0;
}
