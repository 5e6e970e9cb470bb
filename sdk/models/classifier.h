// ClassifierModel: an image classifier is an image encoder (ViT, MambaVision,
// ...) plus a head: the features of the first token (ViT's CLS) or the mean
// of all tokens (MambaVision's average pool), then a linear layer to the
// classes. A model is immutable after load and shared by sessions; forward()
// keeps all per-call state in its arguments and the caller's workspace.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sdk/adapters/adapter_targets.h"
#include "sdk/adapters/lora_set.h"
#include "sdk/core/thread_pool.h"
#include "sdk/models/image_encoder.h"
#include "sdk/models/ops.h"

namespace krait {

class ClassifierModel : public ImageEncoder {
public:
    virtual int64_t num_labels() const = 0;
    // id2label from config.json, "LABEL_<i>" where absent; size num_labels().
    virtual const std::vector<std::string>& labels() const = 0;

    // How the head reads the encoder's tokens, and the head itself ([classes, feature_dim] + bias).
    enum class Pooling { FirstToken, MeanOfTokens };
    virtual Pooling pooling() const = 0;
    virtual const Linear& head() const = 0;

    // pixels [batch, 3, height, width] -> logits [batch, active_num_labels(lora)]:
    // encode(), the pooling, then the head (or the one an active adapter brings).
    // `lora`: the adapters active for this call (nullptr = the base model).
    // Throws KRAIT_ERR_ABORTED if *abort becomes true between blocks.
    // `ws` is this call's scratch (see ClassifierWorkspace). A classifier that is not an encoder
    // plus a head (an ONNX graph) overrides it.
    virtual void forward(const float* pixels, int64_t batch, int64_t height, int64_t width, float* logits, ThreadPool& pool,
                 ClassifierWorkspace& ws, const std::atomic<bool>* abort, const LoraSet* lora = nullptr) const;
    // The same with a workspace of its own (allocated and freed by the call).
    void forward(const float* pixels, int64_t batch, int64_t height, int64_t width, float* logits, ThreadPool& pool,
                 const std::atomic<bool>* abort, const LoraSet* lora = nullptr) const {
        ClassifierWorkspace ws;
        forward(pixels, batch, height, width, logits, pool, ws, abort, lora);
    }

    // forward() for a whole batch on `pool`: with batch >= 2 and several
    // threads, the images are split into one contiguous share per thread and
    // each thread runs its share alone (single-threaded layers). No thread
    // waits on another between layers, which for small layers (the hand-offs
    // cost more than the work) and for batches in general beats splitting
    // every layer. Each image's logits are the same either way up to float
    // rounding of the GEMM shapes. `ws` is resized to one workspace per
    // thread if it has fewer; the caller keeps it for the next call.
    void forward_batch(const float* pixels, int64_t batch, int64_t height, int64_t width, float* logits,
                       ThreadPool& pool, std::vector<ClassifierWorkspace>& ws, const std::atomic<bool>* abort,
                       const LoraSet* lora = nullptr) const;
    void forward_batch(const float* pixels, int64_t batch, int64_t height, int64_t width, float* logits,
                       ThreadPool& pool, const std::atomic<bool>* abort, const LoraSet* lora = nullptr) const {
        std::vector<ClassifierWorkspace> ws;
        forward_batch(pixels, batch, height, width, logits, pool, ws, abort, lora);
    }

    // How the model was read, as lines for tools (krait_model_describe); empty by default.
    virtual std::string describe() const { return {}; }

    // The modules adapters may change, by the checkpoint's names (plus aliases).
    const AdapterTargets& adapter_targets() const override = 0;
    // The classifier head's slot: an adapter that replaces it brings its own classes.
    int32_t head_slot() const { return head().slot; }

    // Classes and their names under `lora` (a replaced head's, else the model's).
    int64_t active_num_labels(const LoraSet* lora) const {
        const ModuleReplacement* r = lora ? lora->replacement(head_slot()) : nullptr;
        return r ? r->out : num_labels();
    }
    const std::vector<std::string>& active_labels(const LoraSet* lora) const {
        const ModuleReplacement* r = lora ? lora->replacement(head_slot()) : nullptr;
        return r ? r->labels : labels();
    }
};

// Loads a classifier directory through the model-family registry
// (sdk/models/registry.h). Throws krait::Error (KRAIT_ERR_UNSUPPORTED for a
// model that is not an image classifier).
std::unique_ptr<ClassifierModel> load_classifier(const std::string& dir, const ClassifierModel::Progress& progress,
                                                 WeightOptions weights = {});

// True if config.json in `dir` names a classifier family this build has.
bool is_classifier_dir(const std::string& dir);

}  // namespace krait
