// OnnxClassifier: an image classifier exported to ONNX (HF ViT, torchvision ResNet / MobileNetV3 /
// EfficientNet / ConvNeXt, ...) run by Krait's ONNX importer as a classifier session like the
// others. The graph takes pixels [batch, 3, height, width] (float32, NCHW) and its first output
// is logits [batch, classes]. Labels and preprocessing come from config.json /
// preprocessor_config.json beside the .onnx file when present (HF exports), else "LABEL_<i>" and
// ViTImageProcessor-style defaults at the model's input size.
#pragma once

#include <memory>
#include <string>

#include "sdk/models/classifier.h"
#include "sdk/models/registry.h"
#include "sdk/onnx/onnx_executor.h"
#include "sdk/onnx/onnx_loader.h"

namespace krait {

class OnnxClassifier : public ClassifierModel {
public:
    // Loads and prepares `path` (a .onnx file). Throws as onnx::load_graph, and
    // KRAIT_ERR_UNSUPPORTED when the graph is not an image classifier (inputs / outputs named).
    static std::unique_ptr<OnnxClassifier> load(const std::string& path, const LoadOptions& options,
                                                const onnx::GraphOptions& graph_options = {});

    const char* architecture() const override { return "onnx"; }
    int64_t image_height() const override { return image_h_; }
    int64_t image_width() const override { return image_w_; }
    int64_t num_parameters() const override { return num_parameters_; }
    const std::string& source_dtype() const override { return dtype_; }
    int64_t weight_bytes() const override { return weight_bytes_; }
    const AdapterTargets& adapter_targets() const override { return targets_; }
    void check_input_size(int64_t height, int64_t width) const override;
    int64_t num_tokens(int64_t, int64_t) const override { return 1; }
    int64_t feature_dim() const override { return num_labels_; }
    // The features of an ONNX classifier are its logits (one token per image).
    void encode(const float* pixels, int64_t batch, int64_t height, int64_t width, float* features, ThreadPool& pool,
                ClassifierWorkspace& ws, const std::atomic<bool>* abort, const LoraSet* lora = nullptr) const override;

    int64_t num_labels() const override { return num_labels_; }
    const std::vector<std::string>& labels() const override { return labels_; }
    Pooling pooling() const override { return Pooling::FirstToken; }
    const Linear& head() const override { return no_head_; }  // none: the graph computes the logits

    using ClassifierModel::forward;
    void forward(const float* pixels, int64_t batch, int64_t height, int64_t width, float* logits, ThreadPool& pool,
                 ClassifierWorkspace& ws, const std::atomic<bool>* abort, const LoraSet* lora = nullptr) const override;

    const onnx::Graph& graph() const { return graph_; }
    // Inputs, outputs, opsets, node count and passes, for krait info (krait_model_describe).
    std::string describe() const override;

private:
    onnx::Graph graph_;
    std::unique_ptr<onnx::Executor> executor_;
    int64_t image_h_ = 224, image_w_ = 224;
    bool fixed_h_ = false, fixed_w_ = false;
    int64_t fixed_batch_ = -1;  // the batch the graph requires, -1 = any
    int64_t num_labels_ = 0;
    std::vector<std::string> labels_;
    int64_t num_parameters_ = 0, weight_bytes_ = 0;
    std::string dtype_ = "float32";
    AdapterTargets targets_;
    Linear no_head_;
};

// The registry entry: claims files ending in .onnx (sdk/models/families.cpp).
ModelFamily onnx_family();

}  // namespace krait
