// LoRA adapters against peft: every expected tensor was computed by peft 0.21 +
// transformers (or tools/mambavision_ref.py) from the committed adapter files
// (tools/gen_lora_fixtures.py; tests/fixtures/lora/README.md). One model load
// per architecture; the active set changes between calls as a session's would:
// base -> A -> B -> A*0.5 + B*1.5 -> base.
// Tolerance: fp32, max |got - want| <= 1e-5 * max(1, max |want|).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "sdk/adapters/lora_adapter.h"
#include "sdk/adapters/lora_set.h"
#include "sdk/core/error.h"
#include "sdk/models/mamba.h"
#include "sdk/models/mambavision.h"
#include "sdk/models/vit.h"
#include "tests/common/fixtures.h"

namespace krait {
namespace {

using testing::all_close;
using testing::Expected;
using testing::fixture;

constexpr float kTol = 1e-5f;

std::shared_ptr<const LoraAdapter> load_adapter(const std::string& model_dir, const std::string& name,
                                                const AdapterTargets& targets) {
    return LoraAdapter::load(model_dir + "/adapters/" + name, targets, "");
}

// ---- Mamba ----------------------------------------------------------------------------------------------------

struct MambaRun {
    explicit MambaRun(const std::string& dir) : model(MambaModel::load(dir)), expected(dir), pool(2) {}
    std::vector<float> logits(const std::vector<int32_t>& ids, int64_t batch, const LoraSet* lora) {
        const int64_t length = static_cast<int64_t>(ids.size()) / batch;
        std::vector<MambaState> states(static_cast<size_t>(batch), model->new_state());
        std::vector<MambaState*> ptrs;
        for (auto& s : states) ptrs.push_back(&s);
        std::vector<float> out(static_cast<size_t>(batch * length * model->config().vocab_size));
        model->eval(ids.data(), batch, length, ptrs.data(), MambaModel::Logits::All, out.data(), pool, ws, nullptr,
                    lora);
        return out;
    }
    std::unique_ptr<MambaModel> model;
    Expected expected;
    ThreadPool pool;
    MambaWorkspace ws;
};

TEST(LoraMamba, SwapsMatchPeftInOneLoad) {
    const std::string dir = fixture("lora/mamba");
    MambaRun run(dir);
    const auto& targets = run.model->adapter_targets();
    const auto a = load_adapter(dir, "a", targets);
    const auto b = load_adapter(dir, "b", targets);
    const auto ids = run.expected.values<int32_t>("input_ids");
    const int64_t batch = run.expected.tensor("input_ids").shape[0];
    ASSERT_GT(run.expected.tensor("input_ids").shape[1], MambaModel::kChunkTokens);  // crosses a chunk boundary

    const LoraSet only_a(targets, {{a, 1.0f}});
    const LoraSet only_b(targets, {{b, 1.0f}});
    const LoraSet mixed(targets, {{a, 0.5f}, {b, 1.5f}});
    EXPECT_TRUE(all_close(run.logits(ids, batch, nullptr).data(), run.expected.values<float>("logits_base"), kTol));
    EXPECT_TRUE(all_close(run.logits(ids, batch, &only_a).data(), run.expected.values<float>("logits_a"), kTol));
    EXPECT_TRUE(all_close(run.logits(ids, batch, &only_b).data(), run.expected.values<float>("logits_b"), kTol));
    EXPECT_TRUE(all_close(run.logits(ids, batch, &mixed).data(), run.expected.values<float>("logits_ab"), kTol));
    EXPECT_TRUE(all_close(run.logits(ids, batch, nullptr).data(), run.expected.values<float>("logits_base"), kTol));
    // An empty set and zero scales are the base model too.
    const LoraSet empty(targets, {});
    const LoraSet zero(targets, {{a, 0.0f}});
    EXPECT_TRUE(all_close(run.logits(ids, batch, &empty).data(), run.expected.values<float>("logits_base"), kTol));
    EXPECT_TRUE(all_close(run.logits(ids, batch, &zero).data(), run.expected.values<float>("logits_base"), kTol));
}

TEST(LoraMamba, FanInFanOutIsIgnoredForLinearLayersAsPeftDoes) {
    // peft turns fan_in_fan_out off (with a warning) for torch.nn.Linear targets, the only linear
    // modules these models have: an adapter_config.json that says true computes exactly the same.
    namespace fs = std::filesystem;
    const std::string dir = fixture("lora/mamba");
    const fs::path copy = fs::temp_directory_path() / ("krait-fan-in-fan-out-" + std::to_string(::getpid()));
    fs::remove_all(copy);
    fs::copy(dir + "/adapters/a", copy, fs::copy_options::recursive);
    {
        std::ifstream in(copy / "adapter_config.json");
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto at = text.find("\"fan_in_fan_out\": false");
        ASSERT_NE(at, std::string::npos);
        text.replace(at, std::string("\"fan_in_fan_out\": false").size(), "\"fan_in_fan_out\": true");
        std::ofstream(copy / "adapter_config.json", std::ios::trunc) << text;
    }
    MambaRun run(dir);
    const auto& targets = run.model->adapter_targets();
    const auto flipped = LoraAdapter::load(copy.string(), targets, "");
    EXPECT_TRUE(flipped->config().fan_in_fan_out);
    const LoraSet set(targets, {{flipped, 1.0f}});
    const auto ids = run.expected.values<int32_t>("input_ids");
    EXPECT_TRUE(all_close(run.logits(ids, run.expected.tensor("input_ids").shape[0], &set).data(),
                          run.expected.values<float>("logits_a"), kTol));
    fs::remove_all(copy);
}

TEST(LoraMamba, AdapterReallyChangesTheOutput) {
    // Guards the fixtures themselves: a zero lora_B would make every test above pass trivially.
    Expected e(fixture("lora/mamba"));
    const auto base = e.values<float>("logits_base");
    for (const char* name : {"logits_a", "logits_b", "logits_ab"}) {
        const auto other = e.values<float>(name);
        float diff = 0.0f;
        for (size_t i = 0; i < base.size(); ++i) diff = std::max(diff, std::fabs(other[i] - base[i]));
        EXPECT_GT(diff, 1e-2f) << name;
    }
}

TEST(LoraMamba, ModuleRanksAndScalingFollowThePatterns) {
    const std::string dir = fixture("lora/mamba");
    auto model = MambaModel::load(dir);
    const auto b = load_adapter(dir, "b", model->adapter_targets());
    ASSERT_TRUE(b->config().use_rslora);
    bool saw_pattern_rank = false;
    for (const LoraModule& m : b->modules()) {
        EXPECT_EQ(m.rank, b->config().rank_for(m.adapter_key)) << m.name;
        EXPECT_FLOAT_EQ(m.scaling, static_cast<float>(b->config().alpha_for(m.adapter_key) / std::sqrt(m.rank)))
            << m.name;
        saw_pattern_rank |= m.rank != b->config().r;
    }
    EXPECT_TRUE(saw_pattern_rank) << "the fixture should exercise rank_pattern";
}

TEST(LoraMamba, GreedyDecodeWithAdapterMatchesPeft) {
    const std::string dir = fixture("lora/mamba");
    MambaRun run(dir);
    const auto a = load_adapter(dir, "a", run.model->adapter_targets());
    const LoraSet set(run.model->adapter_targets(), {{a, 1.0f}});
    const auto prompt = run.expected.values<int32_t>("prompt_ids");
    const auto want = run.expected.values<int32_t>("greedy_a");
    const int64_t V = run.model->config().vocab_size;
    MambaState state = run.model->new_state();
    MambaState* s = &state;
    std::vector<float> logits(static_cast<size_t>(V));
    run.model->eval(prompt.data(), 1, static_cast<int64_t>(prompt.size()), &s, MambaModel::Logits::Last,
                    logits.data(), run.pool, run.ws, nullptr, &set);
    std::vector<int32_t> got;
    for (size_t i = 0; i < want.size(); ++i) {  // prefill once, then one recurrent step per token
        const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        got.push_back(next);
        run.model->eval(&next, 1, 1, &s, MambaModel::Logits::Last, logits.data(), run.pool, run.ws, nullptr, &set);
    }
    EXPECT_EQ(got, want);
}

// ---- Classifiers ----------------------------------------------------------------------------------------------

template <class Model>
struct ClassifierRun {
    explicit ClassifierRun(const std::string& dir) : model(Model::load(dir)), expected(dir), pool(2) {
        const auto& shape = expected.tensor("pixel_values").shape;
        batch = shape[0], height = shape[2], width = shape[3];
        pixels = expected.values<float>("pixel_values");
    }
    std::vector<float> logits(const LoraSet* lora) {
        std::vector<float> out(static_cast<size_t>(batch * model->active_num_labels(lora)));
        model->forward(pixels.data(), batch, height, width, out.data(), pool, nullptr, lora);
        return out;
    }
    std::unique_ptr<Model> model;
    Expected expected;
    ThreadPool pool;
    std::vector<float> pixels;
    int64_t batch = 0, height = 0, width = 0;
};

TEST(LoraViT, BothNamingsAndAHeadReplacementMatchPeft) {
    const std::string dir = fixture("lora/vit");
    ClassifierRun<ViTModel> run(dir);
    const auto& targets = run.model->adapter_targets();
    const auto new_names = load_adapter(dir, "new_names", targets);
    const auto old_names = load_adapter(dir, "old_names", targets);
    ASSERT_NE(new_names->head(), nullptr);
    EXPECT_EQ(new_names->head()->labels, (std::vector<std::string>{"cat", "dog", "bird"}));

    const LoraSet set_new(targets, {{new_names, 1.0f}});
    const LoraSet set_old(targets, {{old_names, 1.0f}});
    const LoraSet both(targets, {{new_names, 0.5f}, {old_names, 1.5f}});
    EXPECT_EQ(run.model->active_num_labels(&set_new), 3);
    EXPECT_EQ(run.model->active_labels(&set_new)[2], "bird");
    EXPECT_EQ(run.model->active_num_labels(&set_old), run.model->num_labels());
    EXPECT_TRUE(all_close(run.logits(nullptr).data(), run.expected.values<float>("logits_base"), kTol));
    EXPECT_TRUE(all_close(run.logits(&set_new).data(), run.expected.values<float>("logits_new_names"), kTol));
    EXPECT_TRUE(all_close(run.logits(&set_old).data(), run.expected.values<float>("logits_old_names"), kTol));
    EXPECT_TRUE(all_close(run.logits(&both).data(), run.expected.values<float>("logits_both"), kTol));
    EXPECT_TRUE(all_close(run.logits(nullptr).data(), run.expected.values<float>("logits_base"), kTol));
}

TEST(LoraViT, NewAndOldNamesResolveToTheSameModules) {
    const std::string dir = fixture("lora/vit");
    auto model = ViTModel::load(dir);
    const auto& targets = model->adapter_targets();
    std::string a, b;
    ASSERT_NE(targets.resolve("vit.layers.1.attention.q_proj", &a), nullptr);
    ASSERT_NE(targets.resolve("vit.encoder.layer.1.attention.attention.query", &b), nullptr);
    EXPECT_EQ(a, b);
    ASSERT_NE(targets.resolve("vit.layers.0.mlp.fc2", &a), nullptr);
    EXPECT_EQ(a, "vit.encoder.layer.0.output.dense");
    EXPECT_EQ(targets.resolve("vit.layers.0.mlp.fc3"), nullptr);
}

TEST(LoraMambaVision, ConvAndMixerAdaptersAndANewHeadMatchTheReference) {
    const std::string dir = fixture("lora/mambavision");
    ClassifierRun<MambaVisionModel> run(dir);
    const auto& targets = run.model->adapter_targets();
    const auto convs = load_adapter(dir, "convs", targets);
    const auto mixer_only = load_adapter(dir, "mixer_only", targets);
    bool has_conv1d = false, has_conv2d = false;
    for (const LoraModule& m : convs->modules()) {
        has_conv1d |= m.target.kind == TargetKind::Conv1d;
        has_conv2d |= m.target.kind == TargetKind::Conv2d;
    }
    EXPECT_TRUE(has_conv1d && has_conv2d) << "the fixture should adapt both kinds of convs";

    const LoraSet set_convs(targets, {{convs, 1.0f}});
    const LoraSet set_mixer(targets, {{mixer_only, 1.0f}});
    const LoraSet both(targets, {{convs, 0.5f}, {mixer_only, 1.5f}});
    EXPECT_EQ(run.model->active_num_labels(&set_convs), 2);
    EXPECT_TRUE(all_close(run.logits(nullptr).data(), run.expected.values<float>("logits_base"), kTol));
    EXPECT_TRUE(all_close(run.logits(&set_convs).data(), run.expected.values<float>("logits_convs"), kTol));
    EXPECT_TRUE(all_close(run.logits(&set_mixer).data(), run.expected.values<float>("logits_mixer_only"), kTol));
    EXPECT_TRUE(all_close(run.logits(&both).data(), run.expected.values<float>("logits_both"), kTol));
    EXPECT_TRUE(all_close(run.logits(nullptr).data(), run.expected.values<float>("logits_base"), kTol));
}

TEST(LoraMambaVision, NamesWithAndWithoutTheHubPrefixResolve) {
    // Adapters trained on the bare network (NVlabs code) name modules without the hub's `model.` wrapper.
    auto model = MambaVisionModel::load(fixture("lora/mambavision"));
    const auto& targets = model->adapter_targets();
    std::string a, b;
    ASSERT_NE(targets.resolve("head", &a), nullptr);
    ASSERT_NE(targets.resolve("model.head", &b), nullptr);
    EXPECT_EQ(a, "model.head");
    EXPECT_EQ(b, "model.head");
    ASSERT_NE(targets.resolve("levels.0.blocks.0.conv1", &a), nullptr);
    EXPECT_EQ(a, "model.levels.0.blocks.0.conv1");
    EXPECT_EQ(targets.resolve("model.model.head"), nullptr);
}

// ---- The active set itself ------------------------------------------------------------------------------------

TEST(LoraSet, RefusesBadScalesForeignAdaptersAndDoubleHeads) {
    const std::string dir = fixture("lora/vit");
    auto model = ViTModel::load(dir);
    auto other = ViTModel::load(dir);  // same files, another model instance
    const auto& targets = model->adapter_targets();
    const auto new_names = load_adapter(dir, "new_names", targets);
    const auto foreign = load_adapter(dir, "new_names", other->adapter_targets());
    auto expect_invalid = [&](std::vector<ActiveAdapter> active, const std::string& fragment) {
        try {
            LoraSet set(targets, std::move(active));
            ADD_FAILURE() << "accepted; expected an error containing " << fragment;
        } catch (const Error& e) {
            EXPECT_EQ(e.status(), KRAIT_ERR_INVALID_ARGUMENT);
            EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
        }
    };
    expect_invalid({{new_names, std::nanf("")}}, "not finite");
    expect_invalid({{new_names, std::numeric_limits<float>::infinity()}}, "not finite");
    expect_invalid({{foreign, 1.0f}}, "another model");
    const auto second_head = LoraAdapter::load(dir + "/adapters/new_names", targets, "again");
    expect_invalid({{new_names, 1.0f}, {second_head, 1.0f}}, "replace module 'classifier' twice");
}

}  // namespace
}  // namespace krait
