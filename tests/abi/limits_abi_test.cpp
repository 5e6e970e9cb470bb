// The per-call limits of sdk/core/limits.h through the C ABI, at the edge (accepted) and one past it
// (INVALID_ARGUMENT, a message naming the limit, nothing changed): pictures per conversation message
// and adapters per set. The file-format limits are in tests/unit/limits_test.cpp; context length and
// image pixels (session parameters) in llama_abi_test.cpp and classifier_abi_test.cpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "demo_handles.h"
#include "krait/krait.h"

namespace {

using krait_test::Model;
using krait_test::Session;

constexpr int64_t kImagesPerMessage = 64;  // krait.h: krait_conversation_say_images
constexpr size_t kAdaptersPerSet = 64;     // krait.h: krait_session_set_adapters

bool mentions(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

TEST(LimitsAbi, PicturesPerMessage) {
    Model m("models/shapes-llava");  // the demo assistant: it has a tokenizer and a chat template
    Session s(m.model);
    krait_model_info info;
    info.struct_size = sizeof info;
    ASSERT_EQ(krait_model_get_info(m.model, &info), KRAIT_OK);
    krait_conversation* conv = nullptr;
    ASSERT_EQ(krait_conversation_create(s.session, nullptr, nullptr, nullptr, &conv), KRAIT_OK) << krait_last_error();
    const int64_t h = info.image_height, w = info.image_width;
    std::vector<float> pixels(static_cast<size_t>((kImagesPerMessage + 1) * 3 * h * w), 0.5f);
    EXPECT_EQ(krait_conversation_add_message_images(conv, "user", "look", pixels.data(), kImagesPerMessage, h, w),
              KRAIT_OK)
        << krait_last_error();
    EXPECT_EQ(krait_conversation_add_message_images(conv, "user", "look", pixels.data(), kImagesPerMessage + 1, h, w),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(krait_last_error(), "65 images in one message: the limit is 64")) << krait_last_error();
    size_t n = 0;
    ASSERT_EQ(krait_conversation_get_n_messages(conv, &n), KRAIT_OK);
    EXPECT_EQ(n, 1u) << "the refused message was added";
    krait_conversation_free(conv);
}

TEST(LimitsAbi, AdaptersPerSet) {
    Model m("tests/fixtures/lora/mamba");
    Session s(m.model);
    std::vector<krait_adapter*> adapters(kAdaptersPerSet + 1, nullptr);
    for (auto& a : adapters)
        ASSERT_EQ(krait_adapter_load(m.model, "tests/fixtures/lora/mamba/adapters/a", nullptr, &a), KRAIT_OK)
            << krait_last_error();
    std::vector<float> scales(adapters.size(), 1.0f / static_cast<float>(kAdaptersPerSet));
    const krait_adapter* const* set = adapters.data();
    EXPECT_EQ(krait_session_set_adapters(s.session, set, scales.data(), kAdaptersPerSet), KRAIT_OK)
        << krait_last_error();
    EXPECT_EQ(krait_session_set_adapters(s.session, set, scales.data(), kAdaptersPerSet + 1),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(krait_last_error(), "65 adapters in one set: the limit is 64")) << krait_last_error();
    // The set of 64 is still active: a forward pass runs with it.
    const int32_t ids[3] = {1, 2, 3};
    EXPECT_EQ(krait_session_append(s.session, ids, 3, nullptr, 0), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(krait_session_set_adapters(s.session, nullptr, nullptr, 0), KRAIT_OK);
    for (auto* a : adapters) krait_adapter_free(a);
}

}  // namespace
