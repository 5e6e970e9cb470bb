// Tests of krait.hpp, the header-only C++ layer over the C ABI, on the tiny
// Mamba fixture tests/fixtures/mamba/f32_tied (config: vocab 97, hidden 32,
// 2 layers, state 16, expand 2, conv 4, dt rank 2, tied embeddings, bos = eos = 0).
//
// What is checked here is the wrapper's own contract: errors become
// krait::Exception with the library's status and message, handles are
// move-only and a moved-from handle fails cleanly, the size-query protocol and
// callbacks (including exceptions thrown inside them) are handled. Numerical
// conformance against the reference implementation lives in other tests; the
// few numeric checks below only compare the library with itself (forward vs
// append vs greedy generate), which a wrong buffer layout in the wrapper would break.
//
// Run with the repository root as working directory (CTest does that).
#include "krait/krait.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace fs = std::filesystem;

namespace {

const char* const kModelDir = "tests/fixtures/mamba/f32_tied";
const char* const kTokenizerFile = "tests/fixtures/tokenizer/bytelevel_neox.tokenizer.json";
constexpr int64_t kVocab = 97;

static_assert(!std::is_copy_constructible_v<krait::Model> && !std::is_copy_assignable_v<krait::Model>);
static_assert(!std::is_copy_constructible_v<krait::Session> && !std::is_copy_assignable_v<krait::Session>);
static_assert(!std::is_copy_constructible_v<krait::Tokenizer> && !std::is_copy_assignable_v<krait::Tokenizer>);
static_assert(std::is_nothrow_move_constructible_v<krait::Model> && std::is_nothrow_move_assignable_v<krait::Model>);
static_assert(std::is_nothrow_move_constructible_v<krait::Session> && std::is_nothrow_move_assignable_v<krait::Session>);
static_assert(std::is_nothrow_move_constructible_v<krait::Tokenizer> &&
              std::is_nothrow_move_assignable_v<krait::Tokenizer>);
// Lifetime guards: no Session on a temporary Model (it would dangle).
static_assert(!std::is_constructible_v<krait::Session, krait::Model&&>);
static_assert(std::is_constructible_v<krait::Session, const krait::Model&>);

// Runs `body`, which must throw krait::Exception with `status`; returns its message.
template <class Body>
std::string expect_status(krait_status status, Body&& body) {
    try {
        body();
    } catch (const krait::Exception& e) {
        EXPECT_EQ(e.status(), status) << e.what();
        EXPECT_STRNE(e.what(), "");
        return e.what();
    }
    ADD_FAILURE() << "no krait::Exception thrown, expected status " << krait_status_string(status);
    return {};
}

size_t argmax(const float* v, size_t n) { return static_cast<size_t>(std::max_element(v, v + n) - v); }

// A model directory made of the f32_tied fixture plus a tokenizer.json (the
// byte-level NeoX fixture, vocab 1478 >= 97, so every generated id decodes):
// streaming callbacks need a tokenizer inside the model.
class WithTokenizer : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = fs::temp_directory_path() / ("krait_cpp_wrapper_test_" + std::to_string(getpid()));
        fs::create_directories(dir_);
        for (const char* f : {"config.json", "model.safetensors"})
            fs::copy_file(fs::path(kModelDir) / f, dir_ / f, fs::copy_options::overwrite_existing);
        fs::copy_file(kTokenizerFile, dir_ / "tokenizer.json", fs::copy_options::overwrite_existing);
    }
    static void TearDownTestSuite() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    static fs::path dir_;
};
fs::path WithTokenizer::dir_;

krait::GenerateOptions greedy(int32_t n) {
    krait::GenerateOptions opt;
    opt.max_new_tokens = n;
    opt.sampling.temperature = 0.0f;
    opt.stop_at_eos = false;  // eos is id 0 in this fixture; keep the length fixed
    return opt;
}

}  // namespace

TEST(CppWrapper, VersionMatchesHeader) {
    EXPECT_EQ(krait::version(), static_cast<uint32_t>(KRAIT_VERSION_NUMBER));
    EXPECT_NO_THROW(krait::check_version());
    EXPECT_EQ(krait::version_string(), std::to_string(KRAIT_VERSION_MAJOR) + "." + std::to_string(KRAIT_VERSION_MINOR) +
                                           "." + std::to_string(KRAIT_VERSION_PATCH));
}

TEST(CppWrapper, MissingDirectoryThrowsIoNamingThePath) {
    const std::string message =
        expect_status(KRAIT_ERR_IO, [] { krait::Model::load("tests/fixtures/mamba/does_not_exist"); });
    EXPECT_NE(message.find("does_not_exist"), std::string::npos) << message;
}

TEST(CppWrapper, ExceptionCarriesTheLibraryMessage) {
    try {
        krait::Model::load("tests/fixtures/mamba/does_not_exist");
        FAIL() << "expected an exception";
    } catch (const krait::Exception& e) {
        // Nothing ran on this thread since the failure: the message is still there.
        EXPECT_EQ(std::string(e.what()), std::string(krait_last_error()));
        EXPECT_TRUE((std::is_base_of_v<std::runtime_error, krait::Exception>));
    }
}

TEST(CppWrapper, InfoOfFixture) {
    const krait::Model model = krait::Model::load(kModelDir);
    const krait_model_info info = model.info();
    EXPECT_EQ(info.struct_size, sizeof(krait_model_info));
    EXPECT_EQ(info.kind, KRAIT_MODEL_SEQUENCE);
    EXPECT_STREQ(info.architecture, "mamba");
    EXPECT_EQ(info.vocab_size, kVocab);
    EXPECT_EQ(info.hidden_size, 32);
    EXPECT_EQ(info.num_layers, 2);
    EXPECT_EQ(info.state_size, 16);
    EXPECT_EQ(info.bos_token_id, 0);
    EXPECT_EQ(info.eos_token_id, 0);
    EXPECT_STREQ(info.source_dtype, "F32");
    // Parameter count from the config's dimensions (D 32, E 64, N 16, K 4, R 2,
    // V 97), tied lm_head counted once as Hugging Face's num_parameters() does.
    const int64_t D = 32, E = 64, N = 16, K = 4, R = 2, V = 97;
    const int64_t per_layer = D + 2 * E * D + E * K + E + (R + 2 * N) * E + E * R + E + E * N + E + D * E;
    EXPECT_EQ(info.num_parameters, V * D + 2 * per_layer + D);
    // What the model holds: the F32 parameters, plus A = -exp(A_log) [E, N] per layer derived at load, plus
    // the zero padding of the packed linears (panels of 32 output features, kernels/cpu/gemm.h): x_proj's
    // R + 2N = 34 outputs take 64, over K = E inputs; the others are multiples of 32.
    const int64_t x_proj_padding = (64 - (R + 2 * N)) * E;
    EXPECT_EQ(info.weight_bytes, (info.num_parameters + 2 * E * N + 2 * x_proj_padding) * 4);
}

TEST(CppWrapper, ModelWithoutTokenizerThrowsUnsupported) {
    const krait::Model model = krait::Model::load(kModelDir);
    expect_status(KRAIT_ERR_UNSUPPORTED, [&] { model.tokenizer(); });
}

TEST(CppWrapper, ProgressCallbackSeesFractionsAndCanCancel) {
    std::vector<float> seen;
    const krait::Model model = krait::Model::load(kModelDir, [&](float f) {
        seen.push_back(f);
        return false;
    });
    EXPECT_TRUE(model);
    ASSERT_FALSE(seen.empty());
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    EXPECT_GE(seen.front(), 0.0f);
    EXPECT_LE(seen.back(), 1.0f);

    expect_status(KRAIT_ERR_CANCELLED, [] { krait::Model::load(kModelDir, [](float) { return true; }); });
}

TEST(CppWrapper, ExceptionInProgressCallbackIsRethrown) {
    struct Custom : std::runtime_error {
        Custom() : std::runtime_error("custom") {}
    };
    EXPECT_THROW(krait::Model::load(kModelDir, [](float) -> bool { throw Custom(); }), Custom);
}

TEST(CppWrapper, ForwardShapeDeterminismAndRowLayout) {
    const krait::Model model = krait::Model::load(kModelDir);
    krait::Session session(model, 1);
    const std::vector<int32_t> ids = {1, 5, 9, 96, 0, 42};  // [2, 3]
    const std::vector<float> a = session.forward(ids, 2, 3);
    ASSERT_EQ(a.size(), static_cast<size_t>(2 * 3 * kVocab));
    for (const float x : a) ASSERT_TRUE(std::isfinite(x));
    const std::vector<float> b = session.forward(ids, 2, 3);
    EXPECT_EQ(a, b) << "two forward passes on the same input differ";

    // Row 1 alone must equal the second half of the batched result: rows are
    // independent and laid out [batch, length, vocab].
    const std::vector<float> row1 = session.forward({96, 0, 42}, 1, 3);
    ASSERT_EQ(row1.size(), static_cast<size_t>(3 * kVocab));
    for (size_t k = 0; k < row1.size(); ++k) ASSERT_NEAR(row1[k], a[3 * kVocab + k], 1e-5f) << "at " << k;
}

TEST(CppWrapper, ForwardErrorsAreExceptions) {
    const krait::Model model = krait::Model::load(kModelDir);
    krait::Session session(model, 1);
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { session.forward({1, 2, 3}, 2, 2); });  // size mismatch
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { session.forward({1, 2}, 0, 2); });     // zero batch
    const std::string message =
        expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { session.forward({1, 97}, 1, 2); });  // id out of range
    EXPECT_NE(message.find("97"), std::string::npos) << message;
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { session.append({}); });
}

TEST(CppWrapper, AppendContinuesLikeForward) {
    const krait::Model model = krait::Model::load(kModelDir);
    krait::Session session(model, 1);
    const std::vector<float> full = session.forward({3, 14, 15, 92}, 1, 4);
    const std::vector<float> first = session.append({3, 14, 15});
    ASSERT_EQ(first.size(), static_cast<size_t>(kVocab));
    const std::vector<float> second = session.append({92});
    ASSERT_EQ(second.size(), static_cast<size_t>(kVocab));
    for (int64_t v = 0; v < kVocab; ++v) {
        EXPECT_NEAR(first[v], full[2 * kVocab + v], 1e-4f) << "position 2, id " << v;
        EXPECT_NEAR(second[v], full[3 * kVocab + v], 1e-4f) << "position 3, id " << v;
    }
}

TEST(CppWrapper, GreedyGenerateIsDeterministicAndStartsAtArgmax) {
    const krait::Model model = krait::Model::load(kModelDir);
    krait::Session session(model, 1);
    const std::vector<int32_t> prompt = {7, 8, 9};
    const std::vector<float> logits = session.forward(prompt, 1, 3);

    const std::vector<int32_t> a = session.generate(prompt, greedy(6));
    ASSERT_EQ(a.size(), 6u);
    for (const int32_t id : a) EXPECT_TRUE(id >= 0 && id < kVocab) << id;
    EXPECT_EQ(static_cast<size_t>(a[0]), argmax(logits.data() + 2 * kVocab, kVocab));

    session.reset();
    EXPECT_EQ(session.generate(prompt, greedy(6)), a);

    // The generated tokens joined the context: continuing with an empty prompt works.
    EXPECT_EQ(session.generate({}, greedy(2)).size(), 2u);
}

TEST(CppWrapper, GenerateErrorsAreExceptions) {
    const krait::Model model = krait::Model::load(kModelDir);
    krait::Session session(model, 1);
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { session.generate({}, greedy(3)); });  // empty prompt, empty context
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { session.generate({1}, greedy(0)); });
    krait::GenerateOptions bad = greedy(3);
    bad.sampling.temperature = -1.0f;
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { session.generate({1}, bad); });
    // Stop strings are matched on text: they need the model's tokenizer, and this fixture has none.
    krait::GenerateOptions with_stop = greedy(3);
    with_stop.stop_strings = {"\n"};
    expect_status(KRAIT_ERR_UNSUPPORTED, [&] { session.generate({1}, with_stop); });
}

TEST(CppWrapper, StreamingWithoutTokenizerGivesIdsAndEmptyPieces) {
    const krait::Model model = krait::Model::load(kModelDir);
    krait::Session session(model, 1);
    std::vector<int32_t> streamed;
    std::string text;
    const std::vector<int32_t> ids = session.generate({7, 8, 9}, greedy(4), [&](int32_t id, std::string_view piece) {
        streamed.push_back(id);
        text += piece;
        return false;
    });
    EXPECT_EQ(ids.size(), 4u);
    EXPECT_EQ(streamed, ids);
    EXPECT_EQ(text, "");
}

TEST_F(WithTokenizer, CallbackSeesEveryTokenAndCanStop) {
    const krait::Model model = krait::Model::load(dir_.string());
    krait::Session session(model, 1);
    std::vector<int32_t> streamed;
    std::string text;
    const std::vector<int32_t> ids = session.generate({7, 8, 9}, greedy(5), [&](int32_t id, std::string_view piece) {
        streamed.push_back(id);
        text += piece;
        return false;
    });
    EXPECT_EQ(ids.size(), 5u);
    EXPECT_EQ(streamed, ids);

    session.reset();
    int calls = 0;
    const std::vector<int32_t> stopped =
        session.generate({7, 8, 9}, greedy(5), [&](int32_t, std::string_view) { return ++calls == 2; });
    EXPECT_EQ(calls, 2);
    ASSERT_EQ(stopped.size(), 2u);
    EXPECT_EQ(stopped[0], ids[0]);
    EXPECT_EQ(stopped[1], ids[1]);
}

TEST_F(WithTokenizer, ExceptionInCallbackIsRethrownAndSessionStaysUsable) {
    struct Custom : std::runtime_error {
        Custom() : std::runtime_error("custom") {}
    };
    const krait::Model model = krait::Model::load(dir_.string());
    krait::Session session(model, 1);
    int calls = 0;
    EXPECT_THROW(session.generate({7, 8, 9}, greedy(5),
                                  [&](int32_t, std::string_view) -> bool {
                                      if (++calls == 2) throw Custom();
                                      return false;
                                  }),
                 Custom);
    EXPECT_EQ(calls, 2) << "the callback ran again after it threw";
    session.reset();
    EXPECT_EQ(session.generate({7, 8, 9}, greedy(3)).size(), 3u);
}

TEST_F(WithTokenizer, AbortFromCallbackThrowsAborted) {
    const krait::Model model = krait::Model::load(dir_.string());
    krait::Session session(model, 1);
    int calls = 0;
    expect_status(KRAIT_ERR_ABORTED, [&] {
        session.generate({7, 8, 9}, greedy(10), [&](int32_t, std::string_view) {
            if (++calls == 2) session.abort();
            return false;
        });
    });
    EXPECT_EQ(calls, 2);
    // The aborted call consumed the request.
    EXPECT_EQ(session.generate({7, 8, 9}, greedy(3)).size(), 3u);
}

TEST_F(WithTokenizer, AbortBeforeACallAndClearAbort) {
    const krait::Model model = krait::Model::load(dir_.string());
    krait::Session session(model, 1);
    session.abort();  // no call runs: the next one takes it
    expect_status(KRAIT_ERR_ABORTED, [&] { session.forward({7, 8}, 1, 2); });
    EXPECT_EQ(session.forward({7, 8}, 1, 2).size(), 2u * static_cast<size_t>(kVocab));
    session.abort();
    session.clear_abort();
    EXPECT_EQ(session.generate({7, 8, 9}, greedy(3)).size(), 3u);
}

TEST_F(WithTokenizer, BorrowedTokenizerRoundTrips) {
    const krait::Model model = krait::Model::load(dir_.string());
    const krait::Tokenizer tok = model.tokenizer();
    EXPECT_FALSE(tok.owning());
    EXPECT_EQ(tok.vocab_size(), 1478);
    // Expected ids from tests/fixtures/tokenizer/bytelevel_neox.expected.json (HF tokenizers).
    const std::vector<int32_t> ids = tok.encode("Hello world");
    EXPECT_EQ(ids, (std::vector<int32_t>{41, 70, 290, 80, 279, 295, 623}));
    EXPECT_EQ(tok.decode(ids), "Hello world");
    EXPECT_TRUE(tok.encode("").empty());
    EXPECT_EQ(tok.decode(std::vector<int32_t>{}), "");
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { tok.decode(std::vector<int32_t>{1478}); });
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { tok.encode("\xff\xfe"); });  // not UTF-8
}

TEST(CppWrapper, OwnedTokenizerLoadAndErrors) {
    krait::Tokenizer tok = krait::Tokenizer::load(kTokenizerFile);
    EXPECT_TRUE(tok.owning());
    // Longer than the first guess of the encode buffer would be if tokens were
    // bytes: exercises the exact-size path as well.
    std::string long_text;
    for (int k = 0; k < 200; ++k) long_text += "Hello, world! ";
    EXPECT_EQ(tok.decode(tok.encode(long_text)), long_text);
    expect_status(KRAIT_ERR_IO, [] { krait::Tokenizer::load("tests/fixtures/tokenizer/does_not_exist.json"); });
}

TEST(CppWrapper, MovedFromHandlesFailCleanly) {
    krait::Model a = krait::Model::load(kModelDir);
    krait::Model b = std::move(a);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): the point of the test
    EXPECT_TRUE(b);
    EXPECT_EQ(b.info().vocab_size, kVocab);
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { a.info(); });
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { krait::Session s(a); });

    krait::Session s1(b, 1);
    const std::vector<float> before = s1.forward({1, 2}, 1, 2);
    krait::Session s2 = std::move(s1);
    EXPECT_FALSE(s1);
    EXPECT_EQ(s2.forward({1, 2}, 1, 2), before);
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { s1.forward({1, 2}, 1, 2); });
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { s1.reset(); });
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { s1.generate({1}, greedy(2)); });
    s1.abort();  // NULL: a no-op, never a crash
    s1.clear_abort();

    // Move assignment releases the handle it replaces (leaks show under ASan).
    krait::Session s3(b, 1);
    s3 = std::move(s2);
    EXPECT_FALSE(s2);
    EXPECT_EQ(s3.forward({1, 2}, 1, 2), before);

    krait::Tokenizer t1 = krait::Tokenizer::load(kTokenizerFile);
    krait::Tokenizer t2 = std::move(t1);
    EXPECT_FALSE(t1);
    EXPECT_TRUE(t2.owning());
    expect_status(KRAIT_ERR_INVALID_ARGUMENT, [&] { t1.encode("a"); });
    EXPECT_EQ(t2.decode(t2.encode("abc")), "abc");
}

// Pictures through krait.hpp: Model::preprocess_image (file and encoded bytes) gives what the C calls give,
// and Conversation::say_images on the demo assistant gives the replies of the C call it wraps.
TEST(CppWrapper, PicturesAndAnAssistantConversation) {
    const std::string dir = "models/shapes-mamba-assistant";
    const std::string picture = "models/samples/shapes_1.png";
    const krait::Model model = krait::Model::load(dir);
    const krait_model_info info = model.info();
    ASSERT_EQ(info.kind, KRAIT_MODEL_ASSISTANT);

    size_t n = 0;
    ASSERT_EQ(krait_model_preprocess_image_file(model.get(), picture.c_str(), nullptr, 0, &n), KRAIT_OK);
    std::vector<float> expected(n);
    ASSERT_EQ(krait_model_preprocess_image_file(model.get(), picture.c_str(), expected.data(), n, &n), KRAIT_OK);
    const std::vector<float> pixels = model.preprocess_image(picture);
    EXPECT_EQ(pixels, expected);
    EXPECT_EQ(pixels.size(), static_cast<size_t>(3 * info.image_height * info.image_width));
    std::string bytes;
    {
        FILE* f = std::fopen(picture.c_str(), "rb");
        ASSERT_NE(f, nullptr);
        char buf[4096];
        for (size_t got; (got = std::fread(buf, 1, sizeof buf, f)) > 0;) bytes.append(buf, got);
        std::fclose(f);
    }
    EXPECT_EQ(model.preprocess_image(bytes.data(), bytes.size()), expected);
    expect_status(KRAIT_ERR_FORMAT, [&] { model.preprocess_image("not a picture", 13); });

    krait::GenerateOptions options;
    options.max_new_tokens = 24;
    options.sampling.temperature = 0.0f;
    // The reference: the same turn through the C call.
    krait::Session c_session(model);
    krait::Conversation c_chat(c_session);
    krait_generate_params params;
    krait_generate_params_init(&params);
    params.max_new_tokens = options.max_new_tokens;
    params.sampling.temperature = 0.0f;
    ASSERT_EQ(krait_conversation_say_images(c_chat.get(), "What colour is the circle?", expected.data(), 1,
                                            info.image_height, info.image_width, &params),
              KRAIT_OK)
        << krait_last_error();
    const std::string c_reply = c_chat.messages().back().content;

    krait::Session session(model);
    krait::Conversation chat(session);
    std::string streamed;
    const std::string reply = chat.say_images("What colour is the circle?", pixels, 1, info.image_height,
                                              info.image_width, options, [&](int32_t, std::string_view piece) {
                                                  streamed += piece;
                                                  return false;
                                              });
    EXPECT_EQ(reply, c_reply);
    EXPECT_EQ(streamed, reply);
    EXPECT_FALSE(reply.empty());
    EXPECT_EQ(chat.stats().images_encoded, 1);
    // A wrong picture size is refused with a message, and the conversation stays usable.
    expect_status(KRAIT_ERR_INVALID_ARGUMENT,
                  [&] { chat.say_images("And this?", pixels, 1, info.image_height + 1, info.image_width, options); });
    EXPECT_EQ(chat.messages().size(), 2u);
    EXPECT_FALSE(chat.say("And where is it?", options).empty());
}
