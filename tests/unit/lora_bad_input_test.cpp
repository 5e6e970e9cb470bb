// Broken LoRA adapter folders (tests/fixtures/lora/bad, made by
// tools/gen_lora_fixtures.py; the table in its README says what each holds):
// each is refused with its status and a message naming the problem, and the
// model and the adapters already loaded keep working exactly as before.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sdk/adapters/lora_adapter.h"
#include "sdk/adapters/lora_set.h"
#include "sdk/core/error.h"
#include "sdk/models/mamba.h"
#include "tests/common/fixtures.h"

namespace krait {
namespace {

using testing::fixture;

struct BadCase {
    const char* folder;
    krait_status status;
    std::vector<const char*> message_names;  // every fragment must appear in the message
};

const BadCase kCases[] = {
    {"other_size", KRAIT_ERR_FORMAT, {"has shape", "expected", "another model size"}},
    {"other_arch", KRAIT_ERR_FORMAT, {"'classifier'", "this mamba model does not have"}},
    {"rank_mismatch", KRAIT_ERR_FORMAT, {"layers.0.mixer.in_proj.lora_B.weight", "[80, 3]", "rank 4"}},
    {"config_rank_mismatch", KRAIT_ERR_FORMAT, {"has rank 4", "r = 2", "adapter_config.json"}},
    {"unknown_target", KRAIT_ERR_FORMAT, {"backbone.layers.0.mixer.nonexistent"}},
    {"missing_B", KRAIT_ERR_FORMAT, {"backbone.layers.1.mixer.x_proj", "no lora_B"}},
    {"missing_weights", KRAIT_ERR_IO, {"adapter_model.safetensors"}},
    {"missing_config", KRAIT_ERR_IO, {"adapter_config.json"}},
    {"bad_json", KRAIT_ERR_FORMAT, {"adapter_config.json", "not valid JSON"}},
    {"not_lora", KRAIT_ERR_UNSUPPORTED, {"peft_type", "IA3"}},
    {"dora", KRAIT_ERR_UNSUPPORTED, {"use_dora"}},
    {"lora_bias", KRAIT_ERR_UNSUPPORTED, {"lora_bias"}},
    {"conv1d_target", KRAIT_ERR_UNSUPPORTED, {"mixer.conv1d", "not supported"}},
    {"nan_weights", KRAIT_ERR_FORMAT, {"layers.0.mixer.out_proj.lora_B.weight", "non-finite"}},
    {"truncated", KRAIT_ERR_FORMAT, {"adapter_model.safetensors"}},
};

TEST(LoraBadInput, EveryBrokenAdapterIsRefusedByNameAndNothingElseChanges) {
    const std::string base = fixture("lora/mamba");
    auto model = MambaModel::load(base);
    const auto& targets = model->adapter_targets();
    const auto good = LoraAdapter::load(base + "/adapters/a", targets, "");
    const LoraSet set(targets, {{good, 1.0f}});
    ThreadPool pool(2);
    MambaWorkspace ws;
    auto logits = [&] {
        std::vector<int32_t> ids = {1, 5, 9, 60, 2, 33, 7};
        MambaState state = model->new_state();
        MambaState* s = &state;
        std::vector<float> out(ids.size() * static_cast<size_t>(model->config().vocab_size));
        model->eval(ids.data(), 1, static_cast<int64_t>(ids.size()), &s, MambaModel::Logits::All, out.data(), pool, ws,
                    nullptr, &set);
        return out;
    };
    const auto before = logits();

    for (const BadCase& c : kCases) {
        SCOPED_TRACE(c.folder);
        try {
            LoraAdapter::load(fixture("lora/bad/") + c.folder, targets, "");
            ADD_FAILURE() << "loaded without an error";
        } catch (const Error& e) {
            EXPECT_EQ(e.status(), c.status) << e.what();
            for (const char* name : c.message_names)
                EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << "'" << name << "' not in: " << e.what();
        }
    }
    EXPECT_EQ(logits(), before) << "a failed load must not change the model or a loaded adapter";
}

TEST(LoraBadInput, F16AdapterLoadsAndMatchesPeft) {
    // Not bad: the F16 copy of adapter a (in mamba/adapters/a_f16) loads, converted to F32 once.
    const std::string base = fixture("lora/mamba");
    auto model = MambaModel::load(base);
    const auto a16 = LoraAdapter::load(base + "/adapters/a_f16", model->adapter_targets(), "");
    const LoraSet set(model->adapter_targets(), {{a16, 1.0f}});
    testing::Expected e(base);
    const auto ids = e.values<int32_t>("input_ids");
    const int64_t batch = e.tensor("input_ids").shape[0], length = e.tensor("input_ids").shape[1];
    std::vector<MambaState> states(static_cast<size_t>(batch), model->new_state());
    std::vector<MambaState*> ptrs;
    for (auto& s : states) ptrs.push_back(&s);
    std::vector<float> out(static_cast<size_t>(batch * length * model->config().vocab_size));
    ThreadPool pool(2);
    MambaWorkspace ws;
    model->eval(ids.data(), batch, length, ptrs.data(), MambaModel::Logits::All, out.data(), pool, ws, nullptr, &set);
    EXPECT_TRUE(testing::all_close(out.data(), e.values<float>("logits_a_f16"), 1e-5f));
}

TEST(LoraBadInput, ModulesKraitCannotAdaptAreNamed) {
    auto model = MambaModel::load(fixture("lora/mamba"));
    std::string resolved;
    const AdapterTarget* norm = model->adapter_targets().resolve("backbone.layers.1.norm", &resolved);
    ASSERT_NE(norm, nullptr);
    EXPECT_NE(norm->unsupported.find("RMSNorm"), std::string::npos);
    EXPECT_EQ(model->adapter_targets().resolve("backbone.layers.2.mixer.in_proj"), nullptr);  // only 2 layers
}

}  // namespace
}  // namespace krait
