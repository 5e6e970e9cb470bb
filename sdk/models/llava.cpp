#include "sdk/models/llava.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "sdk/core/error.h"
#include "sdk/core/json.h"
#include "sdk/core/text_file.h"
#include "sdk/core/utf8.h"
#include "sdk/models/ops.h"
#include "sdk/models/vision_config.h"

namespace krait {

namespace {
using nlohmann::json;

// Where each part's tensors are, per key layout (see llava.h). `vision` is the tower's prefix, `lm`
// the WeightLoader rules that turn the language model's own names into the checkpoint's.
struct KeyLayout {
    const char* vision;
    const char* projector;
    std::vector<std::pair<std::string, std::string>> lm;
};

const std::vector<KeyLayout>& key_layouts() {
    static const std::vector<KeyLayout> layouts = {
        // transformers 5 in memory
        {"model.vision_tower.", "model.multi_modal_projector.",
         {{"model.", "model.language_model."}, {"lm_head.", "lm_head."}}},
        {"model.vision_tower.vision_model.", "model.multi_modal_projector.",
         {{"model.", "model.language_model."}, {"lm_head.", "lm_head."}}},
        // as transformers 5 saves it, and the llava-hf checkpoints on the hub
        {"vision_tower.", "multi_modal_projector.",
         {{"model.", "language_model.model."}, {"lm_head.", "language_model.lm_head."}}},
        {"vision_tower.vision_model.", "multi_modal_projector.",
         {{"model.", "language_model.model."}, {"lm_head.", "language_model.lm_head."}}},
    };
    return layouts;
}

}  // namespace

LlavaConfig LlavaConfig::from_json_text(const std::string& text, const std::string& origin) {
    const json j = parse_json_object(text, origin);
    LlavaConfig c;
    c.origin = origin;
    const char* token_key = j.contains("image_token_index") ? "image_token_index" : "image_token_id";
    const int64_t token = json_int(j, token_key, 32000, origin);
    if (token < 0 || token > INT32_MAX) fail_format(origin + ": '" + token_key + "' must be a token id, got " + std::to_string(token));
    c.image_token_id = static_cast<int32_t>(token);

    const json layer = j.contains("vision_feature_layer") ? j["vision_feature_layer"] : json(-2);
    if (layer.is_number_integer()) {
        c.feature_layers = {layer.get<int64_t>()};
    } else if (layer.is_array() && !layer.empty()) {
        for (const json& v : layer) {
            if (!v.is_number_integer()) fail_format(origin + ": 'vision_feature_layer' must be an integer or a list of integers");
            c.feature_layers.push_back(v.get<int64_t>());
        }
    } else {
        fail_format(origin + ": 'vision_feature_layer' must be an integer or a non-empty list of integers, got " + layer.dump());
    }

    const std::string strategy = j.value("vision_feature_select_strategy", std::string("default"));
    if (strategy != "default" && strategy != "full")
        fail_format(origin + ": 'vision_feature_select_strategy' must be \"default\" or \"full\", got " + quote(strategy));
    c.drop_first_row = strategy == "default";
    if (j.contains("projector_hidden_act") && !j["projector_hidden_act"].is_string())
        fail_format(origin + ": 'projector_hidden_act' must be a string");
    c.projector_act = activation_from_name(j.value("projector_hidden_act", std::string("gelu")), origin);
    if (j.contains("multimodal_projector_bias") && !j["multimodal_projector_bias"].is_boolean())
        fail_format(origin + ": 'multimodal_projector_bias' must be true or false");
    c.projector_bias = j.value("multimodal_projector_bias", true);

    if (!j.contains("vision_config") || !j["vision_config"].is_object())
        fail_format(origin + ": no 'vision_config' object");
    c.vision = ClipVisionConfig::from_json(j["vision_config"], origin + ": vision_config");
    if (!j.contains("text_config") || !j["text_config"].is_object()) fail_format(origin + ": no 'text_config' object");
    json text_config = j["text_config"];
    // LlavaConfig's text_config defaults to llama, as transformers' does.
    if (!text_config.contains("model_type")) text_config["model_type"] = "llama";
    c.text_config = text_config.dump();
    return c;
}

std::unique_ptr<LlavaModel> LlavaModel::load(const std::string& dir, const LoadOptions& options) {
    auto model = std::unique_ptr<LlavaModel>(new LlavaModel());
    const ModelSource own = ModelSource::from_dir(dir);
    LlavaConfig& c = model->config_;
    c = LlavaConfig::from_json_text(own.config_text, own.config_origin);

    // Which layout: the one whose patch embedding exists.
    model->projector_loader_ = std::make_unique<WeightLoader>(dir, options.weights);
    WeightLoader& w = *model->projector_loader_;
    const KeyLayout* layout = nullptr;
    for (const KeyLayout& k : key_layouts())
        if (w.has(std::string(k.vision) + "embeddings.patch_embedding.weight")) {
            layout = &k;
            break;
        }
    if (!layout)
        fail_format(dir + ": no vision tower tensors (looked for embeddings.patch_embedding.weight under "
                          "model.vision_tower., vision_tower. and their vision_model.)");

    // The language model, by its own family, reading its tensors through the layout's prefixes.
    ModelSource text;
    text.dir = dir;
    text.config_text = c.text_config;
    text.config_origin = own.config_origin + ": text_config";
    text.weight_prefixes = layout->lm;
    // Adapters trained with peft on the whole LLaVA name the language model's modules as transformers 5
    // (model.language_model.*) or 4 (language_model.model.*, language_model.lm_head) does.
    text.adapter_aliases = {{R"(model\.language_model\.(.*))", "model.$1"},
                            {R"(language_model\.model\.(.*))", "model.$1"},
                            {R"(language_model\.lm_head)", "lm_head"}};
    const ModelFamily& family = family_for_config(parse_json_object(text.config_text, text.config_origin), text.config_origin);
    if (family.kind != KRAIT_MODEL_SEQUENCE || !family.load_language_model)
        fail_unsupported(text.config_origin + ": a " + family.name + " model is not a language model");
    LoadOptions quiet = options;
    quiet.progress = nullptr;  // progress is reported for the whole assistant below
    model->lm_ = family.load_language_model(text, quiet);
    const int64_t D = model->lm_->info().hidden_size;
    if (options.progress && !options.progress(0.6f)) fail(KRAIT_ERR_CANCELLED, dir + ": loading cancelled by the progress callback");

    model->vision_ = ClipVisionModel::load(c.vision, dir, layout->vision, options.weights);
    const ClipVisionConfig& v = c.vision;
    for (int64_t layer : c.feature_layers) {
        const int64_t i = layer < 0 ? v.num_layers + 1 + layer : layer;
        if (i < 0 || i > v.num_layers)
            fail_format(own.config_origin + ": vision_feature_layer " + std::to_string(layer) +
                        " is outside the tower's hidden states (" + std::to_string(v.num_layers + 1) + ": -" +
                        std::to_string(v.num_layers + 1) + " .. " + std::to_string(v.num_layers) + ")");
        model->layers_.push_back(i);
    }
    const int64_t tokens = v.num_positions();
    model->image_rows_ = tokens - (c.drop_first_row ? 1 : 0);
    if (model->image_rows_ <= 0) fail_format(own.config_origin + ": the vision tower gives no feature rows");

    // The projector: linear_1 [D, D_vis * layers], act, linear_2 [D, D]; sizes that do not fit the
    // encoder or the language model are refused naming the tensor.
    const int64_t in = v.hidden_size * static_cast<int64_t>(model->layers_.size());
    auto linear = [&](const std::string& name, int64_t n_in, int64_t n_out) {
        const StoredWeight sw = w.get_stored(std::string(layout->projector) + name + ".weight", {n_out, n_in});
        const float* bias = c.projector_bias ? w.get(std::string(layout->projector) + name + ".bias", {n_out}) : nullptr;
        Linear l = make_linear(sw.f32, sw.half, sw.type, bias, n_in, n_out);
        model->packed_.pack_replacing(l, w);
        return l;
    };
    model->projector_.fc1 = linear("linear_1", in, D);
    model->projector_.fc2 = linear("linear_2", D, D);
    model->projector_.act = c.projector_act;

    // Adapter targets: the language model's slots as they are, then the tower's and the projector's.
    AdapterTargets& targets = model->targets_;
    targets = model->lm_->adapter_targets();
    model->tower_offset_ = static_cast<size_t>(targets.merge(model->vision_->adapter_targets()));
    register_linear(targets, std::string(layout->projector) + "linear_1", model->projector_.fc1);
    register_linear(targets, std::string(layout->projector) + "linear_2", model->projector_.fc2);
    // peft names modules as they are in memory: transformers 5 "model.vision_tower.<tower>" (its
    // CLIPVisionModel has no vision_model level) and "model.multi_modal_projector.*", transformers 4
    // "vision_tower.vision_model.<tower>" and "multi_modal_projector.*".
    const std::string tower = layout->vision, projector = layout->projector;
    targets.add_alias(R"(model\.vision_tower\.(?:vision_model\.)?(.*))", tower + "$1");
    targets.add_alias(R"(vision_tower\.(?:vision_model\.)?(.*))", tower + "$1");
    targets.add_alias(R"((?:model\.)?multi_modal_projector\.(.*))", projector + "$1");

    const int64_t side = v.image_size;
    model->preprocess_ = load_preprocess_config(dir, PreprocessSource::HfImageProcessor, side, side);
    validate_preprocess_config(model->preprocess_);
    if (options.progress && !options.progress(1.0f)) fail(KRAIT_ERR_CANCELLED, dir + ": loading cancelled by the progress callback");
    return model;
}

void LlavaModel::encode_images(const float* pixels, int64_t n, int64_t height, int64_t width, float* rows,
                               ThreadPool& pool, ClassifierWorkspace& ws, const std::atomic<bool>* abort,
                               const LoraSet* lora) const {
    if (n <= 0) return;  // no images: height and width are not read (krait.h: pixels NULL, sizes unchecked)
    // The tower numbers its modules in its own table: it gets the slice of `lora` that is its slots.
    const size_t tower_slots = vision_->adapter_targets().slots();
    std::optional<LoraSet> tower_lora;
    if (lora && lora->touches(tower_offset_, tower_offset_ + tower_slots))
        tower_lora.emplace(lora->slice(tower_offset_, tower_slots));
    vision_->check_input_size(height, width);
    const int64_t T = vision_->num_tokens(height, width), Dv = projector_.fc1.in_features;
    const int64_t D = projector_.fc1.out_features, R = image_rows_, first = config_.drop_first_row ? 1 : 0;
    float* features = grow_buffer(ws.features, n * T * Dv);  // [n, T, D_vis * layers]
    vision_->encode_hidden_states(pixels, n, height, width, layers_, features, pool, ws, abort,
                                  tower_lora ? &*tower_lora : nullptr);
    float* hidden = grow_buffer(ws.branch, R * D);  // [R, D] one image's projector hidden rows
    for (int64_t i = 0; i < n; ++i) {
        if (abort && abort->load(std::memory_order_relaxed)) fail(KRAIT_ERR_ABORTED, "the call was aborted");
        run_linear(pool, projector_.fc1, features + (i * T + first) * Dv, R, Dv, hidden, D, false, lora);
        run_activation_rows(pool, projector_.act, hidden, R, D, D);
        run_linear(pool, projector_.fc2, hidden, R, D, rows + i * R * D, D, false, lora);
    }
}

ModelFamily llava_family() {
    ModelFamily f;
    f.name = "llava";
    f.model_types = {"llava"};
    f.kind = KRAIT_MODEL_ASSISTANT;
    f.load_assistant = [](const std::string& dir, const LoadOptions& options) -> std::unique_ptr<AssistantModel> {
        return LlavaModel::load(dir, options);
    };
    return f;
}

}  // namespace krait
