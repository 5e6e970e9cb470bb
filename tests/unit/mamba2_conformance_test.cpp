// Mamba-2 against transformers' Mamba2ForCausalLM on the fixtures made by tools/gen_mamba2_fixtures.py
// (tiny random configs: n_groups 1 and 2, 4 or 8 heads, sequences longer than chunk_size and not a
// multiple of it, batch 2, tied and untied heads, in/out_proj bias, no conv bias, sharded files,
// F32 / F16 / BF16 weights).
//
// Tolerance: logits within 1e-5 relative to max(1, max |logit|), for every case: the references of the
// F16/BF16 cases were computed in fp32 from the stored (rounded) weights, as Krait computes them, so
// they need no looser bound. Greedy continuations (transformers' generate: chunked prefill, then the
// recurrent decode step) must be equal.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "sdk/adapters/lora_adapter.h"
#include "sdk/adapters/lora_set.h"
#include "sdk/core/error.h"
#include "sdk/models/mamba2.h"
#include "sdk/models/registry.h"
#include "tests/common/fixtures.h"

namespace {

using krait::Mamba2Model;
using krait::Mamba2State;
using krait::testing::Expected;
using krait::testing::fixture;
using Logits = krait::LanguageModel::Logits;

std::vector<krait::SequenceState*> pointers(std::vector<Mamba2State>& states) {
    std::vector<krait::SequenceState*> p;
    for (auto& s : states) p.push_back(&s);
    return p;
}

int32_t argmax(const std::vector<float>& v) {
    return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

class Mamba2Conformance : public ::testing::TestWithParam<const char*> {};

TEST_P(Mamba2Conformance, FullSequenceLogitsMatchTransformers) {
    const std::string dir = fixture(std::string("mamba2/") + GetParam());
    Expected expected(dir);
    const auto& ids_info = expected.tensor("input_ids");
    const int64_t B = ids_info.shape[0], L = ids_info.shape[1];
    const auto ids = expected.values<int32_t>("input_ids");
    const auto want = expected.values<float>("logits");
    for (bool keep_stored : {true, false}) {
        auto model = Mamba2Model::load(dir, nullptr, keep_stored);
        const int64_t V = model->config().vocab_size;
        ASSERT_EQ(static_cast<int64_t>(want.size()), B * L * V);
        for (int threads : {1, 2}) {
            krait::ThreadPool pool(threads);
            krait::Mamba2Workspace ws;
            std::vector<Mamba2State> states(B, model->new_state());
            auto ptrs = pointers(states);
            std::vector<float> logits(B * L * V);
            model->eval(ids.data(), B, L, ptrs.data(), Logits::All,
                        logits.data(), pool, ws, nullptr, nullptr);
            EXPECT_TRUE(krait::testing::all_close(logits.data(), want, 1e-5f))
                << "threads " << threads << (keep_stored ? " as stored" : " upcast");
            for (auto& s : states) EXPECT_EQ(s.n_tokens(), L);
        }
    }
}

TEST_P(Mamba2Conformance, GreedyDecodeMatchesTransformersGenerate) {
    const std::string dir = fixture(std::string("mamba2/") + GetParam());
    auto model = Mamba2Model::load(dir);
    Expected expected(dir);
    const auto prompt = expected.values<int32_t>("prompt_ids");
    const auto want = expected.values<int32_t>("greedy_ids");
    const int64_t V = model->config().vocab_size;
    krait::ThreadPool pool(2);
    auto ws = model->new_workspace();
    auto state = model->new_state(0);
    std::vector<float> logits(V);
    model->prefill(prompt.data(), static_cast<int64_t>(prompt.size()), *state, logits.data(), pool, *ws, nullptr,
                   nullptr);
    std::vector<int32_t> got;
    for (size_t i = 0; i < want.size(); ++i) {
        const int32_t next = argmax(logits);
        got.push_back(next);
        model->decode_step(next, *state, logits.data(), pool, *ws, nullptr);
    }
    EXPECT_EQ(got, want);
}

// Prefill of the first tokens (chunked SSD), then one decode step (the recurrence) per token: every
// step's logits equal the full forward's row at that position.
TEST_P(Mamba2Conformance, DecodeAfterPrefillEqualsFullForward) {
    const std::string dir = fixture(std::string("mamba2/") + GetParam());
    auto model = Mamba2Model::load(dir);
    Expected expected(dir);
    const int64_t L = expected.tensor("input_ids").shape[1], V = model->config().vocab_size;
    const auto ids = expected.values<int32_t>("input_ids");  // row 0
    const auto all = expected.values<float>("logits");
    krait::ThreadPool pool(2);
    auto ws = model->new_workspace();
    for (int64_t cut : {int64_t{1}, L / 2, L - 1}) {
        auto state = model->new_state(0);
        std::vector<float> logits(V);
        model->prefill(ids.data(), cut, *state, logits.data(), pool, *ws, nullptr, nullptr);
        EXPECT_TRUE(krait::testing::all_close(logits.data(),
                                              std::vector<float>(all.begin() + (cut - 1) * V, all.begin() + cut * V),
                                              1e-5f))
            << "prefill " << cut;
        for (int64_t t = cut; t < L; ++t) {
            model->decode_step(ids[t], *state, logits.data(), pool, *ws, nullptr);
            ASSERT_TRUE(krait::testing::all_close(logits.data(),
                                                  std::vector<float>(all.begin() + t * V, all.begin() + (t + 1) * V),
                                                  1e-5f))
                << "prefill " << cut << ", decode at " << t;
        }
        EXPECT_EQ(state->n_tokens(), L);
    }
}

TEST_P(Mamba2Conformance, PrefillInPiecesEqualsOnePass) {
    const std::string dir = fixture(std::string("mamba2/") + GetParam());
    auto model = Mamba2Model::load(dir);
    Expected expected(dir);
    const auto ids = expected.values<int32_t>("input_ids");
    const int64_t L = expected.tensor("input_ids").shape[1], V = model->config().vocab_size;
    krait::ThreadPool pool(2);
    auto ws = model->new_workspace();
    auto whole = model->new_state(0), pieces = model->new_state(0);
    std::vector<float> want(V), got(V);
    model->prefill(ids.data(), L, *whole, want.data(), pool, *ws, nullptr, nullptr);
    const int64_t cut = L / 3;
    model->prefill(ids.data(), cut, *pieces, nullptr, pool, *ws, nullptr, nullptr);
    model->prefill(ids.data() + cut, L - cut, *pieces, got.data(), pool, *ws, nullptr, nullptr);
    EXPECT_TRUE(krait::testing::all_close(got.data(), want, 1e-5f));
    EXPECT_EQ(pieces->n_tokens(), L);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Mamba2Conformance,
                         ::testing::Values("f32_g1_tied", "f32_g2_untied", "f32_g2_long", "bf16", "f16"));

// Snapshot / restore / truncate / export as Mamba's state: constant size, truncate only to its ends.
TEST(Mamba2State, SnapshotRestoreTruncateExport) {
    const std::string dir = fixture("mamba2/f32_g2_untied");
    auto model = Mamba2Model::load(dir);
    Expected expected(dir);
    const auto ids = expected.values<int32_t>("input_ids");
    const int64_t V = model->config().vocab_size;
    krait::ThreadPool pool(1);
    auto ws = model->new_workspace();
    auto state = model->new_state(0);
    std::vector<float> a(V), b(V), fresh(V);
    model->prefill(ids.data(), 6, *state, nullptr, pool, *ws, nullptr, nullptr);
    auto snap = state->snapshot();
    model->prefill(ids.data() + 6, 5, *state, a.data(), pool, *ws, nullptr, nullptr);
    EXPECT_EQ(state->n_tokens(), 11);
    state->restore(*snap);
    EXPECT_EQ(state->n_tokens(), 6);
    model->prefill(ids.data() + 6, 5, *state, b.data(), pool, *ws, nullptr, nullptr);
    EXPECT_EQ(a, b);  // same state, same calls: the same bits

    state->truncate(11);  // no-op
    EXPECT_EQ(state->n_tokens(), 11);
    try {
        state->truncate(4);
        ADD_FAILURE() << "a recurrent state forgot tokens";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_UNSUPPORTED);
    }
    EXPECT_THROW(state->truncate(12), krait::Error);

    std::vector<float> data;
    state->export_data(data);
    auto copy = model->new_state(0);
    copy->import_data(data.data(), data.size(), state->n_tokens());
    model->decode_step(ids[11], *state, a.data(), pool, *ws, nullptr);
    model->decode_step(ids[11], *copy, b.data(), pool, *ws, nullptr);
    EXPECT_EQ(a, b);
    EXPECT_THROW(copy->import_data(data.data(), data.size() - 1, 3), krait::Error);

    state->truncate(0);
    EXPECT_EQ(state->n_tokens(), 0);
    auto clean = model->new_state(0);
    model->prefill(ids.data(), 3, *state, a.data(), pool, *ws, nullptr, nullptr);
    model->prefill(ids.data(), 3, *clean, fresh.data(), pool, *ws, nullptr, nullptr);
    EXPECT_EQ(a, fresh);
}

TEST(Mamba2Load, RegistryConfigAndDtypes) {
    EXPECT_EQ(krait::family_for_dir(fixture("mamba2/f32_g1_tied")).name, "mamba2");
    auto m = Mamba2Model::load(fixture("mamba2/f32_g2_untied"));
    EXPECT_EQ(m->config().n_groups, 2);
    EXPECT_FALSE(m->config().tie_word_embeddings);
    EXPECT_TRUE(m->config().use_bias);
    EXPECT_EQ(std::string(m->info().architecture), "mamba2");
    EXPECT_EQ(m->source_dtype(), "F32");
    EXPECT_EQ(Mamba2Model::load(fixture("mamba2/bf16"))->source_dtype(), "BF16");
    EXPECT_EQ(Mamba2Model::load(fixture("mamba2/f16"))->source_dtype(), "F16");
    // time_step_limit as transformers writes its default: [0.0, {"__float__": "Infinity"}].
    EXPECT_EQ(m->config().dt_min, 0.0f);
    EXPECT_TRUE(std::isinf(m->config().dt_max));
}

TEST(Mamba2Load, RejectsInconsistentConfigs) {
    auto cfg = [](const std::string& extra) {
        return std::string(R"({"model_type":"mamba2","hidden_size":32,"num_hidden_layers":1,"vocab_size":10,)") +
               extra + "}";
    };
    auto status = [](const std::string& text) {
        try {
            krait::Mamba2Config::from_json_text(text, "config.json");
            return KRAIT_OK;
        } catch (const krait::Error& e) {
            return e.status();
        }
    };
    EXPECT_EQ(status(cfg(R"("num_heads":4,"head_dim":16,"n_groups":2,"state_size":8)")), KRAIT_OK);
    EXPECT_EQ(status(cfg(R"("num_heads":4,"head_dim":8,"n_groups":2,"state_size":8)")), KRAIT_ERR_FORMAT);
    EXPECT_EQ(status(cfg(R"("num_heads":4,"head_dim":16,"n_groups":3,"state_size":8)")), KRAIT_ERR_FORMAT);
    EXPECT_EQ(status(cfg(R"("num_heads":4,"head_dim":16,"n_groups":2,"state_size":8,"time_step_limit":[1,0])")),
              KRAIT_ERR_FORMAT);
    EXPECT_EQ(status(cfg(R"("num_heads":4,"head_dim":16,"n_groups":2,"state_size":8,"hidden_act":"gelu")")),
              KRAIT_ERR_UNSUPPORTED);
}

// A peft LoRA adapter on in_proj, out_proj and the embeddings (tools/gen_mamba2_fixtures.py): the full
// forward within 1e-5 of peft's, the greedy continuation (prefill, then recurrent steps) exact, and
// the base model unchanged without the set.
TEST(Mamba2Lora, AdapterMatchesPeft) {
    const std::string dir = fixture("mamba2/f32_g1_tied");
    auto model = Mamba2Model::load(dir);
    Expected expected(dir);
    const auto& targets = model->adapter_targets();
    const auto a = krait::LoraAdapter::load(dir + "/adapters/a", targets, "");
    const krait::LoraSet set(targets, {{a, 1.0f}});
    const auto& ids_info = expected.tensor("input_ids");
    const int64_t B = ids_info.shape[0], L = ids_info.shape[1], V = model->config().vocab_size;
    const auto ids = expected.values<int32_t>("input_ids");
    krait::ThreadPool pool(2);
    auto ws = model->new_workspace();
    auto run = [&](const krait::LoraSet* lora) {
        std::vector<Mamba2State> states(B, model->new_state());
        auto ptrs = pointers(states);
        std::vector<float> logits(B * L * V);
        model->eval(ids.data(), B, L, ptrs.data(), Logits::All, logits.data(), pool, *ws, nullptr, lora);
        return logits;
    };
    EXPECT_TRUE(krait::testing::all_close(run(&set).data(), expected.values<float>("logits_lora"), 1e-5f));
    EXPECT_TRUE(krait::testing::all_close(run(nullptr).data(), expected.values<float>("logits"), 1e-5f));

    const auto prompt = expected.values<int32_t>("prompt_ids");
    const auto want = expected.values<int32_t>("greedy_lora");
    auto state = model->new_state(0);
    std::vector<float> logits(V);
    model->prefill(prompt.data(), static_cast<int64_t>(prompt.size()), *state, logits.data(), pool, *ws, nullptr, &set);
    std::vector<int32_t> got;
    for (size_t i = 0; i < want.size(); ++i) {
        got.push_back(argmax(logits));
        model->decode_step(got.back(), *state, logits.data(), pool, *ws, &set);
    }
    EXPECT_EQ(got, want);
}

TEST(Mamba2Lora, TargetsByTransformersNames) {
    auto model = Mamba2Model::load(fixture("mamba2/f32_g2_untied"));
    const auto& t = model->adapter_targets();
    EXPECT_EQ(t.architecture(), "mamba2");
    for (const char* name : {"backbone.layers.0.mixer.in_proj", "backbone.layers.1.mixer.out_proj", "backbone.embeddings",
                             "lm_head"})
        EXPECT_NE(t.resolve(name), nullptr) << name;
}

TEST(Mamba2Abort, EvalStopsWhenTheFlagIsSet) {
    auto model = Mamba2Model::load(fixture("mamba2/f32_g1_tied"));
    krait::ThreadPool pool(1);
    auto ws = model->new_workspace();
    auto state = model->new_state(0);
    const std::vector<int32_t> ids(5, 3);
    std::atomic<bool> abort{true};
    try {
        model->prefill(ids.data(), 5, *state, nullptr, pool, *ws, &abort, nullptr);
        ADD_FAILURE() << "abort ignored";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_ABORTED);
    }
}

}  // namespace
