// Composite assistants (docs/COMPOSITE_ASSISTANTS.md) against the PyTorch reference of
// tools/gen_composite_fixtures.py (tests/fixtures/composite): MambaVision (a level's map, and its
// output) feeding Mamba and Llama, a CLIP tower with a hidden-state list and the class token dropped,
// a ViT with it kept; projectors with linear, activation and layer_norm layers; images at the
// image tokens and before the text; batch 2 with one image in the first row and two in the second.
// Then the config's bad input: each refused with a status and a message naming the problem.
//
// Tolerances (reference: PyTorch in float32):
//   projected image rows and logits: max |got - want| <= 1e-5 * max(1, max |want|);
//   greedy continuations: exact (the generator keeps a top-1 / top-2 gap >= 2e-3 at every step).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sdk/core/error.h"
#include "sdk/adapters/lora_adapter.h"
#include "sdk/adapters/lora_set.h"
#include "sdk/core/text_file.h"
#include "sdk/models/composite_assistant.h"
#include "sdk/models/registry.h"
#include "tests/common/fixtures.h"

namespace {

namespace fs = std::filesystem;
using krait::AssistantModel;
using krait::LanguageModel;
using krait::testing::all_close;
using krait::testing::Expected;
using krait::testing::fixture;

constexpr float kTolerance = 1e-5f;

const char* const kCases[] = {"mambavision_level_mamba", "mambavision_final_llama", "clip_layers_mamba",
                              "vit_llama_prefix"};

std::unique_ptr<krait::CompositeAssistant> load(const std::string& dir) {
    return krait::CompositeAssistant::load(dir, {});
}

class CompositeConformance : public ::testing::TestWithParam<const char*> {
protected:
    std::string dir() const { return fixture(std::string("composite/") + GetParam()); }
};

TEST_P(CompositeConformance, ImageRowsMatchTheReference) {
    const auto model = load(dir());
    const Expected expected(dir());
    const auto& px = expected.tensor("pixel_values");
    const int64_t n = px.shape[0], H = px.shape[2], W = px.shape[3];
    const auto pixels = expected.values<float>("pixel_values");
    const auto want = expected.values<float>("features");
    const int64_t D = model->language_model()->info().hidden_size;
    ASSERT_EQ(static_cast<int64_t>(want.size()), n * model->image_rows() * D);
    for (int threads : {1, 2}) {
        krait::ThreadPool pool(threads);
        krait::ClassifierWorkspace ws;
        std::vector<float> rows(want.size());
        model->encode_images(pixels.data(), n, H, W, rows.data(), pool, ws, nullptr, nullptr);
        EXPECT_TRUE(all_close(rows.data(), want, kTolerance)) << "threads " << threads;
    }
}

// The logits of expected.safetensors' batch (each row with its images) under `lora` (null: none).
std::vector<float> batch_logits(const krait::CompositeAssistant& model, const Expected& expected,
                                const krait::LoraSet* lora) {
    const LanguageModel& lm = *model.language_model();
    const auto& ids_info = expected.tensor("input_ids");
    const int64_t B = ids_info.shape[0], L = ids_info.shape[1];
    const auto ids = expected.values<int32_t>("input_ids");
    const auto& px = expected.tensor("pixel_values");
    const auto pixels = expected.values<float>("pixel_values");
    const int64_t D = lm.info().hidden_size, R = model.image_rows(), V = lm.vocab_size();

    krait::ThreadPool pool(2);
    krait::ClassifierWorkspace ws;
    std::vector<float> image_rows(static_cast<size_t>(px.shape[0] * R * D));
    model.encode_images(pixels.data(), px.shape[0], px.shape[2], px.shape[3], image_rows.data(), pool, ws, nullptr,
                        lora);
    std::vector<float> embeddings(static_cast<size_t>(B * L * D));
    int64_t used = 0;
    for (int64_t b = 0; b < B; ++b) {
        const int64_t images = krait::count_prompt_images(model, ids.data() + b * L, L, -1);
        EXPECT_EQ(images, b == 0 ? 1 : 2);
        krait::prompt_embedding_rows(model, ids.data() + b * L, L, image_rows.data() + used * R * D,
                                     embeddings.data() + b * L * D, pool, lora);
        used += images;
    }
    EXPECT_EQ(used, px.shape[0]);
    std::vector<std::unique_ptr<krait::SequenceState>> states;
    std::vector<krait::SequenceState*> ptrs;
    for (int64_t b = 0; b < B; ++b) {
        states.push_back(lm.new_state(L));
        ptrs.push_back(states.back().get());
    }
    auto lws = lm.new_workspace();
    std::vector<float> logits(static_cast<size_t>(B * L * V));
    lm.eval_embedded(embeddings.data(), B, L, ptrs.data(), LanguageModel::Logits::All, logits.data(), pool, *lws,
                     nullptr, lora);
    return logits;
}

TEST_P(CompositeConformance, LogitsOfABatchWithImagesMatchTheReference) {
    const auto model = load(dir());
    const Expected expected(dir());
    EXPECT_TRUE(all_close(batch_logits(*model, expected, nullptr).data(), expected.values<float>("logits"), kTolerance));
}

// peft LoRA on the reference module: on the encoder (image_encoder.*), the projector (projector.<i>)
// and the language model (language_model.*), in one adapter.
TEST(CompositeAssistantAdapters, PeftLoraOnEncoderProjectorAndLanguageModelMatchesPeft) {
    for (const char* name : {"mambavision_level_mamba", "clip_layers_mamba"}) {
        const std::string dir = fixture(std::string("composite/") + name);
        const auto model = load(dir);
        const Expected expected(dir);
        const auto adapter = krait::LoraAdapter::load(dir + "/lora", model->adapter_targets(), "lora");
        const krait::LoraSet set(model->adapter_targets(), {{adapter, 1.0f}});
        const auto [first, end] = model->image_slots();
        EXPECT_TRUE(set.touches(first, end)) << name;
        const auto got = batch_logits(*model, expected, &set);
        EXPECT_TRUE(all_close(got.data(), expected.values<float>("lora_logits"), kTolerance)) << name;
        EXPECT_FALSE(all_close(got.data(), expected.values<float>("logits"), 1e-3f)) << name << ": no change";
    }
}

TEST_P(CompositeConformance, GreedyContinuationAfterAnImageMatchesTheReference) {
    const auto model = load(dir());
    const LanguageModel& lm = *model->language_model();
    const Expected expected(dir());
    const auto prompt = expected.values<int32_t>("prompt");
    const auto greedy = expected.values<int32_t>("greedy");
    const auto& px = expected.tensor("pixel_values");
    const auto pixels = expected.values<float>("pixel_values");  // image 0 is the prompt's
    const int64_t D = lm.info().hidden_size, R = model->image_rows(), n = static_cast<int64_t>(prompt.size());

    krait::ThreadPool pool(2);
    krait::ClassifierWorkspace ws;
    ASSERT_EQ(krait::count_prompt_images(*model, prompt.data(), n, 1), 1);
    std::vector<float> image_rows(static_cast<size_t>(R * D));
    model->encode_images(pixels.data(), 1, px.shape[2], px.shape[3], image_rows.data(), pool, ws, nullptr, nullptr);
    std::vector<float> embeddings(static_cast<size_t>(n * D));
    krait::prompt_embedding_rows(*model, prompt.data(), n, image_rows.data(), embeddings.data(), pool, nullptr);

    auto state = lm.new_state(256);
    auto lws = lm.new_workspace();
    std::vector<float> logits(static_cast<size_t>(lm.vocab_size()));
    krait::SequenceState* s = state.get();
    lm.eval_embedded(embeddings.data(), 1, n, &s, LanguageModel::Logits::Last, logits.data(), pool, *lws, nullptr,
                     nullptr);
    std::vector<int32_t> got;
    for (size_t i = 0; i < greedy.size(); ++i) {
        const auto next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        got.push_back(next);
        lm.decode_step(next, *state, logits.data(), pool, *lws, nullptr);
    }
    EXPECT_EQ(got, greedy);
}

INSTANTIATE_TEST_SUITE_P(Cases, CompositeConformance, ::testing::ValuesIn(kCases));

TEST(CompositeAssistant, IsAnAssistantInTheRegistryWithItsPlacementAndRows) {
    const krait::ModelFamily& f = krait::family_for_dir(fixture("composite/mambavision_level_mamba"));
    EXPECT_EQ(f.name, "krait_assistant");
    EXPECT_EQ(f.kind, KRAIT_MODEL_ASSISTANT);
    const auto prefix = load(fixture("composite/mambavision_level_mamba"));
    EXPECT_EQ(prefix->image_placement(), krait::ImagePlacement::BeforeText);
    EXPECT_EQ(prefix->image_rows(), 16);  // 64 px: /4 by the stem, /2 twice: level 2 works on 4 x 4
    EXPECT_EQ(prefix->image_height(), 64);
    EXPECT_EQ(prefix->describe_projector(), "linear 32 -> 40, gelu, linear 40 -> 48, layer_norm 48");
    EXPECT_EQ(std::string(prefix->language_model()->info().architecture), "mamba");
    const auto marker = load(fixture("composite/clip_layers_mamba"));
    EXPECT_EQ(marker->image_placement(), krait::ImagePlacement::AtMarker);
    EXPECT_EQ(marker->image_rows(), 25);  // 5 x 5 patches, the class token dropped
    // No tokenizer of its own: the language model's directory serves it.
    EXPECT_EQ(fs::path(marker->text_dir()), fs::path(fixture("composite/clip_layers_mamba")) / "language_model");
}

// ---- bad configs: each refused naming the problem ----------------------------------------------------------

// A copy of a case whose config.json is `edit`ed; returns its directory.
std::string edited(const std::string& name, const std::string& tag, const std::function<void(nlohmann::json&)>& edit) {
    const std::string src = fixture("composite/" + name);
    const std::string dst = ::testing::TempDir() + "composite_" + tag;
    fs::remove_all(dst);
    fs::copy(src, dst, fs::copy_options::recursive);
    auto j = nlohmann::json::parse(krait::read_text_file(src + "/config.json", "config"));
    edit(j);
    std::ofstream(dst + "/config.json") << j.dump();
    return dst;
}

void expect_refused(const std::string& dir, krait_status status, const std::vector<std::string>& words) {
    try {
        load(dir);
        ADD_FAILURE() << dir << " was accepted";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), status) << e.what();
        for (const std::string& w : words) EXPECT_NE(std::string(e.what()).find(w), std::string::npos) << e.what();
    }
}

TEST(CompositeAssistantBadConfig, AProjectorThatDoesNotFitIsRefusedNamingTheTensor) {
    // clip_layers_mamba's first linear takes two hidden states (80); with one layer the tower gives 40.
    expect_refused(edited("clip_layers_mamba", "one_layer", [](auto& j) { j["image_encoder"]["feature_layer"] = -1; }),
                   KRAIT_ERR_FORMAT, {"'0.weight'", "takes 80 features", "gives 40"});
    // Without its last linear the projector ends at 56, not the language model's 48.
    expect_refused(edited("clip_layers_mamba", "short", [](auto& j) { j["projector"]["layers"].erase(2); }),
                   KRAIT_ERR_FORMAT, {"rows of 56 values", "hidden size is 48"});
    expect_refused(edited("clip_layers_mamba", "no_tensor",
                          [](auto& j) { j["projector"]["layers"][0]["weight"] = "linear_1.weight"; }),
                   KRAIT_ERR_FORMAT, {"'linear_1.weight'"});
}

TEST(CompositeAssistantBadConfig, FieldsWithBadValuesAreRefusedNamingTheField) {
    const std::string c = "mambavision_level_mamba";
    expect_refused(edited(c, "placement", [](auto& j) { j["image_placement"] = "after"; }), KRAIT_ERR_FORMAT,
                   {"image_placement", "'after'"});
    expect_refused(edited(c, "token", [](auto& j) { j["image_token_id"] = 160; }), KRAIT_ERR_FORMAT,
                   {"image_token_id 160", "160 ids"});
    expect_refused(edited(c, "no_token", [](auto& j) { j.erase("image_token_id"); }), KRAIT_ERR_FORMAT,
                   {"image_token_id"});
    expect_refused(edited(c, "version", [](auto& j) { j["format_version"] = 2; }), KRAIT_ERR_UNSUPPORTED,
                   {"format_version 2"});
    expect_refused(edited(c, "layer_type", [](auto& j) { j["projector"]["layers"][1]["type"] = "dropout"; }),
                   KRAIT_ERR_FORMAT, {"layers[1]", "'dropout'"});
    expect_refused(edited(c, "act", [](auto& j) { j["projector"]["layers"][1]["function"] = "mish"; }),
                   KRAIT_ERR_UNSUPPORTED, {"layers[1]", "mish"});
    expect_refused(edited(c, "level", [](auto& j) { j["image_encoder"]["feature_level"] = 4; }), KRAIT_ERR_FORMAT,
                   {"feature_level"});
}

TEST(CompositeAssistantBadConfig, SelectionsAnEncoderDoesNotHaveAreRefused) {
    expect_refused(edited("mambavision_level_mamba", "layer_on_mv",
                          [](auto& j) {
                              j["image_encoder"].erase("feature_level");
                              j["image_encoder"]["feature_layer"] = -1;
                          }),
                   KRAIT_ERR_UNSUPPORTED, {"mambavision", "feature_layer"});
    expect_refused(edited("clip_layers_mamba", "level_on_clip",
                          [](auto& j) {
                              j["image_encoder"].erase("feature_layer");
                              j["image_encoder"]["feature_level"] = 1;
                          }),
                   KRAIT_ERR_UNSUPPORTED, {"clip", "feature_level"});
    expect_refused(edited("vit_llama_prefix", "layer_on_vit", [](auto& j) { j["image_encoder"]["feature_layer"] = -2; }),
                   KRAIT_ERR_UNSUPPORTED, {"vit"});
    expect_refused(edited("clip_layers_mamba", "layer_range", [](auto& j) { j["image_encoder"]["feature_layer"] = -5; }),
                   KRAIT_ERR_FORMAT, {"feature_layer -5"});
}

TEST(CompositeAssistantBadConfig, PartsThatAreMissingOrOfTheWrongKindAreRefused) {
    const std::string c = "vit_llama_prefix";
    expect_refused(edited(c, "no_lm", [](auto& j) { j["language_model"]["path"] = "nowhere"; }), KRAIT_ERR_IO,
                   {"language_model.path", "nowhere"});
    expect_refused(edited(c, "no_encoder", [](auto& j) { j["image_encoder"]["path"] = "nowhere"; }), KRAIT_ERR_IO,
                   {"image_encoder.path"});
    // The roles swapped: a language model is not an image encoder, nor an encoder a language model.
    expect_refused(edited(c, "lm_as_encoder", [](auto& j) { j["image_encoder"]["path"] = "language_model"; }),
                   KRAIT_ERR_UNSUPPORTED, {"not an image encoder"});
    expect_refused(edited(c, "encoder_as_lm", [](auto& j) { j["language_model"]["path"] = "image_encoder"; }),
                   KRAIT_ERR_UNSUPPORTED, {"not a language model"});
    expect_refused(edited(c, "no_projector", [](auto& j) { j["projector"]["weights"] = "nothing.safetensors"; }),
                   KRAIT_ERR_IO, {"nothing.safetensors"});
    expect_refused(edited(c, "no_layers", [](auto& j) { j["projector"].erase("layers"); }), KRAIT_ERR_FORMAT,
                   {"projector", "layers"});
}

}  // namespace
