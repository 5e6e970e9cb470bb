// ImageEncoder: the interface every vision tower implements (ViT, MambaVision,
// CLIP and SigLIP): pixels in, one feature vector per output token out.
// An image classifier is an encoder plus a head (sdk/models/classifier.h); a
// vision-language assistant feeds the features to a projector instead.
//
// Input is the model-ready tensor (resized, cropped, normalised by sdk/image):
// pixels [batch, 3, height, width], float32, NCHW, as PyTorch.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sdk/adapters/adapter_targets.h"
#include "sdk/adapters/lora_set.h"
#include "sdk/core/error.h"
#include "sdk/core/thread_pool.h"

namespace krait {

// Scratch buffers of one forward pass, reused by the next: they grow to the
// largest size a call needed and are never shrunk, so repeated calls of one
// session allocate nothing (fresh pages cost page faults and zero-filling,
// ~9% of a MambaVision-T pass when every call allocated). Contents are
// unspecified between calls. One pass at a time uses a workspace; a session
// keeps one per worker thread.
struct ClassifierWorkspace {
    std::vector<float> act_a, act_b, act_c;  // activations (NCHW maps or token rows)
    std::vector<float> tokens, normed, branch;
    std::vector<float> scratch;   // for the blocks (conv, attention, MLP, mixer)
    std::vector<float> features;  // the encoder's output, for the classifier head
    std::shared_ptr<void> graph_buffers;  // an ONNX graph's reused tensor buffers (onnx::BufferPool)
};

// Which of an encoder's features a composite assistant reads (docs/COMPOSITE_ASSISTANTS.md):
// hidden states of a transformer tower, or one level of MambaVision. Empty = the encoder's
// last_hidden_state as transformers names it: encode()'s output for ViT (after its final
// layernorm) and MambaVision (after the final BatchNorm); hidden_states[-1] for CLIP / SigLIP
// (before post_layernorm, which transformers applies to the pooled output only).
struct FeatureSelection {
    std::vector<int64_t> layers;  // hidden_states indices as configured (negative: from the end)
    int64_t level = -1;           // a MambaVision level (0-3), -1 = not set
    bool empty() const { return layers.empty() && level < 0; }
};

class ImageEncoder {
public:
    // Called with the fraction of weights prepared; return false to cancel (KRAIT_ERR_CANCELLED).
    using Progress = std::function<bool(float)>;

    virtual ~ImageEncoder() = default;

    virtual const char* architecture() const = 0;  // "vit", "mambavision"
    // The input size the model was trained at (config image_size / resolution).
    virtual int64_t image_height() const = 0;
    virtual int64_t image_width() const = 0;
    virtual int64_t num_parameters() const = 0;
    virtual const std::string& source_dtype() const = 0;
    // Bytes the weights really occupy: mapped + converted + packed (krait_model_info).
    virtual int64_t weight_bytes() const = 0;

    // The modules adapters may change, by the checkpoint's names (the `lora` of encode() is
    // resolved against this table's slots).
    virtual const AdapterTargets& adapter_targets() const = 0;

    // Throws KRAIT_ERR_INVALID_ARGUMENT naming the problem if the model cannot
    // run at height x width (e.g. not a multiple of the patch size).
    virtual void check_input_size(int64_t height, int64_t width) const = 0;

    // Output tokens per image at height x width, and the width of each.
    virtual int64_t num_tokens(int64_t height, int64_t width) const = 0;
    virtual int64_t feature_dim() const = 0;

    // pixels [batch, 3, height, width] -> features [batch, num_tokens, feature_dim]:
    // the last hidden state after the encoder's final norm (ViT: the CLS token
    // then the patches in row-major order; MambaVision: the positions of the
    // last stage's map in row-major order). `lora`: the adapters active for this
    // call (nullptr = none). Throws KRAIT_ERR_ABORTED if *abort becomes true
    // between blocks. `ws` is this call's scratch (not `features`' memory).
    virtual void encode(const float* pixels, int64_t batch, int64_t height, int64_t width, float* features,
                        ThreadPool& pool, ClassifierWorkspace& ws, const std::atomic<bool>* abort,
                        const LoraSet* lora = nullptr) const = 0;

    // The selected features' shape at height x width: {tokens, width}. An encoder overrides this
    // and encode_selected() for the selections it has; the default has only the empty one and
    // throws KRAIT_ERR_UNSUPPORTED (naming the encoder) for any other. Out-of-range indices are
    // KRAIT_ERR_FORMAT, naming the valid range.
    virtual std::pair<int64_t, int64_t> selected_shape(const FeatureSelection& selection, int64_t height,
                                                       int64_t width) const {
        if (!selection.empty())
            fail_unsupported(std::string("a ") + architecture() +
                             " encoder has no feature_layer / feature_level selection (only its output)");
        return {num_tokens(height, width), feature_dim()};
    }
    // pixels [batch, 3, height, width] -> features [batch, tokens, width] as selected_shape says.
    virtual void encode_selected(const FeatureSelection& selection, const float* pixels, int64_t batch,
                                 int64_t height, int64_t width, float* features, ThreadPool& pool,
                                 ClassifierWorkspace& ws, const std::atomic<bool>* abort,
                                 const LoraSet* lora = nullptr) const {
        selected_shape(selection, height, width);  // refuses what this encoder does not have
        encode(pixels, batch, height, width, features, pool, ws, abort, lora);
    }
};

}  // namespace krait
