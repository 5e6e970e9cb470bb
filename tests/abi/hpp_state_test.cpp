// krait.hpp's session state (krait::State, Session::snapshot / restore / tokens / truncate /
// save_state / load_state / append) and krait::Conversation, on the demo models chat-demo (Llama,
// KV cache) and mamba-demo (recurrent state). Each wrapper call is compared with the same C calls
// on a session of their own (demo_handles.h): the wrapper must give exactly their results, turn
// their errors into krait::Exception with the same status, and own its handles (move-only).
#include "krait/krait.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <type_traits>
#include <vector>

#include "demo_handles.h"

namespace {

static_assert(!std::is_copy_constructible_v<krait::State> && !std::is_copy_assignable_v<krait::State>);
static_assert(std::is_nothrow_move_constructible_v<krait::State> && std::is_nothrow_move_assignable_v<krait::State>);
static_assert(!std::is_copy_constructible_v<krait::Conversation> && !std::is_copy_assignable_v<krait::Conversation>);
static_assert(std::is_nothrow_move_constructible_v<krait::Conversation>);
// Lifetime guard: no Conversation on a temporary Session (it would dangle).
static_assert(!std::is_constructible_v<krait::Conversation, krait::Session&&>);
static_assert(std::is_constructible_v<krait::Conversation, krait::Session&>);

const char* const kChatML =
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() /
            (std::string("krait_hpp_state_test_") + std::to_string(::getpid()) + "_" + name))
        .string();
}

template <class Body>
std::string expect_status(krait_status status, Body&& body) {
    try {
        body();
    } catch (const krait::Exception& e) {
        EXPECT_EQ(e.status(), status) << e.what();
        return e.what();
    }
    ADD_FAILURE() << "no krait::Exception thrown, expected status " << krait_status_string(status);
    return {};
}

// The C side of each comparison.
std::vector<float> c_append(krait_session* s, const std::vector<int32_t>& ids, int64_t vocab) {
    std::vector<float> logits(static_cast<size_t>(vocab));
    EXPECT_EQ(krait_session_append(s, ids.data(), ids.size(), logits.data(), logits.size()), KRAIT_OK)
        << krait_last_error();
    return logits;
}

std::vector<int32_t> c_greedy(krait_session* s, int32_t n) {
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    gp.max_new_tokens = n;
    gp.sampling.temperature = 0.0f;
    gp.stop_at_eos = 0;
    std::vector<int32_t> out(static_cast<size_t>(n));
    size_t got = 0;
    EXPECT_EQ(krait_session_generate(s, nullptr, 0, &gp, out.data(), out.size(), &got), KRAIT_OK) << krait_last_error();
    out.resize(got);
    return out;
}

std::vector<int32_t> c_tokens(const krait_session* s) {
    size_t n = 0;
    EXPECT_EQ(krait_session_get_tokens(s, nullptr, 0, &n), KRAIT_OK);
    std::vector<int32_t> ids(n);
    if (n) {
        EXPECT_EQ(krait_session_get_tokens(s, ids.data(), ids.size(), &n), KRAIT_OK);
    }
    return ids;
}

krait::GenerateOptions greedy_options(int32_t n) {
    krait::GenerateOptions opt;
    opt.max_new_tokens = n;
    opt.sampling.temperature = 0.0f;
    opt.stop_at_eos = false;
    return opt;
}

class HppState : public ::testing::TestWithParam<const char*> {};

// append, snapshot, generate, restore (same and another session), tokens: equal to the C calls.
TEST_P(HppState, SnapshotRestoreEqualsTheCCalls) {
    const krait::Model model = krait::Model::load(GetParam());
    const int64_t vocab = model.info().vocab_size;
    const std::vector<int32_t> prompt = model.tokenizer().encode("The red teapot costs 17 euros. How many", false);

    krait::Session a(model, 2), b(model, 2);
    krait_test::Session c(model.get());
    const std::vector<float> logits = a.append(prompt);
    const std::vector<float> c_logits = c_append(c.session, prompt, vocab);
    ASSERT_EQ(logits.size(), c_logits.size());
    EXPECT_EQ(std::memcmp(logits.data(), c_logits.data(), logits.size() * sizeof(float)), 0);
    EXPECT_EQ(a.tokens(), c_tokens(c.session));
    EXPECT_EQ(a.tokens(), prompt);

    krait::State state = a.snapshot();
    krait_state* c_state = nullptr;
    ASSERT_EQ(krait_session_snapshot(c.session, &c_state), KRAIT_OK);
    int64_t c_n = 0;
    ASSERT_EQ(krait_state_get_n_tokens(c_state, &c_n), KRAIT_OK);
    EXPECT_EQ(state.n_tokens(), c_n);
    EXPECT_EQ(state.n_tokens(), static_cast<int64_t>(prompt.size()));

    const std::vector<int32_t> first = a.generate({}, greedy_options(6));
    EXPECT_EQ(first, c_greedy(c.session, 6));
    EXPECT_EQ(a.tokens(), c_tokens(c.session));

    a.restore(state);
    ASSERT_EQ(krait_session_restore(c.session, c_state), KRAIT_OK);
    EXPECT_EQ(a.tokens(), prompt);
    EXPECT_EQ(a.generate({}, greedy_options(6)), first);
    EXPECT_EQ(c_greedy(c.session, 6), first);

    b.restore(state);  // another session, from the same state
    EXPECT_EQ(b.tokens(), prompt);
    EXPECT_EQ(b.generate({}, greedy_options(6)), first);
    b.restore(krait::State(c_state));  // a state taken by the C calls (the wrapper frees it)

    // A moved-from State holds NULL: its calls fail cleanly.
    krait::State moved = std::move(state);
    EXPECT_TRUE(moved && !state);
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { (void)state.n_tokens(); });
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { a.restore(state); });
    EXPECT_EQ(moved.n_tokens(), static_cast<int64_t>(prompt.size()));
}

// save_state / load_state across the wrapper and the C calls, and damaged files refused.
TEST_P(HppState, SaveLoadEqualsTheCCalls) {
    const krait::Model model = krait::Model::load(GetParam());
    const int64_t vocab = model.info().vocab_size;
    krait::Session a(model, 2), b(model, 2);
    krait_test::Session c(model.get());
    a.append(model.tokenizer().encode("We have 2 black toasters in stock. And", false));
    a.generate({}, greedy_options(3));
    const std::string path = temp_path("a.krs"), bad = temp_path("bad.krs");
    a.save_state(path);
    ASSERT_EQ(krait_session_load_state(c.session, path.c_str()), KRAIT_OK) << krait_last_error();
    b.load_state(path);
    EXPECT_EQ(b.tokens(), a.tokens());
    EXPECT_EQ(c_tokens(c.session), a.tokens());
    const std::vector<int32_t> next = {5, 6, 7};
    const std::vector<float> x = b.append(next), y = c_append(c.session, next, vocab);
    EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)), 0);
    EXPECT_EQ(b.generate({}, greedy_options(5)), c_greedy(c.session, 5));

    // Truncated and altered files: FORMAT, the session unchanged; a missing one: IO.
    std::ifstream in(path, std::ios::binary);
    const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::vector<int32_t> held = b.tokens();
    std::string altered = good;
    altered[good.size() / 2] = static_cast<char>(altered[good.size() / 2] ^ 0x40);
    for (const std::string& bytes : {good.substr(0, good.size() / 2), altered}) {
        std::ofstream(bad, std::ios::binary | std::ios::trunc) << bytes;
        expect_status(KRAIT_ERR_FORMAT, [&] { b.load_state(bad); });
        EXPECT_EQ(b.tokens(), held);
    }
    expect_status(KRAIT_ERR_IO, [&] { b.load_state(temp_path("missing.krs")); });
    EXPECT_EQ(b.tokens(), held);
    std::remove(path.c_str());
    std::remove(bad.c_str());
}

INSTANTIATE_TEST_SUITE_P(DemoModels, HppState, ::testing::Values("models/chat-demo", "models/mamba-demo"),
                         [](const auto& info) {
                             return std::string(info.param).find("mamba") != std::string::npos ? std::string("Mamba")
                                                                                               : std::string("Llama");
                         });

// Truncate: a KV cache to any length (then as a fresh prompt of the prefix), a recurrent state not.
TEST(HppStateTruncate, LlamaTruncatesMambaRefuses) {
    {
        const krait::Model model = krait::Model::load("models/chat-demo");
        const std::vector<int32_t> prompt = model.tokenizer().encode("How much is the red teapot? And the fan?", false);
        const std::vector<int32_t> prefix(prompt.begin(), prompt.begin() + static_cast<long>(prompt.size() / 2));
        krait::Session s(model, 2), fresh(model, 2);
        s.append(prompt);
        s.generate({}, greedy_options(3));
        s.truncate(static_cast<int64_t>(prefix.size()));
        EXPECT_EQ(s.tokens(), prefix);
        fresh.append(prefix);
        EXPECT_EQ(s.generate({}, greedy_options(5)), fresh.generate({}, greedy_options(5)));
        expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { s.truncate(-1); });
    }
    {
        const krait::Model model = krait::Model::load("models/mamba-demo");
        const std::vector<int32_t> prompt = model.tokenizer().encode("Once upon a time there was a dog", false);
        krait::Session s(model, 2);
        s.append(prompt);
        const std::string message = expect_status(KRAIT_ERR_UNSUPPORTED, [&] { s.truncate(2); });
        EXPECT_NE(message.find("restore a snapshot"), std::string::npos) << message;
        EXPECT_EQ(s.tokens(), prompt);
        s.truncate(0);
        EXPECT_TRUE(s.tokens().empty());
    }
}

// A state of another model is refused (INVALID_ARGUMENT naming it), the session unchanged.
TEST(HppStateOtherModel, Refused) {
    const krait::Model llama = krait::Model::load("models/chat-demo"), mamba = krait::Model::load("models/mamba-demo");
    krait::Session l(llama, 2), m(mamba, 2);
    m.append({5, 6, 7});
    l.append({8, 9});
    const krait::State state = m.snapshot();
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { l.restore(state); });
    EXPECT_EQ(l.tokens(), (std::vector<int32_t>{8, 9}));
}

// krait::Conversation: each reply equals that of the C calls on a session of their own, with
// streaming, stats, undo, save and load.
TEST(HppConversation, EqualsTheCCalls) {
    const krait::Model model = krait::Model::load("models/chat-demo");
    krait::Session session(model, 2);
    krait::Conversation conv(session, "You are a shop assistant.");
    krait_test::Session c(model.get());
    krait_conversation* cc = nullptr;
    ASSERT_EQ(krait_conversation_create(c.session, "You are a shop assistant.", nullptr, nullptr, &cc), KRAIT_OK)
        << krait_last_error();
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    gp.max_new_tokens = 32;
    gp.sampling.temperature = 0.0f;
    krait::GenerateOptions opt;
    opt.max_new_tokens = 32;
    opt.sampling.temperature = 0.0f;
    const auto c_last = [&] {
        size_t n = 0;
        EXPECT_EQ(krait_conversation_get_n_messages(cc, &n), KRAIT_OK);
        const char* content = nullptr;
        EXPECT_EQ(krait_conversation_get_message(cc, n - 1, nullptr, &content), KRAIT_OK);
        return std::string(content ? content : "");
    };

    for (const char* question : {"How much is the red teapot?", "And how many are in stock?"}) {
        std::string streamed;
        const std::string reply = conv.say(question, opt, [&](int32_t, std::string_view piece) {
            streamed += piece;
            return false;
        });
        ASSERT_EQ(krait_conversation_say(cc, question, &gp), KRAIT_OK) << krait_last_error();
        EXPECT_FALSE(reply.empty());
        EXPECT_EQ(reply, c_last());
        EXPECT_EQ(streamed, reply);
    }
    const std::vector<krait::Message> messages = conv.messages();
    ASSERT_EQ(messages.size(), 5u);
    EXPECT_EQ(messages[0].role, "system");
    EXPECT_EQ(messages[3].content, "And how many are in stock?");
    EXPECT_EQ(messages[4].role, "assistant");
    const krait_conversation_stats st = conv.stats();
    EXPECT_GT(st.reused_tokens, 0);
    EXPECT_EQ(st.prefilled_tokens + st.reused_tokens, st.prompt_tokens);

    // Save, load into another session: the next reply is the same as the original's.
    const std::string path = temp_path("conv.krc");
    conv.save(path);
    krait::Session other(model, 2);
    krait::Conversation loaded = krait::Conversation::load(other, path);
    EXPECT_EQ(loaded.messages().size(), messages.size());
    EXPECT_EQ(loaded.say("What does the green fan cost?", opt), conv.say("What does the green fan cost?", opt));
    std::remove(path.c_str());

    conv.undo();
    EXPECT_EQ(conv.messages().size(), 5u);
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { conv.edit(99, "x"); });
    // A callback's exception stops the reply (as a stop it asked for: the reply so far is kept) and
    // comes out of the call.
    EXPECT_THROW(conv.say("And the fan?", opt, [](int32_t, std::string_view) -> bool { throw std::runtime_error("stop"); }),
                 std::runtime_error);
    EXPECT_EQ(conv.messages().size(), 7u);
    krait_conversation_free(cc);
}

// A model without a chat template needs one passed in; with it, the Mamba conversation works.
TEST(HppConversation, MambaWithATemplate) {
    const krait::Model model = krait::Model::load("models/mamba-demo");
    krait::Session session(model, 2);
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { krait::Conversation none(session); });
    krait::Conversation conv(session, "", kChatML);
    krait::GenerateOptions opt;
    opt.max_new_tokens = 6;
    opt.sampling.temperature = 0.0f;
    conv.say("Once upon a time", opt);
    EXPECT_EQ(conv.messages().size(), 2u);
    EXPECT_EQ(conv.messages()[1].role, "assistant");
}

}  // namespace
