// The C ABI through the public header only: results equal the reference
// fixtures, and every error path returns its status, a message that names
// the problem, and leaves out-parameters untouched.
#include <gtest/gtest.h>

#include <cstdlib>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "krait/krait.h"

namespace {

namespace fs = std::filesystem;
const std::string kTied = "tests/fixtures/mamba/f32_tied";

// Reads a tensor out of expected.safetensors with nothing but the format's
// definition, so these tests do not depend on Krait's own parser.
template <class T>
std::vector<T> read_expected(const std::string& dir, const std::string& name, std::vector<int64_t>* shape = nullptr) {
    std::ifstream in(dir + "/expected.safetensors", std::ios::binary);
    uint64_t n = 0;
    in.read(reinterpret_cast<char*>(&n), 8);
    std::string header(n, '\0');
    in.read(header.data(), static_cast<std::streamsize>(n));
    const auto key = header.find("\"" + name + "\"");
    if (key == std::string::npos) throw std::runtime_error("no " + name);
    auto number_after = [&](size_t& pos) {
        pos = header.find_first_of("0123456789", pos);
        size_t end = header.find_first_not_of("0123456789", pos);
        int64_t v = std::stoll(header.substr(pos, end - pos));
        pos = end;
        return v;
    };
    size_t pos = header.find("\"shape\"", key);
    const size_t shape_end = header.find(']', pos);
    std::vector<int64_t> dims;
    while (true) {
        size_t probe = header.find_first_of("0123456789", pos);
        if (probe > shape_end) break;
        dims.push_back(number_after(pos));
    }
    if (shape) *shape = dims;
    pos = header.find("\"data_offsets\"", key);
    const int64_t begin = number_after(pos), end = number_after(pos);
    std::vector<T> out(static_cast<size_t>(end - begin) / sizeof(T));
    in.seekg(static_cast<std::streamoff>(8 + n + begin));
    in.read(reinterpret_cast<char*>(out.data()), end - begin);
    return out;
}

struct ModelAndSession {
    krait_model* model = nullptr;
    krait_session* session = nullptr;
    explicit ModelAndSession(const std::string& dir) {
        if (krait_model_load(dir.c_str(), nullptr, &model) != KRAIT_OK) throw std::runtime_error(krait_last_error());
        if (krait_session_create(model, nullptr, &session) != KRAIT_OK) throw std::runtime_error(krait_last_error());
    }
    ~ModelAndSession() {
        krait_session_free(session);
        krait_model_free(model);
    }
};

// A copy of a fixture model with a tokenizer.json added (for text paths).
std::string model_with_tokenizer() {
    const fs::path dir = fs::temp_directory_path() / ("krait_abi_tok_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    for (const char* f : {"config.json", "model.safetensors"})
        fs::copy_file(fs::path(kTied) / f, dir / f, fs::copy_options::overwrite_existing);
    fs::copy_file("tests/fixtures/tokenizer/bytelevel_neox.tokenizer.json", dir / "tokenizer.json",
                  fs::copy_options::overwrite_existing);
    return dir.string();
}

TEST(Version, HeaderMatchesLibrary) {
    EXPECT_EQ(krait_version(), static_cast<uint32_t>(KRAIT_VERSION_NUMBER));
    EXPECT_STREQ(krait_version_string(), "1.10.0");
    EXPECT_STREQ(krait_status_string(KRAIT_ERR_FORMAT), "malformed input");
}

// The CPU units are named with static strings, one of the documented names; a BF16 unit needs the
// avx512 kernels (it runs inside them), and KRAIT_BF16_PRODUCTS=none (when set) turns it off.
TEST(Version, CpuKernelsAndBf16ProductsAreNamed) {
    const std::string kernels = krait_cpu_kernels(), unit = krait_cpu_bf16_products();
    EXPECT_TRUE(kernels == "portable" || kernels == "avx2" || kernels == "avx512") << kernels;
    EXPECT_TRUE(unit == "none" || unit == "avx512_bf16" || unit == "amx") << unit;
    EXPECT_EQ(krait_cpu_bf16_products(), krait_cpu_bf16_products());  // static
    const char* cap = std::getenv("KRAIT_BF16_PRODUCTS");
    if (cap && std::string(cap) == "none") {
        EXPECT_EQ(unit, "none");
    }
    if (unit != "none") {
        EXPECT_EQ(kernels, "avx512");
    }
}

TEST(Errors, NullArgumentsAreRejectedAndNamed) {
    krait_model* model = reinterpret_cast<krait_model*>(0x1);  // must stay untouched
    EXPECT_EQ(krait_model_load(nullptr, nullptr, &model), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("path"), std::string::npos);
    EXPECT_EQ(model, reinterpret_cast<krait_model*>(0x1));
    EXPECT_EQ(krait_model_load(kTied.c_str(), nullptr, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_create(nullptr, nullptr, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    size_t n = 0;
    EXPECT_EQ(krait_session_forward(nullptr, nullptr, 1, 1, nullptr, 0, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_generate(nullptr, nullptr, 0, nullptr, nullptr, 0, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_append(nullptr, nullptr, 0, nullptr, 0), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_tokenizer_encode(nullptr, "a", 1, 0, nullptr, 0, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_tokenizer_load(nullptr, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_model_get_info(nullptr, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    // Free functions accept NULL.
    krait_model_free(nullptr);
    krait_session_free(nullptr);
    krait_tokenizer_free(nullptr);
    krait_session_abort(nullptr);
    krait_session_clear_abort(nullptr);
}

TEST(Errors, LoadFailuresCarryStatusAndMessage) {
    krait_model* model = nullptr;
    EXPECT_EQ(krait_model_load("tests/fixtures/does-not-exist", nullptr, &model), KRAIT_ERR_IO);
    EXPECT_NE(std::string(krait_last_error()).find("does-not-exist"), std::string::npos);
    EXPECT_EQ(krait_model_load("tests/fixtures/bad/wrong_shape", nullptr, &model), KRAIT_ERR_FORMAT);
    EXPECT_NE(std::string(krait_last_error()).find("backbone.layers.1.mixer.A_log"), std::string::npos);
    EXPECT_EQ(krait_model_load("tests/fixtures/bad/config_unknown_model_type", nullptr, &model), KRAIT_ERR_UNSUPPORTED);
    EXPECT_EQ(model, nullptr);
    krait_model_params params;
    krait_model_params_init(&params);
    params.device = KRAIT_DEVICE_CUDA;
    EXPECT_EQ(krait_model_load(kTied.c_str(), &params, &model), KRAIT_ERR_UNSUPPORTED);
    EXPECT_EQ(model, nullptr);
}

TEST(Load, ProgressIsReportedAndCanCancel) {
    struct Seen {
        std::vector<float> fractions;
        bool cancel = false;
    } seen;
    krait_model_params params;
    krait_model_params_init(&params);
    params.progress = [](float f, void* user) {
        auto* s = static_cast<Seen*>(user);
        s->fractions.push_back(f);
        return s->cancel && f > 0.3f ? 1 : 0;
    };
    params.progress_user_data = &seen;
    krait_model* model = nullptr;
    ASSERT_EQ(krait_model_load(kTied.c_str(), &params, &model), KRAIT_OK) << krait_last_error();
    ASSERT_GE(seen.fractions.size(), 2u);
    EXPECT_FLOAT_EQ(seen.fractions.back(), 1.0f);
    krait_model_free(model);
    model = nullptr;
    seen.cancel = true;
    EXPECT_EQ(krait_model_load(kTied.c_str(), &params, &model), KRAIT_ERR_CANCELLED);
    EXPECT_EQ(model, nullptr);
}

TEST(Load, LogCallbackReceivesMessages) {
    static std::vector<std::string> messages;
    krait_set_log_callback([](krait_log_level, const char* m, void*) { messages.push_back(m); }, nullptr, KRAIT_LOG_INFO);
    { ModelAndSession ms(kTied); }
    krait_set_log_callback(nullptr, nullptr, KRAIT_LOG_WARN);
    ASSERT_FALSE(messages.empty());
    EXPECT_NE(messages.back().find("f32_tied"), std::string::npos);
}

TEST(Info, DescribesTheModel) {
    ModelAndSession ms(kTied);
    krait_model_info info;
    info.struct_size = sizeof info;
    ASSERT_EQ(krait_model_get_info(ms.model, &info), KRAIT_OK);
    EXPECT_EQ(info.kind, KRAIT_MODEL_SEQUENCE);
    EXPECT_STREQ(info.architecture, "mamba");
    EXPECT_EQ(info.vocab_size, 97);
    EXPECT_EQ(info.hidden_size, 32);
    EXPECT_EQ(info.num_layers, 2);
    EXPECT_STREQ(info.source_dtype, "F32");
    EXPECT_GT(info.num_parameters, 0);
    const krait_tokenizer* tok = nullptr;
    EXPECT_EQ(krait_model_get_tokenizer(ms.model, &tok), KRAIT_ERR_UNSUPPORTED);  // fixture has no tokenizer.json
}

TEST(Forward, MatchesReferenceLogitsAndQueriesSize) {
    ModelAndSession ms(kTied);
    std::vector<int64_t> shape;
    const auto ids = read_expected<int32_t>(kTied, "input_ids", &shape);
    const auto want = read_expected<float>(kTied, "logits");
    size_t needed = 0;
    ASSERT_EQ(krait_session_forward(ms.session, ids.data(), shape[0], shape[1], nullptr, 0, &needed), KRAIT_OK);
    ASSERT_EQ(needed, want.size());
    std::vector<float> small(needed - 1);
    size_t n_out = 0;
    EXPECT_EQ(krait_session_forward(ms.session, ids.data(), shape[0], shape[1], small.data(), small.size(), &n_out),
              KRAIT_ERR_BUFFER_TOO_SMALL);
    EXPECT_EQ(n_out, needed);
    std::vector<float> logits(needed);
    ASSERT_EQ(krait_session_forward(ms.session, ids.data(), shape[0], shape[1], logits.data(), logits.size(), &n_out),
              KRAIT_OK)
        << krait_last_error();
    float worst = 0, scale = 1;
    for (size_t i = 0; i < want.size(); ++i) {
        worst = std::max(worst, std::fabs(logits[i] - want[i]));
        scale = std::max(scale, std::fabs(want[i]));
    }
    EXPECT_LE(worst, 1e-5f * scale);
}

TEST(Forward, BadShapesAndIdsAreRejected) {
    ModelAndSession ms(kTied);
    const int32_t ids[] = {1, 2, 97};
    std::vector<float> logits(3 * 97);
    size_t n_out = 12345;
    EXPECT_EQ(krait_session_forward(ms.session, ids, 1, 3, logits.data(), logits.size(), &n_out), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("token id 97"), std::string::npos) << krait_last_error();
    EXPECT_EQ(krait_session_forward(ms.session, ids, 0, 3, logits.data(), logits.size(), &n_out), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_forward(ms.session, ids, 1, -1, logits.data(), logits.size(), &n_out), KRAIT_ERR_INVALID_ARGUMENT);
    const int32_t negative[] = {-5};
    EXPECT_EQ(krait_session_append(ms.session, negative, 1, nullptr, 0), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_append(ms.session, ids, 0, nullptr, 0), KRAIT_ERR_INVALID_ARGUMENT);
}

TEST(Generate, GreedyMatchesTransformersAndContinuesContext) {
    ModelAndSession ms(kTied);
    const auto prompt = read_expected<int32_t>(kTied, "prompt_ids");
    const auto want = read_expected<int32_t>(kTied, "greedy_ids");
    krait_generate_params params;
    krait_generate_params_init(&params);
    params.max_new_tokens = static_cast<int32_t>(want.size());
    params.sampling.temperature = 0.0f;
    params.stop_at_eos = 0;
    std::vector<int32_t> out(want.size());
    size_t n = 0;
    ASSERT_EQ(krait_session_generate(ms.session, prompt.data(), prompt.size(), &params, out.data(), out.size(), &n),
              KRAIT_OK)
        << krait_last_error();
    ASSERT_EQ(n, want.size());
    EXPECT_EQ(out, want);

    // Splitting the generation over two calls (the second with an empty
    // prompt, continuing the context) gives the same tokens.
    ASSERT_EQ(krait_session_reset(ms.session), KRAIT_OK);
    const size_t half = want.size() / 2;
    params.max_new_tokens = static_cast<int32_t>(half);
    std::vector<int32_t> first(half), second(want.size() - half);
    ASSERT_EQ(krait_session_generate(ms.session, prompt.data(), prompt.size(), &params, first.data(), first.size(), &n), KRAIT_OK);
    params.max_new_tokens = static_cast<int32_t>(want.size() - half);
    ASSERT_EQ(krait_session_generate(ms.session, nullptr, 0, &params, second.data(), second.size(), &n), KRAIT_OK);
    first.insert(first.end(), second.begin(), second.end());
    EXPECT_EQ(first, want);
}

TEST(Generate, InvalidRequestsNameTheProblem) {
    ModelAndSession ms(kTied);
    krait_generate_params params;
    krait_generate_params_init(&params);
    size_t n = 0;
    int32_t out[4];
    EXPECT_EQ(krait_session_generate(ms.session, nullptr, 0, &params, out, 4, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("empty prompt"), std::string::npos);
    const int32_t prompt[] = {1, 2, 3};
    params.sampling.top_p = 1.5f;
    EXPECT_EQ(krait_session_generate(ms.session, prompt, 3, &params, out, 4, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("top_p"), std::string::npos) << krait_last_error();
    krait_generate_params_init(&params);
    params.sampling.temperature = NAN;
    EXPECT_EQ(krait_session_generate(ms.session, prompt, 3, &params, out, 4, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("temperature"), std::string::npos) << krait_last_error();
    krait_generate_params_init(&params);
    params.max_new_tokens = 0;
    EXPECT_EQ(krait_session_generate(ms.session, prompt, 3, &params, out, 4, &n), KRAIT_ERR_INVALID_ARGUMENT);
    krait_generate_params_init(&params);
    const char* stop[] = {"x"};
    params.stop_strings = stop;
    params.n_stop_strings = 1;
    EXPECT_EQ(krait_session_generate(ms.session, prompt, 3, &params, out, 4, &n), KRAIT_ERR_UNSUPPORTED);
    EXPECT_NE(std::string(krait_last_error()).find("tokenizer"), std::string::npos);
}

TEST(Generate, SeededSamplingIsDeterministic) {
    ModelAndSession ms(kTied);
    const int32_t prompt[] = {5, 9, 13};
    krait_generate_params params;
    krait_generate_params_init(&params);
    params.max_new_tokens = 24;
    params.stop_at_eos = 0;
    params.sampling.temperature = 1.3f;
    params.sampling.top_k = 0;
    params.sampling.seed = 42;
    std::vector<int32_t> a(24), b(24), c(24);
    size_t n = 0;
    ASSERT_EQ(krait_session_generate(ms.session, prompt, 3, &params, a.data(), a.size(), &n), KRAIT_OK);
    krait_session_reset(ms.session);
    ASSERT_EQ(krait_session_generate(ms.session, prompt, 3, &params, b.data(), b.size(), &n), KRAIT_OK);
    EXPECT_EQ(a, b);
    krait_session_reset(ms.session);
    params.sampling.seed = 43;
    ASSERT_EQ(krait_session_generate(ms.session, prompt, 3, &params, c.data(), c.size(), &n), KRAIT_OK);
    EXPECT_NE(a, c);  // 24 draws at temperature 1.3 over 97 tokens: equal sequences would mean the seed is ignored
}

TEST(Generate, StreamsValidTextAndStopsOnStrings) {
    const std::string dir = model_with_tokenizer();
    ModelAndSession ms(dir);
    const krait_tokenizer* tok = nullptr;
    ASSERT_EQ(krait_model_get_tokenizer(ms.model, &tok), KRAIT_OK);
    struct Stream {
        std::string text;
        std::vector<int32_t> ids;
    } stream;
    krait_generate_params params;
    krait_generate_params_init(&params);
    params.max_new_tokens = 40;
    params.stop_at_eos = 0;
    params.sampling.temperature = 0.0f;
    params.on_token = [](int32_t id, const char* piece, size_t len, void* user) {
        auto* s = static_cast<Stream*>(user);
        s->ids.push_back(id);
        s->text.append(piece, len);
        return 0;
    };
    params.user_data = &stream;
    const int32_t prompt[] = {10, 20, 30};
    std::vector<int32_t> out(40);
    size_t n = 0;
    ASSERT_EQ(krait_session_generate(ms.session, prompt, 3, &params, out.data(), out.size(), &n), KRAIT_OK)
        << krait_last_error();
    ASSERT_EQ(n, 40u);
    EXPECT_EQ(stream.ids, std::vector<int32_t>(out.begin(), out.end()));
    // The streamed pieces concatenate to the decoded generation.
    size_t len = 0;
    ASSERT_EQ(krait_tokenizer_decode(tok, out.data(), n, nullptr, 0, &len), KRAIT_OK);
    std::string decoded(len, '\0');
    ASSERT_EQ(krait_tokenizer_decode(tok, out.data(), n, decoded.data(), decoded.size(), &len), KRAIT_OK);
    EXPECT_EQ(stream.text, decoded);

    // Stop on a string taken from the middle of that text: output ends right before it.
    ASSERT_GT(decoded.size(), 12u);
    const std::string stop = decoded.substr(decoded.size() / 2, 3);
    const char* stops[] = {stop.c_str()};
    params.stop_strings = stops;
    params.n_stop_strings = 1;
    stream = Stream{};
    krait_session_reset(ms.session);
    ASSERT_EQ(krait_session_generate(ms.session, prompt, 3, &params, out.data(), out.size(), &n), KRAIT_OK);
    EXPECT_LT(n, 40u);
    EXPECT_EQ(stream.text, decoded.substr(0, decoded.find(stop)));
    fs::remove_all(dir);
}

TEST(Abort, StopsGenerationAndKeepsTheSessionUsable) {
    ModelAndSession ms(kTied);
    struct Ctx {
        krait_session* session;
        int seen = 0;
    } ctx{ms.session};
    krait_generate_params params;
    krait_generate_params_init(&params);
    params.max_new_tokens = 50;
    params.stop_at_eos = 0;
    params.on_token = [](int32_t, const char*, size_t, void* user) {
        auto* c = static_cast<Ctx*>(user);
        if (++c->seen == 3) krait_session_abort(c->session);  // as another thread would
        return 0;
    };
    params.user_data = &ctx;
    const int32_t prompt[] = {1, 2};
    std::vector<int32_t> out(50);
    size_t n = 0;
    // The token callback needs a tokenizer only for text; ids stream without one.
    krait_status st = krait_session_generate(ms.session, prompt, 2, &params, out.data(), out.size(), &n);
    if (st == KRAIT_ERR_UNSUPPORTED) GTEST_FAIL() << "streaming ids without a tokenizer should work: " << krait_last_error();
    EXPECT_EQ(st, KRAIT_ERR_ABORTED);
    EXPECT_EQ(ctx.seen, 3);
    // The aborted call consumed the request: the next call runs.
    params.on_token = nullptr;
    params.max_new_tokens = 2;
    EXPECT_EQ(krait_session_generate(ms.session, prompt, 2, &params, out.data(), out.size(), &n), KRAIT_OK);
    EXPECT_EQ(n, 2u);
}

// Requests from another thread, before a call and during one, in lock step and without timing:
// tests/abi/abi_rules_test.cpp (AbortSemantics).

TEST(Tokenizer, EncodeDecodeAndErrors) {
    krait_tokenizer* tok = nullptr;
    ASSERT_EQ(krait_tokenizer_load("tests/fixtures/tokenizer/bytelevel_neox.tokenizer.json", &tok), KRAIT_OK)
        << krait_last_error();
    const std::string text = "Hello, world! 123";
    size_t n = 0;
    ASSERT_EQ(krait_tokenizer_encode(tok, text.data(), text.size(), 0, nullptr, 0, &n), KRAIT_OK);
    ASSERT_GT(n, 0u);
    std::vector<int32_t> ids(n);
    if (n > 1) {
        size_t m = 0;
        EXPECT_EQ(krait_tokenizer_encode(tok, text.data(), text.size(), 0, ids.data(), 1, &m), KRAIT_ERR_BUFFER_TOO_SMALL);
        EXPECT_EQ(m, n);
    }
    ASSERT_EQ(krait_tokenizer_encode(tok, text.data(), text.size(), 0, ids.data(), ids.size(), &n), KRAIT_OK);
    std::string back(64, '\0');
    size_t len = 0;
    ASSERT_EQ(krait_tokenizer_decode(tok, ids.data(), ids.size(), back.data(), back.size(), &len), KRAIT_OK);
    EXPECT_EQ(back.substr(0, len), text);

    const char invalid[] = {'a', '\xff', 'b'};
    EXPECT_EQ(krait_tokenizer_encode(tok, invalid, 3, 0, ids.data(), ids.size(), &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("UTF-8"), std::string::npos) << krait_last_error();
    int64_t vocab = 0;
    ASSERT_EQ(krait_tokenizer_vocab_size(tok, &vocab), KRAIT_OK);
    const int32_t bad_id = static_cast<int32_t>(vocab);
    EXPECT_EQ(krait_tokenizer_decode(tok, &bad_id, 1, back.data(), back.size(), &len), KRAIT_ERR_INVALID_ARGUMENT);
    krait_tokenizer_free(tok);

    EXPECT_EQ(krait_tokenizer_load("tests/fixtures/tokenizer/broken.tokenizer.json", &tok), KRAIT_ERR_FORMAT);
    EXPECT_EQ(krait_tokenizer_load("tests/fixtures/tokenizer/none.json", &tok), KRAIT_ERR_IO);
}

TEST(Abi, DecodeSkipsSpecialTokensOnRequest) {
    // ids_special / decode / decode_skip of the case "Hello world" in llama3.expected.json, made by
    // tools/gen_tokenizer_fixtures.py with HF tokenizers (1400 is <|begin_of_text|>); the whole fixture
    // suite is compared in tokenizer_test.cpp and test_tokenizer.py, this checks the C entry point.
    krait_tokenizer* tok = nullptr;
    ASSERT_EQ(krait_tokenizer_load("tests/fixtures/tokenizer/llama3.tokenizer.json", &tok), KRAIT_OK);
    const int32_t ids[] = {1400, 39, 68, 291, 78, 280, 296, 959};
    std::string text(64, '\0');
    size_t len = 0;
    ASSERT_EQ(krait_tokenizer_decode_v2(tok, ids, 8, 1, text.data(), text.size(), &len), KRAIT_OK);
    EXPECT_EQ(text.substr(0, len), "Hello world");
    ASSERT_EQ(krait_tokenizer_decode_v2(tok, ids, 8, 0, text.data(), text.size(), &len), KRAIT_OK);
    EXPECT_EQ(text.substr(0, len), "<|begin_of_text|>Hello world");
    ASSERT_EQ(krait_tokenizer_decode(tok, ids, 8, text.data(), text.size(), &len), KRAIT_OK);
    EXPECT_EQ(text.substr(0, len), "<|begin_of_text|>Hello world");
    EXPECT_EQ(krait_tokenizer_decode_v2(tok, ids, 8, 1, text.data(), 3, &len), KRAIT_ERR_BUFFER_TOO_SMALL);
    EXPECT_EQ(len, 11u);
    EXPECT_EQ(krait_tokenizer_decode_v2(nullptr, ids, 8, 1, text.data(), text.size(), &len), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_tokenizer_decode_v2(tok, nullptr, 8, 1, text.data(), text.size(), &len), KRAIT_ERR_INVALID_ARGUMENT);
    krait_tokenizer_free(tok);
}

}  // namespace
