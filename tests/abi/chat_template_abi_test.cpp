// krait_model_apply_chat_template through the C ABI: the demo chat model's own template renders a
// conversation as transformers did when tools/train_demo_chat.py wrote models/chat-demo/heldout.jsonl
// (every held-out prompt is compared byte for byte in tests/python/test_chat_demo.py; the template
// language itself against transformers in tests/unit/chat_template_test.cpp). Here: the C calling
// convention (size query, buffer too small, NULLs) and the errors a caller can meet.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "demo_handles.h"
#include "krait/krait.h"

namespace {

using krait_test::Model;

// Renders through the size query then a buffer of exactly that size, as the header describes.
krait_status render(const krait_model* model, const std::string& messages, int add_generation_prompt, const char* extra,
                    const char* tmpl, std::string* out) {
    size_t n = 0;
    krait_status s = krait_model_apply_chat_template(model, messages.c_str(), add_generation_prompt, extra, tmpl, nullptr,
                                                     0, &n);
    if (s != KRAIT_ERR_BUFFER_TOO_SMALL && s != KRAIT_OK) return s;
    out->assign(n, '\0');
    return krait_model_apply_chat_template(model, messages.c_str(), add_generation_prompt, extra, tmpl, out->data(),
                                           out->size(), &n);
}

// The first two held-out lines of the demo model: the second turn's prompt as transformers rendered it,
// and the messages it was rendered from (the first turn's prompt, reply, then the second question).
struct SecondTurn {
    std::string messages_json, prompt;
};

SecondTurn second_turn_of_the_first_conversation() {
    std::ifstream in("models/chat-demo/heldout.jsonl");
    std::string first, second;
    std::getline(in, first);
    std::getline(in, second);
    const auto a = nlohmann::json::parse(first), b = nlohmann::json::parse(second);
    EXPECT_EQ(a["conversation"], b["conversation"]);
    EXPECT_EQ(b["turn"], 2);
    // A ChatML user turn reads "<|im_start|>user\n" + content + "<|im_end|>\n".
    const auto user_content = [](const std::string& prompt, size_t from) {
        const std::string open = "<|im_start|>user\n";
        const size_t start = prompt.find(open, from) + open.size();
        return prompt.substr(start, prompt.find("<|im_end|>", start) - start);
    };
    const std::string p1 = a["prompt"], p2 = b["prompt"];
    nlohmann::json messages = nlohmann::json::array();
    messages.push_back({{"role", "user"}, {"content", user_content(p1, 0)}});
    messages.push_back({{"role", "assistant"}, {"content", a["expected"]}});
    messages.push_back({{"role", "user"}, {"content", user_content(p2, p1.size())}});
    return {messages.dump(), p2};
}

TEST(ChatTemplateAbi, RendersTheModelsOwnTemplateAsTransformersDid) {
    Model m("models/chat-demo");
    const SecondTurn turn = second_turn_of_the_first_conversation();
    std::string text;
    ASSERT_EQ(render(m.model, turn.messages_json, 1, nullptr, nullptr, &text), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(text, turn.prompt);

    // Without the generation prompt the text stops after the last user turn.
    ASSERT_EQ(render(m.model, turn.messages_json, 0, nullptr, nullptr, &text), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(text + "<|im_start|>assistant\n", turn.prompt);

    // A buffer one byte short is refused and the needed size reported.
    ASSERT_EQ(render(m.model, turn.messages_json, 1, nullptr, nullptr, &text), KRAIT_OK);
    std::string small(text.size() - 1, '\0');
    size_t n = 0;
    EXPECT_EQ(krait_model_apply_chat_template(m.model, turn.messages_json.c_str(), 1, nullptr, nullptr, small.data(),
                                              small.size(), &n),
              KRAIT_ERR_BUFFER_TOO_SMALL);
    EXPECT_EQ(n, text.size());
}

TEST(ChatTemplateAbi, ACallersTemplateAndVariablesReplaceTheModels) {
    Model m("models/chat-demo");
    std::string text;
    ASSERT_EQ(render(m.model, R"([{"role":"user","content":"hé"}])", 1, R"({"who":"shop"})",
                     "{{ who }}:{% for m in messages %}[{{ m.role }}={{ m.content }}]{% endfor %}"
                     "{% if add_generation_prompt %}>{% endif %}{{ eos_token }}",
                     &text),
              KRAIT_OK)
        << krait_last_error();
    // The special tokens still come from the model's tokenizer_config.json.
    EXPECT_EQ(text, "shop:[user=hé]><|im_end|>");
}

TEST(ChatTemplateAbi, AModelWithoutATemplateNeedsOne) {
    Model m("models/mamba-demo");  // its tokenizer_config.json has no chat_template
    std::string text;
    EXPECT_EQ(render(m.model, R"([{"role":"user","content":"hi"}])", 1, nullptr, nullptr, &text),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("template"), std::string::npos) << krait_last_error();
    ASSERT_EQ(render(m.model, R"([{"role":"user","content":"hi"}])", 1, nullptr,
                     "{% for m in messages %}{{ m.content }}{% endfor %}", &text),
              KRAIT_OK)
        << krait_last_error();
    EXPECT_EQ(text, "hi");
}

TEST(ChatTemplateAbi, BadInputIsRefusedWithAMessage) {
    Model m("models/chat-demo");
    std::string text;
    size_t n = 0;
    const char* one = R"([{"role":"user","content":"x"}])";
    EXPECT_EQ(render(m.model, "[{\"role\":", 1, nullptr, nullptr, &text), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("JSON"), std::string::npos) << krait_last_error();
    EXPECT_EQ(render(m.model, "[]", 1, nullptr, nullptr, &text), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("empty"), std::string::npos) << krait_last_error();
    EXPECT_EQ(render(m.model, one, 1, "[1,2]", nullptr, &text), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("object"), std::string::npos) << krait_last_error();
    EXPECT_EQ(render(m.model, one, 1, nullptr, "{% if %}", &text), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(render(m.model, one, 1, nullptr, "{{ raise_exception('no system role') }}", &text),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("no system role"), std::string::npos) << krait_last_error();
    EXPECT_EQ(krait_model_apply_chat_template(m.model, nullptr, 1, nullptr, nullptr, nullptr, 0, &n),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_model_apply_chat_template(m.model, one, 1, nullptr, nullptr, nullptr, 0, nullptr),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_model_apply_chat_template(m.model, one, 1, nullptr, nullptr, nullptr, 5, &n),
              KRAIT_ERR_INVALID_ARGUMENT);
}

}  // namespace
