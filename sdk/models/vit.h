// ViT image classifier on the CPU: HF ViTForImageClassification checkpoints
// (config.json model_type "vit" + safetensors, names as transformers saves them;
// see shared/reference/model-formats.md).
//
// Semantics are exactly transformers' ViTForImageClassification in eval mode:
//   patch conv (kernel = stride = patch) -> prepend CLS -> + position embeddings
//   -> pre-LN blocks  h += attn(LN_before(h));  h += fc2(act(fc1(LN_after(h))))
//   -> final LayerNorm -> classifier on the CLS token.
//
// Input sizes: any height/width that are multiples of the patch size. When the
// patch grid differs from the trained one (config image_size / patch_size),
// the position embeddings of the patch grid are resized exactly as
// transformers' ViTEmbeddings.interpolate_pos_encoding does (torch bicubic,
// A = -0.75, align_corners=False, output size given; CLS entry kept).
// Difference from transformers: it interpolates only when called with
// interpolate_pos_encoding=True (and raises otherwise); Krait always does, so
// a model runs at whatever size the caller's preprocessing produces.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "sdk/models/blocks.h"
#include "sdk/models/classifier.h"
#include "sdk/models/weight_loader.h"

namespace krait {

struct ViTConfig {
    int64_t image_size_h = 224, image_size_w = 224;  // config image_size (int or [h, w])
    int64_t patch_size = 16;
    int64_t num_channels = 3;
    int64_t hidden_size = 768;
    int64_t num_layers = 12;
    int64_t num_heads = 12;
    int64_t intermediate_size = 3072;
    Activation act = Activation::GeluErf;
    float layer_norm_eps = 1e-12f;
    bool qkv_bias = true;
    int64_t num_labels = 0;           // from id2label; 0 = take it from classifier.weight
    std::vector<std::string> labels;  // id2label in id order (empty if absent)

    int64_t grid_h() const { return image_size_h / patch_size; }
    int64_t grid_w() const { return image_size_w / patch_size; }

    // Parses and validates config.json text. Throws KRAIT_ERR_FORMAT naming the
    // field for impossible values, KRAIT_ERR_UNSUPPORTED for other model types
    // or activations.
    static ViTConfig from_json_text(const std::string& text, const std::string& origin);
    static ViTConfig from_dir(const std::string& model_dir);
};

// Position-embedding resampling used by ViTModel, exposed for tests:
// grid [in_h, in_w, dim] -> out [out_h, out_w, dim] as
// torch.nn.functional.interpolate(mode="bicubic", align_corners=False, size=(out_h, out_w))
// on the NCHW view (separable: rows weighted outermost, columns innermost, as torch's CPU kernel).
void bicubic_resize_grid(const float* grid, int64_t in_h, int64_t in_w, int64_t dim, float* out, int64_t out_h,
                         int64_t out_w);

class ViTModel : public ClassifierModel {
public:
    // Loads and validates `dir` (config.json + safetensors). Throws krait::Error.
    // weights.keep_stored: F16/BF16 linear weights go into packed panels of their own
    // type (true) or are upcast to F32 first (false); see LoadOptions.
    static std::unique_ptr<ViTModel> load(const std::string& dir, const Progress& progress = nullptr,
                                   WeightOptions weights = {});

    const char* architecture() const override { return "vit"; }
    int64_t num_labels() const override { return config_.num_labels; }
    const std::vector<std::string>& labels() const override { return config_.labels; }
    int64_t image_height() const override { return config_.image_size_h; }
    int64_t image_width() const override { return config_.image_size_w; }
    int64_t num_parameters() const override { return loader_->parameters_loaded(); }
    const std::string& source_dtype() const override { return loader_->source_dtype(); }
    int64_t weight_bytes() const override {
        return static_cast<int64_t>(loader_->mapped_bytes() + loader_->owned_bytes() + packed_.bytes());
    }
    const ViTConfig& config() const { return config_; }

    void check_input_size(int64_t height, int64_t width) const override;
    // CLS + one token per patch, each hidden_size wide, after the final LayerNorm.
    int64_t num_tokens(int64_t height, int64_t width) const override {
        return 1 + (height / config_.patch_size) * (width / config_.patch_size);
    }
    int64_t feature_dim() const override { return config_.hidden_size; }
    void encode(const float* pixels, int64_t batch, int64_t height, int64_t width, float* features, ThreadPool& pool,
                ClassifierWorkspace& ws, const std::atomic<bool>* abort, const LoraSet* lora = nullptr) const override;
    Pooling pooling() const override { return Pooling::FirstToken; }
    const Linear& head() const override { return classifier_; }
    const AdapterTargets& adapter_targets() const override { return targets_; }

    // Largest height or width accepted (keeps token counts and sizes far from overflow).
    static constexpr int64_t kMaxSide = 16384;

private:
    struct Layer {
        LayerNormWeights ln_before;  // [D]
        AttentionWeights attn;       // q, k, v [D, D] (+ bias [D] if qkv_bias); out [D, D] + bias
        LayerNormWeights ln_after;   // [D]
        MlpWeights mlp;              // fc1 [I, D] + bias, fc2 [D, I] + bias
    };

    ViTModel() = default;
    // Position embeddings for a grid_h x grid_w patch grid: [1 + grid_h * grid_w, D]
    // (CLS first). The trained grid is the checkpoint's tensor; other grids are
    // interpolated once and cached (a few recent sizes; sessions share the model).
    std::shared_ptr<const std::vector<float>> position_embeddings(int64_t grid_h, int64_t grid_w) const;

    ViTConfig config_;
    std::unique_ptr<WeightLoader> loader_;  // owns or maps every pointer below
    Conv2dWeights patch_;                   // weight [D, 3, P, P], bias [D], stride P
    const float* cls_token_ = nullptr;      // [D]
    const float* pos_embed_ = nullptr;      // [1 + gh * gw, D] for the trained grid
    std::vector<Layer> layers_;
    LayerNormWeights final_ln_;  // [D]
    Linear classifier_;          // [num_labels, D] + bias
    AdapterTargets targets_;     // every linear layer, the patch conv, the classifier (replaceable)
    PackedStore packed_;         // every linear layer packed for the GEMM (kernels/cpu/gemm.h)

    static constexpr size_t kPosCacheEntries = 8;
    mutable std::mutex pos_mutex_;
    mutable std::vector<std::pair<std::pair<int64_t, int64_t>, std::shared_ptr<const std::vector<float>>>>
        pos_cache_;  // most recently used last
};

}  // namespace krait
