// MambaVision image classifier on the CPU (NVlabs, CVPR 2025): HF hub
// checkpoints (config.json model_type "mambavision", weights prefixed
// `model.`) and NVlabs state dicts saved as safetensors (no prefix), every
// published size (T, T2, S, B, L, L2, ...). See shared/reference/model-formats.md
// and tools/mambavision_ref.py (the PyTorch reference the tests compare with).
//
// Semantics are exactly the upstream forward pass in eval mode, quirks included:
//   stem   conv3x3 s2 -> BN -> ReLU -> conv3x3 s2 -> BN -> ReLU      (BN folded at load)
//   levels 0-1  ConvBlocks  x += [gamma *] BN(conv(GELU_tanh(BN(conv(x)))))
//   levels 2-3  zero-pad bottom/right to a multiple of the window, windows of
//               ws*ws tokens (row-major), blocks x += g1*mixer(LN(x)); x += g2*mlp(LN(x))
//               where the first blocks are MambaVisionMixers and the last
//               (depth d: from d/2, or d/2+1 for odd d) windowed self-attention;
//               padded tokens take part in attention and in the scan, as upstream.
//   downsample after levels 0-2: conv3x3 s2 (no bias), width x2
//   head   BatchNorm2d -> global average pool -> Linear
//   mixer  in_proj -> x | z; x, z each through a non-causal depthwise conv
//          ('same', no bias) + SiLU; x_proj(x) -> dt | B | C; dt = dt_proj(dt)
//          with bias, and the scan adds dt_proj.bias again before softplus;
//          y = scan + D x (no z gate); out_proj(cat[y, z]).
//
// Any input height/width >= 1 runs (every stride-2 conv rounds up; windows pad).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sdk/models/blocks.h"
#include "sdk/models/classifier.h"
#include "sdk/models/weight_loader.h"

namespace krait {

struct MambaVisionConfig {
    static constexpr int kLevels = 4;
    int64_t depths[kLevels] = {1, 3, 8, 4};
    int64_t num_heads[kLevels] = {2, 4, 8, 16};
    int64_t window_size[kLevels] = {8, 8, 14, 7};
    int64_t dim = 80;     // width of level 0; level i has dim * 2^i
    int64_t in_dim = 32;  // width after the first stem conv
    double mlp_ratio = 4.0;
    bool layer_scale = false;       // gamma_1 / gamma_2 in levels 2-3 (config layer_scale is a number)
    bool layer_scale_conv = false;  // gamma in the ConvBlocks (config layer_scale_conv is a number)
    int64_t num_classes = 0;        // from num_classes / id2label; 0 = take it from head.weight
    std::vector<std::string> labels;  // id2label in id order (empty if absent)
    int64_t resolution_h = 224, resolution_w = 224;  // config resolution (int or [h, w])

    int64_t width(int level) const { return dim << level; }
    int64_t mlp_hidden(int level) const { return static_cast<int64_t>(static_cast<double>(width(level)) * mlp_ratio); }

    // Parses and validates config.json text; KRAIT_ERR_FORMAT naming the field for impossible values.
    static MambaVisionConfig from_json_text(const std::string& text, const std::string& origin);
    static MambaVisionConfig from_dir(const std::string& model_dir);
};

// Upstream's split of a level's blocks: blocks [first_attention_block(d), d) are attention, the rest mixers.
inline int64_t first_attention_block(int64_t depth) { return depth % 2 ? depth / 2 + 1 : depth / 2; }

class MambaVisionModel : public ClassifierModel {
public:
    static constexpr int64_t kStateSize = 8;  // MambaVisionMixer d_state (fixed upstream)
    static constexpr int64_t kConvKernel = 3;  // MambaVisionMixer d_conv (fixed upstream)
    static constexpr int64_t kMaxSide = 16384;

    // Loads and validates `dir`. Throws krait::Error.
    // weights.keep_stored: F16/BF16 linear weights go into packed panels of their own
    // type (true) or are upcast to F32 first (false); see LoadOptions.
    static std::unique_ptr<MambaVisionModel> load(const std::string& dir, const Progress& progress = nullptr,
                                   WeightOptions weights = {});

    const char* architecture() const override { return "mambavision"; }
    int64_t num_labels() const override { return num_labels_; }
    const std::vector<std::string>& labels() const override { return labels_; }
    int64_t image_height() const override { return config_.resolution_h; }
    int64_t image_width() const override { return config_.resolution_w; }
    int64_t num_parameters() const override { return loader_->parameters_loaded(); }
    const std::string& source_dtype() const override { return loader_->source_dtype(); }
    int64_t weight_bytes() const override {
        return static_cast<int64_t>(loader_->mapped_bytes() + loader_->owned_bytes() + packed_.bytes());
    }
    const MambaVisionConfig& config() const { return config_; }

    void check_input_size(int64_t height, int64_t width) const override;
    // The positions of the last level's map (the input halved by the stem twice and by each
    // downsample), each the last level's width, after the final BatchNorm.
    int64_t num_tokens(int64_t height, int64_t width) const override;
    int64_t feature_dim() const override;
    void encode(const float* pixels, int64_t batch, int64_t height, int64_t width, float* features, ThreadPool& pool,
                ClassifierWorkspace& ws, const std::atomic<bool>* abort, const LoraSet* lora = nullptr) const override;
    // Selections: `level` 0-3, the map after that level's blocks (before its downsample), token-major,
    // no norm; none = encode(). `layers` are refused (UNSUPPORTED).
    std::pair<int64_t, int64_t> selected_shape(const FeatureSelection& selection, int64_t height,
                                               int64_t width) const override;
    void encode_selected(const FeatureSelection& selection, const float* pixels, int64_t batch, int64_t height,
                         int64_t width, float* features, ThreadPool& pool, ClassifierWorkspace& ws,
                         const std::atomic<bool>* abort, const LoraSet* lora = nullptr) const override;
    Pooling pooling() const override { return Pooling::MeanOfTokens; }  // upstream's AdaptiveAvgPool2d(1)
    const Linear& head() const override { return head_; }
    const AdapterTargets& adapter_targets() const override { return targets_; }

private:
    struct ConvBlock {
        Conv2dWeights conv1, conv2;     // BN folded in: weight [C, C, 3, 3], bias [C]
        const float* gamma = nullptr;   // [C] or nullptr
    };
    struct Mixer {
        int64_t half = 0;               // channels per branch (C/2)
        Linear in_proj;                 // [C, C], no bias
        const float* conv_x = nullptr;  // [C/2, K]
        const float* conv_z = nullptr;  // [C/2, K]
        int32_t conv_x_slot = -1, conv_z_slot = -1;  // AdapterTargets slots of the two depthwise convs
        // Mamba's SSM on the x branch, E = C/2, R = dt_rank = ceil(C/16), no gate: x_proj
        // [R + 2N, C/2]; dt_proj [C/2, R] + bias (the first time the bias enters); dt_bias is
        // that same bias, passed to the scan again as upstream does: softplus(W dt + 2b).
        SelectiveSsmWeights ssm;
        Linear out_proj;                 // [C, C], no bias
    };
    struct Block {
        LayerNormWeights norm1, norm2;
        bool attention = false;
        AttentionWeights attn;  // fused qkv [3C, C] + bias, proj [C, C] + bias
        Mixer mixer;
        MlpWeights mlp;         // fc1 [hidden, C] + bias, GELU (erf), fc2 [C, hidden] + bias
        const float* gamma_1 = nullptr;  // [C] or nullptr
        const float* gamma_2 = nullptr;
    };
    struct Level {
        int64_t width = 0, window = 0;
        std::vector<ConvBlock> conv_blocks;  // levels 0-1
        std::vector<Block> blocks;           // levels 2-3
        Conv2dWeights downsample;            // [2C, C, 3, 3] stride 2; weight nullptr for the last level
    };
    MambaVisionModel() = default;
    // Positions of the map level `level` works on (the input after the stem and the downsamples before it).
    int64_t map_size(int64_t height, int64_t width, int level) const;
    // The stem and levels 0..last_level (a level before last_level ends with its downsample), then
    // the map token-major into features [batch, h * w, width(last_level)], through the final
    // BatchNorm when final_norm.
    void run(const float* pixels, int64_t batch, int64_t height, int64_t width, int last_level, bool final_norm,
             float* features, ThreadPool& pool, ClassifierWorkspace& ws, const std::atomic<bool>* abort,
             const LoraSet* lora) const;
    void run_windowed_level(const Level& level, float* x, int64_t batch, int64_t h, int64_t w, ThreadPool& pool,
                            ClassifierWorkspace& work, const std::atomic<bool>* abort, const LoraSet* lora) const;
    // x [sequences * tokens, C] -> out (=|+=) mixer(x), each window's tokens one sequence.
    void run_mixer(const Mixer& m, const float* x, int64_t sequences, int64_t tokens, int64_t C, float* out,
                   bool accumulate, ThreadPool& pool, std::vector<float>& buf, const LoraSet* lora) const;

    MambaVisionConfig config_;
    std::unique_ptr<WeightLoader> loader_;  // owns or maps every pointer below
    Conv2dWeights stem1_, stem2_;           // BN folded in
    Level levels_[MambaVisionConfig::kLevels];
    const float* final_scale_ = nullptr;  // [F] final BatchNorm as y = x * scale + shift
    const float* final_shift_ = nullptr;
    Linear head_;                         // [classes, F] + bias
    int64_t num_labels_ = 0;
    std::vector<std::string> labels_;
    AdapterTargets targets_;  // stem/block/downsample convs, mixer convs and linears, attention, MLPs, head
    PackedStore packed_;      // every linear layer packed for the GEMM (kernels/cpu/gemm.h)
};

}  // namespace krait
