// Composite assistants through the C ABI (since 1.7) on tests/fixtures/composite/mamba_chat: a
// MambaVision encoder + Mamba language model assistant whose images go before the text (Cobra's
// placement), with a tokenizer and a template that writes nothing for image parts
// (tools/gen_composite_fixtures.py; its logits are checked against the PyTorch reference in
// tests/unit/composite_assistant_test.cpp). Here: what krait_model_get_info says, where a
// conversation puts the pictures, and the snapshot kept after them, so that a new question about
// the same picture resumes there; each reply compared with the same conversation computed from
// scratch on a fresh session (greedy, so the token ids must be equal).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "krait/krait.h"
#include "tests/abi/demo_handles.h"

namespace {

using krait_test::Model;
using krait_test::Session;

const std::string kDir = "tests/fixtures/composite/mamba_chat";
constexpr int32_t kImageToken = 2;
constexpr int64_t kRows = 16;
constexpr int64_t kSide = 64;

class CompositeAbiChat : public ::testing::Test {
protected:
    CompositeAbiChat() : m(kDir.c_str()), s(m.model) {
        // Two model-ready pictures (any values: the encoder's input is normalised pixels).
        picture.resize(3 * kSide * kSide);
        other.resize(picture.size());
        for (size_t i = 0; i < picture.size(); ++i) {
            picture[i] = std::sin(0.01f * static_cast<float>(i));
            other[i] = std::cos(0.013f * static_cast<float>(i));
        }
        krait_generate_params_init(&gp);
        gp.max_new_tokens = 6;
        gp.stop_at_eos = 0;
        gp.sampling.temperature = 0.0f;
    }
    static std::vector<int32_t> held(krait_session* session) {
        size_t n = 0;
        EXPECT_EQ(krait_session_get_tokens(session, nullptr, 0, &n), KRAIT_OK);
        std::vector<int32_t> ids(n);
        EXPECT_EQ(krait_session_get_tokens(session, ids.data(), ids.size(), &n), KRAIT_OK);
        return ids;
    }
    krait_conversation_stats stats(krait_conversation* c) {
        krait_conversation_stats st{};
        st.struct_size = sizeof st;
        EXPECT_EQ(krait_conversation_get_stats(c, &st), KRAIT_OK);
        return st;
    }
    // The context a fresh session holds after one question about `pixels`, computed from scratch.
    std::vector<int32_t> from_scratch(const char* question, const float* pixels) {
        Session fresh(m.model);
        krait_conversation* c = nullptr;
        EXPECT_EQ(krait_conversation_create(fresh.session, nullptr, nullptr, nullptr, &c), KRAIT_OK);
        EXPECT_EQ(krait_conversation_say_images(c, question, pixels, 1, kSide, kSide, &gp), KRAIT_OK)
            << krait_last_error();
        EXPECT_EQ(stats(c).reused_tokens, 0);
        krait_conversation_free(c);
        return held(fresh.session);
    }
    Model m;
    Session s;
    std::vector<float> picture, other;
    krait_generate_params gp;
};

TEST_F(CompositeAbiChat, InfoNamesTheCompositeAndItsPlacement) {
    krait_model_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(krait_model_get_info(m.model, &info), KRAIT_OK);
    EXPECT_EQ(info.kind, KRAIT_MODEL_ASSISTANT);
    EXPECT_STREQ(info.architecture, "krait_assistant");
    EXPECT_EQ(info.image_placement, KRAIT_IMAGES_BEFORE_TEXT);
    EXPECT_EQ(info.image_rows, kRows);
    EXPECT_EQ(info.image_token_id, kImageToken);
    EXPECT_EQ(info.image_height, kSide);
    EXPECT_EQ(info.vocab_size, 160);
    // A LLaVA checkpoint places its images at the marker.
    Model llava("tests/fixtures/llava/llava_chat");
    ASSERT_EQ(krait_model_get_info(llava.model, &info), KRAIT_OK);
    EXPECT_EQ(info.image_placement, KRAIT_IMAGES_AT_MARKER);
}

TEST_F(CompositeAbiChat, PicturesGoBeforeTheTextAndTheRenderedPromptShowsThem) {
    krait_conversation* c = nullptr;
    ASSERT_EQ(krait_conversation_create(s.session, "Answer briefly.", nullptr, nullptr, &c), KRAIT_OK)
        << krait_last_error();
    std::vector<float> two(picture);
    two.insert(two.end(), other.begin(), other.end());
    ASSERT_EQ(krait_conversation_say_images(c, "What is in these?", two.data(), 2, kSide, kSide, &gp), KRAIT_OK)
        << krait_last_error();
    const std::vector<int32_t> ids = held(s.session);
    ASSERT_GT(ids.size(), static_cast<size_t>(2 * kRows));
    EXPECT_TRUE(std::all_of(ids.begin(), ids.begin() + 2 * kRows, [](int32_t id) { return id == kImageToken; }));
    EXPECT_TRUE(std::none_of(ids.begin() + 2 * kRows, ids.end(), [](int32_t id) { return id == kImageToken; }));
    EXPECT_EQ(stats(c).images_encoded, 2);

    char text[512];
    size_t n = 0;
    ASSERT_EQ(krait_conversation_render(c, 1, text, sizeof text, &n), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(std::string(text, n).rfind("<image><image>Answer briefly.\nUSER: What is in these?", 0), 0u)
        << std::string(text, n);
    krait_conversation_free(c);
}

TEST_F(CompositeAbiChat, ANewQuestionAboutTheSamePictureResumesAfterIt) {
    krait_conversation* c = nullptr;
    ASSERT_EQ(krait_conversation_create(s.session, nullptr, nullptr, nullptr, &c), KRAIT_OK);
    ASSERT_EQ(krait_conversation_say_images(c, "What colour is it?", picture.data(), 1, kSide, kSide, &gp), KRAIT_OK)
        << krait_last_error();
    EXPECT_EQ(held(s.session), from_scratch("What colour is it?", picture.data()));

    // Another question about the same picture: the state after the picture is restored (a
    // recurrent state cannot be cut back to it), so only the new text runs.
    ASSERT_EQ(krait_conversation_undo(c), KRAIT_OK);
    ASSERT_EQ(krait_conversation_say_images(c, "How many shapes?", picture.data(), 1, kSide, kSide, &gp), KRAIT_OK)
        << krait_last_error();
    krait_conversation_stats st = stats(c);
    EXPECT_EQ(st.reused_tokens, kRows) << "the picture ran again";
    EXPECT_EQ(st.images_encoded, 0);
    EXPECT_EQ(st.images_cached, 0) << "the rows were not even needed";
    EXPECT_EQ(held(s.session), from_scratch("How many shapes?", picture.data()));

    // Another picture with the same question is not mistaken for the first.
    ASSERT_EQ(krait_conversation_undo(c), KRAIT_OK);
    ASSERT_EQ(krait_conversation_say_images(c, "How many shapes?", other.data(), 1, kSide, kSide, &gp), KRAIT_OK);
    st = stats(c);
    EXPECT_EQ(st.reused_tokens, 0);
    EXPECT_EQ(st.images_encoded, 1);
    EXPECT_EQ(held(s.session), from_scratch("How many shapes?", other.data()));

    // A follow-up without a picture resumes after the last turn.
    const size_t before = held(s.session).size();
    ASSERT_EQ(krait_conversation_say(c, "And the colour?", &gp), KRAIT_OK) << krait_last_error();
    st = stats(c);
    EXPECT_GE(st.reused_tokens, static_cast<int64_t>(before) - static_cast<int64_t>(gp.max_new_tokens));
    EXPECT_EQ(st.images_encoded + st.images_cached, 0);
    krait_conversation_free(c);
}

TEST_F(CompositeAbiChat, AConversationSavedWithItsPictureGoesOnWithoutRunningItAgain) {
    krait_conversation* c = nullptr;
    ASSERT_EQ(krait_conversation_create(s.session, nullptr, nullptr, nullptr, &c), KRAIT_OK);
    ASSERT_EQ(krait_conversation_say_images(c, "What colour is it?", picture.data(), 1, kSide, kSide, &gp), KRAIT_OK);
    const std::string path = ::testing::TempDir() + "composite_conversation.bin";
    ASSERT_EQ(krait_conversation_save(c, path.c_str()), KRAIT_OK) << krait_last_error();
    Session fresh(m.model);
    krait_conversation* loaded = nullptr;
    ASSERT_EQ(krait_conversation_load(fresh.session, path.c_str(), nullptr, nullptr, &loaded), KRAIT_OK)
        << krait_last_error();
    EXPECT_EQ(held(fresh.session), held(s.session));
    ASSERT_EQ(krait_conversation_say(c, "And the shape?", &gp), KRAIT_OK);
    ASSERT_EQ(krait_conversation_say(loaded, "And the shape?", &gp), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(held(fresh.session), held(s.session));
    const krait_conversation_stats st = stats(loaded);
    EXPECT_EQ(st.images_encoded + st.images_cached, 0);
    EXPECT_GT(st.reused_tokens, kRows);
    krait_conversation_free(loaded);
    krait_conversation_free(c);
}

TEST_F(CompositeAbiChat, AnImageTokenInTheTextIsRefusedAndTheConversationIsUnchanged) {
    krait_conversation* c = nullptr;
    ASSERT_EQ(krait_conversation_create(s.session, nullptr, nullptr, nullptr, &c), KRAIT_OK);
    EXPECT_EQ(krait_conversation_say_images(c, "Look: <image>", picture.data(), 1, kSide, kSide, &gp),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("before the text"), std::string::npos) << krait_last_error();
    size_t n = 1;
    ASSERT_EQ(krait_conversation_get_n_messages(c, &n), KRAIT_OK);
    EXPECT_EQ(n, 0u);
    EXPECT_EQ(krait_conversation_say_images(c, "What colour is it?", picture.data(), 1, kSide, kSide, &gp), KRAIT_OK)
        << krait_last_error();
    krait_conversation_free(c);
}

TEST(CompositeAbi, AnEncoderAloneIsRefusedNamingWhatItIsFor) {
    krait_model* model = nullptr;
    EXPECT_EQ(krait_model_load("tests/fixtures/composite/clip_layers_mamba/image_encoder", nullptr, &model),
              KRAIT_ERR_UNSUPPORTED);
    EXPECT_EQ(model, nullptr);
    EXPECT_NE(std::string(krait_last_error()).find("composite assistant"), std::string::npos) << krait_last_error();
}

}  // namespace
