#include "sdk/models/composite_assistant.h"

#include <algorithm>
#include <filesystem>
#include <optional>

#include "sdk/core/error.h"
#include "sdk/core/json.h"
#include "sdk/core/log.h"
#include "sdk/core/text_file.h"
#include "sdk/core/utf8.h"
#include "sdk/models/ops.h"
#include "sdk/models/vision_config.h"

namespace krait {

namespace {
using nlohmann::json;
namespace fs = std::filesystem;

constexpr int64_t kFormatVersion = 1;

const json& object_field(const json& j, const char* key, const std::string& origin) {
    if (!j.contains(key) || !j[key].is_object()) fail_format(origin + ": no '" + key + "' object");
    return j[key];
}

std::string string_field(const json& j, const char* key, const std::string& origin) {
    if (!j.contains(key) || !j[key].is_string() || j[key].get<std::string>().empty())
        fail_format(origin + ": '" + key + "' must be a non-empty string");
    return j[key].get<std::string>();
}

// A path of the config: relative to the assistant's directory, or absolute.
std::string resolve(const std::string& dir, const std::string& path) { return (fs::path(dir) / path).string(); }

}  // namespace

CompositeAssistantConfig CompositeAssistantConfig::from_json_text(const std::string& text, const std::string& origin,
                                                                  const std::string& dir) {
    const json j = parse_json_object(text, origin);
    CompositeAssistantConfig c;
    c.origin = origin;
    const int64_t version = json_int(j, "format_version", kFormatVersion, origin);
    if (version > kFormatVersion)
        fail_unsupported(origin + ": format_version " + std::to_string(version) + " is newer than this build reads (" +
                         std::to_string(kFormatVersion) + ")");
    if (version < 1) fail_format(origin + ": 'format_version' must be >= 1, got " + std::to_string(version));

    const std::string enc_origin = origin + ": image_encoder";
    const json& enc = object_field(j, "image_encoder", origin);
    c.encoder_dir = resolve(dir, string_field(enc, "path", enc_origin));
    if (enc.contains("feature_layer") && !enc["feature_layer"].is_null()) {
        const json& layer = enc["feature_layer"];
        if (layer.is_number_integer()) {
            c.features.layers = {layer.get<int64_t>()};
        } else if (layer.is_array() && !layer.empty()) {
            for (const json& v : layer) {
                if (!v.is_number_integer())
                    fail_format(enc_origin + ": 'feature_layer' must be an integer or a list of integers");
                c.features.layers.push_back(v.get<int64_t>());
            }
        } else {
            fail_format(enc_origin + ": 'feature_layer' must be an integer or a non-empty list of integers, got " +
                        layer.dump());
        }
    }
    if (enc.contains("feature_level") && !enc["feature_level"].is_null()) {
        c.features.level = json_int(enc, "feature_level", -1, enc_origin);
        require_range(enc_origin, "feature_level", c.features.level, 0, 3);
    }
    if (!c.features.layers.empty() && c.features.level >= 0)
        fail_format(enc_origin + ": give 'feature_layer' (transformer towers) or 'feature_level' (MambaVision), not both");
    c.drop_first_token = json_bool(enc, "drop_first_token", false, enc_origin);

    const std::string proj_origin = origin + ": projector";
    const json& proj = object_field(j, "projector", origin);
    c.projector_file = resolve(dir, string_field(proj, "weights", proj_origin));
    if (!proj.contains("layers") || !proj["layers"].is_array())
        fail_format(proj_origin + ": 'layers' must be a list of layers");
    for (size_t i = 0; i < proj["layers"].size(); ++i) {
        const json& l = proj["layers"][i];
        const std::string where = proj_origin + ": layers[" + std::to_string(i) + "]";
        if (!l.is_object()) fail_format(where + " is not an object");
        const std::string type = string_field(l, "type", where);
        Layer layer;
        if (type == "linear" || type == "layer_norm") {
            layer.type = type == "linear" ? Layer::Type::Linear : Layer::Type::LayerNorm;
            layer.weight = string_field(l, "weight", where);
            if (l.contains("bias") && !l["bias"].is_null()) layer.bias = string_field(l, "bias", where);
            if (type == "layer_norm") {
                const double eps = json_number(l, "eps", 1e-5, where);
                if (!(eps > 0.0) || !(eps < 1.0)) fail_format(where + ": 'eps' must be in (0, 1), got " + l["eps"].dump());
                layer.eps = static_cast<float>(eps);
            }
        } else if (type == "activation") {
            layer.type = Layer::Type::Activation;
            layer.activation = activation_from_name(string_field(l, "function", where), where);
        } else {
            fail_format(where + ": unknown layer type " + quote(type) + " (linear, activation, layer_norm)");
        }
        c.projector.push_back(std::move(layer));
    }

    c.language_model_dir = resolve(dir, string_field(object_field(j, "language_model", origin), "path",
                                                     origin + ": language_model"));
    const std::string placement = string_field(j, "image_placement", origin);
    if (placement == "marker") c.placement = ImagePlacement::AtMarker;
    else if (placement == "prefix") c.placement = ImagePlacement::BeforeText;
    else fail_format(origin + ": 'image_placement' must be \"marker\" or \"prefix\", got " + quote(placement));
    if (!j.contains("image_token_id") || !j["image_token_id"].is_number_integer())
        fail_format(origin + ": 'image_token_id' must be a token id (an integer)");
    const int64_t token = j["image_token_id"].get<int64_t>();
    if (token < 0 || token > INT32_MAX)
        fail_format(origin + ": 'image_token_id' must be a token id, got " + std::to_string(token));
    c.image_token_id = static_cast<int32_t>(token);
    return c;
}

std::unique_ptr<CompositeAssistant> CompositeAssistant::load(const std::string& dir, const LoadOptions& options) {
    auto model = std::unique_ptr<CompositeAssistant>(new CompositeAssistant());
    const ModelSource own = ModelSource::from_dir(dir);
    CompositeAssistantConfig& c = model->config_;
    c = CompositeAssistantConfig::from_json_text(own.config_text, own.config_origin, dir);
    auto need_dir = [&](const std::string& path, const char* field) {
        if (!fs::is_directory(path)) fail_io(own.config_origin + ": " + field + " " + quote(path) + " is not a directory");
    };
    need_dir(c.language_model_dir, "language_model.path");
    need_dir(c.encoder_dir, "image_encoder.path");
    LoadOptions quiet = options;
    quiet.progress = nullptr;  // progress is reported for the whole assistant
    auto report = [&](float f) {
        if (options.progress && !options.progress(f))
            fail(KRAIT_ERR_CANCELLED, dir + ": loading cancelled by the progress callback");
    };

    // The language model, by its own family.
    const ModelFamily& lm_family = family_for_dir(c.language_model_dir);
    if (lm_family.kind != KRAIT_MODEL_SEQUENCE || !lm_family.load_language_model)
        fail_unsupported(own.config_origin + ": language_model.path " + quote(c.language_model_dir) + " holds a " +
                         lm_family.name + " model, not a language model");
    model->lm_ = lm_family.load_language_model(ModelSource::from_dir(c.language_model_dir), quiet);
    const int64_t D = model->lm_->info().hidden_size, vocab = model->lm_->vocab_size();
    if (c.image_token_id >= vocab)
        fail_format(own.config_origin + ": image_token_id " + std::to_string(c.image_token_id) +
                    " is outside the language model's vocabulary (" + std::to_string(vocab) + " ids)");
    model->text_dir_ = fs::exists(fs::path(dir) / "tokenizer.json") ? dir : c.language_model_dir;
    report(0.5f);

    // The image encoder and its features.
    LoadedImageEncoder loaded = load_image_encoder(c.encoder_dir, quiet);
    model->encoder_ = std::move(loaded.encoder);
    model->preprocess_ = std::move(loaded.preprocess);
    validate_preprocess_config(model->preprocess_);
    const ImageEncoder& enc = *model->encoder_;
    try {
        const auto [tokens, width] = enc.selected_shape(c.features, enc.image_height(), enc.image_width());
        model->encoder_tokens_ = tokens;
        model->feature_width_ = width;
    } catch (const Error& e) {
        fail(e.status(), own.config_origin + ": image_encoder: " + e.what());
    }
    model->image_rows_ = model->encoder_tokens_ - (c.drop_first_token ? 1 : 0);
    if (model->image_rows_ <= 0) fail_format(own.config_origin + ": the image encoder gives no feature rows");
    report(0.8f);

    // The projector: each step's input width must be the previous one's output, from the feature
    // width to the language model's hidden size.
    model->projector_loader_ = WeightLoader::from_file(c.projector_file, options.weights);
    WeightLoader& w = *model->projector_loader_;
    AdapterTargets& targets = model->targets_;
    targets = model->lm_->adapter_targets();
    targets.add_alias(R"(language_model\.(.*))", "$1");
    model->encoder_offset_ = static_cast<size_t>(targets.merge(enc.adapter_targets(), "image_encoder."));
    int64_t width = model->feature_width_;
    model->widest_ = width;
    for (size_t i = 0; i < c.projector.size(); ++i) {
        const CompositeAssistantConfig::Layer& layer = c.projector[i];
        const std::string where = own.config_origin + ": projector layer " + std::to_string(i);
        Step step{layer.type, {}, layer.activation, {}};
        if (layer.type == CompositeAssistantConfig::Layer::Type::Linear) {
            const TensorInfo* info = w.info(layer.weight);
            if (!info) fail_format(where + ": " + c.projector_file + " has no tensor " + quote(layer.weight));
            if (info->shape.size() != 2)
                fail_format(where + ": " + quote(layer.weight) + " is not a matrix [out, in] (shape " +
                            shape_to_string(info->shape) + ")");
            const int64_t out = info->shape[0], in = info->shape[1];
            if (in != width)
                fail_format(where + ": " + quote(layer.weight) + " takes " + std::to_string(in) + " features, but " +
                            (i == 0 ? "the image encoder gives " : "the layer before gives ") + std::to_string(width));
            const StoredWeight sw = w.get_stored(layer.weight, {out, in});
            const float* bias = layer.bias.empty() ? nullptr : w.get(layer.bias, {out});
            step.linear = make_linear(sw.f32, sw.half, sw.type, bias, in, out);
            model->packed_.pack_replacing(step.linear, w);
            register_linear(targets, "projector." + std::to_string(i), step.linear);
            width = out;
        } else if (layer.type == CompositeAssistantConfig::Layer::Type::LayerNorm) {
            step.norm.weight = w.get(layer.weight, {width});
            step.norm.bias = layer.bias.empty() ? nullptr : w.get(layer.bias, {width});
            step.norm.dim = width;
            step.norm.eps = layer.eps;
        }
        model->widest_ = std::max(model->widest_, width);
        model->steps_.push_back(step);
    }
    if (width != D)
        fail_format(own.config_origin + ": the projector gives rows of " + std::to_string(width) +
                    " values, but the language model's hidden size is " + std::to_string(D));
    report(1.0f);
    std::string selection = "its output";
    if (c.features.level >= 0) selection = "level " + std::to_string(c.features.level);
    if (!c.features.layers.empty()) {
        selection = "hidden states";
        for (int64_t l : c.features.layers) selection += " " + std::to_string(l);
    }
    log(KRAIT_LOG_INFO, dir + ": composite assistant: " + enc.architecture() + " encoder (" + c.encoder_dir +
                            ", " + selection + (c.drop_first_token ? ", first token dropped" : "") + ", " +
                            std::to_string(model->image_rows_) + " rows per image), projector " +
                            model->describe_projector() + ", " + model->lm_->info().architecture +
                            " language model (" + c.language_model_dir + "), images " +
                            (c.placement == ImagePlacement::BeforeText ? "before the text" : "at the image token"));
    return model;
}

std::string CompositeAssistant::describe_projector() const {
    std::string s;
    for (const Step& step : steps_) {
        if (!s.empty()) s += ", ";
        switch (step.type) {
            case CompositeAssistantConfig::Layer::Type::Linear:
                s += "linear " + std::to_string(step.linear.in_features) + " -> " + std::to_string(step.linear.out_features);
                break;
            case CompositeAssistantConfig::Layer::Type::Activation: s += activation_name(step.activation); break;
            case CompositeAssistantConfig::Layer::Type::LayerNorm: s += "layer_norm " + std::to_string(step.norm.dim); break;
        }
    }
    return s.empty() ? "identity" : s;
}

void CompositeAssistant::encode_images(const float* pixels, int64_t n, int64_t height, int64_t width, float* rows,
                                       ThreadPool& pool, ClassifierWorkspace& ws, const std::atomic<bool>* abort,
                                       const LoraSet* lora) const {
    if (n <= 0) return;  // no images: height and width are not read
    // The encoder numbers its modules in its own table: it gets the slice of `lora` that is its slots.
    const size_t encoder_slots = encoder_->adapter_targets().slots();
    std::optional<LoraSet> encoder_lora;
    if (lora && lora->touches(encoder_offset_, encoder_offset_ + encoder_slots))
        encoder_lora.emplace(lora->slice(encoder_offset_, encoder_slots));
    encoder_->check_input_size(height, width);
    if (height != encoder_->image_height() || width != encoder_->image_width())
        fail_argument("images of " + std::to_string(height) + "x" + std::to_string(width) + ": the assistant takes " +
                      std::to_string(encoder_->image_height()) + "x" + std::to_string(encoder_->image_width()));
    const int64_t T = encoder_tokens_, F = feature_width_, R = image_rows_;
    const int64_t D = lm_->info().hidden_size, first = config_.drop_first_token ? 1 : 0;
    float* features = grow_buffer(ws.features, n * T * F);  // [n, T, F]
    encoder_->encode_selected(config_.features, pixels, n, height, width, features, pool, ws, abort,
                              encoder_lora ? &*encoder_lora : nullptr);
    // The projector on one image's rows at a time, between two buffers of the widest step's rows.
    float* ping = grow_buffer(ws.branch, R * widest_);
    float* pong = grow_buffer(ws.normed, R * widest_);
    for (int64_t i = 0; i < n; ++i) {
        if (abort && abort->load(std::memory_order_relaxed)) fail(KRAIT_ERR_ABORTED, "the call was aborted");
        const float* x = features + (i * T + first) * F;
        int64_t cols = F;
        std::copy(x, x + R * F, ping);
        for (const Step& step : steps_) {
            switch (step.type) {
                case CompositeAssistantConfig::Layer::Type::Linear:
                    run_linear(pool, step.linear, ping, R, cols, pong, step.linear.out_features, false, lora);
                    cols = step.linear.out_features;
                    std::swap(ping, pong);
                    break;
                case CompositeAssistantConfig::Layer::Type::Activation:
                    run_activation_rows(pool, step.activation, ping, R, cols, cols);
                    break;
                case CompositeAssistantConfig::Layer::Type::LayerNorm:
                    run_layer_norm(pool, step.norm, ping, R, cols, ping, cols);
                    break;
            }
        }
        std::copy(ping, ping + R * D, rows + i * R * D);
    }
}

ModelFamily composite_assistant_family() {
    ModelFamily f;
    f.name = "krait_assistant";
    f.model_types = {"krait_assistant"};
    f.kind = KRAIT_MODEL_ASSISTANT;
    f.load_assistant = [](const std::string& dir, const LoadOptions& options) -> std::unique_ptr<AssistantModel> {
        return CompositeAssistant::load(dir, options);
    };
    return f;
}

}  // namespace krait
