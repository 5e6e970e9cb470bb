// LLaVA against transformers' LlavaForConditionalGeneration on the tiny checkpoints of
// tools/gen_llava_fixtures.py (tests/fixtures/llava): three key layouts, a CLIP and a SigLIP
// tower, a feature-layer list with the full strategy, a GQA Llama and a qwen2 language model,
// batch 2 with one image in the first row and two in the second.
//
// Tolerances (reference: transformers in float32):
//   projected image features and logits: max |got - want| <= 1e-5 * max(1, max |want|);
//   greedy continuations: exact (the generator keeps a top-1 / top-2 gap >= 2e-3 at every step).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sdk/core/error.h"
#include "sdk/core/text_file.h"
#include "sdk/models/llava.h"
#include "sdk/models/registry.h"
#include "tests/common/fixtures.h"

namespace {

using krait::AssistantModel;
using krait::LanguageModel;
using krait::testing::all_close;
using krait::testing::Expected;
using krait::testing::fixture;

constexpr float kTolerance = 1e-5f;

const char* const kCases[] = {"llava_clip_llama", "llava_legacy", "llava_layers_full", "llava_siglip_qwen2"};

std::unique_ptr<krait::LlavaModel> load(const std::string& dir) { return krait::LlavaModel::load(dir, {}); }

class LlavaConformance : public ::testing::TestWithParam<const char*> {
protected:
    std::string dir() const { return fixture(std::string("llava/") + GetParam()); }
};

TEST_P(LlavaConformance, ImageFeaturesMatchTransformers) {
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

TEST_P(LlavaConformance, LogitsOfABatchWithImagesMatchTransformers) {
    const auto model = load(dir());
    const LanguageModel& lm = *model->language_model();
    const Expected expected(dir());
    const auto& ids_info = expected.tensor("input_ids");
    const int64_t B = ids_info.shape[0], L = ids_info.shape[1];
    const auto ids = expected.values<int32_t>("input_ids");
    const auto& px = expected.tensor("pixel_values");
    const auto pixels = expected.values<float>("pixel_values");
    const auto want = expected.values<float>("logits");
    const int64_t D = lm.info().hidden_size, R = model->image_rows(), V = lm.vocab_size();

    krait::ThreadPool pool(2);
    krait::ClassifierWorkspace ws;
    std::vector<float> image_rows(static_cast<size_t>(px.shape[0] * R * D));
    model->encode_images(pixels.data(), px.shape[0], px.shape[2], px.shape[3], image_rows.data(), pool, ws, nullptr,
                         nullptr);
    // Each row takes the images its tokens call for, in order.
    std::vector<float> embeddings(static_cast<size_t>(B * L * D));
    int64_t used = 0;
    for (int64_t b = 0; b < B; ++b) {
        const int64_t images = krait::count_prompt_images(*model, ids.data() + b * L, L, -1);
        EXPECT_EQ(images, b == 0 ? 1 : 2);
        krait::prompt_embedding_rows(*model, ids.data() + b * L, L, image_rows.data() + used * R * D,
                                     embeddings.data() + b * L * D, pool, nullptr);
        used += images;
    }
    ASSERT_EQ(used, px.shape[0]);
    std::vector<std::unique_ptr<krait::SequenceState>> states;
    std::vector<krait::SequenceState*> ptrs;
    for (int64_t b = 0; b < B; ++b) {
        states.push_back(lm.new_state(L));
        ptrs.push_back(states.back().get());
    }
    auto lws = lm.new_workspace();
    std::vector<float> logits(static_cast<size_t>(B * L * V));
    lm.eval_embedded(embeddings.data(), B, L, ptrs.data(), LanguageModel::Logits::All, logits.data(), pool, *lws,
                     nullptr, nullptr);
    EXPECT_TRUE(all_close(logits.data(), want, kTolerance));
}

TEST_P(LlavaConformance, GreedyContinuationAfterAnImageMatchesTransformers) {
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

    auto state = lm.new_state(128);
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

INSTANTIATE_TEST_SUITE_P(Cases, LlavaConformance, ::testing::ValuesIn(kCases));

TEST(LlavaModel, IsAnAssistantInTheRegistry) {
    const krait::ModelFamily& f = krait::family_for_dir(fixture("llava/llava_clip_llama"));
    EXPECT_EQ(f.name, "llava");
    EXPECT_EQ(f.kind, KRAIT_MODEL_ASSISTANT);
    ASSERT_TRUE(f.load_assistant);
    const auto model = f.load_assistant(fixture("llava/llava_clip_llama"), {});
    EXPECT_EQ(model->image_token_id(), 119);
    EXPECT_EQ(model->image_rows(), 25);  // 5 x 5 patches; the class token dropped ("default")
    EXPECT_EQ(model->image_height(), 30);
}

TEST(LlavaModel, ImageTokensThatAreNotWholeImagesAreRefusedNamingTheCounts) {
    const auto model = load(fixture("llava/llava_clip_llama"));
    std::vector<int32_t> ids(30, 5);
    std::fill(ids.begin() + 2, ids.begin() + 27, 119);  // one image: 25 rows
    EXPECT_EQ(krait::count_prompt_images(*model, ids.data(), 30, 1), 1);
    try {
        krait::count_prompt_images(*model, ids.data(), 30, 2);
        FAIL() << "two images for one image's tokens were accepted";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_INVALID_ARGUMENT);
        EXPECT_NE(std::string(e.what()).find("holds 1 image"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("2 images were given"), std::string::npos) << e.what();
    }
    ids[10] = 5;  // 24 image tokens: not a whole image
    try {
        krait::count_prompt_images(*model, ids.data(), 30, -1);
        FAIL() << "24 image tokens were accepted";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_INVALID_ARGUMENT);
        EXPECT_NE(std::string(e.what()).find("24 image tokens"), std::string::npos) << e.what();
    }
}

TEST(LlavaModel, NoImagesNeedNoImageSize) {
    // krait.h: pixels may be NULL when there are no images, so their height and width are not read
    // (a text-only prompt of an assistant session passes 0 x 0).
    const auto model = load(fixture("llava/llava_clip_llama"));
    krait::ThreadPool pool(1);
    krait::ClassifierWorkspace ws;
    EXPECT_NO_THROW(model->encode_images(nullptr, 0, 0, 0, nullptr, pool, ws, nullptr, nullptr));
    std::vector<float> rows(static_cast<size_t>(model->image_rows() * model->language_model()->info().hidden_size));
    std::vector<float> pixels(3 * 24 * 24, 0.0f);
    try {
        model->encode_images(pixels.data(), 1, 24, 24, rows.data(), pool, ws, nullptr, nullptr);
        FAIL() << "a 24 x 24 image was accepted by a 30 x 30 encoder";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_INVALID_ARGUMENT);
    }
}

TEST(LlavaModel, AProjectorThatDoesNotFitTheEncoderIsRefusedNamingTheTensor) {
    // llava_layers_full concatenates two layers (80 channels): read with one layer, linear_1's 80 inputs
    // do not fit the tower's 40.
    const std::string dir = fixture("llava/llava_layers_full");
    std::string config = krait::read_text_file(dir + "/config.json", "config");
    auto j = nlohmann::json::parse(config);
    j["vision_feature_layer"] = -1;
    const std::string tmp = ::testing::TempDir() + "llava_bad_projector";
    std::filesystem::create_directories(tmp);
    std::filesystem::copy_file(dir + "/model.safetensors", tmp + "/model.safetensors",
                               std::filesystem::copy_options::overwrite_existing);
    std::ofstream(tmp + "/config.json") << j.dump();
    try {
        load(tmp);
        FAIL() << "a projector of another width was accepted";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_FORMAT);
        EXPECT_NE(std::string(e.what()).find("multi_modal_projector.linear_1.weight"), std::string::npos) << e.what();
    }
}

}  // namespace
