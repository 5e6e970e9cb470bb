// The registry of model families: the one place that maps a model directory
// (config.json's model_type) to the code that loads it.
//
// Each family describes itself from its own files (mamba_family() in mamba.cpp,
// vit_family() in vit.cpp, ...): the model_types it reads, the session kind its
// models serve, and its loader. sdk/models/families.cpp lists the built-in
// families, one line each; nothing else in the SDK looks at model_type, so
// adding a family is its own files plus that one line.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "krait/krait.h"
#include "sdk/image/preprocess.h"
#include "sdk/models/classifier.h"
#include "sdk/models/language_model.h"
#include "sdk/models/weight_options.h"

namespace krait {

class AssistantModel;  // sdk/models/assistant.h
class ImageEncoder;    // sdk/models/image_encoder.h

// What every loader is given besides the directory.
struct LoadOptions {
    // Called with the fraction of weights prepared; returning false cancels the
    // load (KRAIT_ERR_CANCELLED). May be empty.
    std::function<bool(float)> progress;
    // Large weight matrices (linear layers, embeddings) of F16/BF16 files:
    // keep_stored true = used as stored, in place from the memory map (half the
    // memory of F32); false = upcast to F32 at load
    // (krait_model_params.weight_precision). Every family honours it; the
    // classifiers pack their linears either way, as stored into F16/BF16
    // panels (true) or as F32 panels (false). bf16_products: BF16 weights may
    // use BF16 dot products (krait_model_params.matmul_precision).
    WeightOptions weights;
};

// Where a model's config and weights come from: a directory of its own (ModelSource::from_dir), or a
// part of another model's (LLaVA's text_config, its tensors under language_model.*).
struct ModelSource {
    std::string dir;            // the safetensors files
    std::string config_text;    // the model's config, JSON text
    std::string config_origin;  // names it in messages: ".../config.json" or ".../config.json: text_config"
    std::vector<std::pair<std::string, std::string>> weight_prefixes;  // WeightLoader::map_prefix rules
    // AdapterTargets::add_alias rules (regex, replacement): how adapters made for the enclosing model
    // name this model's modules (peft on LLaVA: "model.language_model.layers.0..." for "model.layers.0...").
    std::vector<std::pair<std::string, std::string>> adapter_aliases;
    // The directory's own config.json (KRAIT_ERR_IO when absent).
    static ModelSource from_dir(const std::string& dir);
    // A WeightLoader over `dir` with the prefix rules.
    std::unique_ptr<class WeightLoader> weights(WeightOptions weights) const;
};

// An image encoder loaded from a directory of its own, with how its pictures are prepared.
struct LoadedImageEncoder {
    std::shared_ptr<const ImageEncoder> encoder;
    PreprocessConfig preprocess;
};

struct ModelFamily {
    std::string name;                      // "mamba", "vit", ... (for messages and docs)
    std::vector<std::string> model_types;  // config.json model_type values it reads
    krait_model_kind kind = KRAIT_MODEL_SEQUENCE;
    // For a config.json without model_type (e.g. the original state-spaces
    // Mamba layout): true if this family reads it. May be empty.
    std::function<bool(const nlohmann::json& config)> claims_untyped_config;
    // For a model given as one file rather than a directory (an .onnx graph): true if this family
    // reads it. Its loaders are then given the file's path. May be empty.
    std::function<bool(const std::string& path)> claims_file;

    // KRAIT_MODEL_SEQUENCE families set this one ...
    std::function<std::unique_ptr<LanguageModel>(const ModelSource& source, const LoadOptions&)> load_language_model;
    // ... KRAIT_MODEL_CLASSIFIER families these two: the model, and how its
    // images are prepared (from preprocessor_config.json or config.json).
    std::function<std::unique_ptr<ClassifierModel>(const std::string& dir, const LoadOptions&)> load_classifier;
    std::function<PreprocessConfig(const std::string& dir, const ClassifierModel& model)> load_preprocess;
    // ... and KRAIT_MODEL_ASSISTANT families this one (the model brings its language model and preprocessing).
    std::function<std::unique_ptr<AssistantModel>(const std::string& dir, const LoadOptions&)> load_assistant;
    // A family of image encoders alone (CLIP / SigLIP vision towers) sets only this: they serve no
    // session kind (krait_model_load refuses them) but feed composite assistants. Classifier
    // families need not set it: their classifier is the encoder (see load_image_encoder below).
    std::function<LoadedImageEncoder(const std::string& dir, const LoadOptions&)> load_image_encoder;
};

// Every registered family, in registration order (sdk/models/families.cpp).
const std::vector<ModelFamily>& model_families();

// The family that reads `dir`. Throws KRAIT_ERR_IO when there is no
// config.json, KRAIT_ERR_FORMAT when it is not a JSON object or its model_type
// is not a string, KRAIT_ERR_UNSUPPORTED naming the model_type (and the ones
// this build reads) when no family claims it.
const ModelFamily& family_for_dir(const std::string& dir);
// The family that reads `path`: a file some family claims (claims_file), else a directory as
// family_for_dir. Throws KRAIT_ERR_IO when `path` does not exist, KRAIT_ERR_UNSUPPORTED for a file
// no family reads.
const ModelFamily& family_for_path(const std::string& path);
// The same for a config held in memory (a nested one such as LLaVA's text_config); `origin` names it.
const ModelFamily& family_for_config(const nlohmann::json& config, const std::string& origin);

// The image encoder in `dir`: a classifier family's model (its head unused) or an encoder-only
// family's. Throws as family_for_dir, and KRAIT_ERR_UNSUPPORTED naming the family when it has no
// image encoder (a language model, an assistant).
LoadedImageEncoder load_image_encoder(const std::string& dir, const LoadOptions& options);

// The built-in families' descriptions, each defined in its family's own file.
ModelFamily mamba_family();
ModelFamily mamba2_family();  // sdk/models/mamba2.cpp
ModelFamily llama_family();
ModelFamily vit_family();
ModelFamily mambavision_family();
ModelFamily llava_family();
ModelFamily clip_vision_family();
ModelFamily composite_assistant_family();
ModelFamily onnx_family();  // sdk/onnx/onnx_classifier.cpp

}  // namespace krait
