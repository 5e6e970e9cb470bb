#include "sdk/models/mambavision.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kernels/cpu/dispatch.h"
#include "sdk/core/error.h"
#include "sdk/core/json.h"
#include "sdk/core/text_file.h"
#include "sdk/core/utf8.h"
#include "sdk/models/registry.h"

namespace krait {

namespace {
using nlohmann::json;

constexpr float kStemEps = 1e-4f;   // PatchEmbed's BatchNorm2d(eps=1e-4)
constexpr float kBlockEps = 1e-5f;  // ConvBlock BatchNorms, the final BatchNorm and the LayerNorms



// depths / num_heads / window_size: exactly four integers in [lo, hi].
void level_field(const json& j, const char* key, int64_t out[MambaVisionConfig::kLevels], int64_t lo, int64_t hi,
                 const std::string& origin) {
    if (!j.contains(key) || j[key].is_null()) return;  // upstream default (MambaVision-T)
    const json& v = j[key];
    if (!v.is_array() || v.size() != MambaVisionConfig::kLevels)
        fail_format(origin + ": " + krait::quote(key) + " must be a list of 4 integers (one per level), got " + v.dump());
    for (int i = 0; i < MambaVisionConfig::kLevels; ++i) {
        if (!v[i].is_number_integer())
            fail_format(origin + ": " + krait::quote(key) + " must be a list of 4 integers, got " + v.dump());
        out[i] = v[i].get<int64_t>();
        require_range(origin, std::string(key) + "[" + std::to_string(i) + "]", out[i], lo, hi);
    }
}

// layer_scale / layer_scale_conv: upstream enables the gammas only for an int or float value (None -> off).
bool layer_scale_field(const json& j, const char* key, const std::string& origin) {
    if (!j.contains(key) || j[key].is_null()) return false;
    if (!j[key].is_number()) fail_format(origin + ": " + krait::quote(key) + " must be a number or null, got " + j[key].dump());
    return true;
}

void check_abort(const std::atomic<bool>* abort) {
    if (abort && abort->load(std::memory_order_relaxed)) fail(KRAIT_ERR_ABORTED, "the call was aborted");
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Config

MambaVisionConfig MambaVisionConfig::from_dir(const std::string& model_dir) {
    const auto path = (std::filesystem::path(model_dir) / "config.json").string();
    return from_json_text(read_text_file(path, model_dir + ": no config.json"), path);
}

MambaVisionConfig MambaVisionConfig::from_json_text(const std::string& text, const std::string& origin) {
    json j = parse_json_object(text, origin);
    if (j.contains("model_type")) {
        if (!j["model_type"].is_string()) fail_format(origin + ": 'model_type' must be a string");
        const auto type = j["model_type"].get<std::string>();
        if (type != "mambavision")
            fail_unsupported(origin + ": model_type " + krait::quote(type) + " is not MambaVision ('mambavision')");
    }

    MambaVisionConfig c;  // defaults: MambaVision-T, as the hub's MambaVisionConfig
    level_field(j, "depths", c.depths, 0, 1000, origin);
    level_field(j, "num_heads", c.num_heads, 1, 4096, origin);
    level_field(j, "window_size", c.window_size, 1, 4096, origin);
    c.dim = json_int(j, "dim", c.dim, origin);
    require_range(origin, "dim", c.dim, 1, 1 << 16);
    c.in_dim = json_int(j, "in_dim", c.in_dim, origin);
    require_range(origin, "in_dim", c.in_dim, 1, 1 << 16);
    require_range(origin, "in_chans", json_int(j, "in_chans", 3, origin), 3, 3);
    if (j.contains("mlp_ratio") && !j["mlp_ratio"].is_null()) {
        if (!j["mlp_ratio"].is_number()) fail_format(origin + ": 'mlp_ratio' must be a number, got " + j["mlp_ratio"].dump());
        c.mlp_ratio = j["mlp_ratio"].get<double>();
        if (!(c.mlp_ratio > 0.0) || c.mlp_ratio > 64.0 || c.mlp_hidden(2) < 1)
            fail_format(origin + ": 'mlp_ratio' is " + j["mlp_ratio"].dump() + ", expected a number in (0, 64] " +
                        "giving an MLP width of at least 1");
    }
    c.layer_scale = layer_scale_field(j, "layer_scale", origin);
    c.layer_scale_conv = layer_scale_field(j, "layer_scale_conv", origin);

    for (int i = 2; i < kLevels; ++i) {
        // Attention exists in a level only from its first attention block on (upstream asserts divisibility there).
        if (first_attention_block(c.depths[i]) < c.depths[i] && c.width(i) % c.num_heads[i] != 0)
            fail_format(origin + ": 'num_heads[" + std::to_string(i) + "]' (" + std::to_string(c.num_heads[i]) +
                        ") does not divide the level width dim * 2^" + std::to_string(i) + " = " +
                        std::to_string(c.width(i)));
    }

    if (j.contains("num_classes") && !j["num_classes"].is_null()) {
        c.num_classes = json_int(j, "num_classes", 0, origin);
        require_range(origin, "num_classes", c.num_classes, 1, 1 << 24);
    }
    if (j.contains("id2label") && !j["id2label"].is_null()) {
        c.labels = parse_id2label(j["id2label"], origin, 1 << 24);
        if (c.num_classes != 0 && c.num_classes != static_cast<int64_t>(c.labels.size()))
            fail_format(origin + ": 'id2label' has " + std::to_string(c.labels.size()) + " labels but 'num_classes' is " +
                        std::to_string(c.num_classes));
    }
    if (j.contains("resolution") && !j["resolution"].is_null()) {
        const json& v = j["resolution"];
        if (v.is_number_integer()) {
            c.resolution_h = c.resolution_w = v.get<int64_t>();
        } else if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer()) {
            c.resolution_h = v[0].get<int64_t>();
            c.resolution_w = v[1].get<int64_t>();
        } else {
            fail_format(origin + ": 'resolution' must be an integer or [height, width], got " + v.dump());
        }
        require_range(origin, "resolution", c.resolution_h, 1, MambaVisionModel::kMaxSide);
        require_range(origin, "resolution", c.resolution_w, 1, MambaVisionModel::kMaxSide);
    }
    return c;
}

// ---------------------------------------------------------------------------------------------------------------
// Loading

std::unique_ptr<MambaVisionModel> MambaVisionModel::load(const std::string& dir, const Progress& progress, WeightOptions weights) {
    auto model = std::unique_ptr<MambaVisionModel>(new MambaVisionModel());
    MambaVisionConfig& c = model->config_;
    c = MambaVisionConfig::from_dir(dir);
    model->loader_ = std::make_unique<WeightLoader>(dir, weights);
    WeightLoader& w = *model->loader_;

    // Hub checkpoints wrap the network as `model.`; NVlabs state dicts have no prefix.
    std::string pre;
    if (w.has("model.head.weight")) pre = "model.";
    else if (!w.has("head.weight"))
        fail_format(dir + ": no classifier head: neither 'model.head.weight' (hub layout) nor 'head.weight' " +
                    "(NVlabs layout) is in the weights");

    int64_t total_steps = 3;
    for (int i = 0; i < MambaVisionConfig::kLevels; ++i) total_steps += c.depths[i];
    int64_t step = 0;
    auto report = [&] {
        ++step;
        if (progress && !progress(static_cast<float>(step) / static_cast<float>(total_steps)))
            fail(KRAIT_ERR_CANCELLED, dir + ": loading cancelled by the progress callback");
    };
    if (progress && !progress(0.0f)) fail(KRAIT_ERR_CANCELLED, dir + ": loading cancelled by the progress callback");
    AdapterTargets& targets = model->targets_;
    targets.set_architecture("mambavision");
    // Adapters name modules as the PyTorch module they were trained on: with the hub's `model.` wrapper or without.
    if (pre.empty()) targets.add_alias("model\\.(.*)", "$1");
    else targets.add_alias("(.*)", "model.$1");

    // conv + BatchNorm (eval) -> one conv with folded weight and bias, in buffers owned by the loader.
    auto conv_bn = [&](const std::string& conv_name, bool conv_bias, const std::string& bn, int64_t in, int64_t out,
                       int64_t stride, float eps) {
        Conv2dWeights cw;
        cw.in_channels = in;
        cw.out_channels = out;
        cw.kernel_h = cw.kernel_w = 3;
        cw.stride = stride;
        cw.padding = 1;
        cw.weight = w.get(pre + conv_name + ".weight", {out, in, 3, 3});
        cw.bias = conv_bias ? w.get(pre + conv_name + ".bias", {out}) : nullptr;
        std::vector<float> fw, fb;
        const float* gamma_bn = w.get(pre + bn + ".weight", {out});
        const float* var_bn = w.get(pre + bn + ".running_var", {out});
        fold_batch_norm(cw, gamma_bn, w.get(pre + bn + ".bias", {out}), w.get(pre + bn + ".running_mean", {out}), var_bn,
                        eps, fw, fb);
        float* wp = w.allocate(fw.size());
        float* bp = w.allocate(fb.size());
        std::copy(fw.begin(), fw.end(), wp);
        std::copy(fb.begin(), fb.end(), bp);
        // The BatchNorm's per-channel scale, for adapter deltas on the conv: BN(conv(x) + d) = folded(x) + scale * d.
        float* bn_scale = w.allocate(static_cast<size_t>(out));
        for (int64_t o = 0; o < out; ++o)
            bn_scale[o] = static_cast<float>(gamma_bn[o] / std::sqrt(static_cast<double>(var_bn[o]) + eps));
        cw.weight = wp;
        cw.bias = bp;
        register_conv2d(targets, pre + conv_name, cw, bn_scale);
        // The ConvBlocks' 3x3 stride-1 convs (about a third of MambaVision's multiply-adds) run as Winograd F(4x4, 3x3).
        cw.winograd = model->packed_.pack_winograd(cw.weight, out, in, 3, 3, stride, 1, 1);
        return cw;
    };
    auto linear = [&](const std::string& name, int64_t in, int64_t out, bool bias) {
        const StoredWeight sw = w.get_stored(pre + name + ".weight", {out, in});
        Linear l = make_linear(sw.f32, sw.half, sw.type, bias ? w.get(pre + name + ".bias", {out}) : nullptr, in, out);
        // Packed, its row-major copy given back (one copy of the weights held), then registered.
        model->packed_.pack_replacing(l, w);
        register_linear(targets, pre + name, l, /*is_head=*/name == "head");
        return l;
    };
    auto layer_norm = [&](const std::string& name, int64_t dim) {
        LayerNormWeights ln;
        ln.weight = w.get(pre + name + ".weight", {dim});
        ln.bias = w.get(pre + name + ".bias", {dim});
        ln.dim = dim;
        ln.eps = kBlockEps;
        return ln;
    };
    // A gamma the config does not enable would be silently dropped upstream; here it is a mismatch.
    auto gamma = [&](const std::string& name, int64_t dim, bool enabled, const char* field) -> const float* {
        if (enabled) return w.get(pre + name, {dim});
        if (w.has(pre + name))
            fail_format(dir + ": the weights hold " + krait::quote(pre + name) + " but config.json '" + field +
                        "' is null or absent (layer scale off)");
        return nullptr;
    };

    model->stem1_ = conv_bn("patch_embed.conv_down.0", false, "patch_embed.conv_down.1", 3, c.in_dim, 2, kStemEps);
    model->stem2_ = conv_bn("patch_embed.conv_down.3", false, "patch_embed.conv_down.4", c.in_dim, c.dim, 2, kStemEps);
    report();

    for (int li = 0; li < MambaVisionConfig::kLevels; ++li) {
        Level& L = model->levels_[li];
        const int64_t C = c.width(li);
        L.width = C;
        L.window = c.window_size[li];
        const std::string lp = "levels." + std::to_string(li) + ".";
        for (int64_t bi = 0; bi < c.depths[li]; ++bi) {
            const std::string bp = lp + "blocks." + std::to_string(bi) + ".";
            if (li < 2) {
                ConvBlock cb;
                cb.conv1 = conv_bn(bp + "conv1", true, bp + "norm1", C, C, 1, kBlockEps);
                cb.conv2 = conv_bn(bp + "conv2", true, bp + "norm2", C, C, 1, kBlockEps);
                cb.gamma = gamma(bp + "gamma", C, c.layer_scale_conv, "layer_scale_conv");
                L.conv_blocks.push_back(cb);
            } else {
                Block b;
                b.norm1 = layer_norm(bp + "norm1", C);
                b.norm2 = layer_norm(bp + "norm2", C);
                b.attention = bi >= first_attention_block(c.depths[li]);
                const std::string mp = bp + "mixer.";
                if (b.attention) {
                    b.attn.qkv = linear(mp + "qkv", C, 3 * C, true);
                    b.attn.out = linear(mp + "proj", C, C, true);
                    b.attn.num_heads = c.num_heads[li];
                    b.attn.head_dim = C / c.num_heads[li];
                } else {
                    Mixer& m = b.mixer;
                    const int64_t half = C / 2, N = kStateSize, K = kConvKernel;
                    if (C % 2 != 0)  // cannot happen for dim * 2^i, i >= 2; kept for the invariant
                        fail_format(dir + ": level " + std::to_string(li) + " width is odd");
                    m.half = half;
                    SelectiveSsmWeights& ssm = m.ssm;
                    ssm.channels = half;
                    ssm.state = N;
                    ssm.rank = (C + 15) / 16;  // dt_rank "auto" = ceil(d_model / 16)
                    m.in_proj = linear(mp + "in_proj", C, C, false);
                    m.conv_x = w.get(pre + mp + "conv1d_x.weight", {half, 1, K});
                    m.conv_z = w.get(pre + mp + "conv1d_z.weight", {half, 1, K});
                    for (const char* branch : {"conv1d_x", "conv1d_z"}) {
                        AdapterTarget t;  // depthwise, 'same' padding, no bias
                        t.kind = TargetKind::Conv1d;
                        t.in = t.out = t.groups = half;
                        t.kernel_w = K;
                        t.padding = (K - 1) / 2;
                        (branch[7] == 'x' ? m.conv_x_slot : m.conv_z_slot) = targets.add(pre + mp + branch, t);
                    }
                    ssm.x_proj = linear(mp + "x_proj", half, ssm.rank + 2 * N, false);
                    ssm.dt_proj = linear(mp + "dt_proj", ssm.rank, half, true);
                    ssm.dt_bias = ssm.dt_proj.bias;
                    const float* A_log = w.get(pre + mp + "A_log", {half, N});
                    float* A = w.allocate(static_cast<size_t>(N * half));
                    for (int64_t e = 0; e < half; ++e)
                        for (int64_t n = 0; n < N; ++n) A[n * half + e] = -std::exp(A_log[e * N + n]);
                    ssm.A = A;
                    ssm.D = w.get(pre + mp + "D", {half});
                    m.out_proj = linear(mp + "out_proj", C, C, false);
                }
                const int64_t hidden = c.mlp_hidden(li);
                b.mlp.fc1 = linear(bp + "mlp.fc1", C, hidden, true);
                b.mlp.fc2 = linear(bp + "mlp.fc2", hidden, C, true);
                b.mlp.act = Activation::GeluErf;
                b.gamma_1 = gamma(bp + "gamma_1", C, c.layer_scale, "layer_scale");
                b.gamma_2 = gamma(bp + "gamma_2", C, c.layer_scale, "layer_scale");
                L.blocks.push_back(b);
            }
            report();
        }
        if (li + 1 < MambaVisionConfig::kLevels) {
            Conv2dWeights& d = L.downsample;
            d.weight = w.get(pre + lp + "downsample.reduction.0.weight", {2 * C, C, 3, 3});
            d.in_channels = C;
            d.out_channels = 2 * C;
            d.kernel_h = d.kernel_w = 3;
            d.stride = 2;
            d.padding = 1;
            register_conv2d(targets, pre + lp + "downsample.reduction.0", d);
        }
    }
    report();

    // Final BatchNorm as a per-channel affine map (applied before pooling, as upstream).
    const int64_t F = c.width(MambaVisionConfig::kLevels - 1);
    {
        const float* g = w.get(pre + "norm.weight", {F});
        const float* b = w.get(pre + "norm.bias", {F});
        const float* mean = w.get(pre + "norm.running_mean", {F});
        const float* var = w.get(pre + "norm.running_var", {F});
        float* scale = w.allocate(static_cast<size_t>(F));
        float* shift = w.allocate(static_cast<size_t>(F));
        for (int64_t i = 0; i < F; ++i) {
            scale[i] = g[i] / std::sqrt(var[i] + kBlockEps);
            shift[i] = b[i] - mean[i] * scale[i];
        }
        model->final_scale_ = scale;
        model->final_shift_ = shift;
    }

    const TensorInfo* head = w.info(pre + "head.weight");
    if (head->shape.size() != 2 || head->shape[0] < 1)
        fail_format(dir + ": '" + pre + "head.weight' must be [classes, " + std::to_string(F) + "]");
    const int64_t classes = head->shape[0];
    if (c.num_classes != 0 && c.num_classes != classes)
        fail_format(dir + ": config.json says " + std::to_string(c.num_classes) + " classes ('num_classes' or " +
                    "'id2label') but '" + pre + "head.weight' has " + std::to_string(classes) + " rows");
    model->head_ = linear("head", F, classes, true);
    model->num_labels_ = classes;
    model->labels_ = c.labels;
    if (model->labels_.empty())
        for (int64_t i = 0; i < classes; ++i) model->labels_.push_back("LABEL_" + std::to_string(i));
    report();
    return model;
}

ModelFamily mambavision_family() {
    ModelFamily f;
    f.name = "mambavision";
    f.model_types = {"mambavision"};
    f.kind = KRAIT_MODEL_CLASSIFIER;
    f.load_classifier = [](const std::string& dir, const LoadOptions& options) -> std::unique_ptr<ClassifierModel> {
        return MambaVisionModel::load(dir, options.progress, options.weights);
    };
    f.load_preprocess = [](const std::string& dir, const ClassifierModel& model) {
        return load_preprocess_config(dir, PreprocessSource::TimmFieldsInConfig, model.image_height(),
                                      model.image_width());
    };
    return f;
}

// ---------------------------------------------------------------------------------------------------------------
// Forward

void MambaVisionModel::check_input_size(int64_t height, int64_t width) const {
    if (height < 1 || width < 1 || height > kMaxSide || width > kMaxSide)
        fail_argument("MambaVision input size " + std::to_string(height) + "x" + std::to_string(width) +
                      " is outside 1.." + std::to_string(kMaxSide));
}

void MambaVisionModel::run_mixer(const Mixer& m, const float* x, int64_t sequences, int64_t tokens, int64_t C,
                                 float* out, bool accumulate, ThreadPool& pool, std::vector<float>& buf,
                                 const LoraSet* lora) const {
    const int64_t M = sequences * tokens, half = m.half, N = kStateSize;
    float* xz = grow_buffer(buf, M * C + M * half + M * C + sequences * N * half +
                                     selective_ssm_scratch_floats(m.ssm, M));
    float* xc = xz + M * C;        // [M, C/2]  silu(conv_x(x))
    float* ycat = xc + M * half;   // [M, C]  scan output | silu(conv_z(z))
    float* h = ycat + M * C;       // [sequences, N, C/2] scan states
    float* ssm_scratch = h + sequences * N * half;

    run_linear(pool, m.in_proj, x, M, C, xz, C, false, lora);  // [M, C]: x | z
    // Adapters on the depthwise convs add their terms before the SiLU, so those branches run unfused.
    const SlotAdapters* lora_x = lora ? lora->find(m.conv_x_slot) : nullptr;
    const SlotAdapters* lora_z = lora ? lora->find(m.conv_z_slot) : nullptr;

    // Both convs run along each window's token sequence; work items are (sequence, channel block).
    constexpr int64_t kBlock = 16;
    const int64_t blocks = (half + kBlock - 1) / kBlock;
    pool.parallel_for(sequences * blocks, 1, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            const int64_t s = i / blocks, c0 = (i % blocks) * kBlock, c1 = std::min(half, c0 + kBlock);
            kernels::SameConv1dParams p;
            p.length = tokens;
            p.channels = half;
            p.kernel = kConvKernel;
            p.x_stride = C;
            p.silu = !lora_x;
            p.x = xz + s * tokens * C;  // x branch: channels [0, C/2)
            p.weight = m.conv_x;
            p.y = xc + s * tokens * half;
            p.y_stride = half;
            kernels::active().same_conv1d(p, c0, c1);
            p.silu = !lora_z;
            p.x = xz + s * tokens * C + half;  // z branch: channels [C/2, C), straight into ycat's second half
            p.weight = m.conv_z;
            p.y = ycat + s * tokens * C + half;
            p.y_stride = C;
            kernels::active().same_conv1d(p, c0, c1);
        }
    });

    if (lora_x) {
        add_conv1d_lora(pool, *lora_x, xz, C, sequences, tokens, xc, half);
        run_activation_rows(pool, Activation::Silu, xc, M, half, half);
    }
    if (lora_z) {
        add_conv1d_lora(pool, *lora_z, xz + half, C, sequences, tokens, ycat + half, C);
        run_activation_rows(pool, Activation::Silu, ycat + half, M, half, C);
    }

    // Non-causal use of the scan: every window starts from a zero state, and there is no gate
    // (z is concatenated instead): the scan writes the first half of ycat.
    std::fill(h, h + sequences * N * half, 0.0f);
    std::vector<float*> states(static_cast<size_t>(sequences));
    for (int64_t s = 0; s < sequences; ++s) states[static_cast<size_t>(s)] = h + s * N * half;
    run_selective_ssm(pool, m.ssm, xc, half, nullptr, 0, sequences, tokens, states.data(), ycat, C, ssm_scratch,
                      lora);

    run_linear(pool, m.out_proj, ycat, M, C, out, C, accumulate, lora);
}

void MambaVisionModel::run_windowed_level(const Level& level, float* x, int64_t batch, int64_t h, int64_t w,
                                          ThreadPool& pool, ClassifierWorkspace& work, const std::atomic<bool>* abort,
                                          const LoraSet* lora) const {
    const int64_t C = level.width, ws = level.window;
    const int64_t hp = (h + ws - 1) / ws * ws, wp = (w + ws - 1) / ws * ws;  // zero-padded bottom/right
    const int64_t nh = hp / ws, nw = wp / ws;
    const int64_t S = batch * nh * nw, T = ws * ws, M = S * T;

    // x [B, C, h, w] -> tokens [S, T, C]: window (b, i, j), token (r, q) is pixel (i*ws + r, j*ws + q); padding 0.
    std::vector<float>& tokens = work.tokens;
    grow_buffer(tokens, M * C);
    if (hp != h || wp != w) std::fill(tokens.begin(), tokens.begin() + M * C, 0.0f);  // padding tokens are zeros
    auto token_row = [&](int64_t b, int64_t y, int64_t xx) {
        return (((b * nh + y / ws) * nw + xx / ws) * T + (y % ws) * ws + xx % ws) * C;
    };
    pool.parallel_for(batch * h, 1, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t b = r / h, y = r % h;
            for (int64_t ch = 0; ch < C; ++ch) {
                const float* src = x + ((b * C + ch) * h + y) * w;
                for (int64_t xx = 0; xx < w; ++xx) tokens[token_row(b, y, xx) + ch] = src[xx];
            }
        }
    });

    std::vector<float>&normed = work.normed, &branch = work.branch, &scratch = work.scratch;
    grow_buffer(normed, M * C);
    grow_buffer(branch, M * C);
    // x += gamma * branch (gamma [C] per channel) or x += branch.
    auto add_scaled = [&](const float* gamma) {
        pool.parallel_for(M, 64, [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) {
                float* dst = tokens.data() + r * C;
                const float* src = branch.data() + r * C;
                if (gamma)
                    for (int64_t ch = 0; ch < C; ++ch) dst[ch] += gamma[ch] * src[ch];
                else
                    for (int64_t ch = 0; ch < C; ++ch) dst[ch] += src[ch];
            }
        });
    };

    for (const Block& b : level.blocks) {
        check_abort(abort);
        run_layer_norm(pool, b.norm1, tokens.data(), M, C, normed.data(), C);
        if (b.attention) {
            if (b.gamma_1) {
                run_self_attention(pool, b.attn, normed.data(), S, T, branch.data(), false, scratch, lora);
                add_scaled(b.gamma_1);
            } else {
                run_self_attention(pool, b.attn, normed.data(), S, T, tokens.data(), true, scratch, lora);
            }
        } else {
            if (b.gamma_1) {
                run_mixer(b.mixer, normed.data(), S, T, C, branch.data(), false, pool, scratch, lora);
                add_scaled(b.gamma_1);
            } else {
                run_mixer(b.mixer, normed.data(), S, T, C, tokens.data(), true, pool, scratch, lora);
            }
        }
        run_layer_norm(pool, b.norm2, tokens.data(), M, C, normed.data(), C);
        if (b.gamma_2) {
            run_mlp(pool, b.mlp, normed.data(), M, branch.data(), false, scratch, lora);
            add_scaled(b.gamma_2);
        } else {
            run_mlp(pool, b.mlp, normed.data(), M, tokens.data(), true, scratch, lora);
        }
    }

    // Back to [B, C, h, w], dropping the padding.
    pool.parallel_for(batch * h, 1, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t b = r / h, y = r % h;
            for (int64_t ch = 0; ch < C; ++ch) {
                float* dst = x + ((b * C + ch) * h + y) * w;
                for (int64_t xx = 0; xx < w; ++xx) dst[xx] = tokens[token_row(b, y, xx) + ch];
            }
        }
    });
}

int64_t MambaVisionModel::feature_dim() const { return levels_[MambaVisionConfig::kLevels - 1].width; }

int64_t MambaVisionModel::map_size(int64_t height, int64_t width, int level) const {
    int64_t h = height, w = width;
    auto shrink = [&](const Conv2dWeights& cw) {
        h = conv2d_output_size(h, 3, cw.stride, 1);
        w = conv2d_output_size(w, 3, cw.stride, 1);
    };
    shrink(stem1_);
    shrink(stem2_);
    for (int li = 0; li < level; ++li)
        if (levels_[li].downsample.weight) shrink(levels_[li].downsample);
    return h * w;
}

int64_t MambaVisionModel::num_tokens(int64_t height, int64_t width) const {
    return map_size(height, width, MambaVisionConfig::kLevels - 1);
}

std::pair<int64_t, int64_t> MambaVisionModel::selected_shape(const FeatureSelection& selection, int64_t height,
                                                             int64_t width) const {
    if (!selection.layers.empty())
        fail_unsupported("a mambavision encoder has no feature_layer (hidden states of a transformer tower); "
                         "select a level with feature_level");
    if (selection.level < 0) return {num_tokens(height, width), feature_dim()};
    if (selection.level >= MambaVisionConfig::kLevels)
        fail_format("feature_level " + std::to_string(selection.level) + " is outside MambaVision's levels (0 .. " +
                    std::to_string(MambaVisionConfig::kLevels - 1) + ")");
    const int level = static_cast<int>(selection.level);
    return {map_size(height, width, level), levels_[level].width};
}

void MambaVisionModel::encode(const float* pixels, int64_t batch, int64_t height, int64_t width, float* features,
                              ThreadPool& pool, ClassifierWorkspace& ws, const std::atomic<bool>* abort,
                              const LoraSet* lora) const {
    run(pixels, batch, height, width, MambaVisionConfig::kLevels - 1, true, features, pool, ws, abort, lora);
}

void MambaVisionModel::encode_selected(const FeatureSelection& selection, const float* pixels, int64_t batch,
                                       int64_t height, int64_t width, float* features, ThreadPool& pool,
                                       ClassifierWorkspace& ws, const std::atomic<bool>* abort,
                                       const LoraSet* lora) const {
    selected_shape(selection, height, width);  // refuses what MambaVision does not have
    if (selection.level < 0) return encode(pixels, batch, height, width, features, pool, ws, abort, lora);
    run(pixels, batch, height, width, static_cast<int>(selection.level), false, features, pool, ws, abort, lora);
}

void MambaVisionModel::run(const float* pixels, int64_t batch, int64_t height, int64_t width, int last_level,
                           bool final_norm, float* features, ThreadPool& pool, ClassifierWorkspace& ws,
                           const std::atomic<bool>* abort, const LoraSet* lora) const {
    if (batch < 1) fail_argument("MambaVision encode: batch must be >= 1, got " + std::to_string(batch));
    check_input_size(height, width);
    // NCHW activations: a = current, b / t = temporaries.
    std::vector<float>&a = ws.act_a, &b = ws.act_b, &t = ws.act_c, &scratch = ws.scratch;
    int64_t h = height, w = width;

    auto conv = [&](const Conv2dWeights& cw, const float* in, std::vector<float>& out, const ConvEpilogue& then = {}) {
        const int64_t oh = conv2d_output_size(h, 3, cw.stride, 1), ow = conv2d_output_size(w, 3, cw.stride, 1);
        grow_buffer(out, batch * cw.out_channels * oh * ow);
        run_conv2d(pool, cw, in, batch, h, w, out.data(), scratch, lora, then);
        h = oh;
        w = ow;
    };

    check_abort(abort);
    ConvEpilogue relu;
    relu.activation = Activation::Relu;
    conv(stem1_, pixels, b, relu);
    conv(stem2_, b.data(), a, relu);

    for (int li = 0; li <= last_level; ++li) {
        const Level& L = levels_[li];
        if (li < 2) {
            for (const ConvBlock& cb : L.conv_blocks) {
                check_abort(abort);
                // x = x + gamma * conv2(gelu(conv1(x))): the GELU and the residual ride on the convs' epilogues.
                ConvEpilogue gelu, residual;
                gelu.activation = Activation::GeluTanh;
                residual.residual = a.data();
                residual.residual_scale = cb.gamma;  // layer scale, or nullptr
                conv(cb.conv1, a.data(), t, gelu);
                conv(cb.conv2, t.data(), b, residual);
                std::swap(a, b);
            }
        } else {
            run_windowed_level(L, a.data(), batch, h, w, pool, ws, abort, lora);
        }
        // A level selected for its features stops before its downsample (the last level has none).
        if (L.downsample.weight && li < last_level) {
            check_abort(abort);
            conv(L.downsample, a.data(), b);
            std::swap(a, b);
        }
    }

    // Token-major features [batch, h * w, F]: the final BatchNorm (affine per channel) after the
    // last level, the map as it is after a selected one.
    const int64_t F = levels_[last_level].width, hw = h * w;
    pool.parallel_for(batch * F, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t b = r / F, ch = r % F;
            const float* src = a.data() + r * hw;
            float* dst = features + b * hw * F + ch;
            if (final_norm)
                for (int64_t i = 0; i < hw; ++i) dst[i * F] = src[i] * final_scale_[ch] + final_shift_[ch];
            else
                for (int64_t i = 0; i < hw; ++i) dst[i * F] = src[i];
        }
    });
}

}  // namespace krait
