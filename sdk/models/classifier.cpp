// load_classifier / is_classifier_dir: dispatch a model directory to its
// classifier implementation by config.json's model_type.
#include "sdk/models/classifier.h"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sdk/core/error.h"
#include "sdk/models/vit.h"

#include "sdk/models/mambavision.h"
#include "sdk/core/utf8.h"

namespace krait {

namespace {

// config.json's model_type, or "" when the file is absent, unreadable, not
// JSON or has none. `error` receives why, for load_classifier's messages.
std::string read_model_type(const std::string& dir, krait_status* status, std::string* error) {
    const auto path = (std::filesystem::path(dir) / "config.json").string();
    std::ifstream in(path);
    if (!in) {
        *status = KRAIT_ERR_IO;
        *error = dir + ": no config.json";
        return "";
    }
    std::stringstream ss;
    ss << in.rdbuf();
    const auto j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
        *status = KRAIT_ERR_FORMAT;
        *error = path + ": not a valid JSON object";
        return "";
    }
    if (!j.contains("model_type") || !j["model_type"].is_string()) {
        *status = KRAIT_ERR_FORMAT;
        *error = path + ": no string 'model_type'";
        return "";
    }
    return j["model_type"].get<std::string>();
}

bool known_type(const std::string& type) { return type == "vit" || type == "mambavision"; }

}  // namespace

std::unique_ptr<ClassifierModel> load_classifier(const std::string& dir, const ClassifierModel::Progress& progress) {
    krait_status status = KRAIT_OK;
    std::string error;
    const std::string type = read_model_type(dir, &status, &error);
    if (type.empty()) fail(status, error);
    if (type == "vit") return ViTModel::load(dir, progress);
    if (type == "mambavision") return load_mambavision(dir, progress);
    fail_unsupported(dir + ": model_type " + krait::quote(type) + " is not an image classifier this build runs (vit, mambavision)");
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
    krait_status status = KRAIT_OK;
    std::string error;
    try {
        return known_type(read_model_type(dir, &status, &error));
    } catch (...) {  // e.g. a directory we may not read: not a classifier we can load
        return false;
    }
}

}  // namespace krait
