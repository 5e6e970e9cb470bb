#include "sdk/models/vit.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sdk/core/error.h"
#include "sdk/core/json.h"
#include "sdk/core/text_file.h"
#include "sdk/core/utf8.h"
#include "sdk/models/registry.h"
#include "sdk/models/vision_config.h"

namespace krait {

namespace {
using nlohmann::json;


// torch's cubic convolution coefficients (upsample_bicubic2d, A = -0.75) for
// the four taps at offsets -1, 0, 1, 2 around the floor of the source index.
void cubic_coefficients(float t, float w[4]) {
    constexpr float A = -0.75f;
    auto c1 = [](float x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };          // |x| <= 1
    auto c2 = [](float x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };  // 1 < |x| < 2
    w[0] = c2(t + 1.0f);
    w[1] = c1(t);
    w[2] = c1(1.0f - t);
    w[3] = c2(2.0f - t);
}

// Tap indices (clamped to the border) and weights of one output axis, computed
// in float as torch does for float tensors: scale = in / out,
// src = scale * (i + 0.5) - 0.5 (not clamped at 0 for cubic).
void cubic_axis(int64_t in, int64_t out, std::vector<int64_t>& idx, std::vector<float>& wts) {
    idx.resize(static_cast<size_t>(out * 4));
    wts.resize(static_cast<size_t>(out * 4));
    const float scale = static_cast<float>(in) / static_cast<float>(out);
    for (int64_t i = 0; i < out; ++i) {
        const float src = scale * (static_cast<float>(i) + 0.5f) - 0.5f;
        const int64_t i0 = std::min(static_cast<int64_t>(std::floor(src)), in - 1);
        const float t = std::min(std::max(src - static_cast<float>(i0), 0.0f), 1.0f);
        cubic_coefficients(t, &wts[i * 4]);
        for (int64_t j = 0; j < 4; ++j) idx[i * 4 + j] = std::clamp(i0 + j - 1, int64_t{0}, in - 1);
    }
}

}  // namespace

void bicubic_resize_grid(const float* grid, int64_t in_h, int64_t in_w, int64_t dim, float* out, int64_t out_h,
                         int64_t out_w) {
    std::vector<int64_t> iy, ix;
    std::vector<float> wy, wx;
    cubic_axis(in_h, out_h, iy, wy);
    cubic_axis(in_w, out_w, ix, wx);
    for (int64_t y = 0; y < out_h; ++y)
        for (int64_t x = 0; x < out_w; ++x) {
            float* o = out + (y * out_w + x) * dim;
            for (int64_t d = 0; d < dim; ++d) {
                // Same order as torch's separable CPU kernel: columns first per tap row, rows outermost.
                float acc = 0.0f;
                for (int64_t j = 0; j < 4; ++j) {
                    const float* row = grid + iy[y * 4 + j] * in_w * dim;
                    float t = row[ix[x * 4] * dim + d] * wx[x * 4];
                    for (int64_t i = 1; i < 4; ++i) t += row[ix[x * 4 + i] * dim + d] * wx[x * 4 + i];
                    acc = j == 0 ? t * wy[y * 4] : acc + t * wy[y * 4 + j];
                }
                o[d] = acc;
            }
        }
}

ViTConfig ViTConfig::from_dir(const std::string& model_dir) {
    const auto path = (std::filesystem::path(model_dir) / "config.json").string();
    return from_json_text(read_text_file(path, model_dir + ": no config.json"), path);
}

ViTConfig ViTConfig::from_json_text(const std::string& text, const std::string& origin) {
    json j = parse_json_object(text, origin);
    if (j.contains("model_type")) {
        if (!j["model_type"].is_string()) fail_format(origin + ": 'model_type' must be a string");
        const auto type = j["model_type"].get<std::string>();
        if (type != "vit") fail_unsupported(origin + ": model_type " + krait::quote(type) + " is not a ViT ('vit')");
    }

    // Defaults are transformers' ViTConfig defaults (ViT-B/16 at 224).
    ViTConfig c;
    std::tie(c.image_size_h, c.image_size_w) = json_size_field(j, "image_size", 224, origin);
    const auto [patch_h, patch_w] = json_size_field(j, "patch_size", 16, origin);
    c.num_channels = json_int(j, "num_channels", 3, origin);
    c.hidden_size = json_int(j, "hidden_size", 768, origin);
    c.num_layers = json_int(j, "num_hidden_layers", 12, origin);
    c.num_heads = json_int(j, "num_attention_heads", 12, origin);
    c.intermediate_size = json_int(j, "intermediate_size", 3072, origin);
    if (j.contains("qkv_bias") && !j["qkv_bias"].is_null()) {
        if (!j["qkv_bias"].is_boolean()) fail_format(origin + ": 'qkv_bias' must be true or false");
        c.qkv_bias = j["qkv_bias"].get<bool>();
    }
    c.act = json_activation(j, c.act, origin);
    c.layer_norm_eps = json_layer_norm_eps(j, c.layer_norm_eps, origin);

    require_range(origin, "patch_size", patch_h, 1, 1024);
    require_range(origin, "patch_size", patch_w, 1, 1024);
    if (patch_h != patch_w) fail_unsupported(origin + ": non-square 'patch_size' is not supported");
    c.patch_size = patch_h;
    require_range(origin, "image_size", c.image_size_h, c.patch_size, ViTModel::kMaxSide);
    require_range(origin, "image_size", c.image_size_w, c.patch_size, ViTModel::kMaxSide);
    if (c.image_size_h % c.patch_size || c.image_size_w % c.patch_size)
        fail_format(origin + ": 'image_size' " + std::to_string(c.image_size_h) + "x" +
                    std::to_string(c.image_size_w) + " is not a multiple of 'patch_size' " +
                    std::to_string(c.patch_size));
    check_vision_transformer_shape(origin, c.num_channels, c.hidden_size, c.num_layers, c.num_heads, c.intermediate_size);

    // Labels: id2label must name every id 0..n-1 exactly once; num_labels and
    // label2id, when present, must agree with it.
    constexpr int64_t kMaxLabels = 1 << 20;
    if (j.contains("id2label") && !j["id2label"].is_null()) {
        c.labels = parse_id2label(j["id2label"], origin, kMaxLabels);
        c.num_labels = static_cast<int64_t>(c.labels.size());
    }
    if (j.contains("num_labels") && !j["num_labels"].is_null()) {
        const int64_t n = json_int(j, "num_labels", 0, origin);
        require_range(origin, "num_labels", n, 1, kMaxLabels);
        if (c.num_labels && n != c.num_labels)
            fail_format(origin + ": 'num_labels' is " + std::to_string(n) + " but 'id2label' has " +
                        std::to_string(c.num_labels) + " entries");
        c.num_labels = n;
    }
    if (j.contains("label2id") && !j["label2id"].is_null()) {
        const json& m = j["label2id"];
        if (!m.is_object()) fail_format(origin + ": 'label2id' must be an object");
        for (const auto& [key, value] : m.items()) {
            const bool ok = value.is_number_integer() && value.get<int64_t>() >= 0 &&
                            (c.num_labels == 0 || value.get<int64_t>() < c.num_labels);
            if (!ok)
                fail_format(origin + ": 'label2id' maps \"" + key + "\" to " + value.dump() +
                            ", expected an id in 0.." + std::to_string(c.num_labels - 1));
        }
    }
    return c;
}

std::unique_ptr<ViTModel> ViTModel::load(const std::string& dir, const Progress& progress, WeightOptions weights) {
    auto model = std::unique_ptr<ViTModel>(new ViTModel());
    ViTConfig& c = model->config_;
    c = ViTConfig::from_dir(dir);
    model->loader_ = std::make_unique<WeightLoader>(dir, weights);
    WeightLoader& w = *model->loader_;

    const int64_t D = c.hidden_size, I = c.intermediate_size, P = c.patch_size, C = c.num_channels;
    const int64_t total_steps = c.num_layers + 2;
    auto report = [&](int64_t step) {
        if (progress && !progress(static_cast<float>(step) / static_cast<float>(total_steps)))
            fail(KRAIT_ERR_CANCELLED, dir + ": loading cancelled by the progress callback");
    };
    report(0);

    if (c.num_labels == 0) {
        // Neither id2label nor num_labels: the classifier's rows say how many classes there are.
        const TensorInfo* t = w.info("classifier.weight");
        if (!t) fail_format(dir + ": missing tensor 'classifier.weight'");
        if (t->shape.size() != 2 || t->shape[1] != D || t->shape[0] < 1)
            fail_format(dir + ": tensor 'classifier.weight' has shape " + shape_to_string(t->shape) +
                        ", expected [num_labels, " + std::to_string(D) + "]");
        c.num_labels = t->shape[0];
    }
    if (c.labels.empty())
        for (int64_t i = 0; i < c.num_labels; ++i) c.labels.push_back("LABEL_" + std::to_string(i));

    const std::string e = "vit.embeddings.";
    model->patch_ = {w.get(e + "patch_embeddings.projection.weight", {D, C, P, P}),
                     w.get(e + "patch_embeddings.projection.bias", {D}),
                     C, D, P, P, /*stride=*/P, /*padding=*/0, /*groups=*/1};
    AdapterTargets& targets = model->targets_;
    targets.set_architecture("vit");
    register_conv2d(targets, e + "patch_embeddings.projection", model->patch_);
    model->cls_token_ = w.get(e + "cls_token", {1, 1, D});
    const int64_t positions = 1 + c.grid_h() * c.grid_w();
    model->pos_embed_ = w.get(e + "position_embeddings", {1, positions, D});
    report(1);

    const LayerNormWeights ln0{nullptr, nullptr, D, c.layer_norm_eps};
    for (int64_t i = 0; i < c.num_layers; ++i) {
        const std::string p = "vit.encoder.layer." + std::to_string(i) + ".";
        auto linear = [&](const std::string& name, int64_t out, int64_t in, bool bias) {
            const StoredWeight sw = w.get_stored(p + name + ".weight", {out, in});
            return make_linear(sw.f32, sw.half, sw.type, bias ? w.get(p + name + ".bias", {out}) : nullptr, in, out);
        };
        auto layer_norm = [&](const std::string& name) {
            LayerNormWeights ln = ln0;
            ln.weight = w.get(p + name + ".weight", {D});
            ln.bias = w.get(p + name + ".bias", {D});
            return ln;
        };
        Layer L;
        L.ln_before = layer_norm("layernorm_before");
        L.attn.q = linear("attention.attention.query", D, D, c.qkv_bias);
        L.attn.k = linear("attention.attention.key", D, D, c.qkv_bias);
        L.attn.v = linear("attention.attention.value", D, D, c.qkv_bias);
        L.attn.out = linear("attention.output.dense", D, D, true);
        L.attn.num_heads = c.num_heads;
        L.attn.head_dim = D / c.num_heads;
        L.attn.causal = false;
        L.ln_after = layer_norm("layernorm_after");
        L.mlp.fc1 = linear("intermediate.dense", I, D, true);
        L.mlp.fc2 = linear("output.dense", D, I, true);
        L.mlp.act = c.act;
        // Packed first (the packed copy replaces the row-major one), then registered (adapters see the packed one).
        for (Linear* l : {&L.attn.q, &L.attn.k, &L.attn.v, &L.attn.out, &L.mlp.fc1, &L.mlp.fc2})
            model->packed_.pack_replacing(*l, w);
        register_linear(targets, p + "attention.attention.query", L.attn.q);
        register_linear(targets, p + "attention.attention.key", L.attn.k);
        register_linear(targets, p + "attention.attention.value", L.attn.v);
        register_linear(targets, p + "attention.output.dense", L.attn.out);
        register_linear(targets, p + "intermediate.dense", L.mlp.fc1);
        register_linear(targets, p + "output.dense", L.mlp.fc2);
        for (const char* norm : {"layernorm_before", "layernorm_after"})
            targets.add_unsupported(p + norm, TargetKind::Linear,
                                    krait::quote(p + norm) + " is a LayerNorm; adapters can change linear layers and convs only");
        model->layers_.push_back(L);
        report(i + 2);
    }
    model->final_ln_ = ln0;
    model->final_ln_.weight = w.get("vit.layernorm.weight", {D});
    model->final_ln_.bias = w.get("vit.layernorm.bias", {D});
    {
        const StoredWeight sw = w.get_stored("classifier.weight", {c.num_labels, D});
        model->classifier_ = make_linear(sw.f32, sw.half, sw.type, w.get("classifier.bias", {c.num_labels}), D,
                                         c.num_labels);
    }
    model->packed_.pack_replacing(model->classifier_, w);
    register_linear(targets, "classifier", model->classifier_, /*is_head=*/true);
    // transformers 5 names the modules differently from the checkpoints (and from adapters trained under 4.x).
    const std::string layer = "vit\\.layers\\.(\\d+)\\.";
    targets.add_alias(layer + "attention\\.q_proj", "vit.encoder.layer.$1.attention.attention.query");
    targets.add_alias(layer + "attention\\.k_proj", "vit.encoder.layer.$1.attention.attention.key");
    targets.add_alias(layer + "attention\\.v_proj", "vit.encoder.layer.$1.attention.attention.value");
    targets.add_alias(layer + "attention\\.o_proj", "vit.encoder.layer.$1.attention.output.dense");
    targets.add_alias(layer + "mlp\\.fc1", "vit.encoder.layer.$1.intermediate.dense");
    targets.add_alias(layer + "mlp\\.fc2", "vit.encoder.layer.$1.output.dense");
    targets.add_alias(layer + "(layernorm_before|layernorm_after)", "vit.encoder.layer.$1.$2");
    report(total_steps);
    return model;
}

void ViTModel::check_input_size(int64_t height, int64_t width) const {
    const int64_t P = config_.patch_size;
    if (height < P || width < P || height > kMaxSide || width > kMaxSide || height % P || width % P)
        fail_argument("ViT input " + std::to_string(height) + "x" + std::to_string(width) +
                      ": height and width must be positive multiples of the patch size " + std::to_string(P) +
                      " and at most " + std::to_string(kMaxSide));
}

std::shared_ptr<const std::vector<float>> ViTModel::position_embeddings(int64_t grid_h, int64_t grid_w) const {
    const int64_t D = config_.hidden_size;
    const auto key = std::make_pair(grid_h, grid_w);
    {
        std::lock_guard<std::mutex> lock(pos_mutex_);
        for (auto it = pos_cache_.begin(); it != pos_cache_.end(); ++it)
            if (it->first == key) {
                auto hit = *it;  // move to the back: most recently used
                pos_cache_.erase(it);
                pos_cache_.push_back(hit);
                return hit.second;
            }
    }
    // Compute outside the lock (another caller may compute the same grid; both results are identical).
    auto table = std::make_shared<std::vector<float>>(static_cast<size_t>((1 + grid_h * grid_w) * D));
    std::memcpy(table->data(), pos_embed_, sizeof(float) * D);  // CLS position kept as is
    if (grid_h == config_.grid_h() && grid_w == config_.grid_w())
        std::memcpy(table->data() + D, pos_embed_ + D, sizeof(float) * grid_h * grid_w * D);
    else
        bicubic_resize_grid(pos_embed_ + D, config_.grid_h(), config_.grid_w(), D, table->data() + D, grid_h, grid_w);
    std::lock_guard<std::mutex> lock(pos_mutex_);
    if (pos_cache_.size() >= kPosCacheEntries) pos_cache_.erase(pos_cache_.begin());
    pos_cache_.emplace_back(key, table);
    return table;
}

void ViTModel::encode(const float* pixels, int64_t batch, int64_t height, int64_t width, float* features,
                      ThreadPool& pool, ClassifierWorkspace& ws, const std::atomic<bool>* abort,
                      const LoraSet* lora) const {
    if (!pixels || !features) fail_argument("ViT encode: null pixels or features buffer");
    if (batch < 1) fail_argument("ViT encode: batch must be at least 1, got " + std::to_string(batch));
    check_input_size(height, width);
    auto check_abort = [&] {
        if (abort && abort->load(std::memory_order_relaxed)) fail(KRAIT_ERR_ABORTED, "the call was aborted");
    };

    const int64_t D = config_.hidden_size, P = config_.patch_size;
    const int64_t gh = height / P, gw = width / P, patches = gh * gw, T = 1 + patches, rows = batch * T;
    const auto pos = position_embeddings(gh, gw);  // [T, D]

    std::vector<float>& scratch = ws.scratch;
    float* conv = grow_buffer(ws.act_b, batch * D * patches);  // [B, D, gh * gw]
    run_conv2d(pool, patch_, pixels, batch, height, width, conv, scratch, lora);

    // Tokens [B, T, D]: CLS then the patches in row-major grid order, plus positions.
    float* h = grow_buffer(ws.act_a, rows * D);
    pool.parallel_for(batch * T, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t b = r / T, t = r % T;
            float* dst = h + r * D;
            const float* pe = pos->data() + t * D;
            if (t == 0) {
                for (int64_t d = 0; d < D; ++d) dst[d] = cls_token_[d] + pe[d];
            } else {
                const float* src = conv + b * D * patches + (t - 1);
                for (int64_t d = 0; d < D; ++d) dst[d] = src[d * patches] + pe[d];
            }
        }
    });

    float* normed = grow_buffer(ws.normed, rows * D);
    for (const Layer& L : layers_) {
        check_abort();
        run_layer_norm(pool, L.ln_before, h, rows, D, normed, D);
        run_self_attention(pool, L.attn, normed, batch, T, h, /*accumulate=*/true, scratch, lora);
        run_layer_norm(pool, L.ln_after, h, rows, D, normed, D);
        run_mlp(pool, L.mlp, normed, rows, h, /*accumulate=*/true, scratch, lora);
    }
    check_abort();
    run_layer_norm(pool, final_ln_, h, rows, D, features, D);  // transformers' last_hidden_state
}

ModelFamily vit_family() {
    ModelFamily f;
    f.name = "vit";
    f.model_types = {"vit"};
    f.kind = KRAIT_MODEL_CLASSIFIER;
    f.load_classifier = [](const std::string& dir, const LoadOptions& options) -> std::unique_ptr<ClassifierModel> {
        return ViTModel::load(dir, options.progress, options.weights);
    };
    f.load_preprocess = [](const std::string& dir, const ClassifierModel& model) {
        return load_preprocess_config(dir, PreprocessSource::HfImageProcessor, model.image_height(),
                                      model.image_width());
    };
    return f;
}

}  // namespace krait
