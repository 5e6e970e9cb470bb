// CLIP and SigLIP vision towers on the CPU: transformers' CLIPVisionModel and
// SiglipVisionModel in eval mode (vision towers only), the image encoders of
// vision-language assistants (LLaVA) and of CLIP / SigLIP themselves.
//
// Semantics (D = hidden_size, P = patch_size, G = image_size / P):
//   CLIP:   patch conv (no bias) -> prepend class_embedding -> + position_embedding [1 + G*G, D]
//           -> pre_layrnorm -> layers -> (post_layernorm)
//   SigLIP: patch conv (bias) -> + position_embedding [G*G, D] -> layers -> (post_layernorm)
//   layer:  h += out_proj(attn(q/k/v_proj(layer_norm1(h))));  h += fc2(act(fc1(layer_norm2(h))))
//           (biases everywhere, scale head_dim^-0.5, no mask).
// SigLIP's attention-pooling head (vision_model.head.*) is not computed; its
// tensors may be present and are left alone, as are a LLaVA checkpoint's
// language-model and projector tensors.
//
// Outputs:
//  * encode_hidden_states(): transformers' output_hidden_states, index 0 = the
//    embeddings (after pre_layrnorm for CLIP), index i = output of layer i;
//    no post_layernorm (what LLaVA's vision_feature_layer selects).
//  * encode() (ImageEncoder): post_layernorm of the last layer's output, every
//    token. That is SigLIP's last_hidden_state; CLIP's last_hidden_state is
//    the un-normed encoder output and post_layernorm only makes its
//    pooler_output, which is row 0 (the class token) of encode()'s result.
//
// Input size: only the trained image_size (no position-embedding interpolation).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sdk/adapters/adapter_targets.h"
#include "sdk/core/json.h"
#include "sdk/models/blocks.h"
#include "sdk/models/image_encoder.h"
#include "sdk/models/weight_loader.h"

namespace krait {

struct ClipVisionConfig {
    std::string model_type = "clip_vision_model";  // or "siglip_vision_model"
    int64_t image_size = 224;
    int64_t patch_size = 32;
    int64_t num_channels = 3;
    int64_t hidden_size = 768;
    int64_t num_layers = 12;
    int64_t num_heads = 12;
    int64_t intermediate_size = 3072;
    Activation act = Activation::QuickGelu;
    float layer_norm_eps = 1e-5f;

    bool is_siglip() const { return model_type == "siglip_vision_model"; }
    bool class_token() const { return !is_siglip(); }  // CLIP prepends class_embedding; SigLIP has none
    int64_t grid() const { return image_size / patch_size; }
    int64_t num_positions() const { return grid() * grid() + (class_token() ? 1 : 0); }

    // Parses and validates a vision_config object (a LLaVA / CLIP / SigLIP
    // config.json's "vision_config", or a CLIPVisionModel's whole config.json).
    // Absent fields take the transformers config class's defaults (CLIPVisionConfig:
    // patch 32, quick_gelu, eps 1e-5; SiglipVisionConfig: patch 16,
    // gelu_pytorch_tanh, eps 1e-6); an absent model_type means CLIP, as
    // LlavaConfig does. Throws KRAIT_ERR_FORMAT naming the field for impossible
    // values, KRAIT_ERR_UNSUPPORTED for other model types or activations.
    static ClipVisionConfig from_json(const nlohmann::json& vision_config, const std::string& origin);
};

class ClipVisionModel : public ImageEncoder {
public:
    // Loads the tower's tensors from the safetensors of `dir`, named as
    // transformers names them under `weight_prefix` ("vision_model." for a
    // CLIPVisionModel saved by transformers 4, "" by transformers 5,
    // "model.vision_tower.vision_model." or "vision_tower.vision_model." in a
    // LLaVA checkpoint). Other tensors are ignored. weights.keep_stored: F16/BF16
    // linear weights go into packed panels of their own type (true) or are
    // upcast to F32 first (false). Throws krait::Error: KRAIT_ERR_FORMAT naming
    // a missing or mis-shaped tensor, KRAIT_ERR_CANCELLED if progress says so.
    static std::unique_ptr<ClipVisionModel> load(const ClipVisionConfig& config, const std::string& dir,
                                                 const std::string& weight_prefix, WeightOptions weights,
                                                 const Progress& progress = nullptr);

    const char* architecture() const override { return config_.is_siglip() ? "siglip" : "clip"; }
    int64_t image_height() const override { return config_.image_size; }
    int64_t image_width() const override { return config_.image_size; }
    int64_t num_parameters() const override { return loader_->parameters_loaded(); }
    const std::string& source_dtype() const override { return loader_->source_dtype(); }
    int64_t weight_bytes() const override {
        return static_cast<int64_t>(loader_->mapped_bytes() + loader_->owned_bytes() + packed_.bytes());
    }
    const ClipVisionConfig& config() const { return config_; }
    bool has_class_token() const { return config_.class_token(); }

    // Height and width must both equal image_size (KRAIT_ERR_INVALID_ARGUMENT naming both sizes).
    void check_input_size(int64_t height, int64_t width) const override;
    // [class token,] then one token per patch in row-major grid order.
    int64_t num_tokens(int64_t height, int64_t width) const override;
    int64_t feature_dim() const override { return config_.hidden_size; }

    // features [batch, num_tokens, hidden_size] = post_layernorm(output of the last layer).
    void encode(const float* pixels, int64_t batch, int64_t height, int64_t width, float* features, ThreadPool& pool,
                ClassifierWorkspace& ws, const std::atomic<bool>* abort, const LoraSet* lora = nullptr) const override;

    // The hidden states listed in `layers` (indices in [0, num_layers] as in
    // output_hidden_states, repeats allowed, any order), concatenated on
    // channels in list order: out [batch, num_tokens, hidden_size * layers.size()].
    // Runs layers only up to the deepest one requested. KRAIT_ERR_INVALID_ARGUMENT
    // for an empty list or an index out of range (naming it).
    void encode_hidden_states(const float* pixels, int64_t batch, int64_t height, int64_t width,
                              const std::vector<int64_t>& layers, float* out, ThreadPool& pool,
                              ClassifierWorkspace& ws, const std::atomic<bool>* abort,
                              const LoraSet* lora = nullptr) const;

    // Selections: `layers` (hidden_states indices, negative from the end; concatenated on
    // channels); empty = {-1}, last_hidden_state. A `level` is refused (UNSUPPORTED).
    std::pair<int64_t, int64_t> selected_shape(const FeatureSelection& selection, int64_t height,
                                               int64_t width) const override;
    void encode_selected(const FeatureSelection& selection, const float* pixels, int64_t batch, int64_t height,
                         int64_t width, float* features, ThreadPool& pool, ClassifierWorkspace& ws,
                         const std::atomic<bool>* abort, const LoraSet* lora = nullptr) const override;
    // `selection`'s layers as indices in [0, num_layers] (KRAIT_ERR_FORMAT naming one out of range).
    std::vector<int64_t> resolve_layers(const FeatureSelection& selection) const;

    // Every linear layer and the patch conv, under its full checkpoint name (prefix included).
    const AdapterTargets& adapter_targets() const override { return targets_; }

private:
    struct Layer {
        LayerNormWeights ln1;  // layer_norm1 [D]
        AttentionWeights attn;  // q/k/v/out_proj [D, D] + bias [D]
        LayerNormWeights ln2;  // layer_norm2 [D]
        MlpWeights mlp;         // fc1 [I, D] + bias, fc2 [D, I] + bias
    };

    ClipVisionModel() = default;
    // Embeddings (+ pre_layrnorm) into `h` [batch * T, D], then layers 1..depth; after each state i
    // (0 = embeddings) calls visit(i, h). Returns h (inside ws).
    template <class Visit>
    float* run(const float* pixels, int64_t batch, int64_t depth, ThreadPool& pool, ClassifierWorkspace& ws,
               const std::atomic<bool>* abort, const LoraSet* lora, Visit&& visit) const;

    ClipVisionConfig config_;
    std::string prefix_;
    std::unique_ptr<WeightLoader> loader_;  // owns or maps every pointer below
    Conv2dWeights patch_;                   // patch_embedding: weight [D, C, P, P], bias [D] (SigLIP) or none (CLIP)
    const float* class_embedding_ = nullptr;  // [D] (CLIP only)
    const float* pos_embed_ = nullptr;        // position_embedding.weight [num_positions, D]
    LayerNormWeights pre_ln_;                 // pre_layrnorm [D] (CLIP only; weight nullptr for SigLIP)
    std::vector<Layer> layers_;
    LayerNormWeights post_ln_;  // post_layernorm [D]
    AdapterTargets targets_;    // every linear layer and the patch conv
    PackedStore packed_;        // every linear layer packed for the GEMM (kernels/cpu/gemm.h)
};

}  // namespace krait
