// Composite assistants: a Krait directory (config.json model_type "krait_assistant") that joins an
// image encoder directory, a projector and a language model directory into a vision-language
// assistant (docs/COMPOSITE_ASSISTANTS.md is the format):
//
//   features = encoder(pixels), selected              [T, F]   any encoder Krait loads (ViT,
//                                                              MambaVision, CLIP, SigLIP)
//   features = features[1:] if drop_first_token        [R, F]
//   rows     = projector layers in order               [R, D]   linear / activation / layer_norm
//   prompt   = rows at each image token ("marker", as LLaVA) or every image's rows before the
//              text ("prefix", as Cobra feeds its Mamba LM), through the language model of its
//              own directory (Mamba, Llama, Mistral, Qwen2, ...).
//
// This is how a MambaVision encoder feeds a Mamba language model.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sdk/models/assistant.h"
#include "sdk/models/blocks.h"
#include "sdk/models/image_encoder.h"
#include "sdk/models/registry.h"
#include "sdk/models/weight_loader.h"

namespace krait {

struct CompositeAssistantConfig {
    struct Layer {
        enum class Type { Linear, Activation, LayerNorm } type = Type::Linear;
        std::string weight, bias;               // tensor names (linear, layer_norm); bias may be ""
        Activation activation = Activation::None;
        float eps = 1e-5f;                      // layer_norm
    };
    std::string encoder_dir;                   // image_encoder.path, resolved against the directory
    FeatureSelection features;                 // image_encoder.feature_layer / feature_level
    bool drop_first_token = false;             // image_encoder.drop_first_token
    std::string projector_file;                // projector.weights, resolved
    std::vector<Layer> projector;              // projector.layers
    std::string language_model_dir;            // language_model.path, resolved
    ImagePlacement placement = ImagePlacement::AtMarker;
    int32_t image_token_id = -1;
    std::string origin;                        // config.json's path, for messages

    // Throws KRAIT_ERR_FORMAT naming the field for a missing or malformed one, KRAIT_ERR_UNSUPPORTED
    // for a later format_version or an activation this build does not run.
    static CompositeAssistantConfig from_json_text(const std::string& text, const std::string& origin,
                                                   const std::string& dir);
};

class CompositeAssistant final : public AssistantModel {
public:
    // Loads `dir` and the directories it names. Throws krait::Error: the config's errors, the
    // encoder's and language model's own load errors, KRAIT_ERR_FORMAT for projector sizes that do
    // not fit the encoder or the language model (naming the tensor) or an image_token_id outside
    // the vocabulary.
    static std::unique_ptr<CompositeAssistant> load(const std::string& dir, const LoadOptions& options);

    const char* architecture() const override { return "krait_assistant"; }
    ImagePlacement image_placement() const override { return config_.placement; }
    std::string text_dir() const override { return text_dir_; }
    std::shared_ptr<LanguageModel> language_model() const override { return lm_; }
    int32_t image_token_id() const override { return config_.image_token_id; }
    int64_t image_rows() const override { return image_rows_; }
    int64_t image_height() const override { return encoder_->image_height(); }
    int64_t image_width() const override { return encoder_->image_width(); }
    const PreprocessConfig& preprocess() const override { return preprocess_; }
    int64_t num_parameters() const override { return encoder_->num_parameters() + projector_loader_->parameters_loaded(); }
    int64_t weight_bytes() const override {
        return encoder_->weight_bytes() + static_cast<int64_t>(projector_loader_->mapped_bytes() +
                                                               projector_loader_->owned_bytes() + packed_.bytes());
    }
    void encode_images(const float* pixels, int64_t n, int64_t height, int64_t width, float* rows, ThreadPool& pool,
                       ClassifierWorkspace& ws, const std::atomic<bool>* abort, const LoraSet* lora) const override;

    // Adapter names: the language model's own (as an adapter trained on it alone names them, or
    // under "language_model."), the encoder's under "image_encoder.", the projector's linears as
    // "projector.<index in the layer list>" (what peft names on a module with those three parts,
    // as tools/gen_composite_fixtures.py's reference).
    const AdapterTargets& adapter_targets() const override { return targets_; }
    std::pair<size_t, size_t> image_slots() const override { return {encoder_offset_, targets_.slots()}; }

    const CompositeAssistantConfig& config() const { return config_; }
    const ImageEncoder& encoder() const { return *encoder_; }
    // "linear 64 -> 128, gelu, linear 128 -> 128": for krait info and logs.
    std::string describe_projector() const;

private:
    struct Step {
        CompositeAssistantConfig::Layer::Type type;
        Linear linear;            // [out, in] (+ bias)
        Activation activation = Activation::None;
        LayerNormWeights norm;    // [width]
    };

    CompositeAssistant() = default;

    CompositeAssistantConfig config_;
    std::shared_ptr<const ImageEncoder> encoder_;
    int64_t encoder_tokens_ = 0, feature_width_ = 0;  // the selected features of one image [T, F]
    int64_t image_rows_ = 0;                          // T, minus the first token when dropped
    std::unique_ptr<WeightLoader> projector_loader_;
    std::vector<Step> steps_;
    int64_t widest_ = 0;  // the widest row a projector step writes
    PackedStore packed_;
    std::shared_ptr<LanguageModel> lm_;
    std::string text_dir_;
    PreprocessConfig preprocess_;
    AdapterTargets targets_;
    size_t encoder_offset_ = 0;  // the encoder's slots in targets_: [encoder_offset_, + its own count)
};

}  // namespace krait
