// Session state through the C ABI (since 1.4): snapshot / restore round trips (bitwise), the
// context tokens, truncate, save / load, and the refusal of state files from another model or
// damaged ones (truncated at many offsets, single bytes flipped, another format version), each
// leaving the session as it was. On the demo models: chat-demo (Llama, KV cache) and mamba-demo.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "demo_handles.h"
#include "krait/krait.h"

namespace {

using krait_test::Model;
using krait_test::Session;
using krait_test::vocab_of;

std::vector<int32_t> encode(const krait_model* m, const std::string& text) {
    const krait_tokenizer* tok = nullptr;
    EXPECT_EQ(krait_model_get_tokenizer(m, &tok), KRAIT_OK);
    std::vector<int32_t> ids(text.size() + 8);
    size_t n = 0;
    EXPECT_EQ(krait_tokenizer_encode(tok, text.data(), text.size(), 0, ids.data(), ids.size(), &n), KRAIT_OK);
    ids.resize(n);
    return ids;
}

std::vector<float> append(krait_session* s, const std::vector<int32_t>& ids, int64_t vocab) {
    std::vector<float> logits(static_cast<size_t>(vocab));
    EXPECT_EQ(krait_session_append(s, ids.data(), ids.size(), logits.data(), logits.size()), KRAIT_OK)
        << krait_last_error();
    return logits;
}

std::vector<int32_t> greedy(krait_session* s, int32_t n) {
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

std::vector<int32_t> tokens_of(const krait_session* s) {
    size_t n = 0;
    EXPECT_EQ(krait_session_get_tokens(s, nullptr, 0, &n), KRAIT_OK);
    std::vector<int32_t> ids(n);
    EXPECT_EQ(krait_session_get_tokens(s, ids.data(), ids.size(), &n), KRAIT_OK);
    return ids;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / (std::string("krait_state_test_") + std::to_string(::getpid()) + "_" + name))
        .string();
}

class StateAbi : public ::testing::TestWithParam<const char*> {};

// Snapshot, generate, restore: the logits after restoring equal those of the first run bit for
// bit, in the same session and in another one, and the tokens come back with the state.
TEST_P(StateAbi, SnapshotRestoreRoundTripIsBitwise) {
    Model m(GetParam());
    const int64_t vocab = vocab_of(m.model);
    Session a(m.model), b(m.model);
    const std::vector<int32_t> prompt = encode(m.model, "The red teapot costs 17 euros. How many");
    append(a.session, prompt, vocab);
    const std::vector<int32_t> generated = greedy(a.session, 5);  // ends with a pending token
    krait_state* snap = nullptr;
    ASSERT_EQ(krait_session_snapshot(a.session, &snap), KRAIT_OK) << krait_last_error();
    int64_t n = 0;
    ASSERT_EQ(krait_state_get_n_tokens(snap, &n), KRAIT_OK);
    EXPECT_EQ(n, static_cast<int64_t>(prompt.size() + generated.size()));
    const std::vector<int32_t> before = tokens_of(a.session);

    const std::vector<int32_t> next = {prompt[1], prompt[2]};
    const std::vector<float> first = append(a.session, next, vocab);
    const std::vector<int32_t> more = greedy(a.session, 4);

    ASSERT_EQ(krait_session_restore(a.session, snap), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(tokens_of(a.session), before);
    const std::vector<float> again = append(a.session, next, vocab);
    EXPECT_EQ(std::memcmp(first.data(), again.data(), first.size() * sizeof(float)), 0);
    EXPECT_EQ(greedy(a.session, 4), more);

    ASSERT_EQ(krait_session_restore(b.session, snap), KRAIT_OK) << krait_last_error();
    const std::vector<float> other = append(b.session, next, vocab);
    EXPECT_EQ(std::memcmp(first.data(), other.data(), first.size() * sizeof(float)), 0);
    krait_state_free(snap);
}

// Save, then load into a fresh session: it continues bit for bit as the saved one.
TEST_P(StateAbi, SaveLoadRoundTripIsBitwise) {
    Model m(GetParam());
    const int64_t vocab = vocab_of(m.model);
    Session a(m.model), b(m.model);
    append(a.session, encode(m.model, "We have 2 black toasters in stock. And"), vocab);
    greedy(a.session, 3);
    const std::string path = temp_path("roundtrip.krs");
    ASSERT_EQ(krait_session_save_state(a.session, path.c_str()), KRAIT_OK) << krait_last_error();
    ASSERT_EQ(krait_session_load_state(b.session, path.c_str()), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(tokens_of(b.session), tokens_of(a.session));
    const std::vector<int32_t> next = {5, 6, 7};
    const std::vector<float> x = append(a.session, next, vocab), y = append(b.session, next, vocab);
    EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)), 0);
    EXPECT_EQ(greedy(a.session, 6), greedy(b.session, 6));
    // An empty session saves and loads too.
    Session c(m.model);
    ASSERT_EQ(krait_session_save_state(c.session, path.c_str()), KRAIT_OK) << krait_last_error();
    ASSERT_EQ(krait_session_load_state(b.session, path.c_str()), KRAIT_OK) << krait_last_error();
    EXPECT_TRUE(tokens_of(b.session).empty());
    std::remove(path.c_str());
}

// Damaged files are refused with a message and leave the session exactly as it was.
TEST_P(StateAbi, DamagedFilesAreRefusedAndChangeNothing) {
    Model m(GetParam());
    const int64_t vocab = vocab_of(m.model);
    Session a(m.model), target(m.model);
    append(a.session, encode(m.model, "What does the green fan cost?"), vocab);
    greedy(a.session, 4);
    const std::string path = temp_path("good.krs"), bad = temp_path("bad.krs");
    ASSERT_EQ(krait_session_save_state(a.session, path.c_str()), KRAIT_OK) << krait_last_error();
    const std::string good = read_file(path);
    ASSERT_GT(good.size(), 28u);

    // The target holds a context of its own, which every refusal must leave alone.
    append(target.session, encode(m.model, "Hello there"), vocab);
    krait_state* held = nullptr;
    ASSERT_EQ(krait_session_snapshot(target.session, &held), KRAIT_OK);
    const std::vector<int32_t> held_tokens = tokens_of(target.session);
    const std::vector<int32_t> probe = {3, 4};
    std::vector<float> reference;
    {
        Session copy(m.model);
        ASSERT_EQ(krait_session_restore(copy.session, held), KRAIT_OK);
        reference = append(copy.session, probe, vocab);
    }
    const auto expect_refused = [&](const std::string& bytes, const std::string& what) {
        write_file(bad, bytes);
        const krait_status s = krait_session_load_state(target.session, bad.c_str());
        EXPECT_TRUE(s == KRAIT_ERR_FORMAT || s == KRAIT_ERR_INVALID_ARGUMENT) << what << ": status " << s;
        EXPECT_STRNE(krait_last_error(), "") << what;
        EXPECT_EQ(tokens_of(target.session), held_tokens) << what;
    };
    // Truncated at several offsets: inside the header, the fingerprint, the tokens, the tensors, the end.
    for (const size_t cut : {size_t{0}, size_t{4}, size_t{8}, size_t{27}, size_t{28}, size_t{40}, size_t{100},
                             good.size() / 3, good.size() / 2, good.size() - 5, good.size() - 1})
        expect_refused(good.substr(0, cut), std::string("truncated to ") + std::to_string(cut));
    // Trailing garbage.
    expect_refused(good + "x", "one byte appended");
    // Every byte of the header and the fingerprint flipped, then bytes spread over the payload.
    for (size_t i = 0; i < good.size(); i += (i < 200 ? 1 : 97)) {
        std::string flipped = good;
        flipped[i] = static_cast<char>(flipped[i] ^ 0x5A);
        expect_refused(flipped, std::string("byte ") + std::to_string(i) + " flipped");
    }
    // Another format version (a well-formed header otherwise): named in the message.
    {
        std::string other = good;
        const uint32_t version = 2;
        std::memcpy(other.data() + 8, &version, 4);
        write_file(bad, other);
        EXPECT_EQ(krait_session_load_state(target.session, bad.c_str()), KRAIT_ERR_FORMAT);
        EXPECT_NE(std::string(krait_last_error()).find("version"), std::string::npos) << krait_last_error();
    }
    // A missing file.
    EXPECT_EQ(krait_session_load_state(target.session, temp_path("missing.krs").c_str()), KRAIT_ERR_IO);
    // After all that, the target continues exactly as before.
    EXPECT_EQ(tokens_of(target.session), held_tokens);
    const std::vector<float> after = append(target.session, probe, vocab);
    EXPECT_EQ(std::memcmp(after.data(), reference.data(), after.size() * sizeof(float)), 0);
    krait_state_free(held);
    std::remove(path.c_str());
    std::remove(bad.c_str());
}

INSTANTIATE_TEST_SUITE_P(DemoModels, StateAbi, ::testing::Values("models/chat-demo", "models/mamba-demo"),
                         [](const auto& info) { return std::string(info.param).find("mamba") != std::string::npos
                                                           ? std::string("Mamba")
                                                           : std::string("Llama"); });

// A state or file of another model is refused naming what differs; the session is unchanged.
TEST(StateAbiForeign, StatesAndFilesOfAnotherModelAreRefused) {
    Model llama("models/chat-demo"), mamba("models/mamba-demo");
    Session l(llama.model), s(mamba.model);
    append(l.session, {1, 5, 9}, vocab_of(llama.model));
    append(s.session, {1, 5, 9, 11}, vocab_of(mamba.model));
    krait_state* mamba_state = nullptr;
    ASSERT_EQ(krait_session_snapshot(s.session, &mamba_state), KRAIT_OK);
    EXPECT_EQ(krait_session_restore(l.session, mamba_state), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("architecture"), std::string::npos) << krait_last_error();
    EXPECT_EQ(tokens_of(l.session), (std::vector<int32_t>{1, 5, 9}));
    krait_state_free(mamba_state);

    const std::string path = temp_path("mamba.krs");
    ASSERT_EQ(krait_session_save_state(s.session, path.c_str()), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(krait_session_load_state(l.session, path.c_str()), KRAIT_ERR_INVALID_ARGUMENT);
    const std::string message = krait_last_error();
    EXPECT_NE(message.find("another model"), std::string::npos) << message;
    EXPECT_NE(message.find("'mamba'"), std::string::npos) << message;
    EXPECT_NE(message.find("'llama'"), std::string::npos) << message;
    EXPECT_EQ(tokens_of(l.session), (std::vector<int32_t>{1, 5, 9}));
    std::remove(path.c_str());
}

// Truncate: a KV cache to any length (the logits then follow the kept tokens, as a fresh prefill
// of them to 1e-5); a recurrent state only to its ends, else UNSUPPORTED and unchanged.
TEST(StateAbiTruncate, KvCacheAnyLengthRecurrentOnlyItsEnds) {
    {
        Model m("models/chat-demo");
        const int64_t vocab = vocab_of(m.model);
        Session a(m.model), fresh(m.model);
        const std::vector<int32_t> ids = encode(m.model, "How many black toasters do you have in stock today?");
        ASSERT_GT(ids.size(), 8u);
        append(a.session, ids, vocab);
        ASSERT_EQ(krait_session_truncate(a.session, 6), KRAIT_OK) << krait_last_error();
        EXPECT_EQ(tokens_of(a.session), std::vector<int32_t>(ids.begin(), ids.begin() + 6));
        const std::vector<float> got = append(a.session, {ids[6], ids[7]}, vocab);
        const std::vector<float> want = append(fresh.session, std::vector<int32_t>(ids.begin(), ids.begin() + 8), vocab);
        for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5f) << i;
        EXPECT_EQ(krait_session_truncate(a.session, 99), KRAIT_ERR_INVALID_ARGUMENT);
        EXPECT_EQ(krait_session_truncate(a.session, -1), KRAIT_ERR_INVALID_ARGUMENT);
        ASSERT_EQ(krait_session_truncate(a.session, 0), KRAIT_OK);
        EXPECT_TRUE(tokens_of(a.session).empty());
    }
    {
        Model m("models/mamba-demo");
        const int64_t vocab = vocab_of(m.model);
        Session a(m.model);
        const std::vector<int32_t> ids = encode(m.model, "The quick brown fox jumps over the lazy dog");
        append(a.session, ids, vocab);
        const std::vector<int32_t> gen = greedy(a.session, 3);  // the last one is pending
        const size_t all = ids.size() + gen.size();
        EXPECT_EQ(krait_session_truncate(a.session, 4), KRAIT_ERR_UNSUPPORTED);
        EXPECT_NE(std::string(krait_last_error()).find("snapshot"), std::string::npos);
        EXPECT_EQ(tokens_of(a.session).size(), all);
        // Dropping the pending last token is fine (nothing was run for it).
        ASSERT_EQ(krait_session_truncate(a.session, static_cast<int64_t>(all - 1)), KRAIT_OK) << krait_last_error();
        EXPECT_EQ(tokens_of(a.session).size(), all - 1);
        ASSERT_EQ(krait_session_truncate(a.session, 0), KRAIT_OK);
        EXPECT_TRUE(tokens_of(a.session).empty());
    }
}

TEST(StateAbiArguments, NullsAndWrongKindAreRefusedWithMessages) {
    Model m("models/chat-demo");
    Session s(m.model);
    krait_state* st = nullptr;
    size_t n = 0;
    int64_t k = 0;
    EXPECT_EQ(krait_session_snapshot(nullptr, &st), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_STRNE(krait_last_error(), "");
    EXPECT_EQ(krait_session_snapshot(s.session, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_restore(s.session, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_restore(nullptr, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_state_get_n_tokens(nullptr, &k), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_get_tokens(nullptr, nullptr, 0, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_get_tokens(s.session, nullptr, 0, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_get_tokens(s.session, nullptr, 3, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_truncate(nullptr, 0), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_save_state(s.session, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_load_state(s.session, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_STRNE(krait_last_error(), "");
    krait_state_free(nullptr);
    // The buffer protocol of get_tokens.
    append(s.session, {1, 2, 3}, vocab_of(m.model));
    int32_t small[2];
    EXPECT_EQ(krait_session_get_tokens(s.session, small, 2, &n), KRAIT_ERR_BUFFER_TOO_SMALL);
    EXPECT_EQ(n, 3u);
    // Saving where no file can be written: IO, nothing left behind.
    EXPECT_EQ(krait_session_save_state(s.session, "/nonexistent-dir/x.krs"), KRAIT_ERR_IO);
    // Classifier sessions have no sequence state.
    Model vit("models/vit-digits");
    Session c(vit.model);
    EXPECT_EQ(krait_session_snapshot(c.session, &st), KRAIT_ERR_WRONG_KIND);
    EXPECT_EQ(krait_session_truncate(c.session, 0), KRAIT_ERR_WRONG_KIND);
}

}  // namespace
