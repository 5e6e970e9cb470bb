// The Llama family (llama, mistral, qwen2) against transformers on the fixtures made by
// tools/gen_llama_fixtures.py: GQA, MQA, an odd head_dim with biases, every RoPE type (default,
// linear, dynamic, llama3, yarn; old- and new-style configs), 300 tokens (past the prefill chunk
// and the 128-query attention block), F16/BF16 stored weights, a Mistral sliding window shorter
// than the sequence, Qwen2's q/k/v biases; batch 2.
//
// Tolerance: logits within 1e-5 relative to max(1, max |logit|) (fp32 sums in another order); greedy
// continuations exact (the generator keeps every step's top-1/top-2 gap >= 2e-3).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <cstring>
#include <fstream>

#include <unistd.h>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/gemm.h"
#include "sdk/adapters/lora_adapter.h"
#include "sdk/adapters/lora_set.h"
#include "sdk/core/error.h"
#include "sdk/io/safetensors.h"
#include "sdk/models/llama.h"
#include "sdk/models/registry.h"
#include "tests/common/fixtures.h"

namespace {

using krait::LanguageModel;
using krait::LlamaModel;
using krait::testing::Expected;
using krait::testing::fixture;

std::vector<std::string> cases() {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(fixture("llama")))
        if (std::filesystem::exists(e.path() / "config.json") && std::filesystem::exists(e.path() / "expected.safetensors"))
            out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

// Logits [B, L, vocab] of one full forward of B sequences of L tokens (ids [B, L]) from fresh states.
std::vector<float> full_logits(const LanguageModel& lm, const std::vector<int32_t>& ids, int64_t B, int64_t L,
                               krait::ThreadPool& pool, krait::LmWorkspace& ws, const krait::LoraSet* lora = nullptr) {
    std::vector<std::unique_ptr<krait::SequenceState>> states;
    std::vector<krait::SequenceState*> ptrs;
    for (int64_t b = 0; b < B; ++b) {
        states.push_back(lm.new_state(L));
        ptrs.push_back(states.back().get());
    }
    std::vector<float> logits(static_cast<size_t>(B * L * lm.vocab_size()));
    lm.eval(ids.data(), B, L, ptrs.data(), LanguageModel::Logits::All, logits.data(), pool, ws, nullptr, lora);
    return logits;
}

class LlamaConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(LlamaConformance, FullSequenceLogitsMatchTransformers) {
    const std::string dir = fixture("llama/" + GetParam());
    auto model = LlamaModel::load(dir);
    const LanguageModel& lm = *model;
    Expected expected(dir);
    const auto& ids_info = expected.tensor("input_ids");
    const int64_t B = ids_info.shape[0], L = ids_info.shape[1], V = lm.vocab_size();
    const auto ids = expected.values<int32_t>("input_ids");
    const auto want = expected.values<float>("logits");
    ASSERT_EQ(static_cast<int64_t>(want.size()), B * L * V);
    for (int threads : {1, 3}) {
        krait::ThreadPool pool(threads);
        auto ws = lm.new_workspace();
        const std::vector<float> logits = full_logits(lm, ids, B, L, pool, *ws);
        EXPECT_TRUE(krait::testing::all_close(logits.data(), want, 1e-5f)) << "threads " << threads;
    }
}

TEST_P(LlamaConformance, PrefillThenDecodeEqualsTheFullForward) {
    // Row 0 in three pieces through one KV cache: a prefill, single decode steps, another prefill.
    // Dynamic NTK RoPE recomputes its frequencies per call (as transformers), so it is checked on
    // full forwards only.
    const std::string dir = fixture("llama/" + GetParam());
    auto model = LlamaModel::load(dir);
    if (model->config().rope.depends_on_length()) GTEST_SKIP() << "dynamic RoPE: frequencies depend on each call's length";
    const LanguageModel& lm = *model;
    Expected expected(dir);
    const int64_t L = expected.tensor("input_ids").shape[1], V = lm.vocab_size();
    const auto ids = expected.values<int32_t>("input_ids");
    const auto want = expected.values<float>("logits");
    krait::ThreadPool pool(2);
    auto ws = lm.new_workspace();
    auto state = lm.new_state(L);
    const int64_t a = L / 3, steps = 4;
    std::vector<float> got(static_cast<size_t>(L * V));
    krait::SequenceState* s = state.get();
    lm.eval(ids.data(), 1, a, &s, LanguageModel::Logits::All, got.data(), pool, *ws, nullptr, nullptr);
    for (int64_t t = a; t < a + steps; ++t) lm.decode_step(ids[t], *state, got.data() + t * V, pool, *ws, nullptr);
    lm.eval(ids.data() + a + steps, 1, L - a - steps, &s, LanguageModel::Logits::All, got.data() + (a + steps) * V, pool,
            *ws, nullptr, nullptr);
    EXPECT_EQ(state->n_tokens(), L);
    const std::vector<float> row0(want.begin(), want.begin() + L * V);
    EXPECT_TRUE(krait::testing::all_close(got.data(), row0, 1e-5f));
}

TEST_P(LlamaConformance, GreedyDecodeMatchesTransformersGenerate) {
    const std::string dir = fixture("llama/" + GetParam());
    auto model = LlamaModel::load(dir);
    const LanguageModel& lm = *model;
    Expected expected(dir);
    const auto prompt = expected.values<int32_t>("prompt");
    const auto want = expected.values<int32_t>("greedy");
    const int64_t V = lm.vocab_size();
    krait::ThreadPool pool(2);
    auto ws = lm.new_workspace();
    auto state = lm.new_state(64);
    std::vector<float> logits(static_cast<size_t>(V));
    lm.prefill(prompt.data(), static_cast<int64_t>(prompt.size()), *state, logits.data(), pool, *ws, nullptr, nullptr);
    std::vector<int32_t> got;
    for (size_t i = 0; i < want.size(); ++i) {
        const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        got.push_back(next);
        lm.decode_step(next, *state, logits.data(), pool, *ws, nullptr);
    }
    EXPECT_EQ(got, want);
}

INSTANTIATE_TEST_SUITE_P(Cases, LlamaConformance, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param; });

// PEFT adapters on every Llama linear, embed_tokens and lm_head (a) and an rslora one with an
// alpha_pattern (b), hot-swapped on one loaded model: logits equal peft's.
TEST(Llama, LoraAdaptersMatchPeft) {
    auto model = LlamaModel::load(fixture("llama/llama_gqa"));
    const LanguageModel& lm = *model;
    const auto& targets = lm.adapter_targets();
    Expected expected(fixture("llama/lora"));
    const auto ids = expected.values<int32_t>("input_ids");
    const int64_t B = expected.tensor("input_ids").shape[0], L = expected.tensor("input_ids").shape[1];
    krait::ThreadPool pool(2);
    auto ws = lm.new_workspace();
    auto logits_with = [&](const krait::LoraSet* set) { return full_logits(lm, ids, B, L, pool, *ws, set); };
    for (const char* name : {"a", "b"}) {
        const auto adapter = krait::LoraAdapter::load(fixture(std::string("llama/lora/adapters/") + name), targets, name);
        const krait::LoraSet set(targets, {{adapter, 1.0f}});
        EXPECT_TRUE(krait::testing::all_close(logits_with(&set).data(), expected.values<float>(std::string("logits_") + name),
                                              1e-5f))
            << "adapter " << name;
    }
    // And back to the base model: the fixture's own logits of llama_gqa's rows are not these ids, so
    // check the base differs from adapter a's (the adapters do change the output).
    const auto base = logits_with(nullptr);
    const auto with_a = expected.values<float>("logits_a");
    float change = 0.0f;
    for (size_t i = 0; i < base.size(); ++i) change = std::max(change, std::fabs(base[i] - with_a[i]));
    EXPECT_GT(change, 1e-2f);
}

// peft saves a full copy of embed_tokens / lm_head when they are adapted; a copy that is not the
// model's own weight (a resized or retrained vocabulary) is refused by name instead of ignored.
TEST(Llama, AnAdapterWithChangedEmbeddingWeightsIsRefused) {
    namespace fs = std::filesystem;
    auto model = LlamaModel::load(fixture("llama/llama_gqa"));
    const fs::path dir = fs::temp_directory_path() / ("krait-llama-lora-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::copy(fixture("llama/lora/adapters/a"), dir, fs::copy_options::recursive);
    std::string bytes;
    {
        std::ifstream in(dir / "adapter_model.safetensors", std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    const std::string key = "base_model.model.lm_head.base_layer.weight";
    size_t offset = 0;
    {
        krait::SafetensorsFile f(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "adapter");
        const auto& t = f.tensors().at(key);  // the fixture's adapter does hold the copy
        offset = static_cast<size_t>(t.data - reinterpret_cast<const uint8_t*>(bytes.data()));
    }
    float first;
    std::memcpy(&first, bytes.data() + offset, 4);
    first += 0.5f;
    std::memcpy(bytes.data() + offset, &first, 4);
    std::ofstream(dir / "adapter_model.safetensors", std::ios::binary | std::ios::trunc) << bytes;
    try {
        krait::LoraAdapter::load(dir.string(), model->adapter_targets(), "changed");
        ADD_FAILURE() << "loaded";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_UNSUPPORTED);
        EXPECT_NE(std::string(e.what()).find("lm_head"), std::string::npos) << e.what();
    }
    fs::remove_all(dir);
}

TEST(Llama, ContextLengthIsEnforcedAndTheStateKeptWhenExceeded) {
    auto model = LlamaModel::load(fixture("llama/llama_gqa"));
    const LanguageModel& lm = *model;
    krait::ThreadPool pool(1);
    auto ws = lm.new_workspace();
    auto state = lm.new_state(8);
    std::vector<int32_t> ids = {5, 6, 7, 8, 9, 10};
    lm.prefill(ids.data(), 6, *state, nullptr, pool, *ws, nullptr, nullptr);
    try {
        lm.prefill(ids.data(), 3, *state, nullptr, pool, *ws, nullptr, nullptr);
        FAIL() << "9 tokens fit a context of 8";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_INVALID_ARGUMENT);
        const std::string m = e.what();
        EXPECT_NE(m.find("9"), std::string::npos) << m;
        EXPECT_NE(m.find("8"), std::string::npos) << m;
    }
    EXPECT_EQ(state->n_tokens(), 6);
    // Truncate and continue: the same logits as a sequence that never had the dropped tokens.
    state->truncate(4);
    std::vector<float> a(static_cast<size_t>(lm.vocab_size())), b(a.size());
    lm.prefill(ids.data() + 4, 2, *state, a.data(), pool, *ws, nullptr, nullptr);
    auto fresh = lm.new_state(8);
    lm.prefill(ids.data(), 6, *fresh, b.data(), pool, *ws, nullptr, nullptr);
    EXPECT_EQ(a, b);
    // Snapshot / restore round trip.
    auto snap = state->snapshot();
    lm.prefill(ids.data(), 2, *state, nullptr, pool, *ws, nullptr, nullptr);
    state->restore(*snap);
    EXPECT_EQ(state->n_tokens(), 6);
    lm.decode_step(3, *state, a.data(), pool, *ws, nullptr);
    lm.decode_step(3, *fresh, b.data(), pool, *ws, nullptr);
    EXPECT_EQ(a, b);
}

// Bad configs are refused with a message naming the field.
TEST(Llama, BadConfigsAreRefusedByName) {
    struct Case {
        const char* json;
        krait_status status;
        const char* words;
    } cases[] = {
        {R"({"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,
             "num_attention_heads":4,"num_key_value_heads":3})", KRAIT_ERR_FORMAT, "num_key_value_heads"},
        {R"({"model_type":"llama","vocab_size":10,"hidden_size":10,"intermediate_size":8,"num_hidden_layers":1,
             "num_attention_heads":4})", KRAIT_ERR_FORMAT, "head_dim"},
        {R"({"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,
             "num_attention_heads":2,"rope_scaling":{"rope_type":"llama3","factor":8}})", KRAIT_ERR_FORMAT, "low_freq_factor"},
        {R"({"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,
             "num_attention_heads":2,"rope_parameters":{"rope_type":"linear"}})", KRAIT_ERR_FORMAT, "factor"},
        {R"({"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,
             "num_attention_heads":2,"rope_parameters":{"rope_type":"longrope","factor":2}})", KRAIT_ERR_UNSUPPORTED, "longrope"},
        {R"({"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,
             "num_attention_heads":2,"hidden_act":"gelu"})", KRAIT_ERR_UNSUPPORTED, "hidden_act"},
        {R"({"model_type":"llama","vocab_size":0,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,
             "num_attention_heads":2})", KRAIT_ERR_FORMAT, "vocab_size"},
        {R"({"model_type":"qwen2","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":2,
             "num_attention_heads":2,"use_sliding_window":true,"sliding_window":4,"layer_types":["full_attention"]})",
         KRAIT_ERR_FORMAT, "layer_types"},
    };
    for (const auto& c : cases) {
        try {
            krait::LlamaConfig::from_json_text(c.json, "config.json");
            ADD_FAILURE() << "accepted: " << c.json;
        } catch (const krait::Error& e) {
            EXPECT_EQ(e.status(), c.status) << e.what();
            EXPECT_NE(std::string(e.what()).find(c.words), std::string::npos) << e.what();
        }
    }
}

TEST(Llama, WeightsThatDoNotFitTheConfigAreRefusedByName) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("krait-llama-bad-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    fs::copy_file(fixture("llama/llama_gqa/model.safetensors"), dir / "model.safetensors",
                  fs::copy_options::overwrite_existing);
    std::ifstream in(fixture("llama/llama_gqa/config.json"));
    std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto at = config.find("\"num_key_value_heads\": 2");
    ASSERT_NE(at, std::string::npos);
    config.replace(at, 24, "\"num_key_value_heads\": 4");  // the weights hold 2 KV heads
    std::ofstream(dir / "config.json") << config;
    try {
        LlamaModel::load(dir.string());
        ADD_FAILURE() << "loaded";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_FORMAT);
        EXPECT_NE(std::string(e.what()).find("k_proj"), std::string::npos) << e.what();
    }
    fs::remove_all(dir);
}

}  // namespace

namespace {

// The F16/BF16 fixtures both ways: weights used as stored (in place, widened in the kernels; the
// default) and upcast to F32 at load. Both match transformers within the F32 tolerance (the
// reference was computed in fp32 from the stored, rounded weights, so widening is exact and only the
// order of sums differs), greedy continuations exactly; the in-place load holds fewer bytes.
TEST(LlamaStoredWeights, InPlaceAndUpcastBothMatchTransformers) {
    for (const char* name : {"llama_f16", "llama_bf16"}) {
        const std::string dir = fixture(std::string("llama/") + name);
        Expected expected(dir);
        const auto& ids_info = expected.tensor("input_ids");
        const int64_t B = ids_info.shape[0], L = ids_info.shape[1];
        const auto ids = expected.values<int32_t>("input_ids");
        const auto want = expected.values<float>("logits");
        int64_t bytes[2] = {0, 0};
        for (bool keep_stored : {true, false}) {
            SCOPED_TRACE(std::string(name) + (keep_stored ? " as stored" : " upcast to F32"));
            auto model = LlamaModel::load(dir, nullptr, keep_stored);
            const LanguageModel& lm = *model;
            bytes[keep_stored ? 0 : 1] = lm.info().weight_bytes;
            const int64_t V = lm.vocab_size();
            for (int threads : {1, 2}) {
                krait::ThreadPool pool(threads);
                auto ws = lm.new_workspace();
                const std::vector<float> logits = full_logits(lm, ids, B, L, pool, *ws);
                EXPECT_TRUE(krait::testing::all_close(logits.data(), want, 1e-5f)) << "threads " << threads;
            }
            const auto prompt = expected.values<int32_t>("prompt");
            const auto greedy = expected.values<int32_t>("greedy");
            krait::ThreadPool pool(2);
            auto ws = lm.new_workspace();
            auto state = lm.new_state(64);
            std::vector<float> logits(static_cast<size_t>(V));
            lm.prefill(prompt.data(), static_cast<int64_t>(prompt.size()), *state, logits.data(), pool, *ws, nullptr,
                       nullptr);
            std::vector<int32_t> got;
            for (size_t i = 0; i < greedy.size(); ++i) {
                const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
                got.push_back(next);
                lm.decode_step(next, *state, logits.data(), pool, *ws, nullptr);
            }
            EXPECT_EQ(got, greedy);
        }
        // Upcast: 4 bytes per parameter, plus the zero padding of the packed panels (every linear is packed
        // into panels of kGemmNR output features, kernels/cpu/gemm.h: intermediate_size 88 takes 96).
        // As stored: 2 per parameter of the big matrices, 4 for the small F32 ones.
        const auto upcast = LlamaModel::load(dir, nullptr, false);
        const krait::LlamaConfig& c = upcast->config();
        const auto padding = [](int64_t out, int64_t in) {
            return ((out + krait::kernels::kGemmNR - 1) / krait::kernels::kGemmNR * krait::kernels::kGemmNR - out) * in;
        };
        const int64_t D = c.hidden_size, F = c.intermediate_size, Q = c.num_heads * c.head_dim,
                      KV = c.num_kv_heads * c.head_dim;
        const int64_t per_layer = padding(Q, D) + 2 * padding(KV, D) + padding(D, Q) + 2 * padding(F, D) + padding(D, F);
        const int64_t head = c.tie_word_embeddings ? 0 : padding(c.vocab_size, D);
        EXPECT_EQ(bytes[1], 4 * (upcast->info().num_parameters + c.num_layers * per_layer + head)) << name;
        EXPECT_LT(bytes[0], bytes[1] * 3 / 5) << name;
        EXPECT_GT(bytes[0], bytes[1] / 2) << name;
    }
}

// KRAIT_MATMUL_BF16 (WeightOptions::bf16_products) on the BF16 fixture: the full forward (2 x 37
// rows per linear call, past kBf16ProductsMinRows) rounds the activations to BF16 for the dot
// products. Tolerance against transformers' fp32 logits: 2.5e-2 relative to max(1, max |logit|)
// (max |logit| = 16 here). Measured: 1.3e-2 with AMX, 1.1e-2 with VDPBF16PS; transformers itself,
// running this model in torch.bfloat16 (its activations rounded after every op), is 2.7e-2 from its
// fp32 logits. BF16 keeps 8 significant bits: 2^-9 relative per rounded activation, compounding
// over the layers. Where the CPU has a unit the logits must
// differ from the exact ones (the option is in effect); decode steps (one row) stay exact, so a
// prefill of fewer than 16 tokens followed by decoding equals the exact model bit for bit.
TEST(LlamaStoredWeights, Bf16DotProductsStayWithinTheirTolerance) {
    const std::string dir = fixture("llama/llama_bf16");
    Expected expected(dir);
    const int64_t B = expected.tensor("input_ids").shape[0], L = expected.tensor("input_ids").shape[1];
    const auto ids = expected.values<int32_t>("input_ids");
    const auto want = expected.values<float>("logits");
    const auto run = [&](const LanguageModel& lm) {
        krait::ThreadPool pool(2);
        auto ws = lm.new_workspace();
        return full_logits(lm, ids, B, L, pool, *ws);
    };
    auto exact_model = LlamaModel::load(dir, nullptr, krait::WeightOptions(true, false));
    auto dot_model = LlamaModel::load(dir, nullptr, krait::WeightOptions(true, true));
    const std::vector<float> exact = run(*exact_model), dot = run(*dot_model);
    EXPECT_TRUE(krait::testing::all_close(exact.data(), want, 1e-5f));
    EXPECT_TRUE(krait::testing::all_close(dot.data(), want, 2.5e-2f));
    float worst = 0, scale = 1;
    for (size_t i = 0; i < want.size(); ++i) {
        worst = std::max(worst, std::fabs(dot[i] - want[i]));
        scale = std::max(scale, std::fabs(want[i]));
    }
    std::printf("BF16 dot products (%s): max |logit - transformers| / max(1, max |logit|) = %.3g\n",
                krait::kernels::bf16_products_name(krait::kernels::bf16_products_in_use()), worst / scale);
    const bool in_effect = krait::kernels::bf16_products_in_use() != krait::kernels::Bf16Products::none;
    EXPECT_EQ(std::memcmp(exact.data(), dot.data(), exact.size() * sizeof(float)) != 0, in_effect)
        << "BF16 dot products in effect: " << in_effect;

    // A short prompt (7 tokens < 16 rows) and greedy decoding: exact calls only, the same bits.
    const auto prompt = expected.values<int32_t>("prompt");
    std::vector<float> got[2];
    int which = 0;
    for (const LlamaModel* m : {exact_model.get(), dot_model.get()}) {
        const LanguageModel& lm = *m;
        krait::ThreadPool pool(2);
        auto ws = lm.new_workspace();
        auto state = lm.new_state(64);
        std::vector<float> logits(static_cast<size_t>(lm.vocab_size()));
        lm.prefill(prompt.data(), static_cast<int64_t>(prompt.size()), *state, logits.data(), pool, *ws, nullptr, nullptr);
        got[which] = logits;
        for (int i = 0; i < 4; ++i) {
            lm.decode_step(static_cast<int32_t>(i + 3), *state, logits.data(), pool, *ws, nullptr);
            got[which].insert(got[which].end(), logits.begin(), logits.end());
        }
        ++which;
    }
    EXPECT_EQ(std::memcmp(got[0].data(), got[1].data(), got[0].size() * sizeof(float)), 0);
}

}  // namespace

namespace {

// LoRA on top of BF16 base weights used in place: llama_gqa's weights rounded to BF16 (written to a
// temporary directory), the fixture's adapter b (rslora on q_proj, v_proj, down_proj) applied; as
// stored and upcast must agree within the F32 tolerance (the same rounded weights, F32 sums in another
// order), and the adapter must change the output.
TEST(LlamaStoredWeights, LoraOnAnInPlaceBf16BaseEqualsTheUpcastOne) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("krait_llama_bf16_lora_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    fs::copy_file(fixture("llama/llama_gqa") + "/config.json", dir / "config.json", fs::copy_options::overwrite_existing);
    {
        const auto files = krait::WeightFiles::open_dir(fixture("llama/llama_gqa"));
        std::string header = "{";
        std::vector<uint16_t> data;
        for (const std::string& name : files->names()) {
            const krait::TensorInfo* t = files->find(name);
            ASSERT_EQ(t->dtype, krait::DType::F32);
            std::string dims;
            for (int64_t d : t->shape) {  // piece by piece: GCC 12 warns falsely (-Wrestrict) on "" + string
                if (!dims.empty()) dims += ',';
                dims += std::to_string(d);
            }
            const size_t begin = data.size() * 2;
            for (int64_t i = 0; i < t->numel(); ++i) {
                float f;
                std::memcpy(&f, t->data + 4 * i, 4);
                uint32_t bits;
                std::memcpy(&bits, &f, 4);
                bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest even
                data.push_back(static_cast<uint16_t>(bits >> 16));
            }
            header += std::string(header.size() > 1 ? "," : "") + "\"" + name + "\":{\"dtype\":\"BF16\",\"shape\":[" +
                      dims + "],\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(data.size() * 2) + "]}";
        }
        header += "}";
        while (header.size() % 8) header += ' ';
        std::ofstream out(dir / "model.safetensors", std::ios::binary);
        const uint64_t n = header.size();
        out.write(reinterpret_cast<const char*>(&n), 8);
        out.write(header.data(), static_cast<std::streamsize>(n));
        out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size() * 2));
    }
    Expected expected(fixture("llama/lora"));
    const auto ids = expected.values<int32_t>("input_ids");
    const int64_t B = expected.tensor("input_ids").shape[0], L = expected.tensor("input_ids").shape[1];
    std::vector<float> results[2][2];  // [stored, upcast][base, with adapter b]
    for (int upcast = 0; upcast < 2; ++upcast) {
        auto model = LlamaModel::load(dir.string(), nullptr, upcast == 0);
        const LanguageModel& lm = *model;
        krait::ThreadPool pool(2);
        auto ws = lm.new_workspace();
        auto logits_with = [&](const krait::LoraSet* set) { return full_logits(lm, ids, B, L, pool, *ws, set); };
        results[upcast][0] = logits_with(nullptr);
        // Adapter a holds peft's F32 copies of embed_tokens / lm_head, which are not this model's (rounded)
        // weights: refused in both modes, the in-place BF16 base read element by element for the check.
        try {
            krait::LoraAdapter::load(fixture("llama/lora/adapters/a"), lm.adapter_targets(), "a");
            ADD_FAILURE() << "adapter a accepted on a BF16-rounded base";
        } catch (const krait::Error& e) {
            EXPECT_NE(std::string(e.what()).find("differs from the model's"), std::string::npos) << e.what();
        }
        const auto adapter = krait::LoraAdapter::load(fixture("llama/lora/adapters/b"), lm.adapter_targets(), "b");
        const krait::LoraSet set(lm.adapter_targets(), {{adapter, 1.0f}});
        results[upcast][1] = logits_with(&set);
    }
    fs::remove_all(dir);
    for (int k = 0; k < 2; ++k)
        EXPECT_TRUE(krait::testing::all_close(results[0][k].data(), results[1][k], 1e-5f)) << "case " << k;
    float change = 0.0f;
    for (size_t i = 0; i < results[0][0].size(); ++i)
        change = std::max(change, std::fabs(results[0][0][i] - results[0][1][i]));
    EXPECT_GT(change, 1e-2f);
}

}  // namespace
