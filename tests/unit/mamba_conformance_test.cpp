// Mamba against transformers' MambaForCausalLM on the fixtures made by
// tools/gen_mamba_fixtures.py (tiny random configs: several D/N/K/R, odd
// vocab and lengths, batch > 1, 600 tokens > the 256-token chunk, F16/BF16
// weights, tied/untied head, biases, sharded files, the original layout).
//
// Tolerance: logits within 1e-5 relative to max(1, max |logit|) — fp32
// rounding of differently ordered sums over a few layers.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>

#include "sdk/core/error.h"
#include "sdk/models/mamba.h"
#include "tests/common/fixtures.h"

namespace {

using krait::MambaModel;
using krait::testing::Expected;
using krait::testing::fixture;

class MambaConformance : public ::testing::TestWithParam<const char*> {};

TEST_P(MambaConformance, FullSequenceLogitsMatchTransformers) {
    const std::string dir = fixture(std::string("mamba/") + GetParam());
    auto model = MambaModel::load(dir);
    Expected expected(dir);
    const auto& ids_info = expected.tensor("input_ids");
    const int64_t B = ids_info.shape[0], L = ids_info.shape[1], V = model->config().vocab_size;
    const auto ids = expected.values<int32_t>("input_ids");
    const auto want = expected.values<float>("logits");
    ASSERT_EQ(static_cast<int64_t>(want.size()), B * L * V);

    for (int threads : {1, 2}) {
        krait::ThreadPool pool(threads);
        krait::MambaWorkspace ws;
        std::vector<krait::MambaState> states(B, model->new_state());
        std::vector<krait::MambaState*> ptrs;
        for (auto& s : states) ptrs.push_back(&s);
        std::vector<float> logits(B * L * V);
        model->eval(ids.data(), B, L, ptrs.data(), MambaModel::Logits::All, logits.data(), pool, ws, nullptr);
        EXPECT_TRUE(krait::testing::all_close(logits.data(), want, 1e-5f)) << "threads " << threads;
    }
}

TEST_P(MambaConformance, GreedyDecodeMatchesTransformersGenerate) {
    // Prefill the prompt in one pass, then decode one token at a time through
    // the recurrent state: the path generation takes.
    const std::string dir = fixture(std::string("mamba/") + GetParam());
    auto model = MambaModel::load(dir);
    Expected expected(dir);
    const auto prompt = expected.values<int32_t>("prompt_ids");
    const auto want = expected.values<int32_t>("greedy_ids");
    const int64_t V = model->config().vocab_size;
    krait::ThreadPool pool(2);
    krait::MambaWorkspace ws;
    krait::MambaState state = model->new_state();
    krait::MambaState* sp = &state;
    std::vector<float> logits(V);
    model->eval(prompt.data(), 1, prompt.size(), &sp, MambaModel::Logits::Last, logits.data(), pool, ws, nullptr);
    std::vector<int32_t> got;
    for (size_t i = 0; i < want.size(); ++i) {
        const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        got.push_back(next);
        model->eval(&next, 1, 1, &sp, MambaModel::Logits::Last, logits.data(), pool, ws, nullptr);
    }
    EXPECT_EQ(got, want);
}

TEST_P(MambaConformance, PrefillInPiecesEqualsOnePass) {
    const std::string dir = fixture(std::string("mamba/") + GetParam());
    auto model = MambaModel::load(dir);
    Expected expected(dir);
    const auto ids = expected.values<int32_t>("input_ids");
    const int64_t L = expected.tensor("input_ids").shape[1], V = model->config().vocab_size;
    krait::ThreadPool pool(2);
    krait::MambaWorkspace ws;
    auto whole = model->new_state(), pieces = model->new_state();
    krait::MambaState* wp = &whole;
    krait::MambaState* pp = &pieces;
    std::vector<float> want(V), got(V);
    model->eval(ids.data(), 1, L, &wp, MambaModel::Logits::Last, want.data(), pool, ws, nullptr);
    const int64_t cut = L / 3;
    model->eval(ids.data(), 1, cut, &pp, MambaModel::Logits::None, nullptr, pool, ws, nullptr);
    model->eval(ids.data() + cut, 1, L - cut, &pp, MambaModel::Logits::Last, got.data(), pool, ws, nullptr);
    EXPECT_TRUE(krait::testing::all_close(got.data(), want, 1e-5f));
    EXPECT_EQ(pieces.n_tokens(), L);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, MambaConformance,
                         ::testing::Values("f32_tied", "f32_untied_odd", "f32_long", "f16", "bf16", "sharded", "use_bias",
                                           "original_layout"));

TEST(MambaLoad, ReportsSourceDtypeAndParameterCount) {
    auto f16 = MambaModel::load(fixture("mamba/f16"));
    EXPECT_EQ(f16->source_dtype(), "F16");
    auto bf16 = MambaModel::load(fixture("mamba/bf16"));
    EXPECT_EQ(bf16->source_dtype(), "BF16");
    auto orig = MambaModel::load(fixture("mamba/original_layout"));
    EXPECT_TRUE(orig->config().original_layout);
    EXPECT_EQ(orig->config().vocab_size % 8, 0);
}

// The abort flag that krait_session_abort() sets is checked inside eval (forward and prefill): a set flag stops
// the call with KRAIT_ERR_ABORTED in every logits mode, and a clear one lets it run. Deterministic (the flag is set
// before the call), unlike a race with an aborting thread; the ABI tests check that an abort made during a call
// reaches it and that a request made before a call is cleared by the call.
TEST(MambaAbort, EvalStopsWhenTheFlagIsSet) {
    auto model = MambaModel::load(fixture("mamba/f32_tied"));
    krait::ThreadPool pool(1);
    krait::MambaWorkspace ws;
    const int64_t B = 2, L = 5, V = model->config().vocab_size;
    const std::vector<int32_t> ids(B * L, 3);
    std::vector<float> logits(B * L * V);
    for (auto mode : {MambaModel::Logits::All, MambaModel::Logits::Last, MambaModel::Logits::None}) {
        std::vector<krait::MambaState> states(B, model->new_state());
        std::vector<krait::MambaState*> ptrs;
        for (auto& s : states) ptrs.push_back(&s);
        std::atomic<bool> abort{true};
        try {
            model->eval(ids.data(), B, L, ptrs.data(), mode, logits.data(), pool, ws, &abort);
            ADD_FAILURE() << "abort ignored, mode " << static_cast<int>(mode);
        } catch (const krait::Error& e) {
            EXPECT_EQ(e.status(), KRAIT_ERR_ABORTED);
        }
        abort = false;
        std::vector<krait::MambaState> fresh(B, model->new_state());
        for (size_t i = 0; i < fresh.size(); ++i) ptrs[i] = &fresh[i];
        EXPECT_NO_THROW(model->eval(ids.data(), B, L, ptrs.data(), mode, logits.data(), pool, ws, &abort));
    }
}

TEST(MambaLoad, ProgressCallbackCanCancel) {
    int calls = 0;
    try {
        MambaModel::load(fixture("mamba/f32_tied"), [&](float f) {
            ++calls;
            return f < 0.4f;
        });
        FAIL() << "load was not cancelled";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_CANCELLED);
    }
    EXPECT_GE(calls, 2);
}

}  // namespace

namespace {

// The F16/BF16 fixtures both ways: weights used as stored (in place, widened in the kernels; the
// default) and upcast to F32 at load, each within the F32 tolerance of transformers (the reference
// was computed in fp32 from the stored, rounded weights), greedy continuations exact.
TEST(MambaStoredWeights, InPlaceAndUpcastBothMatchTransformers) {
    for (const char* name : {"f16", "bf16"}) {
        const std::string dir = fixture(std::string("mamba/") + name);
        Expected expected(dir);
        const auto& ids_info = expected.tensor("input_ids");
        const int64_t B = ids_info.shape[0], L = ids_info.shape[1];
        const auto ids = expected.values<int32_t>("input_ids");
        const auto want = expected.values<float>("logits");
        int64_t bytes[2] = {0, 0};
        for (bool keep_stored : {true, false}) {
            SCOPED_TRACE(std::string(name) + (keep_stored ? " as stored" : " upcast to F32"));
            auto model = MambaModel::load(dir, nullptr, keep_stored);
            bytes[keep_stored ? 0 : 1] = model->info().weight_bytes;
            const int64_t V = model->config().vocab_size;
            krait::ThreadPool pool(2);
            krait::MambaWorkspace ws;
            std::vector<krait::MambaState> states(B, model->new_state());
            std::vector<krait::MambaState*> ptrs;
            for (auto& s : states) ptrs.push_back(&s);
            std::vector<float> logits(B * L * V);
            model->eval(ids.data(), B, L, ptrs.data(), MambaModel::Logits::All, logits.data(), pool, ws, nullptr);
            EXPECT_TRUE(krait::testing::all_close(logits.data(), want, 1e-5f));

            const auto prompt = expected.values<int32_t>("prompt_ids");
            const auto greedy = expected.values<int32_t>("greedy_ids");
            krait::MambaState state = model->new_state();
            krait::MambaState* sp = &state;
            std::vector<float> last(V);
            model->eval(prompt.data(), 1, prompt.size(), &sp, MambaModel::Logits::Last, last.data(), pool, ws, nullptr);
            std::vector<int32_t> got;
            for (size_t i = 0; i < greedy.size(); ++i) {
                const int32_t next = static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin());
                got.push_back(next);
                model->eval(&next, 1, 1, &sp, MambaModel::Logits::Last, last.data(), pool, ws, nullptr);
            }
            EXPECT_EQ(got, greedy);
        }
        // A_log's derived A is an extra F32 buffer either way; the big matrices halve.
        EXPECT_LT(bytes[0], bytes[1] * 3 / 4) << name;
    }
}

}  // namespace
