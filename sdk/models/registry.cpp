#include "sdk/models/registry.h"

#include <filesystem>

#include "sdk/core/error.h"
#include "sdk/core/json.h"
#include "sdk/core/text_file.h"
#include "sdk/core/utf8.h"
#include "sdk/models/classifier.h"
#include "sdk/models/weight_loader.h"

namespace krait {

ModelSource ModelSource::from_dir(const std::string& dir) {
    ModelSource s;
    s.dir = dir;
    s.config_origin = (std::filesystem::path(dir) / "config.json").string();
    s.config_text = read_text_file(s.config_origin, dir + ": no config.json");
    return s;
}

std::unique_ptr<WeightLoader> ModelSource::weights(WeightOptions weights) const {
    auto w = std::make_unique<WeightLoader>(dir, weights);
    for (const auto& [from, to] : weight_prefixes) w->map_prefix(from, to);
    return w;
}

const ModelFamily& family_for_dir(const std::string& dir) {
    const ModelSource source = ModelSource::from_dir(dir);
    return family_for_config(parse_json_object(source.config_text, source.config_origin), source.config_origin);
}

const ModelFamily& family_for_path(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(path, ec)) {
        for (const auto& f : model_families())
            if (f.claims_file && f.claims_file(path)) return f;
        fail_unsupported(path + ": a file Krait does not read as a model (give a model directory, or an .onnx file)");
    }
    if (!std::filesystem::is_directory(path, ec)) fail_io(path + ": no such file or directory");
    return family_for_dir(path);
}

const ModelFamily& family_for_config(const nlohmann::json& config, const std::string& path) {
    const auto& families = model_families();
    if (!config.contains("model_type")) {
        for (const auto& f : families)
            if (f.claims_untyped_config && f.claims_untyped_config(config)) return f;
        fail_format(path + ": no 'model_type', and not a layout any model family reads");
    }
    if (!config["model_type"].is_string()) fail_format(path + ": 'model_type' must be a string");
    const auto type = config["model_type"].get<std::string>();
    std::string known;
    for (const auto& f : families) {
        for (const auto& t : f.model_types) {
            if (t == type) return f;
            known += (known.empty() ? "" : ", ") + t;
        }
    }
    fail_unsupported(path + ": unknown model_type " + quote(type) + " (this build reads " + known + ")");
}

LoadedImageEncoder load_image_encoder(const std::string& dir, const LoadOptions& options) {
    const ModelFamily& family = family_for_path(dir);
    if (family.load_image_encoder) return family.load_image_encoder(dir, options);
    if (family.kind == KRAIT_MODEL_CLASSIFIER && family.load_classifier) {
        std::unique_ptr<ClassifierModel> classifier = family.load_classifier(dir, options);
        LoadedImageEncoder loaded;
        loaded.preprocess = family.load_preprocess(dir, *classifier);
        loaded.encoder = std::move(classifier);
        return loaded;
    }
    fail_unsupported(dir + ": a " + quote(family.name) + " model is not an image encoder");
}

}  // namespace krait
