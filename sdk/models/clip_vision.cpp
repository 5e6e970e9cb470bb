#include "sdk/models/clip_vision.h"

#include <algorithm>
#include <cstring>

#include "sdk/core/error.h"
#include "sdk/core/json.h"
#include "sdk/core/text_file.h"
#include "sdk/core/utf8.h"
#include "sdk/models/registry.h"
#include "sdk/models/vision_config.h"
#include "sdk/models/weight_loader.h"

namespace krait {

using nlohmann::json;

namespace {
constexpr const char* kClip = "clip_vision_model";
constexpr const char* kSiglip = "siglip_vision_model";
constexpr int64_t kMaxSide = 16384;  // as ViT: keeps token counts and sizes far from overflow
}  // namespace

ClipVisionConfig ClipVisionConfig::from_json(const json& j, const std::string& origin) {
    if (!j.is_object()) fail_format(origin + ": 'vision_config' must be an object");
    ClipVisionConfig c;
    if (j.contains("model_type") && !j["model_type"].is_null()) {
        if (!j["model_type"].is_string()) fail_format(origin + ": 'model_type' must be a string");
        c.model_type = j["model_type"].get<std::string>();
        if (c.model_type != kClip && c.model_type != kSiglip)
            fail_unsupported(origin + ": vision model_type " + krait::quote(c.model_type) + " is not a CLIP ('" +
                             kClip + "') or SigLIP ('" + kSiglip + "') vision tower");
    }
    // Defaults: transformers' CLIPVisionConfig / SiglipVisionConfig.
    const bool siglip = c.is_siglip();
    c.image_size = json_int(j, "image_size", 224, origin);
    c.patch_size = json_int(j, "patch_size", siglip ? 16 : 32, origin);
    c.num_channels = json_int(j, "num_channels", 3, origin);
    c.hidden_size = json_int(j, "hidden_size", 768, origin);
    c.num_layers = json_int(j, "num_hidden_layers", 12, origin);
    c.num_heads = json_int(j, "num_attention_heads", 12, origin);
    c.intermediate_size = json_int(j, "intermediate_size", 3072, origin);
    c.act = json_activation(j, siglip ? Activation::GeluTanh : Activation::QuickGelu, origin);
    c.layer_norm_eps = json_layer_norm_eps(j, siglip ? 1e-6f : 1e-5f, origin);

    require_range(origin, "patch_size", c.patch_size, 1, 1024);
    require_range(origin, "image_size", c.image_size, c.patch_size, kMaxSide);
    if (c.image_size % c.patch_size)
        fail_format(origin + ": 'image_size' " + std::to_string(c.image_size) + " is not a multiple of 'patch_size' " +
                    std::to_string(c.patch_size));
    check_vision_transformer_shape(origin, c.num_channels, c.hidden_size, c.num_layers, c.num_heads, c.intermediate_size);
    return c;
}

std::unique_ptr<ClipVisionModel> ClipVisionModel::load(const ClipVisionConfig& config, const std::string& dir,
                                                       const std::string& weight_prefix, WeightOptions weights,
                                                       const Progress& progress) {
    auto model = std::unique_ptr<ClipVisionModel>(new ClipVisionModel());
    model->config_ = config;
    model->prefix_ = weight_prefix;
    const ClipVisionConfig& c = model->config_;
    model->loader_ = std::make_unique<WeightLoader>(dir, weights);
    WeightLoader& w = *model->loader_;

    const int64_t D = c.hidden_size, I = c.intermediate_size, P = c.patch_size, C = c.num_channels;
    const int64_t total_steps = c.num_layers + 2;
    auto report = [&](int64_t step) {
        if (progress && !progress(static_cast<float>(step) / static_cast<float>(total_steps)))
            fail(KRAIT_ERR_CANCELLED, dir + ": loading cancelled by the progress callback");
    };
    report(0);

    AdapterTargets& targets = model->targets_;
    targets.set_architecture(model->architecture());
    const LayerNormWeights ln0{nullptr, nullptr, D, c.layer_norm_eps};
    auto layer_norm = [&](const std::string& name) {
        LayerNormWeights ln = ln0;
        ln.weight = w.get(name + ".weight", {D});
        ln.bias = w.get(name + ".bias", {D});
        targets.add_unsupported(name, TargetKind::Linear,
                                krait::quote(name) + " is a LayerNorm; adapters can change linear layers and convs only");
        return ln;
    };

    const std::string e = weight_prefix + "embeddings.";
    // CLIP's patch conv has no bias (bias=False in CLIPVisionEmbeddings); SigLIP's has one.
    model->patch_ = {w.get(e + "patch_embedding.weight", {D, C, P, P}),
                     c.class_token() ? nullptr : w.get(e + "patch_embedding.bias", {D}),
                     C, D, P, P, /*stride=*/P, /*padding=*/0, /*groups=*/1};
    register_conv2d(targets, e + "patch_embedding", model->patch_);
    if (c.class_token()) model->class_embedding_ = w.get(e + "class_embedding", {D});
    model->pos_embed_ = w.get(e + "position_embedding.weight", {c.num_positions(), D});
    if (c.class_token()) model->pre_ln_ = layer_norm(weight_prefix + "pre_layrnorm");  // sic: transformers' name
    report(1);

    for (int64_t i = 0; i < c.num_layers; ++i) {
        const std::string p = weight_prefix + "encoder.layers." + std::to_string(i) + ".";
        auto linear = [&](const std::string& name, int64_t out, int64_t in) {
            const StoredWeight sw = w.get_stored(p + name + ".weight", {out, in});
            return make_linear(sw.f32, sw.half, sw.type, w.get(p + name + ".bias", {out}), in, out);
        };
        Layer L;
        L.ln1 = layer_norm(p + "layer_norm1");
        L.attn.q = linear("self_attn.q_proj", D, D);
        L.attn.k = linear("self_attn.k_proj", D, D);
        L.attn.v = linear("self_attn.v_proj", D, D);
        L.attn.out = linear("self_attn.out_proj", D, D);
        L.attn.num_heads = c.num_heads;
        L.attn.head_dim = D / c.num_heads;  // run_self_attention scales by head_dim^-0.5, as CLIPAttention
        L.attn.causal = false;
        L.ln2 = layer_norm(p + "layer_norm2");
        L.mlp.fc1 = linear("mlp.fc1", I, D);
        L.mlp.fc2 = linear("mlp.fc2", D, I);
        L.mlp.act = c.act;
        // Packed first (the packed copy replaces the row-major one), then registered (adapters see the packed one).
        for (Linear* l : {&L.attn.q, &L.attn.k, &L.attn.v, &L.attn.out, &L.mlp.fc1, &L.mlp.fc2})
            model->packed_.pack_replacing(*l, w);
        register_linear(targets, p + "self_attn.q_proj", L.attn.q);
        register_linear(targets, p + "self_attn.k_proj", L.attn.k);
        register_linear(targets, p + "self_attn.v_proj", L.attn.v);
        register_linear(targets, p + "self_attn.out_proj", L.attn.out);
        register_linear(targets, p + "mlp.fc1", L.mlp.fc1);
        register_linear(targets, p + "mlp.fc2", L.mlp.fc2);
        model->layers_.push_back(L);
        report(i + 2);
    }
    model->post_ln_ = layer_norm(weight_prefix + "post_layernorm");
    report(total_steps);
    return model;
}

void ClipVisionModel::check_input_size(int64_t height, int64_t width) const {
    if (height != config_.image_size || width != config_.image_size)
        fail_argument(std::string(architecture()) + " vision input " + std::to_string(height) + "x" +
                      std::to_string(width) + ": must be the trained size " + std::to_string(config_.image_size) +
                      "x" + std::to_string(config_.image_size) + " (position embeddings are not interpolated)");
}

int64_t ClipVisionModel::num_tokens(int64_t height, int64_t width) const {
    return (has_class_token() ? 1 : 0) + (height / config_.patch_size) * (width / config_.patch_size);
}

template <class Visit>
float* ClipVisionModel::run(const float* pixels, int64_t batch, int64_t depth, ThreadPool& pool,
                            ClassifierWorkspace& ws, const std::atomic<bool>* abort, const LoraSet* lora,
                            Visit&& visit) const {
    auto check_abort = [&] {
        if (abort && abort->load(std::memory_order_relaxed)) fail(KRAIT_ERR_ABORTED, "the call was aborted");
    };
    const int64_t D = config_.hidden_size, S = config_.image_size, patches = config_.grid() * config_.grid();
    const int64_t first = has_class_token() ? 1 : 0, T = first + patches, rows = batch * T;

    std::vector<float>& scratch = ws.scratch;
    float* conv = grow_buffer(ws.act_b, batch * D * patches);  // [B, D, G * G]
    run_conv2d(pool, patch_, pixels, batch, S, S, conv, scratch, lora);

    // Tokens [B, T, D]: (class embedding,) then the patches in row-major grid order, plus positions.
    float* h = grow_buffer(ws.act_a, rows * D);
    pool.parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t b = r / T, t = r % T;
            float* dst = h + r * D;
            const float* pe = pos_embed_ + t * D;
            if (t < first) {
                for (int64_t d = 0; d < D; ++d) dst[d] = class_embedding_[d] + pe[d];
            } else {
                const float* src = conv + b * D * patches + (t - first);
                for (int64_t d = 0; d < D; ++d) dst[d] = src[d * patches] + pe[d];
            }
        }
    });
    if (has_class_token()) run_layer_norm(pool, pre_ln_, h, rows, D, h, D);  // hidden_states[0] is after it
    visit(int64_t{0}, static_cast<const float*>(h));

    float* normed = grow_buffer(ws.normed, rows * D);
    for (int64_t i = 0; i < depth; ++i) {
        check_abort();
        const Layer& L = layers_[static_cast<size_t>(i)];
        run_layer_norm(pool, L.ln1, h, rows, D, normed, D);
        run_self_attention(pool, L.attn, normed, batch, T, h, /*accumulate=*/true, scratch, lora);
        run_layer_norm(pool, L.ln2, h, rows, D, normed, D);
        run_mlp(pool, L.mlp, normed, rows, h, /*accumulate=*/true, scratch, lora);
        visit(i + 1, static_cast<const float*>(h));
    }
    check_abort();
    return h;
}

void ClipVisionModel::encode(const float* pixels, int64_t batch, int64_t height, int64_t width, float* features,
                             ThreadPool& pool, ClassifierWorkspace& ws, const std::atomic<bool>* abort,
                             const LoraSet* lora) const {
    if (!pixels || !features) fail_argument(std::string(architecture()) + " encode: null pixels or features buffer");
    if (batch < 1) fail_argument(std::string(architecture()) + " encode: batch must be at least 1, got " +
                                 std::to_string(batch));
    check_input_size(height, width);
    const float* h = run(pixels, batch, config_.num_layers, pool, ws, abort, lora, [](int64_t, const float*) {});
    const int64_t D = config_.hidden_size;
    run_layer_norm(pool, post_ln_, h, batch * num_tokens(height, width), D, features, D);
}

void ClipVisionModel::encode_hidden_states(const float* pixels, int64_t batch, int64_t height, int64_t width,
                                           const std::vector<int64_t>& layers, float* out, ThreadPool& pool,
                                           ClassifierWorkspace& ws, const std::atomic<bool>* abort,
                                           const LoraSet* lora) const {
    const std::string what = std::string(architecture()) + " encode_hidden_states";
    if (!pixels || !out) fail_argument(what + ": null pixels or output buffer");
    if (batch < 1) fail_argument(what + ": batch must be at least 1, got " + std::to_string(batch));
    if (layers.empty()) fail_argument(what + ": no hidden state requested (empty layer list)");
    for (int64_t l : layers)
        if (l < 0 || l > config_.num_layers)
            fail_argument(what + ": hidden state " + std::to_string(l) + " is out of range [0, " +
                          std::to_string(config_.num_layers) + "] (negative indices are resolved by the caller)");
    check_input_size(height, width);

    const int64_t D = config_.hidden_size, rows = batch * num_tokens(height, width);
    const int64_t n = static_cast<int64_t>(layers.size()), out_stride = D * n;
    const int64_t depth = *std::max_element(layers.begin(), layers.end());
    run(pixels, batch, depth, pool, ws, abort, lora, [&](int64_t state, const float* h) {
        for (int64_t k = 0; k < n; ++k) {
            if (layers[static_cast<size_t>(k)] != state) continue;
            pool.parallel_for(rows, 64, [&](int64_t r0, int64_t r1) {
                for (int64_t r = r0; r < r1; ++r)
                    std::memcpy(out + r * out_stride + k * D, h + r * D, sizeof(float) * static_cast<size_t>(D));
            });
        }
    });
}

std::vector<int64_t> ClipVisionModel::resolve_layers(const FeatureSelection& selection) const {
    if (selection.level >= 0)
        fail_unsupported(std::string("a ") + architecture() +
                         " tower has no feature_level (that is MambaVision's); select hidden states with feature_layer");
    const std::vector<int64_t> given = selection.layers.empty() ? std::vector<int64_t>{-1} : selection.layers;
    std::vector<int64_t> layers;
    for (int64_t layer : given) {
        const int64_t i = layer < 0 ? config_.num_layers + 1 + layer : layer;
        if (i < 0 || i > config_.num_layers)
            fail_format("feature_layer " + std::to_string(layer) + " is outside the " + architecture() +
                        " tower's hidden states (" + std::to_string(config_.num_layers + 1) + ": -" +
                        std::to_string(config_.num_layers + 1) + " .. " + std::to_string(config_.num_layers) + ")");
        layers.push_back(i);
    }
    return layers;
}

std::pair<int64_t, int64_t> ClipVisionModel::selected_shape(const FeatureSelection& selection, int64_t height,
                                                            int64_t width) const {
    const auto layers = resolve_layers(selection);
    return {num_tokens(height, width), config_.hidden_size * static_cast<int64_t>(layers.size())};
}

void ClipVisionModel::encode_selected(const FeatureSelection& selection, const float* pixels, int64_t batch,
                                      int64_t height, int64_t width, float* features, ThreadPool& pool,
                                      ClassifierWorkspace& ws, const std::atomic<bool>* abort,
                                      const LoraSet* lora) const {
    encode_hidden_states(pixels, batch, height, width, resolve_layers(selection), features, pool, ws, abort, lora);
}

ModelFamily clip_vision_family() {
    ModelFamily f;
    f.name = "clip_vision";
    f.model_types = {"clip_vision_model", "siglip_vision_model"};
    f.kind = KRAIT_MODEL_CLASSIFIER;  // the nearest kind; no load_classifier: an encoder alone serves no session
    f.load_image_encoder = [](const std::string& dir, const LoadOptions& options) {
        const ModelSource source = ModelSource::from_dir(dir);
        const ClipVisionConfig config =
            ClipVisionConfig::from_json(parse_json_object(source.config_text, source.config_origin), source.config_origin);
        // CLIPVisionModel.save_pretrained writes its tensors under vision_model. (transformers 4) or
        // without a prefix (transformers 5): the one whose patch embedding exists.
        std::string prefix;
        {
            WeightLoader probe(dir, options.weights);
            if (probe.has("vision_model.embeddings.patch_embedding.weight")) prefix = "vision_model.";
            else if (!probe.has("embeddings.patch_embedding.weight"))
                fail_format(dir + ": no vision tower tensors (looked for embeddings.patch_embedding.weight with and "
                                  "without vision_model.)");
        }
        LoadedImageEncoder loaded;
        auto tower = ClipVisionModel::load(config, dir, prefix, options.weights, options.progress);
        loaded.preprocess = load_preprocess_config(dir, PreprocessSource::HfImageProcessor, tower->image_height(),
                                                   tower->image_width());
        loaded.encoder = std::move(tower);
        return loaded;
    };
    return f;
}

}  // namespace krait
