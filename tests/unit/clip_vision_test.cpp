// CLIP and SigLIP vision towers against transformers' CLIPVisionModel / SiglipVisionModel on the
// fixtures made by tools/gen_clip_vision_fixtures.py (image 30, patch 6, hidden 40, 5 heads, 3 layers,
// mlp 72; CLIP quick_gelu with prefix "vision_model.", SigLIP gelu_pytorch_tanh with no prefix and its
// pooling head's tensors present, CLIP BF16 in a LLaVA layout under "model.vision_tower.vision_model."),
// plus the CLIP / SigLIP image processors.
//
// Tolerance: every hidden state and the post-layernorm output within 1e-5 * max(1, max |ref|); the
// reference ran in float64 (on the bf16-rounded weights for the BF16 case), so this bounds Krait's own
// float32 error.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "sdk/core/error.h"
#include "sdk/image/image.h"
#include "sdk/image/preprocess.h"
#include "sdk/io/safetensors.h"
#include "sdk/models/clip_vision.h"
#include "tests/common/fixtures.h"

namespace {

using krait::ClipVisionConfig;
using krait::ClipVisionModel;
using krait::testing::all_close;
using krait::testing::Expected;
using krait::testing::fixture;
using nlohmann::json;

constexpr float kTolerance = 1e-5f;

const json& manifest() {
    static const json m = [] {
        std::ifstream in(fixture("clip_vision/manifest.json"));
        if (!in)
            throw std::runtime_error("tests/fixtures/clip_vision/manifest.json missing: run tools/gen_clip_vision_fixtures.py");
        return json::parse(in);
    }();
    return m;
}

json case_info(const std::string& name) {
    for (const auto& c : manifest()["cases"])
        if (c["name"] == name) return c;
    throw std::runtime_error(std::string("no case ") + name + " in the CLIP vision manifest");
}

std::vector<std::string> case_names() {
    std::vector<std::string> out;
    for (const auto& c : manifest()["cases"]) out.push_back(c["name"].get<std::string>());
    return out;
}

// The case's vision config: config.json itself, or its "vision_config" (LLaVA layout).
ClipVisionConfig config_of(const std::string& dir) {
    std::ifstream in(dir + "/config.json");
    const json j = json::parse(in);
    return ClipVisionConfig::from_json(j.contains("vision_config") ? j["vision_config"] : j, dir + "/config.json");
}

std::unique_ptr<ClipVisionModel> load_case(const std::string& name, bool keep_stored = true) {
    const std::string dir = fixture(std::string("clip_vision/") + name);
    return ClipVisionModel::load(config_of(dir), dir, case_info(name)["prefix"].get<std::string>(), keep_stored);
}

struct Reference {
    std::vector<float> pixels, hidden, post;  // hidden [L+1, B, T, D]
    int64_t L1 = 0, B = 0, T = 0, D = 0, S = 0;
    std::vector<float> state(int64_t i) const {
        const auto n = static_cast<size_t>(B * T * D);
        return {hidden.begin() + static_cast<std::ptrdiff_t>(i * n), hidden.begin() + static_cast<std::ptrdiff_t>((i + 1) * n)};
    }
};

Reference read_reference(const std::string& name) {
    Expected e(fixture(std::string("clip_vision/") + name));
    Reference r;
    const auto& hs = e.tensor("hidden_states").shape;
    r.L1 = hs[0], r.B = hs[1], r.T = hs[2], r.D = hs[3];
    r.S = e.tensor("pixel_values").shape[2];
    r.pixels = e.values<float>("pixel_values");
    r.hidden = e.values<float>("hidden_states");
    r.post = e.values<float>("post_layernorm");
    return r;
}

template <class Fn>
void expect_status(krait_status status, const std::string& needle, Fn&& fn) {
    try {
        fn();
        ADD_FAILURE() << "no error (wanted one containing '" << needle << "')";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), status) << e.what();
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

class ClipVisionConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(ClipVisionConformance, EveryHiddenStateMatchesTransformers) {
    auto model = load_case(GetParam());
    const Reference r = read_reference(GetParam());
    ASSERT_EQ(r.L1, model->config().num_layers + 1);
    ASSERT_EQ(r.T, model->num_tokens(r.S, r.S));
    ASSERT_EQ(r.D, model->feature_dim());
    for (int threads : {1, 2}) {
        krait::ThreadPool pool(threads);
        krait::ClassifierWorkspace ws;
        for (int64_t i = 0; i < r.L1; ++i) {
            std::vector<float> got(static_cast<size_t>(r.B * r.T * r.D), NAN);
            model->encode_hidden_states(r.pixels.data(), r.B, r.S, r.S, {i}, got.data(), pool, ws, nullptr);
            EXPECT_TRUE(all_close(got.data(), r.state(i), kTolerance)) << "hidden state " << i << ", threads " << threads;
        }
    }
}

TEST_P(ClipVisionConformance, EncodeIsPostLayernormOfTheLastState) {
    auto model = load_case(GetParam());
    const Reference r = read_reference(GetParam());
    for (int threads : {1, 2}) {
        krait::ThreadPool pool(threads);
        krait::ClassifierWorkspace ws;
        std::vector<float> got(r.post.size(), NAN);
        model->encode(r.pixels.data(), r.B, r.S, r.S, got.data(), pool, ws, nullptr);
        EXPECT_TRUE(all_close(got.data(), r.post, kTolerance)) << "threads " << threads;
    }
}

// Layer lists in any order, with repeats, concatenate the states on channels in list order; each block is
// bit for bit what a one-state call gives, and the batch rows are those of single images.
TEST_P(ClipVisionConformance, LayerListsConcatenateOnChannels) {
    auto model = load_case(GetParam());
    const Reference r = read_reference(GetParam());
    krait::ThreadPool pool(2);
    krait::ClassifierWorkspace ws;
    const std::vector<int64_t> layers = {r.L1 - 1, 0, r.L1 - 2, r.L1 - 2, 1};
    const int64_t n = static_cast<int64_t>(layers.size()), rows = r.B * r.T;
    std::vector<float> cat(static_cast<size_t>(rows * r.D * n), NAN);
    model->encode_hidden_states(r.pixels.data(), r.B, r.S, r.S, layers, cat.data(), pool, ws, nullptr);
    for (int64_t k = 0; k < n; ++k) {
        std::vector<float> single(static_cast<size_t>(rows * r.D), NAN), block(single.size());
        model->encode_hidden_states(r.pixels.data(), r.B, r.S, r.S, {layers[k]}, single.data(), pool, ws, nullptr);
        for (int64_t row = 0; row < rows; ++row)
            std::memcpy(block.data() + row * r.D, cat.data() + row * r.D * n + k * r.D, sizeof(float) * r.D);
        EXPECT_EQ(std::memcmp(block.data(), single.data(), block.size() * sizeof(float)), 0) << "block " << k;
        EXPECT_TRUE(all_close(block.data(), r.state(layers[k]), kTolerance)) << "block " << k;
    }
    // One image alone gives its rows of the batched result.
    const int64_t per_image = 3 * r.S * r.S, per_out = r.T * r.D * n;
    for (int64_t b = 0; b < r.B; ++b) {
        std::vector<float> one(static_cast<size_t>(per_out), NAN);
        model->encode_hidden_states(r.pixels.data() + b * per_image, 1, r.S, r.S, layers, one.data(), pool, ws, nullptr);
        const std::vector<float> want(cat.begin() + b * per_out, cat.begin() + (b + 1) * per_out);
        EXPECT_TRUE(all_close(one.data(), want, kTolerance)) << "image " << b;
    }
}

TEST_P(ClipVisionConformance, WrongImageSizeAndLayerIndicesAreRefused) {
    auto model = load_case(GetParam());
    const int64_t S = model->config().image_size, L = model->config().num_layers;
    EXPECT_NO_THROW(model->check_input_size(S, S));
    const std::string trained = std::to_string(S) + "x" + std::to_string(S);
    for (const auto& size : std::vector<std::pair<int64_t, int64_t>>{{S - 6, S}, {S, S + 6}, {2 * S, 2 * S}, {0, 0}}) {
        const int64_t h = size.first, w = size.second;  // not a structured binding: clang 14 cannot capture one
        const std::string given = std::to_string(h) + "x" + std::to_string(w);
        expect_status(KRAIT_ERR_INVALID_ARGUMENT, given, [&] { model->check_input_size(h, w); });
        expect_status(KRAIT_ERR_INVALID_ARGUMENT, trained, [&] { model->check_input_size(h, w); });
    }
    krait::ThreadPool pool(1);
    krait::ClassifierWorkspace ws;
    std::vector<float> pixels(static_cast<size_t>(3 * (S + 6) * (S + 6)), 0.1f), out(1 << 16);
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, trained,
                  [&] { model->encode(pixels.data(), 1, S + 6, S + 6, out.data(), pool, ws, nullptr); });
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, trained, [&] {
        model->encode_hidden_states(pixels.data(), 1, S + 6, S + 6, {0}, out.data(), pool, ws, nullptr);
    });
    for (int64_t bad : {int64_t{-1}, L + 1}) {
        expect_status(KRAIT_ERR_INVALID_ARGUMENT, std::string("hidden state ") + std::to_string(bad), [&] {
            model->encode_hidden_states(pixels.data(), 1, S, S, {0, bad}, out.data(), pool, ws, nullptr);
        });
    }
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, "empty", [&] {
        model->encode_hidden_states(pixels.data(), 1, S, S, {}, out.data(), pool, ws, nullptr);
    });
}

TEST_P(ClipVisionConformance, AdapterTargetsNameEveryLinearWithThePrefix) {
    auto model = load_case(GetParam());
    const std::string prefix = case_info(GetParam())["prefix"].get<std::string>();
    const auto& targets = model->adapter_targets();
    EXPECT_EQ(targets.architecture(), model->architecture());
    for (int64_t i = 0; i < model->config().num_layers; ++i)
        for (const char* m : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
                              "mlp.fc1", "mlp.fc2"}) {
            const std::string name = prefix + "encoder.layers." + std::to_string(i) + "." + m;
            const krait::AdapterTarget* t = targets.resolve(name);
            ASSERT_NE(t, nullptr) << name;
            EXPECT_TRUE(t->unsupported.empty()) << name;
        }
    EXPECT_NE(targets.resolve(prefix + "embeddings.patch_embedding"), nullptr);
    // 6 linears per layer + the patch conv.
    EXPECT_EQ(targets.slots(), static_cast<size_t>(6 * model->config().num_layers + 1));
}

INSTANTIATE_TEST_SUITE_P(Cases, ClipVisionConformance, ::testing::ValuesIn(case_names()),
                         [](const auto& info) { return info.param; });

TEST(ClipVision, FixturesCoverWhatTheyClaim) {
    bool clip = false, siglip = false, bf16 = false, llava = false, no_prefix = false;
    for (const auto& c : manifest()["cases"]) {
        // krait::json_equals: sdk/core/json.h deletes json == "literal" (it allocates in a noexcept operator).
        clip |= krait::json_equals(c["kind"], "clip") && krait::json_equals(c["dtype"], "float32");
        siglip |= krait::json_equals(c["kind"], "siglip");
        bf16 |= krait::json_equals(c["dtype"], "bfloat16");
        llava |= krait::json_equals(c["prefix"], "model.vision_tower.vision_model.");
        no_prefix |= krait::json_equals(c["prefix"], "");
    }
    EXPECT_TRUE(clip && siglip && bf16 && llava && no_prefix);
}

TEST(ClipVision, KindsTokensAndMetadata) {
    auto clip = load_case("clip_f32");
    auto siglip = load_case("siglip_f32");
    EXPECT_TRUE(clip->has_class_token());
    EXPECT_FALSE(siglip->has_class_token());
    EXPECT_STREQ(clip->architecture(), "clip");
    EXPECT_STREQ(siglip->architecture(), "siglip");
    EXPECT_EQ(clip->num_tokens(30, 30), 26);
    EXPECT_EQ(siglip->num_tokens(30, 30), 25);
    EXPECT_EQ(clip->config().act, krait::Activation::QuickGelu);
    EXPECT_EQ(siglip->config().act, krait::Activation::GeluTanh);
    EXPECT_FLOAT_EQ(siglip->config().layer_norm_eps, 1e-6f);
    EXPECT_EQ(clip->source_dtype(), "F32");
    EXPECT_EQ(load_case("clip_bf16_llava")->source_dtype(), "BF16");
    // The SigLIP checkpoint holds the pooling head too: it is not loaded (no parameters counted for it).
    const int64_t D = 40, I = 72, C = 3, P = 6, L = 3, G = 5;
    const int64_t layer = 4 * (D * D + D) + (I * D + I) + (D * I + D) + 4 * D;
    EXPECT_EQ(clip->num_parameters(), D * C * P * P + D + (G * G + 1) * D + 2 * D + L * layer + 2 * D);
    EXPECT_EQ(siglip->num_parameters(), D * C * P * P + D + G * G * D + L * layer + 2 * D);
}

// BF16 weights as stored (BF16 panels) and upcast to F32 give the same bits, within the tolerance of the
// float64 reference computed from the same bf16-rounded weights.
TEST(ClipVision, Bf16StoredEqualsUpcast) {
    auto stored = load_case("clip_bf16_llava", true);
    auto upcast = load_case("clip_bf16_llava", false);
    const Reference r = read_reference("clip_bf16_llava");
    krait::ThreadPool pool(2);
    krait::ClassifierWorkspace ws;
    const std::vector<int64_t> all = {0, 1, 2, 3};
    std::vector<float> a(r.hidden.size(), NAN), b(r.hidden.size(), NAN);
    stored->encode_hidden_states(r.pixels.data(), r.B, r.S, r.S, all, a.data(), pool, ws, nullptr);
    upcast->encode_hidden_states(r.pixels.data(), r.B, r.S, r.S, all, b.data(), pool, ws, nullptr);
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
    EXPECT_LT(stored->weight_bytes(), upcast->weight_bytes());
    for (int64_t i = 0; i < r.L1; ++i) {
        std::vector<float> block(static_cast<size_t>(r.B * r.T * r.D));
        for (int64_t row = 0; row < r.B * r.T; ++row)
            std::memcpy(block.data() + row * r.D, a.data() + row * r.D * 4 + i * r.D, sizeof(float) * r.D);
        EXPECT_TRUE(all_close(block.data(), r.state(i), kTolerance)) << "state " << i;
    }
}

TEST(ClipVision, ProgressCancelsAndAbortStops) {
    const std::string dir = fixture("clip_vision/siglip_f32");
    const ClipVisionConfig cfg = config_of(dir);
    std::vector<float> seen;
    auto model = ClipVisionModel::load(cfg, dir, "", true, [&](float f) { return seen.push_back(f), true; });
    ASSERT_GE(seen.size(), 2u);
    EXPECT_EQ(seen.front(), 0.0f);
    EXPECT_EQ(seen.back(), 1.0f);
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    expect_status(KRAIT_ERR_CANCELLED, "cancelled",
                  [&] { ClipVisionModel::load(cfg, dir, "", true, [](float f) { return f < 0.5f; }); });
    const Reference r = read_reference("siglip_f32");
    krait::ThreadPool pool(1);
    krait::ClassifierWorkspace ws;
    std::atomic<bool> abort{true};
    std::vector<float> out(r.post.size());
    expect_status(KRAIT_ERR_ABORTED, "aborted",
                  [&] { model->encode(r.pixels.data(), r.B, r.S, r.S, out.data(), pool, ws, &abort); });
    expect_status(KRAIT_ERR_ABORTED, "aborted", [&] {
        model->encode_hidden_states(r.pixels.data(), r.B, r.S, r.S, {2}, out.data(), pool, ws, &abort);
    });
}

TEST(ClipVision, MissingOrMisShapedTensorsAreRefusedByName) {
    const std::string clip_dir = fixture("clip_vision/clip_f32"), siglip_dir = fixture("clip_vision/siglip_f32");
    const ClipVisionConfig clip = config_of(clip_dir), siglip = config_of(siglip_dir);
    // Wrong prefix: the first tensor looked up is missing.
    expect_status(KRAIT_ERR_FORMAT, "model.vision_tower.vision_model.embeddings.patch_embedding.weight",
                  [&] { ClipVisionModel::load(clip, clip_dir, "model.vision_tower.vision_model.", true); });
    // SigLIP weights read as CLIP: no class_embedding.
    expect_status(KRAIT_ERR_FORMAT, "embeddings.class_embedding", [&] { ClipVisionModel::load(clip, siglip_dir, "", true); });
    // CLIP weights read as SigLIP: no patch conv bias.
    expect_status(KRAIT_ERR_FORMAT, "vision_model.embeddings.patch_embedding.bias",
                  [&] { ClipVisionModel::load(siglip, clip_dir, "vision_model.", true); });
    // Config and weights disagree: mis-shaped tensors, named.
    ClipVisionConfig wide = clip;
    wide.intermediate_size = 80;
    expect_status(KRAIT_ERR_FORMAT, "vision_model.encoder.layers.0.mlp.fc1.weight",
                  [&] { ClipVisionModel::load(wide, clip_dir, "vision_model.", true); });
    ClipVisionConfig bigger = clip;
    bigger.image_size = 36;
    expect_status(KRAIT_ERR_FORMAT, "vision_model.embeddings.position_embedding.weight",
                  [&] { ClipVisionModel::load(bigger, clip_dir, "vision_model.", true); });
    ClipVisionConfig deeper = clip;
    deeper.num_layers = 4;
    expect_status(KRAIT_ERR_FORMAT, "vision_model.encoder.layers.3.layer_norm1.weight",
                  [&] { ClipVisionModel::load(deeper, clip_dir, "vision_model.", true); });
}

TEST(ClipVision, ConfigFieldsAreCheckedAndDefaulted) {
    const json base = {{"model_type", "clip_vision_model"}, {"image_size", 30}, {"patch_size", 6},
                       {"hidden_size", 40},  {"num_attention_heads", 5}, {"num_hidden_layers", 3},
                       {"intermediate_size", 72}};
    EXPECT_NO_THROW(ClipVisionConfig::from_json(base, "cfg"));
    auto with = [&](const char* key, json value) {
        json j = base;
        j[key] = std::move(value);
        return j;
    };
    expect_status(KRAIT_ERR_FORMAT, "num_attention_heads", [&] { ClipVisionConfig::from_json(with("num_attention_heads", 3), "cfg"); });
    expect_status(KRAIT_ERR_FORMAT, "image_size", [&] { ClipVisionConfig::from_json(with("image_size", 32), "cfg"); });
    expect_status(KRAIT_ERR_FORMAT, "patch_size", [&] { ClipVisionConfig::from_json(with("patch_size", 0), "cfg"); });
    expect_status(KRAIT_ERR_FORMAT, "hidden_size", [&] { ClipVisionConfig::from_json(with("hidden_size", -40), "cfg"); });
    expect_status(KRAIT_ERR_FORMAT, "num_hidden_layers", [&] { ClipVisionConfig::from_json(with("num_hidden_layers", "3"), "cfg"); });
    expect_status(KRAIT_ERR_FORMAT, "layer_norm_eps", [&] { ClipVisionConfig::from_json(with("layer_norm_eps", 0), "cfg"); });
    expect_status(KRAIT_ERR_FORMAT, "num_channels", [&] { ClipVisionConfig::from_json(with("num_channels", 1), "cfg"); });
    expect_status(KRAIT_ERR_UNSUPPORTED, "hidden_act", [&] { ClipVisionConfig::from_json(with("hidden_act", "swoosh"), "cfg"); });
    expect_status(KRAIT_ERR_UNSUPPORTED, "vit", [&] { ClipVisionConfig::from_json(with("model_type", "vit"), "cfg"); });
    expect_status(KRAIT_ERR_FORMAT, "vision_config", [&] { ClipVisionConfig::from_json(json::array(), "cfg"); });
    // transformers' class defaults; no model_type = CLIP, as LlavaConfig.
    const ClipVisionConfig clip = ClipVisionConfig::from_json(json::object(), "cfg");
    EXPECT_EQ(clip.model_type, "clip_vision_model");
    EXPECT_EQ(clip.patch_size, 32);
    EXPECT_EQ(clip.act, krait::Activation::QuickGelu);
    EXPECT_FLOAT_EQ(clip.layer_norm_eps, 1e-5f);
    const ClipVisionConfig siglip = ClipVisionConfig::from_json({{"model_type", "siglip_vision_model"}}, "cfg");
    EXPECT_EQ(siglip.patch_size, 16);
    EXPECT_EQ(siglip.act, krait::Activation::GeluTanh);
    EXPECT_FLOAT_EQ(siglip.layer_norm_eps, 1e-6f);
    EXPECT_EQ(siglip.image_size, 224);
    EXPECT_EQ(siglip.hidden_size, 768);
}

// CLIPImageProcessorPil / SiglipImageProcessorPil outputs reproduced from their preprocessor_config.json,
// including fields left to the class defaults: equal to the reference up to float32 rounding (1e-6).
TEST(ClipVisionPreprocess, MatchesTheImageProcessors) {
    const std::string dir = fixture("clip_vision/preprocess/");
    krait::SafetensorsFile ref(dir + "expected.safetensors");
    int compared = 0;
    for (const auto& c : manifest()["preprocess"]["cases"]) {
        const std::string name = c["name"].get<std::string>();
        const krait::PreprocessConfig cfg =
            krait::load_preprocess_config(dir + name, krait::PreprocessSource::HfImageProcessor,
                                          c["model_h"].get<int64_t>(), c["model_w"].get<int64_t>());
        for (const auto& s : c["samples"]) {
            const std::string sample = s.get<std::string>();
            SCOPED_TRACE(name + "/" + sample);
            const krait::Image img =
                krait::load_image_file(fixture(std::string("images/samples/") + sample), krait::kDefaultMaxImagePixels);
            const krait::TensorInfo& t = ref.tensors().at(name + "/" + sample);
            const auto [oh, ow] = krait::preprocess_output_size(cfg, img.height, img.width);
            ASSERT_EQ(t.shape, (std::vector<int64_t>{3, oh, ow}));
            std::vector<float> out(static_cast<size_t>(3 * oh * ow)), want(out.size());
            krait::preprocess(img, cfg, out.data());
            std::memcpy(want.data(), t.data, t.nbytes);
            float worst = 0.0f;
            for (size_t i = 0; i < out.size(); ++i) worst = std::max(worst, std::fabs(out[i] - want[i]));
            EXPECT_LE(worst, 1e-6f);
            ++compared;
        }
    }
    EXPECT_EQ(compared, 8);
}

TEST(ClipVisionPreprocess, ProcessorClassDefaults) {
    // CLIP: an integer size is the shortest edge, crop defaults to 224, OpenAI mean/std, bicubic.
    const auto clip = krait::preprocess_config_from_hf_json(R"({"image_processor_type": "CLIPImageProcessor", "size": 336})",
                                                            "clip", 224, 224);
    EXPECT_EQ(clip.resize_mode, krait::ResizeMode::ShortestEdge);
    EXPECT_EQ(clip.shortest_edge, 336);
    EXPECT_TRUE(clip.do_center_crop);
    EXPECT_EQ(clip.crop_h, 224);
    EXPECT_EQ(clip.resample, krait::Resample::Bicubic);
    EXPECT_FLOAT_EQ(clip.mean[0], 0.48145466f);
    const auto fast = krait::preprocess_config_from_hf_json(R"({"image_processor_type": "CLIPImageProcessorFast"})",
                                                            "clip", 224, 224);
    EXPECT_EQ(fast.shortest_edge, 224);
    // SigLIP: bicubic square resize, no crop, mean/std 0.5.
    const auto siglip = krait::preprocess_config_from_hf_json(
        R"({"image_processor_type": "SiglipImageProcessor", "size": {"height": 384, "width": 384}})", "siglip", 384, 384);
    EXPECT_EQ(siglip.resize_mode, krait::ResizeMode::Exact);
    EXPECT_EQ(siglip.resize_h, 384);
    EXPECT_FALSE(siglip.do_center_crop);
    EXPECT_EQ(siglip.resample, krait::Resample::Bicubic);
    EXPECT_FLOAT_EQ(siglip.std[2], 0.5f);
    // ViT (and unnamed processors) keep ViTImageProcessor's: bilinear, integer size square.
    const auto vit = krait::preprocess_config_from_hf_json(R"({"size": 48})", "vit", 48, 48);
    EXPECT_EQ(vit.resize_mode, krait::ResizeMode::Exact);
    EXPECT_EQ(vit.resample, krait::Resample::Bilinear);
}

}  // namespace
