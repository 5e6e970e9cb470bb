// ClassifierModel: the interface every image classifier implements (ViT,
// MambaVision, ...). A model is immutable after load and shared by sessions;
// forward() keeps all per-call state in its arguments and the caller's
// ClassifierWorkspace.
//
// Input is the model-ready tensor (already resized, cropped, normalised by
// sdk/image): pixels [batch, 3, height, width], float32, NCHW, as PyTorch.
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
    std::vector<float> scratch;  // for the blocks (conv, attention, MLP, mixer)
};

class ClassifierModel {
public:
    // Called with the fraction of weights prepared; return false to cancel (KRAIT_ERR_CANCELLED).
    using Progress = std::function<bool(float)>;

    virtual ~ClassifierModel() = default;

    virtual const char* architecture() const = 0;  // "vit", "mambavision"
    virtual int64_t num_labels() const = 0;
    // id2label from config.json, "LABEL_<i>" where absent; size num_labels().
    virtual const std::vector<std::string>& labels() const = 0;
    // The input size the model was trained at (config image_size / resolution).
    virtual int64_t image_height() const = 0;
    virtual int64_t image_width() const = 0;
    virtual int64_t num_parameters() const = 0;
    virtual const std::string& source_dtype() const = 0;

    // Throws KRAIT_ERR_INVALID_ARGUMENT naming the problem if the model cannot
    // run at height x width (e.g. not a multiple of the patch size).
    virtual void check_input_size(int64_t height, int64_t width) const = 0;

    // pixels [batch, 3, height, width] -> logits [batch, active_num_labels(lora)].
    // `lora`: the adapters active for this call (nullptr = the base model).
    // Throws KRAIT_ERR_ABORTED if *abort becomes true between blocks.
    // `ws` is this call's scratch (see ClassifierWorkspace).
    virtual void forward(const float* pixels, int64_t batch, int64_t height, int64_t width, float* logits,
                         ThreadPool& pool, ClassifierWorkspace& ws, const std::atomic<bool>* abort,
                         const LoraSet* lora = nullptr) const = 0;
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

    // The modules adapters may change, by the checkpoint's names (plus aliases).
    virtual const AdapterTargets& adapter_targets() const = 0;
    // The classifier head's slot: an adapter that replaces it brings its own classes.
    virtual int32_t head_slot() const = 0;

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
std::unique_ptr<ClassifierModel> load_classifier(const std::string& dir, const ClassifierModel::Progress& progress);

// True if config.json in `dir` names a classifier family this build has.
bool is_classifier_dir(const std::string& dir);

}  // namespace krait
