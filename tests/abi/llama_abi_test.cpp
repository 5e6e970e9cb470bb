// Llama-family models through the C ABI: the same calls as Mamba (krait_session_forward / append /
// generate), the KV cache sized by krait_session_params.context_length.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "krait/krait.h"
#include "tests/common/reference_tensors.h"

namespace {

using krait::testing::read_tensor;

std::string fixture(const std::string& name) { return "tests/fixtures/llama/" + name; }

// max |got - want| <= rel * max(1, max |want|)
::testing::AssertionResult close(const std::vector<float>& got, const std::vector<float>& want, float rel) {
    if (got.size() != want.size()) return ::testing::AssertionFailure() << "sizes differ";
    float scale = 1.0f, worst = 0.0f;
    for (float w : want) scale = std::max(scale, std::fabs(w));
    for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
    if (worst <= rel * scale) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "max difference " << worst << ", allowed " << rel * scale;
}

struct Loaded {
    explicit Loaded(const char* dir, int64_t context_length = 0) {
        EXPECT_EQ(krait_model_load(dir, nullptr, &model), KRAIT_OK) << krait_last_error();
        krait_session_params sp;
        krait_session_params_init(&sp);
        sp.n_threads = 2;
        sp.context_length = context_length;
        EXPECT_EQ(krait_session_create(model, &sp, &session), KRAIT_OK) << krait_last_error();
    }
    ~Loaded() {
        krait_session_free(session);
        krait_model_free(model);
    }
    krait_model* model = nullptr;
    krait_session* session = nullptr;
};

TEST(LlamaAbi, InfoAndForwardMatchTheFixture) {
    const std::string dir = fixture("qwen2_bias");
    Loaded m(dir.c_str());
    krait_model_info info;
    info.struct_size = sizeof info;
    ASSERT_EQ(krait_model_get_info(m.model, &info), KRAIT_OK);
    EXPECT_STREQ(info.architecture, "qwen2");
    EXPECT_EQ(info.kind, KRAIT_MODEL_SEQUENCE);
    EXPECT_EQ(info.vocab_size, 101);
    EXPECT_EQ(info.state_size, 0);
    EXPECT_EQ(info.eos_token_id, 2);

    std::vector<int64_t> shape;
    const auto ids = read_tensor<int32_t>(dir + "/expected.safetensors", "input_ids", &shape);
    const auto want = read_tensor<float>(dir + "/expected.safetensors", "logits");
    const int64_t B = shape[0], L = shape[1];
    std::vector<float> logits(want.size());
    size_t n_out = 0;
    ASSERT_EQ(krait_session_forward(m.session, ids.data(), B, L, logits.data(), logits.size(), &n_out), KRAIT_OK)
        << krait_last_error();
    EXPECT_EQ(n_out, want.size());
    EXPECT_TRUE(close(logits, want, 1e-5f));
}

TEST(LlamaAbi, GreedyGenerationMatchesTransformers) {
    const std::string dir = fixture("mistral_window");
    Loaded m(dir.c_str());
    const auto prompt = read_tensor<int32_t>(dir + "/expected.safetensors", "prompt");
    const auto want = read_tensor<int32_t>(dir + "/expected.safetensors", "greedy");
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    gp.max_new_tokens = static_cast<int32_t>(want.size());
    gp.sampling.temperature = 0.0f;
    gp.stop_at_eos = 0;
    std::vector<int32_t> out(want.size());
    size_t n = 0;
    ASSERT_EQ(krait_session_generate(m.session, prompt.data(), prompt.size(), &gp, out.data(), out.size(), &n), KRAIT_OK)
        << krait_last_error();
    EXPECT_EQ(out, want);
}

TEST(LlamaAbi, TheContextLengthBoundsTheSession) {
    const std::string dir = fixture("llama_gqa");
    Loaded m(dir.c_str(), 10);
    const int32_t ids[8] = {3, 4, 5, 6, 7, 8, 9, 10};
    std::vector<float> before(101), after(101);
    ASSERT_EQ(krait_session_append(m.session, ids, 8, before.data(), before.size()), KRAIT_OK) << krait_last_error();
    // 8 + 3 > 10: refused, naming both sizes, and the context is untouched.
    EXPECT_EQ(krait_session_append(m.session, ids, 3, nullptr, 0), KRAIT_ERR_INVALID_ARGUMENT);
    const std::string message = krait_last_error();
    EXPECT_NE(message.find("11"), std::string::npos) << message;
    EXPECT_NE(message.find("10"), std::string::npos) << message;
    // Generation stops when the context is full: 2 more tokens fit, a third is produced but not run.
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    gp.max_new_tokens = 20;
    gp.sampling.temperature = 0.0f;
    gp.stop_at_eos = 0;
    int32_t out[20];
    size_t n = 0;
    ASSERT_EQ(krait_session_generate(m.session, nullptr, 0, &gp, out, 20, &n), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(n, 3u);
    // A reset empties the context again.
    ASSERT_EQ(krait_session_reset(m.session), KRAIT_OK);
    ASSERT_EQ(krait_session_append(m.session, ids, 8, after.data(), after.size()), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(before, after);

    krait_session_params sp;
    krait_session_params_init(&sp);
    sp.context_length = -1;
    krait_session* bad = nullptr;
    EXPECT_EQ(krait_session_create(m.model, &sp, &bad), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(bad, nullptr);
}

}  // namespace
