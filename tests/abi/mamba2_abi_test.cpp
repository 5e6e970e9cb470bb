// Mamba-2 through the C ABI only: the family is found by config.json's model_type, and the same
// calls as Mamba serve it (forward, generate, snapshot / restore / truncate, saved states).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "krait/krait.h"
#include "tests/common/reference_tensors.h"

namespace {

using krait::testing::read_tensor;

std::string fixture(const std::string& name) { return "tests/fixtures/mamba2/" + name; }

::testing::AssertionResult close(const std::vector<float>& got, const std::vector<float>& want, float rel) {
    if (got.size() != want.size()) return ::testing::AssertionFailure() << "sizes differ";
    float scale = 1.0f, worst = 0.0f;
    for (float w : want) scale = std::max(scale, std::fabs(w));
    for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
    if (worst <= rel * scale) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "max difference " << worst << ", allowed " << rel * scale;
}

struct Loaded {
    explicit Loaded(const std::string& dir) {
        EXPECT_EQ(krait_model_load(dir.c_str(), nullptr, &model), KRAIT_OK) << krait_last_error();
        krait_session_params sp;
        krait_session_params_init(&sp);
        sp.n_threads = 2;
        EXPECT_EQ(krait_session_create(model, &sp, &session), KRAIT_OK) << krait_last_error();
    }
    ~Loaded() {
        krait_session_free(session);
        krait_model_free(model);
    }
    krait_model* model = nullptr;
    krait_session* session = nullptr;
};

krait_generate_params greedy(size_t n) {
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    gp.max_new_tokens = static_cast<int32_t>(n);
    gp.sampling.temperature = 0.0f;
    gp.stop_at_eos = 0;
    return gp;
}

TEST(Mamba2Abi, InfoForwardAndGenerateMatchTransformers) {
    for (const char* name : {"f32_g1_tied", "f32_g2_untied", "bf16"}) {
        SCOPED_TRACE(name);
        const std::string dir = fixture(name);
        Loaded m(dir);
        krait_model_info info;
        info.struct_size = sizeof info;
        ASSERT_EQ(krait_model_get_info(m.model, &info), KRAIT_OK);
        EXPECT_STREQ(info.architecture, "mamba2");
        EXPECT_EQ(info.kind, KRAIT_MODEL_SEQUENCE);
        EXPECT_EQ(info.vocab_size, 61);

        std::vector<int64_t> shape;
        const auto ids = read_tensor<int32_t>(dir + "/expected.safetensors", "input_ids", &shape);
        const auto want = read_tensor<float>(dir + "/expected.safetensors", "logits");
        std::vector<float> logits(want.size());
        size_t n_out = 0;
        ASSERT_EQ(krait_session_forward(m.session, ids.data(), shape[0], shape[1], logits.data(), logits.size(), &n_out),
                  KRAIT_OK)
            << krait_last_error();
        EXPECT_TRUE(close(logits, want, 1e-5f));

        const auto prompt = read_tensor<int32_t>(dir + "/expected.safetensors", "prompt_ids");
        const auto want_ids = read_tensor<int32_t>(dir + "/expected.safetensors", "greedy_ids");
        auto gp = greedy(want_ids.size());
        std::vector<int32_t> out(want_ids.size());
        size_t n = 0;
        ASSERT_EQ(krait_session_generate(m.session, prompt.data(), prompt.size(), &gp, out.data(), out.size(), &n),
                  KRAIT_OK)
            << krait_last_error();
        EXPECT_EQ(out, want_ids);
    }
}

TEST(Mamba2Abi, SnapshotRestoreTruncateAndSavedStates) {
    const std::string dir = fixture("f32_g2_untied");
    Loaded m(dir);
    const auto prompt = read_tensor<int32_t>(dir + "/expected.safetensors", "prompt_ids");
    const auto want_ids = read_tensor<int32_t>(dir + "/expected.safetensors", "greedy_ids");
    ASSERT_EQ(krait_session_append(m.session, prompt.data(), prompt.size(), nullptr, 0), KRAIT_OK) << krait_last_error();
    krait_state* snap = nullptr;
    ASSERT_EQ(krait_session_snapshot(m.session, &snap), KRAIT_OK) << krait_last_error();
    const std::string path = ::testing::TempDir() + "mamba2_abi_state.bin";
    ASSERT_EQ(krait_session_save_state(m.session, path.c_str()), KRAIT_OK) << krait_last_error();

    auto gp = greedy(want_ids.size());
    std::vector<int32_t> first(want_ids.size()), again(want_ids.size()), loaded(want_ids.size());
    size_t n = 0;
    ASSERT_EQ(krait_session_generate(m.session, nullptr, 0, &gp, first.data(), first.size(), &n), KRAIT_OK);
    EXPECT_EQ(first, want_ids);
    // A recurrent state forgets no token in the middle ...
    EXPECT_EQ(krait_session_truncate(m.session, 3), KRAIT_ERR_UNSUPPORTED);
    // ... but goes back to a snapshot, and from there generates the same tokens.
    ASSERT_EQ(krait_session_restore(m.session, snap), KRAIT_OK) << krait_last_error();
    ASSERT_EQ(krait_session_generate(m.session, nullptr, 0, &gp, again.data(), again.size(), &n), KRAIT_OK);
    EXPECT_EQ(again, want_ids);
    ASSERT_EQ(krait_session_load_state(m.session, path.c_str()), KRAIT_OK) << krait_last_error();
    ASSERT_EQ(krait_session_generate(m.session, nullptr, 0, &gp, loaded.data(), loaded.size(), &n), KRAIT_OK);
    EXPECT_EQ(loaded, want_ids);
    EXPECT_EQ(krait_session_truncate(m.session, 0), KRAIT_OK);
    krait_state_free(snap);

    // A state of another Mamba-2 shape is refused.
    Loaded other(fixture("f32_g1_tied"));
    EXPECT_EQ(krait_session_load_state(other.session, path.c_str()), KRAIT_ERR_INVALID_ARGUMENT);
    std::remove(path.c_str());
}

}  // namespace
