// Conversations through the C ABI (since 1.4): over 10 turns, each greedy reply equals what a fresh
// session gives for the same messages (the whole prompt rendered and prefilled from scratch), while
// every turn after the first prefills only its new tokens; undo, regenerate, edit, abort, save and
// load; arguments refused with messages. On chat-demo (Llama: KV cache, its own ChatML template)
// and mamba-demo (recurrent state, no template: a ChatML template is passed).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "demo_handles.h"
#include "krait/krait.h"

namespace {

using krait_test::Model;
using krait_test::Session;
using krait_test::vocab_of;

const char* const kChatMl =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

struct Case {
    const char* dir;
    const char* tmpl;  // nullptr: the model's own
    int32_t max_new_tokens;
    // Tolerance on the logits one token after each reply, conversation vs a fresh prefill of the
    // same tokens (largest absolute difference; logits are of magnitude ~10).
    // KV cache: 1e-5 (issue 10). The K/V rows of earlier turns are the same; only how the rows were
    // computed differs (decode steps and short prefills vs one chunked prefill), measured <= 1.9e-6.
    // Mamba: bitwise (0). Each linear runs the packed GEMM, which computes every output as one FMA
    // chain whatever the number of rows (kernels/cpu/gemm.h), and the conv and the selective scan
    // go token by token in the same order either way, so the reply's tokens decoded one at a time
    // leave the bits one batched prefill leaves.
    float logits_tolerance;
};

const Case kLlama{"models/chat-demo", nullptr, 40, 1e-5f};
const Case kMamba{"models/mamba-demo", kChatMl, 10, 0.0f};

const std::vector<std::string> kQuestions = {
    "How much is the red teapot?",   "And how many are in stock?",     "What about the blue one?",
    "What does the green fan cost?", "How many do you have?",          "What colours does the vase come in?",
    "How much is the white one?",    "Do you sell a black toaster?",   "What about the red clock?",
    "And how many are in stock?",
};

struct Conversation {
    Conversation(krait_session* s, const Case& c, const char* system = nullptr) {
        EXPECT_EQ(krait_conversation_create(s, system, c.tmpl, nullptr, &conv), KRAIT_OK) << krait_last_error();
    }
    ~Conversation() { krait_conversation_free(conv); }
    krait_conversation* conv = nullptr;
};

krait_generate_params greedy_params(int32_t n) {
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    gp.max_new_tokens = n;
    gp.sampling.temperature = 0.0f;
    return gp;
}

nlohmann::json messages_of(const krait_conversation* c) {
    size_t n = 0;
    EXPECT_EQ(krait_conversation_get_n_messages(c, &n), KRAIT_OK);
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < n; ++i) {
        const char *role = nullptr, *content = nullptr;
        EXPECT_EQ(krait_conversation_get_message(c, i, &role, &content), KRAIT_OK);
        out.push_back({{"role", role}, {"content", content}});
    }
    return out;
}

std::vector<int32_t> tokens_of(const krait_session* s) {
    size_t n = 0;
    EXPECT_EQ(krait_session_get_tokens(s, nullptr, 0, &n), KRAIT_OK);
    std::vector<int32_t> ids(n);
    EXPECT_EQ(krait_session_get_tokens(s, ids.data(), ids.size(), &n), KRAIT_OK);
    return ids;
}

// What a fresh session gives for `messages`: the prompt rendered with add_generation_prompt,
// tokenized, prefilled from scratch, then greedy generation; the reply text as streamed.
struct Fresh {
    std::vector<int32_t> prompt, generated;
    std::string text;
};

int collect(int32_t, const char* piece, size_t len, void* user) {
    static_cast<std::string*>(user)->append(piece, len);
    return 0;
}

Fresh fresh_reply(krait_model* m, const Case& c, const nlohmann::json& messages, const krait_adapter* adapter) {
    Fresh f;
    const std::string json = messages.dump();
    size_t n = 0;
    EXPECT_EQ(krait_model_apply_chat_template(m, json.c_str(), 1, nullptr, c.tmpl, nullptr, 0, &n), KRAIT_OK)
        << krait_last_error();
    std::string text(n, '\0');
    EXPECT_EQ(krait_model_apply_chat_template(m, json.c_str(), 1, nullptr, c.tmpl, text.data(), n, &n), KRAIT_OK);
    const krait_tokenizer* tok = nullptr;
    EXPECT_EQ(krait_model_get_tokenizer(m, &tok), KRAIT_OK);
    f.prompt.resize(text.size() + 8);
    EXPECT_EQ(krait_tokenizer_encode(tok, text.data(), text.size(), 0, f.prompt.data(), f.prompt.size(), &n), KRAIT_OK);
    f.prompt.resize(n);
    Session s(m);
    if (adapter) {
        EXPECT_EQ(krait_session_set_adapters(s.session, &adapter, nullptr, 1), KRAIT_OK);
    }
    krait_generate_params gp = greedy_params(c.max_new_tokens);
    gp.on_token = collect;
    gp.user_data = &f.text;
    f.generated.resize(static_cast<size_t>(c.max_new_tokens));
    EXPECT_EQ(krait_session_generate(s.session, f.prompt.data(), f.prompt.size(), &gp, f.generated.data(),
                                     f.generated.size(), &n),
              KRAIT_OK)
        << krait_last_error();
    f.generated.resize(n);
    return f;
}

// The logits after `tokens` then one more token, from a fresh prefill.
std::vector<float> fresh_logits(krait_model* m, std::vector<int32_t> tokens, int32_t next,
                                const krait_adapter* adapter) {
    Session s(m);
    if (adapter) {
        EXPECT_EQ(krait_session_set_adapters(s.session, &adapter, nullptr, 1), KRAIT_OK);
    }
    tokens.push_back(next);
    std::vector<float> logits(static_cast<size_t>(vocab_of(m)));
    EXPECT_EQ(krait_session_append(s.session, tokens.data(), tokens.size(), logits.data(), logits.size()), KRAIT_OK)
        << krait_last_error();
    return logits;
}

krait_conversation_stats stats_of(const krait_conversation* c) {
    krait_conversation_stats st;
    st.struct_size = sizeof st;
    EXPECT_EQ(krait_conversation_get_stats(c, &st), KRAIT_OK) << krait_last_error();
    return st;
}

// One turn checked against a fresh session: the same reply, the session holding the prompt and
// the reply's tokens, and the logits one token later within the case's tolerance.
// `adapter`: the one the conversation's session has active (nullptr: none).
void expect_matches_fresh(krait_model* m, const Case& c, krait_session* s, const krait_conversation* conv,
                          const std::string& where, const krait_adapter* adapter = nullptr) {
    nlohmann::json messages = messages_of(conv);
    ASSERT_FALSE(messages.empty());
    ASSERT_EQ(messages.back()["role"], "assistant") << where;
    const std::string reply = messages.back()["content"];
    messages.erase(messages.size() - 1);
    const Fresh f = fresh_reply(m, c, messages, adapter);
    EXPECT_EQ(reply, f.text) << where;
    std::vector<int32_t> expected = f.prompt;
    expected.insert(expected.end(), f.generated.begin(), f.generated.end());
    const std::vector<int32_t> held = tokens_of(s);
    EXPECT_EQ(held, expected) << where;
    const krait_conversation_stats st = stats_of(conv);
    EXPECT_EQ(st.prompt_tokens, static_cast<int64_t>(f.prompt.size())) << where;
    EXPECT_EQ(st.reused_tokens + st.prefilled_tokens, st.prompt_tokens) << where;
    EXPECT_EQ(st.generated_tokens, static_cast<int64_t>(f.generated.size())) << where;

    // Logits one token after the reply: the conversation's session (restored afterwards) vs fresh.
    krait_state* keep = nullptr;
    ASSERT_EQ(krait_session_snapshot(s, &keep), KRAIT_OK);
    const int32_t next = f.prompt[1];
    std::vector<float> got(static_cast<size_t>(vocab_of(m)));
    ASSERT_EQ(krait_session_append(s, &next, 1, got.data(), got.size()), KRAIT_OK) << krait_last_error();
    ASSERT_EQ(krait_session_restore(s, keep), KRAIT_OK);
    krait_state_free(keep);
    const std::vector<float> want = fresh_logits(m, held, next, adapter);
    float worst = 0.0f;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
    EXPECT_LE(worst, c.logits_tolerance) << where;
    if (std::getenv("KRAIT_TEST_VERBOSE")) std::printf("%s: largest logit difference %.3g\n", where.c_str(), worst);
}

class ConversationAbi : public ::testing::TestWithParam<Case> {};

TEST_P(ConversationAbi, TenTurnsEqualFreshSessionsAndReuseTheHistory) {
    const Case c = GetParam();
    Model m(c.dir);
    Session s(m.model);
    Conversation conv(s.session, c);
    const krait_generate_params gp = greedy_params(c.max_new_tokens);
    int64_t previous_prompt = 0;
    for (size_t turn = 0; turn < kQuestions.size(); ++turn) {
        ASSERT_EQ(krait_conversation_say(conv.conv, kQuestions[turn].c_str(), &gp), KRAIT_OK) << krait_last_error();
        const std::string where = std::string("turn ") + std::to_string(turn + 1);
        expect_matches_fresh(m.model, c, s.session, conv.conv, where);
        const krait_conversation_stats st = stats_of(conv.conv);
        if (std::getenv("KRAIT_TEST_VERBOSE"))
            std::printf("%s: prompt %lld, reused %lld, prefilled %lld, generated %lld\n", where.c_str(),
                        static_cast<long long>(st.prompt_tokens), static_cast<long long>(st.reused_tokens),
                        static_cast<long long>(st.prefilled_tokens), static_cast<long long>(st.generated_tokens));
        if (turn == 0) {
            EXPECT_EQ(st.reused_tokens, 0);
        } else {
            EXPECT_LT(st.prefilled_tokens, st.prompt_tokens) << where;
            EXPECT_GT(st.reused_tokens, 0) << where;
            // At most what was added since the last prompt (the reply and the new user turn).
            EXPECT_LE(st.prefilled_tokens, st.prompt_tokens - previous_prompt) << where;
        }
        previous_prompt = st.prompt_tokens;
    }
    size_t n = 0;
    ASSERT_EQ(krait_conversation_get_n_messages(conv.conv, &n), KRAIT_OK);
    EXPECT_EQ(n, 2 * kQuestions.size());
}

TEST_P(ConversationAbi, UndoRegenerateAndEditEqualFreshSessions) {
    const Case c = GetParam();
    Model m(c.dir);
    Session s(m.model);
    Conversation conv(s.session, c, "You are the shop's assistant.");
    const krait_generate_params gp = greedy_params(c.max_new_tokens);
    for (size_t turn = 0; turn < 3; ++turn)
        ASSERT_EQ(krait_conversation_say(conv.conv, kQuestions[turn].c_str(), &gp), KRAIT_OK) << krait_last_error();
    const nlohmann::json three = messages_of(conv.conv);
    ASSERT_EQ(three.size(), 7u);

    // Regenerate (greedy): the same reply, from the prompt already held.
    ASSERT_EQ(krait_conversation_regenerate(conv.conv, &gp), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(messages_of(conv.conv), three);
    expect_matches_fresh(m.model, c, s.session, conv.conv, "regenerate");
    EXPECT_LE(stats_of(conv.conv).prefilled_tokens, 1);

    // Undo: the last question and its reply go; another question is answered as fresh.
    ASSERT_EQ(krait_conversation_undo(conv.conv), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(messages_of(conv.conv).size(), 5u);
    ASSERT_EQ(krait_conversation_say(conv.conv, kQuestions[5].c_str(), &gp), KRAIT_OK) << krait_last_error();
    expect_matches_fresh(m.model, c, s.session, conv.conv, "after undo");
    EXPECT_LT(stats_of(conv.conv).prefilled_tokens, stats_of(conv.conv).prompt_tokens);

    // Edit the first question: everything after it goes; the reply is as fresh, and the system
    // prompt's tokens are still reused.
    ASSERT_EQ(krait_conversation_edit(conv.conv, 1, kQuestions[3].c_str()), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(messages_of(conv.conv).size(), 2u);
    ASSERT_EQ(krait_conversation_reply(conv.conv, &gp), KRAIT_OK) << krait_last_error();
    expect_matches_fresh(m.model, c, s.session, conv.conv, "after edit");

    // Edit the system prompt: a reply from scratch, still as fresh.
    ASSERT_EQ(krait_conversation_edit(conv.conv, 0, "You answer briefly."), KRAIT_OK);
    ASSERT_EQ(krait_conversation_add_message(conv.conv, "user", kQuestions[0].c_str()), KRAIT_OK);
    ASSERT_EQ(krait_conversation_reply(conv.conv, &gp), KRAIT_OK) << krait_last_error();
    expect_matches_fresh(m.model, c, s.session, conv.conv, "after editing the system prompt");

    // Undo without a user message, regenerate without a reply, edit out of range.
    Conversation empty(s.session, c);
    EXPECT_EQ(krait_conversation_undo(empty.conv), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_STRNE(krait_last_error(), "");
    EXPECT_EQ(krait_conversation_regenerate(empty.conv, &gp), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_reply(empty.conv, &gp), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_edit(empty.conv, 0, "x"), KRAIT_ERR_INVALID_ARGUMENT);
}

// The session's adapters, sampling and streaming go through; an abort leaves the messages as they
// were, and the next turn still equals a fresh session.
int abort_on_second(int32_t, const char*, size_t, void* user) {
    auto* state = static_cast<std::pair<krait_session*, int>*>(user);
    if (++state->second == 2) krait_session_abort(state->first);
    return 0;
}

TEST_P(ConversationAbi, AbortLeavesTheMessagesAndTheNextTurnIsRight) {
    const Case c = GetParam();
    Model m(c.dir);
    Session s(m.model);
    Conversation conv(s.session, c);
    krait_generate_params gp = greedy_params(c.max_new_tokens);
    ASSERT_EQ(krait_conversation_say(conv.conv, kQuestions[0].c_str(), &gp), KRAIT_OK) << krait_last_error();
    const nlohmann::json before = messages_of(conv.conv);
    std::pair<krait_session*, int> counter{s.session, 0};
    krait_generate_params aborting = gp;
    aborting.on_token = abort_on_second;
    aborting.user_data = &counter;
    EXPECT_EQ(krait_conversation_say(conv.conv, kQuestions[1].c_str(), &aborting), KRAIT_ERR_ABORTED);
    EXPECT_EQ(messages_of(conv.conv), before);
    counter.second = 0;
    EXPECT_EQ(krait_conversation_regenerate(conv.conv, &aborting), KRAIT_ERR_ABORTED);
    EXPECT_EQ(messages_of(conv.conv), before);
    // An abort requested before the call stops it at once.
    krait_session_abort(s.session);
    EXPECT_EQ(krait_conversation_say(conv.conv, kQuestions[1].c_str(), &gp), KRAIT_ERR_ABORTED);
    EXPECT_EQ(messages_of(conv.conv), before);
    ASSERT_EQ(krait_conversation_say(conv.conv, kQuestions[1].c_str(), &gp), KRAIT_OK) << krait_last_error();
    expect_matches_fresh(m.model, c, s.session, conv.conv, "after aborts");
}

// Save, load into a new session (another process could): the messages come back, the next reply
// reuses the saved state and equals what the original conversation replies.
TEST_P(ConversationAbi, SaveAndLoadResumeTheConversation) {
    const Case c = GetParam();
    Model m(c.dir);
    Session s(m.model), t(m.model);
    Conversation conv(s.session, c);
    const krait_generate_params gp = greedy_params(c.max_new_tokens);
    for (size_t turn = 0; turn < 2; ++turn)
        ASSERT_EQ(krait_conversation_say(conv.conv, kQuestions[turn].c_str(), &gp), KRAIT_OK) << krait_last_error();
    const std::string path = (std::filesystem::temp_directory_path() /
                              (std::string("krait_conversation_test_") + std::to_string(::getpid()) + ".krc"))
                                 .string();
    ASSERT_EQ(krait_conversation_save(conv.conv, path.c_str()), KRAIT_OK) << krait_last_error();
    krait_conversation* loaded = nullptr;
    ASSERT_EQ(krait_conversation_load(t.session, path.c_str(), c.tmpl, nullptr, &loaded), KRAIT_OK)
        << krait_last_error();
    EXPECT_EQ(messages_of(loaded), messages_of(conv.conv));
    EXPECT_EQ(tokens_of(t.session), tokens_of(s.session));
    ASSERT_EQ(krait_conversation_say(conv.conv, kQuestions[2].c_str(), &gp), KRAIT_OK) << krait_last_error();
    ASSERT_EQ(krait_conversation_say(loaded, kQuestions[2].c_str(), &gp), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(messages_of(loaded), messages_of(conv.conv));
    EXPECT_GT(stats_of(loaded).reused_tokens, 0);
    EXPECT_EQ(stats_of(loaded).prefilled_tokens, stats_of(conv.conv).prefilled_tokens);
    expect_matches_fresh(m.model, c, t.session, loaded, "loaded");
    krait_conversation_free(loaded);

    // A session state file is not a conversation file, and a damaged file is refused.
    const std::string state_path = path + ".state";
    ASSERT_EQ(krait_session_save_state(s.session, state_path.c_str()), KRAIT_OK);
    loaded = nullptr;
    EXPECT_EQ(krait_conversation_load(t.session, state_path.c_str(), c.tmpl, nullptr, &loaded), KRAIT_ERR_FORMAT);
    EXPECT_EQ(loaded, nullptr);
    EXPECT_EQ(krait_session_load_state(t.session, path.c_str()), KRAIT_ERR_FORMAT);
    std::remove(state_path.c_str());
    std::remove(path.c_str());
}

// A stop string ends the reply before it (the session holds tokens past the reply's text); the next
// turn still equals a fresh session, the session's extra tokens given back (KV: truncated; Mamba:
// the turn's snapshot restored).
TEST_P(ConversationAbi, StopStringsCutTheReplyAndTheNextTurnIsRight) {
    const Case c = GetParam();
    Model m(c.dir);
    Session s(m.model);
    Conversation conv(s.session, c);
    const krait_generate_params gp = greedy_params(c.max_new_tokens);
    ASSERT_EQ(krait_conversation_say(conv.conv, kQuestions[0].c_str(), &gp), KRAIT_OK) << krait_last_error();
    const std::string full = messages_of(conv.conv).back()["content"];
    ASSERT_GE(full.size(), 6u) << full;
    const std::string stop = full.substr(full.size() / 2, 3);
    const char* stops[] = {stop.c_str()};
    krait_generate_params cut = gp;
    cut.stop_strings = stops;
    cut.n_stop_strings = 1;
    ASSERT_EQ(krait_conversation_regenerate(conv.conv, &cut), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(messages_of(conv.conv).back()["content"], full.substr(0, full.find(stop)));
    ASSERT_EQ(krait_conversation_say(conv.conv, kQuestions[1].c_str(), &gp), KRAIT_OK) << krait_last_error();
    expect_matches_fresh(m.model, c, s.session, conv.conv, "after a stop string");
    EXPECT_LT(stats_of(conv.conv).prefilled_tokens, stats_of(conv.conv).prompt_tokens);
}

INSTANTIATE_TEST_SUITE_P(DemoModels, ConversationAbi, ::testing::Values(kLlama, kMamba),
                         [](const auto& info) {
                             return std::string(info.param.dir).find("mamba") != std::string::npos
                                        ? std::string("Mamba")
                                        : std::string("Llama");
                         });

// The session's adapters apply to the conversation's replies, as to a fresh session with them.
TEST(ConversationAbiAdapters, RepliesUseTheSessionsAdapters) {
    Model m(kMamba.dir);
    krait_adapter* adapter = nullptr;
    ASSERT_EQ(krait_adapter_load(m.model, "models/mamba-demo-lora-licenses", nullptr, &adapter), KRAIT_OK)
        << krait_last_error();
    Session s(m.model);
    const krait_adapter* active = adapter;
    ASSERT_EQ(krait_session_set_adapters(s.session, &active, nullptr, 1), KRAIT_OK);
    Conversation conv(s.session, kMamba);
    const krait_generate_params gp = greedy_params(kMamba.max_new_tokens);
    for (size_t turn = 0; turn < 3; ++turn) {
        ASSERT_EQ(krait_conversation_say(conv.conv, kQuestions[turn].c_str(), &gp), KRAIT_OK) << krait_last_error();
        expect_matches_fresh(m.model, kMamba, s.session, conv.conv, std::string("adapter turn ") + std::to_string(turn),
                             adapter);
    }
    krait_adapter_free(adapter);
}

// State computed with other adapters than the active ones is never reused: a turn run with the
// adapter, then one without it, then with it again: each equals a fresh session with that turn's
// adapters, logits included; a state saved with an adapter active is recomputed after loading.
TEST(ConversationAbiAdapters, ChangingAdaptersBetweenTurnsRecomputes) {
    Model m(kMamba.dir);
    krait_adapter* adapter = nullptr;
    ASSERT_EQ(krait_adapter_load(m.model, "models/mamba-demo-lora-licenses", nullptr, &adapter), KRAIT_OK)
        << krait_last_error();
    Session s(m.model);
    const krait_adapter* active = adapter;
    Conversation conv(s.session, kMamba);
    const krait_generate_params gp = greedy_params(kMamba.max_new_tokens);
    const krait_adapter* turn_adapter[] = {adapter, nullptr, adapter, adapter};
    int64_t first_prompt = 0;
    for (size_t turn = 0; turn < 4; ++turn) {
        const krait_adapter* a = turn_adapter[turn];
        ASSERT_EQ(krait_session_set_adapters(s.session, a ? &active : nullptr, nullptr, a ? 1 : 0), KRAIT_OK);
        ASSERT_EQ(krait_conversation_say(conv.conv, kQuestions[turn].c_str(), &gp), KRAIT_OK) << krait_last_error();
        const std::string where = std::string("turn ") + std::to_string(turn);
        expect_matches_fresh(m.model, kMamba, s.session, conv.conv, where, a);
        const krait_conversation_stats st = stats_of(conv.conv);
        if (turn == 0) first_prompt = st.prompt_tokens;
        // Turn 1 (no adapter) has no state computed without it; turn 2 (the adapter again) may reuse
        // only turn 0's snapshot, the last one computed with it; turn 3 reuses turn 2's.
        if (turn == 1) {
            EXPECT_EQ(st.reused_tokens, 0) << where;
        }
        if (turn == 2) {
            EXPECT_EQ(st.reused_tokens, first_prompt) << where;
        }
        if (turn == 3) {
            EXPECT_GT(st.reused_tokens, first_prompt) << where;
        }
    }

    // Saved with the adapter active: loaded into another session (adapters are not saved), the next
    // reply recomputes, with or without the adapter.
    const std::string path = (std::filesystem::temp_directory_path() /
                              (std::string("krait_conversation_adapter_") + std::to_string(::getpid()) + ".krc"))
                                 .string();
    ASSERT_EQ(krait_conversation_save(conv.conv, path.c_str()), KRAIT_OK) << krait_last_error();
    Session t(m.model);
    ASSERT_EQ(krait_session_set_adapters(t.session, &active, nullptr, 1), KRAIT_OK);
    krait_conversation* loaded = nullptr;
    ASSERT_EQ(krait_conversation_load(t.session, path.c_str(), kMamba.tmpl, nullptr, &loaded), KRAIT_OK)
        << krait_last_error();
    std::remove(path.c_str());
    ASSERT_EQ(krait_conversation_say(loaded, kQuestions[4].c_str(), &gp), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(stats_of(loaded).reused_tokens, 0);
    expect_matches_fresh(m.model, kMamba, t.session, loaded, "loaded", adapter);
    krait_conversation_free(loaded);
    krait_adapter_free(adapter);
}

TEST(ConversationAbiForeign, AConversationOfAnotherModelIsRefused) {
    Model llama(kLlama.dir), mamba(kMamba.dir);
    Session l(llama.model), s(mamba.model);
    Conversation conv(s.session, kMamba);
    const krait_generate_params gp = greedy_params(4);
    ASSERT_EQ(krait_conversation_say(conv.conv, "Hello", &gp), KRAIT_OK) << krait_last_error();
    const std::string path = (std::filesystem::temp_directory_path() /
                              (std::string("krait_conversation_foreign_") + std::to_string(::getpid()) + ".krc"))
                                 .string();
    ASSERT_EQ(krait_conversation_save(conv.conv, path.c_str()), KRAIT_OK) << krait_last_error();
    krait_conversation* loaded = nullptr;
    EXPECT_EQ(krait_conversation_load(l.session, path.c_str(), nullptr, nullptr, &loaded), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("another model"), std::string::npos) << krait_last_error();
    EXPECT_EQ(loaded, nullptr);
    EXPECT_TRUE(tokens_of(l.session).empty());
    std::remove(path.c_str());
}

// krait_session_chat: one reply to a message list, equal to a conversation's; called again with the
// history grown it reuses the session's prefix; the text is cut to the buffer, *n_out the full size.
TEST(ConversationAbiChat, OneShotRepliesEqualTheConversationsAndReuseThePrefix) {
    Model m(kLlama.dir);
    Session a(m.model), b(m.model);
    Conversation conv(a.session, kLlama);
    const krait_generate_params gp = greedy_params(kLlama.max_new_tokens);
    nlohmann::json messages = nlohmann::json::array();
    std::string reply(256, '\0');
    for (size_t turn = 0; turn < 3; ++turn) {
        ASSERT_EQ(krait_conversation_say(conv.conv, kQuestions[turn].c_str(), &gp), KRAIT_OK) << krait_last_error();
        messages.push_back({{"role", "user"}, {"content", kQuestions[turn]}});
        size_t n = 0;
        ASSERT_EQ(krait_session_chat(b.session, messages.dump().c_str(), &gp, reply.data(), reply.size(), &n), KRAIT_OK)
            << krait_last_error();
        ASSERT_LE(n, reply.size());
        const nlohmann::json said = messages_of(conv.conv);
        EXPECT_EQ(reply.substr(0, n), said.back()["content"].get<std::string>());
        EXPECT_EQ(tokens_of(b.session), tokens_of(a.session));
        messages.push_back({{"role", "assistant"}, {"content", reply.substr(0, n)}});
    }
    // A buffer too small: the text is cut, *n_out is the full length.
    messages.push_back({{"role", "user"}, {"content", kQuestions[3]}});
    char small[4];
    size_t n = 0;
    ASSERT_EQ(krait_session_chat(b.session, messages.dump().c_str(), &gp, small, sizeof small, &n), KRAIT_OK);
    EXPECT_GT(n, sizeof small);
    EXPECT_EQ(krait_session_chat(b.session, "{}", &gp, nullptr, 0, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_chat(b.session, "[", &gp, nullptr, 0, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_chat(nullptr, "[]", &gp, nullptr, 0, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_chat(b.session, nullptr, &gp, nullptr, 0, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_chat(b.session, "[]", &gp, nullptr, 0, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_chat(b.session, "[]", &gp, nullptr, 3, &n), KRAIT_ERR_INVALID_ARGUMENT);
}

TEST(ConversationAbiArguments, NullsAndMissingTemplatesAreRefusedWithMessages) {
    Model m(kLlama.dir), mamba(kMamba.dir);
    Session s(m.model), ms(mamba.model);
    krait_conversation* conv = nullptr;
    EXPECT_EQ(krait_conversation_create(nullptr, nullptr, nullptr, nullptr, &conv), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_STRNE(krait_last_error(), "");
    EXPECT_EQ(krait_conversation_create(s.session, nullptr, nullptr, nullptr, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_create(s.session, nullptr, nullptr, "[1]", &conv), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_create(s.session, nullptr, nullptr, "{bad", &conv), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_create(s.session, nullptr, "{% if %}", nullptr, &conv), KRAIT_ERR_INVALID_ARGUMENT);
    // mamba-demo ships no chat template: one must be passed.
    EXPECT_EQ(krait_conversation_create(ms.session, nullptr, nullptr, nullptr, &conv), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("template"), std::string::npos) << krait_last_error();
    EXPECT_EQ(conv, nullptr);

    Conversation c(s.session, kLlama);
    const krait_generate_params gp = greedy_params(4);
    size_t n = 0;
    const char* text = nullptr;
    EXPECT_EQ(krait_conversation_add_message(nullptr, "user", "x"), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_add_message(c.conv, nullptr, "x"), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_add_message(c.conv, "user", nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_add_message(c.conv, "", "x"), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_reply(nullptr, &gp), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_say(nullptr, "x", &gp), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_say(c.conv, nullptr, &gp), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_STRNE(krait_last_error(), "");
    EXPECT_EQ(krait_conversation_regenerate(nullptr, &gp), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_undo(nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_edit(nullptr, 0, "x"), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_edit(c.conv, 0, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_get_n_messages(nullptr, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_get_n_messages(c.conv, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_get_message(nullptr, 0, &text, &text), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_get_message(c.conv, 0, &text, &text), KRAIT_ERR_INVALID_ARGUMENT);
    krait_conversation_stats st;
    st.struct_size = 0;
    EXPECT_EQ(krait_conversation_get_stats(c.conv, &st), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_get_stats(c.conv, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_save(nullptr, "x"), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_save(c.conv, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_load(nullptr, "x", nullptr, nullptr, &conv), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_load(s.session, nullptr, nullptr, nullptr, &conv), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_load(s.session, "x", nullptr, nullptr, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    krait_generate_params bad = gp;
    bad.max_new_tokens = 0;
    EXPECT_EQ(krait_conversation_say(c.conv, "Hi", &bad), KRAIT_ERR_INVALID_ARGUMENT);
    ASSERT_EQ(krait_conversation_get_n_messages(c.conv, &n), KRAIT_OK);
    EXPECT_EQ(n, 0u);  // a refused say leaves no message behind
    krait_conversation_free(nullptr);

    // A classifier session holds no conversation.
    Model vit("models/vit-digits");
    Session cs(vit.model);
    EXPECT_EQ(krait_conversation_create(cs.session, nullptr, kChatMl, nullptr, &conv), KRAIT_ERR_WRONG_KIND);
}

}  // namespace
