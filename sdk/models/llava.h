// LLaVA on the CPU: LlavaForConditionalGeneration checkpoints as transformers saves them
// (config.json model_type "llava"), computed as transformers does:
//
//   h_i      = vision_tower(pixels).hidden_states[i]        CLIP or SigLIP tower (clip_vision.h)
//   features = concat_i h_i over vision_feature_layer        (an int, or a list: concatenated on channels)
//   features = features[:, 1:] if strategy is "default"       (drops CLIP's class token) else all rows
//   rows     = linear_2(act(linear_1(features)))            [image_rows, D_lm], the projector
//   the prompt's embedding rows, each image token's row replaced by the next image row, go through
//   the language model of text_config (any family Krait loads: llama, mistral, qwen2, ...).
//
// Key layouts: transformers 5 in memory (model.vision_tower.*, model.multi_modal_projector.*,
// model.language_model.*, lm_head.*), as transformers 5 saves it (vision_tower.*,
// multi_modal_projector.*, language_model.model.*, language_model.lm_head.*), and the llava-hf
// checkpoints on the hub (vision_tower.vision_model.*, the rest as saved). The layout is told by
// which patch-embedding tensor exists.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sdk/models/assistant.h"
#include "sdk/models/blocks.h"
#include "sdk/models/clip_vision.h"
#include "sdk/models/registry.h"
#include "sdk/models/weight_loader.h"

namespace krait {

struct LlavaConfig {
    int32_t image_token_id = 32000;             // image_token_index (or image_token_id)
    std::vector<int64_t> feature_layers;        // vision_feature_layer, as given (negative: from the end)
    bool drop_first_row = true;                 // vision_feature_select_strategy "default" (else "full")
    Activation projector_act = Activation::GeluErf;  // projector_hidden_act
    bool projector_bias = true;                 // multimodal_projector_bias
    ClipVisionConfig vision;                    // vision_config
    std::string text_config;                    // text_config, JSON text (its family reads it)
    std::string origin;                         // config.json's path, for messages

    // Throws KRAIT_ERR_FORMAT naming the field for bad values, KRAIT_ERR_UNSUPPORTED for vision towers
    // or activations this build does not run.
    static LlavaConfig from_json_text(const std::string& text, const std::string& origin);
};

class LlavaModel final : public AssistantModel {
public:
    // Loads `dir` (config.json, safetensors, preprocessor_config.json). Throws krait::Error.
    static std::unique_ptr<LlavaModel> load(const std::string& dir, const LoadOptions& options);

    const char* architecture() const override { return "llava"; }
    std::shared_ptr<LanguageModel> language_model() const override { return lm_; }
    int32_t image_token_id() const override { return config_.image_token_id; }
    int64_t image_rows() const override { return image_rows_; }
    int64_t image_height() const override { return vision_->image_height(); }
    int64_t image_width() const override { return vision_->image_width(); }
    const PreprocessConfig& preprocess() const override { return preprocess_; }
    int64_t num_parameters() const override { return vision_->num_parameters() + projector_loader_->parameters_loaded(); }
    int64_t weight_bytes() const override {
        return vision_->weight_bytes() +
               static_cast<int64_t>(projector_loader_->mapped_bytes() + projector_loader_->owned_bytes() + packed_.bytes());
    }
    void encode_images(const float* pixels, int64_t n, int64_t height, int64_t width, float* rows, ThreadPool& pool,
                       ClassifierWorkspace& ws, const std::atomic<bool>* abort, const LoraSet* lora) const override;
    // The language model's modules, then the tower's and the projector's under their checkpoint
    // names, with peft's names of both transformers generations as aliases (transformers 5:
    // model.vision_tower.*, model.multi_modal_projector.*; 4: vision_tower.vision_model.*,
    // multi_modal_projector.*).
    const AdapterTargets& adapter_targets() const override { return targets_; }
    std::pair<size_t, size_t> image_slots() const override { return {tower_offset_, targets_.slots()}; }

private:
    LlavaModel() = default;

    LlavaConfig config_;
    std::vector<int64_t> layers_;  // feature_layers resolved to [0, num_layers] (hidden_states indices)
    int64_t image_rows_ = 0;
    std::unique_ptr<ClipVisionModel> vision_;
    std::unique_ptr<WeightLoader> projector_loader_;
    MlpWeights projector_;  // linear_1 [D_lm, D_vis * layers] (+ bias), act, linear_2 [D_lm, D_lm] (+ bias)
    PackedStore packed_;
    std::shared_ptr<LanguageModel> lm_;
    PreprocessConfig preprocess_;
    AdapterTargets targets_;
    size_t tower_offset_ = 0;  // the tower's slots in targets_: [tower_offset_, + its own count)
};

}  // namespace krait
