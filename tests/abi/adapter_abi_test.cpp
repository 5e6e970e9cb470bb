// The LoRA half of the C ABI, through the public headers only:
//  * adapter handles: info, targets, labels; the krait.hpp wrapper;
//  * swaps on one session are exact: base -> A -> base gives the first result bit for bit;
//  * a replaced classifier head brings its classes and labels to the session;
//  * every error path (NULLs, broken adapter folders, adapters of another model,
//    bad scales) returns its status and a message naming the problem, and leaves
//    the model, the session and its active set as they were.
// Agreement with peft's numbers is tested in tests/unit/lora_conformance_test.cpp
// and, through this ABI, by tests/python/test_adapters.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "krait/krait.h"
#include "krait/krait.hpp"

namespace {

const std::string kMamba = "tests/fixtures/lora/mamba";
const std::string kVit = "tests/fixtures/lora/vit";
const std::string kBad = "tests/fixtures/lora/bad";

struct Handles {
    krait_model* model = nullptr;
    krait_session* session = nullptr;
    ~Handles() {
        krait_session_free(session);
        krait_model_free(model);
    }
};

void open(Handles& h, const std::string& dir) {
    ASSERT_EQ(krait_model_load(dir.c_str(), nullptr, &h.model), KRAIT_OK) << krait_last_error();
    ASSERT_EQ(krait_session_create(h.model, nullptr, &h.session), KRAIT_OK) << krait_last_error();
}

std::vector<float> forward(krait_session* s, int64_t vocab) {
    std::vector<int32_t> ids(2 * 29);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 13 + 5) % vocab);
    std::vector<float> logits(ids.size() * static_cast<size_t>(vocab));
    size_t n = 0;
    EXPECT_EQ(krait_session_forward(s, ids.data(), 2, 29, logits.data(), logits.size(), &n), KRAIT_OK)
        << krait_last_error();
    return logits;
}

int64_t vocab_of(krait_model* m) {
    krait_model_info info{};
    info.struct_size = sizeof info;
    krait_model_get_info(m, &info);
    return info.vocab_size;
}

krait_adapter* load(krait_model* m, const std::string& dir) {
    krait_adapter* a = nullptr;
    EXPECT_EQ(krait_adapter_load(m, dir.c_str(), nullptr, &a), KRAIT_OK) << krait_last_error();
    return a;
}

TEST(AdapterAbi, InfoAndTargetsDescribeTheAdapter) {
    Handles h;
    open(h, kMamba);
    krait_adapter_params p;
    krait_adapter_params_init(&p);
    p.name = "style";
    krait_adapter* a = nullptr;
    ASSERT_EQ(krait_adapter_load(h.model, (kMamba + "/adapters/a").c_str(), &p, &a), KRAIT_OK) << krait_last_error();
    krait_adapter_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(krait_adapter_get_info(a, &info), KRAIT_OK);
    EXPECT_STREQ(info.name, "style");
    EXPECT_EQ(info.max_rank, 4);
    EXPECT_EQ(info.use_rslora, 0);
    EXPECT_EQ(info.num_labels, 0);
    EXPECT_GT(info.num_parameters, 0);
    bool saw_embedding = false, saw_dt_proj = false;
    for (int64_t i = 0; i < info.num_targets; ++i) {
        krait_adapter_target t{};
        t.struct_size = sizeof t;
        ASSERT_EQ(krait_adapter_get_target(a, i, &t), KRAIT_OK);
        EXPECT_EQ(t.rank, 4) << t.module;
        EXPECT_FLOAT_EQ(t.scaling, 2.0f) << t.module;  // lora_alpha 8 / r 4
        saw_embedding |= std::string(t.kind) == "embedding";
        saw_dt_proj |= std::string(t.module).find("mixer.dt_proj") != std::string::npos;
    }
    EXPECT_TRUE(saw_embedding && saw_dt_proj);
    krait_adapter_target t{};
    t.struct_size = sizeof t;
    EXPECT_EQ(krait_adapter_get_target(a, info.num_targets, &t), KRAIT_ERR_INVALID_ARGUMENT);
    const char* label = nullptr;
    EXPECT_EQ(krait_adapter_get_label(a, 0, &label), KRAIT_ERR_INVALID_ARGUMENT);  // keeps the model's head
    EXPECT_NE(std::string(krait_last_error()).find("does not replace the classifier head"), std::string::npos);
    krait_adapter_free(a);
}

TEST(AdapterAbi, SwapsAreExactAndCostNoReload) {
    Handles h;
    open(h, kMamba);
    const int64_t V = vocab_of(h.model);
    krait_adapter* a = load(h.model, kMamba + "/adapters/a");
    krait_adapter* b = load(h.model, kMamba + "/adapters/b");
    const auto base = forward(h.session, V);
    const krait_adapter* set_a[] = {a};
    ASSERT_EQ(krait_session_set_adapters(h.session, set_a, nullptr, 1), KRAIT_OK);
    const auto with_a = forward(h.session, V);
    EXPECT_NE(with_a, base);
    const krait_adapter* set_ab[] = {a, b};
    const float scales[] = {0.5f, 1.5f};
    ASSERT_EQ(krait_session_set_adapters(h.session, set_ab, scales, 2), KRAIT_OK);
    const auto mixed = forward(h.session, V);
    EXPECT_NE(mixed, with_a);
    ASSERT_EQ(krait_session_set_adapters(h.session, set_a, nullptr, 1), KRAIT_OK);
    EXPECT_EQ(forward(h.session, V), with_a);
    ASSERT_EQ(krait_session_set_adapters(h.session, nullptr, nullptr, 0), KRAIT_OK);
    EXPECT_EQ(forward(h.session, V), base);
    // Scale 0 is the base model.
    const float zero[] = {0.0f};
    ASSERT_EQ(krait_session_set_adapters(h.session, set_a, zero, 1), KRAIT_OK);
    EXPECT_EQ(forward(h.session, V), base);
    krait_adapter_free(a);
    krait_adapter_free(b);
}

TEST(AdapterAbi, ErrorsLeaveTheActiveSetAsItWas) {
    Handles h, other;
    open(h, kMamba);
    open(other, kMamba);
    const int64_t V = vocab_of(h.model);
    krait_adapter* a = load(h.model, kMamba + "/adapters/a");
    krait_adapter* foreign = load(other.model, kMamba + "/adapters/a");
    const krait_adapter* set_a[] = {a};
    ASSERT_EQ(krait_session_set_adapters(h.session, set_a, nullptr, 1), KRAIT_OK);
    const auto with_a = forward(h.session, V);

    const krait_adapter* set_foreign[] = {foreign};
    EXPECT_EQ(krait_session_set_adapters(h.session, set_foreign, nullptr, 1), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("another model"), std::string::npos) << krait_last_error();
    const float nan_scale[] = {std::nanf("")};
    EXPECT_EQ(krait_session_set_adapters(h.session, set_a, nan_scale, 1), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("not finite"), std::string::npos) << krait_last_error();
    const krait_adapter* with_null[] = {a, nullptr};
    EXPECT_EQ(krait_session_set_adapters(h.session, with_null, nullptr, 2), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("adapters[1] is NULL"), std::string::npos);
    EXPECT_EQ(krait_session_set_adapters(h.session, nullptr, nullptr, 1), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_set_adapters(nullptr, set_a, nullptr, 1), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(forward(h.session, V), with_a) << "a failed set_adapters must keep the previous set";

    krait_adapter* out = reinterpret_cast<krait_adapter*>(0x1);
    EXPECT_EQ(krait_adapter_load(nullptr, kMamba.c_str(), nullptr, &out), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_adapter_load(h.model, nullptr, nullptr, &out), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_adapter_load(h.model, kMamba.c_str(), nullptr, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_adapter_load(h.model, "tests/fixtures/lora/no/such/dir", nullptr, &out), KRAIT_ERR_IO);
    EXPECT_EQ(out, reinterpret_cast<krait_adapter*>(0x1)) << "out-parameters stay untouched on failure";
    EXPECT_EQ(krait_adapter_get_info(nullptr, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    int64_t n = 0;
    EXPECT_EQ(krait_session_get_num_labels(h.session, &n), KRAIT_ERR_WRONG_KIND);
    krait_adapter_free(nullptr);
    EXPECT_EQ(forward(h.session, V), with_a);
    krait_adapter_free(a);
    krait_adapter_free(foreign);
}

TEST(AdapterAbi, AReplacedHeadBringsItsClassesAndLabels) {
    Handles h;
    open(h, kVit);
    krait_adapter* head = load(h.model, kVit + "/adapters/new_names");
    krait_adapter_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(krait_adapter_get_info(head, &info), KRAIT_OK);
    EXPECT_EQ(info.num_labels, 3);
    const char* label = nullptr;
    ASSERT_EQ(krait_adapter_get_label(head, 2, &label), KRAIT_OK);
    EXPECT_STREQ(label, "bird");

    int64_t classes = 0;
    ASSERT_EQ(krait_session_get_num_labels(h.session, &classes), KRAIT_OK);
    EXPECT_EQ(classes, 5);
    const krait_adapter* set[] = {head};
    ASSERT_EQ(krait_session_set_adapters(h.session, set, nullptr, 1), KRAIT_OK);
    ASSERT_EQ(krait_session_get_num_labels(h.session, &classes), KRAIT_OK);
    EXPECT_EQ(classes, 3);
    krait_adapter_free(head);  // the session keeps the adapter (and its label strings) alive

    std::vector<uint8_t> rgb(20 * 20 * 3);
    for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 37);
    krait_image image{};
    image.struct_size = sizeof image;
    image.pixels = rgb.data();
    image.width = 20;
    image.height = 20;
    image.channels = 3;
    std::vector<krait_classification> out(5);
    size_t n = 0;
    ASSERT_EQ(krait_session_classify_pixels(h.session, &image, 1, 5, out.data(), out.size(), &n), KRAIT_OK)
        << krait_last_error();
    ASSERT_EQ(n, 3u);  // top_k is capped at the active head's 3 classes
    std::vector<std::string> names;
    for (size_t i = 0; i < n; ++i) names.push_back(out[i].label);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"bird", "cat", "dog"}));

    std::vector<float> pixels(3 * 20 * 20, 0.25f);
    ASSERT_EQ(krait_session_classifier_forward(h.session, pixels.data(), 1, 20, 20, nullptr, 0, &n), KRAIT_OK);
    EXPECT_EQ(n, 3u);
    ASSERT_EQ(krait_session_set_adapters(h.session, nullptr, nullptr, 0), KRAIT_OK);
    ASSERT_EQ(krait_session_classifier_forward(h.session, pixels.data(), 1, 20, 20, nullptr, 0, &n), KRAIT_OK);
    EXPECT_EQ(n, 5u);
}

TEST(AdapterAbi, CppWrapper) {
    krait::Model model = krait::Model::load(kVit);
    krait::Session session(model, 1);
    krait::Adapter new_names = krait::Adapter::load(model, kVit + "/adapters/new_names");
    krait::Adapter old_names = krait::Adapter::load(model, kVit + "/adapters/old_names", "legacy");
    EXPECT_EQ(new_names.name(), "new_names");
    EXPECT_EQ(old_names.name(), "legacy");
    EXPECT_EQ(new_names.labels(), (std::vector<std::string>{"cat", "dog", "bird"}));
    EXPECT_TRUE(old_names.labels().empty());
    int replaced = 0;
    for (const auto& t : new_names.targets()) replaced += t.replaced;
    EXPECT_EQ(replaced, 1);
    session.set_adapters({{&new_names, 0.5f}, {&old_names, 1.5f}});
    EXPECT_EQ(session.num_labels(), 3);
    session.clear_adapters();
    EXPECT_EQ(session.num_labels(), 5);
    try {
        session.set_adapters({{&new_names, std::nanf("")}});
        FAIL() << "a NaN scale was accepted";
    } catch (const krait::Exception& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_INVALID_ARGUMENT);
    }
}

}  // namespace
