// Overlapping calls on one session (since 1.10): krait.h's CONVENTIONS forbid them, and the library
// refuses them with KRAIT_ERR_BUSY instead of racing on the session's state. Each test makes the
// overlap certain without timing: the second call is made from inside the running call's token
// callback (a re-entrant call on the same thread), or from another thread the callback waits for
// (lock step). Every time: the refused call does nothing, names itself in its message, and the
// running call finishes with exactly the result it gives with no interference.
// Run under ThreadSanitizer in CI (tools/test.sh).
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "demo_handles.h"
#include "krait/krait.h"

namespace {

using krait_test::Model;
using krait_test::Session;

const char* const kChatMl =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// A greedy generation whose token callback runs `at_token` once, at the given token.
struct Generation {
    std::function<void()> at_token;
    int at = 2;
    int seen = 0;

    static int on_token(int32_t, const char*, size_t, void* user) {
        auto* g = static_cast<Generation*>(user);
        if (++g->seen == g->at && g->at_token) g->at_token();
        return 0;
    }
    krait_generate_params params(int32_t n) {
        krait_generate_params gp;
        krait_generate_params_init(&gp);
        gp.max_new_tokens = n;
        gp.stop_at_eos = 0;
        gp.sampling.temperature = 0.0f;
        gp.on_token = &Generation::on_token;
        gp.user_data = this;
        return gp;
    }
};

const std::vector<int32_t> kPrompt = {5, 17, 42, 9, 3};

std::vector<int32_t> generate(krait_session* s, Generation& g, int32_t n, krait_status* status) {
    krait_session_reset(s);
    std::vector<int32_t> out(static_cast<size_t>(n), -1);
    size_t n_out = 0;
    const krait_generate_params gp = g.params(n);
    *status = krait_session_generate(s, kPrompt.data(), kPrompt.size(), &gp, out.data(), out.size(), &n_out);
    out.resize(n_out);
    return out;
}

void expect_busy(krait_status status, const char* call) {
    EXPECT_EQ(status, KRAIT_ERR_BUSY) << call << ": " << krait_last_error();
    EXPECT_NE(std::strstr(krait_last_error(), call), nullptr) << krait_last_error();
    EXPECT_NE(std::strstr(krait_last_error(), "another call on this session"), nullptr) << krait_last_error();
}

TEST(OverlappingCalls, StatusHasAName) { EXPECT_STREQ(krait_status_string(KRAIT_ERR_BUSY), "session busy"); }

TEST(OverlappingCalls, EverySessionCallMadeFromTheTokenCallbackIsRefused) {
    Model m("models/mamba-demo");
    Session s(m.model);
    Generation plain;
    krait_status status = KRAIT_OK;
    const std::vector<int32_t> expected = generate(s.session, plain, 8, &status);
    ASSERT_EQ(status, KRAIT_OK) << krait_last_error();

    Generation g;
    krait_session* session = s.session;
    std::vector<int32_t> tokens_before;
    g.at = 3;
    g.at_token = [&] {
        std::vector<int32_t> ids = {7};
        std::vector<float> logits(4096);
        size_t n = 0;
        int32_t buf[64];
        krait_generate_params gp;
        krait_generate_params_init(&gp);
        expect_busy(krait_session_append(session, ids.data(), 1, nullptr, 0), "krait_session_append");
        expect_busy(krait_session_forward(session, ids.data(), 1, 1, nullptr, 0, &n), "krait_session_forward");
        expect_busy(krait_session_generate(session, ids.data(), 1, &gp, buf, 64, &n), "krait_session_generate");
        expect_busy(krait_session_reset(session), "krait_session_reset");
        expect_busy(krait_session_truncate(session, 1), "krait_session_truncate");
        expect_busy(krait_session_get_tokens(session, buf, 64, &n), "krait_session_get_tokens");
        expect_busy(krait_session_set_threads(session, 1), "krait_session_set_threads");
        expect_busy(krait_session_set_adapters(session, nullptr, nullptr, 0), "krait_session_set_adapters");
        krait_state* state = nullptr;
        expect_busy(krait_session_snapshot(session, &state), "krait_session_snapshot");
        EXPECT_EQ(state, nullptr);
        krait_conversation* conv = nullptr;
        expect_busy(krait_conversation_create(session, nullptr, kChatMl, nullptr, &conv), "krait_conversation_create");
        EXPECT_EQ(conv, nullptr);
        char text[16];
        expect_busy(krait_session_chat(session, "[{\"role\":\"user\",\"content\":\"hi\"}]", nullptr, text, 16, &n),
                    "krait_session_chat");
        // abort and clear_abort are the calls allowed from anywhere at any time.
        krait_session_abort(session);
        krait_session_clear_abort(session);
    };
    const std::vector<int32_t> got = generate(s.session, g, 8, &status);
    EXPECT_EQ(status, KRAIT_OK) << krait_last_error();
    EXPECT_EQ(g.seen, 8);
    EXPECT_EQ(got, expected) << "a refused call disturbed the running generation";

    // Once the call returned, the session is free again.
    std::vector<int32_t> tokens(64);
    size_t n = 0;
    EXPECT_EQ(krait_session_get_tokens(s.session, tokens.data(), tokens.size(), &n), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(n, kPrompt.size() + expected.size());
}

TEST(OverlappingCalls, ACallFromAnotherThreadDuringGenerateIsRefused) {
    // Lock step: at token 2 the callback wakes the other thread and waits until its calls returned.
    Model m("models/mamba-demo");
    Session s(m.model);
    Generation plain;
    krait_status status = KRAIT_OK;
    const std::vector<int32_t> expected = generate(s.session, plain, 6, &status);
    ASSERT_EQ(status, KRAIT_OK) << krait_last_error();

    std::mutex mu;
    std::condition_variable cv;
    bool go = false, done = false;
    krait_status other_generate = KRAIT_OK, other_append = KRAIT_OK;
    std::string other_message;
    std::thread other([&] {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return go; });
        int32_t buf[4];
        size_t n = 0;
        krait_generate_params gp;
        krait_generate_params_init(&gp);
        other_generate = krait_session_generate(s.session, kPrompt.data(), kPrompt.size(), &gp, buf, 4, &n);
        other_message = krait_last_error();  // this thread's message
        other_append = krait_session_append(s.session, kPrompt.data(), 1, nullptr, 0);
        done = true;
        cv.notify_all();
    });
    Generation g;
    g.at = 2;
    g.at_token = [&] {
        std::unique_lock<std::mutex> lock(mu);
        go = true;
        cv.notify_all();
        cv.wait(lock, [&] { return done; });
    };
    const std::vector<int32_t> got = generate(s.session, g, 6, &status);
    other.join();
    EXPECT_EQ(status, KRAIT_OK) << krait_last_error();
    EXPECT_EQ(got, expected);
    EXPECT_EQ(other_generate, KRAIT_ERR_BUSY);
    EXPECT_EQ(other_append, KRAIT_ERR_BUSY);
    EXPECT_NE(other_message.find("krait_session_generate"), std::string::npos) << other_message;
    EXPECT_STREQ(krait_last_error(), "") << "the refusal's message leaked onto the generating thread";
}

TEST(OverlappingCalls, AConversationCountsAsItsSession) {
    Model m("models/mamba-demo");
    Session s(m.model);
    krait_conversation* conv = nullptr;
    ASSERT_EQ(krait_conversation_create(s.session, nullptr, kChatMl, nullptr, &conv), KRAIT_OK) << krait_last_error();
    krait_conversation* other = nullptr;
    ASSERT_EQ(krait_conversation_create(s.session, nullptr, kChatMl, nullptr, &other), KRAIT_OK) << krait_last_error();

    Generation g;
    g.at = 1;
    g.at_token = [&] {
        size_t n = 0;
        const char* role = nullptr;
        expect_busy(krait_conversation_get_n_messages(conv, &n), "krait_conversation_get_n_messages");
        expect_busy(krait_conversation_get_message(conv, 0, &role, nullptr), "krait_conversation_get_message");
        EXPECT_EQ(role, nullptr);
        expect_busy(krait_conversation_undo(conv), "krait_conversation_undo");
        expect_busy(krait_conversation_add_message(other, "user", "hello"), "krait_conversation_add_message");
        krait_generate_params gp;
        krait_generate_params_init(&gp);
        expect_busy(krait_conversation_say(other, "hello", &gp), "krait_conversation_say");
        expect_busy(krait_conversation_render(conv, 1, nullptr, 0, &n), "krait_conversation_render");
        expect_busy(krait_session_reset(s.session), "krait_session_reset");
    };
    const krait_generate_params gp = g.params(4);
    EXPECT_EQ(krait_conversation_say(conv, "How much is the red teapot?", &gp), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(g.seen, 4);
    size_t n = 0;
    EXPECT_EQ(krait_conversation_get_n_messages(conv, &n), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(n, 2u);  // the question and the reply; nothing the refused calls asked for
    EXPECT_EQ(krait_conversation_get_n_messages(other, &n), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(n, 0u);
    krait_conversation_free(other);
    krait_conversation_free(conv);
}

TEST(OverlappingCalls, ARefusedCallLeavesNoClaimBehind) {
    // A call refused for its arguments, or failing inside, still releases the session.
    Model m("models/mamba-demo");
    Session s(m.model);
    const int32_t bad = 1 << 30;
    EXPECT_EQ(krait_session_append(s.session, &bad, 1, nullptr, 0), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_load_state(s.session, "/nonexistent/state.bin"), KRAIT_ERR_IO);
    EXPECT_EQ(krait_session_truncate(s.session, -1), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_append(s.session, kPrompt.data(), kPrompt.size(), nullptr, 0), KRAIT_OK)
        << krait_last_error();
}

}  // namespace
