// The batch split shared by every classifier, and load_classifier /
// is_classifier_dir over the model-family registry.
#include "sdk/models/classifier.h"

#include <algorithm>
#include <exception>
#include <filesystem>

#include "sdk/core/error.h"
#include "sdk/core/utf8.h"
#include "sdk/core/text_file.h"
#include "sdk/models/registry.h"

namespace krait {

std::unique_ptr<ClassifierModel> load_classifier(const std::string& dir, const ClassifierModel::Progress& progress,
                                                 WeightOptions weights) {
    const ModelFamily& family = family_for_path(dir);
    if (family.kind != KRAIT_MODEL_CLASSIFIER || !family.load_classifier)
        fail_unsupported(dir + ": a " + quote(family.name) + " model, not an image classifier");
    LoadOptions options;
    options.progress = progress;
    options.weights = weights;
    return family.load_classifier(dir, options);
}

void ClassifierModel::forward(const float* pixels, int64_t batch, int64_t height, int64_t width, float* logits,
                              ThreadPool& pool, ClassifierWorkspace& ws, const std::atomic<bool>* abort,
                              const LoraSet* lora) const {
    if (!pixels || !logits) fail_argument(std::string(architecture()) + " forward: null pixels or logits buffer");
    if (batch < 1) fail_argument(std::string(architecture()) + " forward: batch must be >= 1, got " + std::to_string(batch));
    check_input_size(height, width);
    const int64_t T = num_tokens(height, width), F = feature_dim();
    float* features = grow_buffer(ws.features, batch * T * F);  // [batch, T, F]
    encode(pixels, batch, height, width, features, pool, ws, abort, lora);
    float* pooled = features;  // FirstToken: row 0 of each image, read in place at stride T * F
    int64_t pooled_stride = T * F;
    if (pooling() == Pooling::MeanOfTokens) {
        // The mean over tokens per channel, summed in token order (as the average pools this replaces).
        pooled = grow_buffer(ws.normed, batch * F);
        pooled_stride = F;
        pool.parallel_for(batch * F, 64, [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) {
                const int64_t b = r / F, ch = r % F;
                const float* src = features + b * T * F + ch;
                float sum = 0.0f;
                for (int64_t t = 0; t < T; ++t) sum += src[t * F];
                pooled[r] = sum / static_cast<float>(T);
            }
        });
    }
    const Linear h = effective_linear(head(), lora);  // an adapter may bring its own head and classes
    run_linear(pool, h, pooled, batch, pooled_stride, logits, h.out_features, false, lora);
}

void ClassifierModel::forward_batch(const float* pixels, int64_t batch, int64_t height, int64_t width, float* logits,
                                    ThreadPool& pool, std::vector<ClassifierWorkspace>& ws,
                                    const std::atomic<bool>* abort, const LoraSet* lora) const {
    const int64_t parts = std::min<int64_t>(pool.size(), batch);
    if (ws.size() < static_cast<size_t>(std::max<int64_t>(parts, 1))) ws.resize(static_cast<size_t>(std::max<int64_t>(parts, 1)));
    if (parts <= 1) {
        forward(pixels, batch, height, width, logits, pool, ws[0], abort, lora);
        return;
    }
    const int64_t image_floats = 3 * height * width, classes = active_num_labels(lora);
    std::vector<std::exception_ptr> errors(static_cast<size_t>(parts));
    pool.parallel_for(parts, 1, [&](int64_t p0, int64_t p1) {
        for (int64_t part = p0; part < p1; ++part) {
            const int64_t b0 = batch * part / parts, b1 = batch * (part + 1) / parts;
            try {
                ThreadPool alone(1);  // no workers: every parallel_for inside runs on this thread
                forward(pixels + b0 * image_floats, b1 - b0, height, width, logits + b0 * classes, alone,
                        ws[static_cast<size_t>(part)], abort, lora);
            } catch (...) {
                errors[static_cast<size_t>(part)] = std::current_exception();  // never let it leave a worker
            }
        }
    });
    for (const auto& e : errors)
        if (e) std::rethrow_exception(e);
}

bool is_classifier_dir(const std::string& dir) {
    try {
        const ModelFamily& family = family_for_path(dir);
        return family.kind == KRAIT_MODEL_CLASSIFIER && family.load_classifier;
    } catch (const Error&) {  // no or unreadable config.json, unknown type: not a classifier we can load
        return false;
    }
}

}  // namespace krait
