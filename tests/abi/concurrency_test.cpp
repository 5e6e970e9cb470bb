// Several sessions on one model, each on its own thread, give exactly the
// results each gives alone (bitwise: same code, same thread count, same data).
// Run under ThreadSanitizer in CI (tools/test.sh) to catch data races.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "krait/krait.h"

namespace {

struct Work {
    std::vector<float> logits;
    std::vector<int32_t> generated;
};

Work run(krait_model* model, int which, int rounds) {
    krait_session_params sp;
    krait_session_params_init(&sp);
    sp.n_threads = 1 + which % 2;  // sessions with their own, differing thread counts
    krait_session* session = nullptr;
    if (krait_session_create(model, &sp, &session) != KRAIT_OK) throw std::runtime_error(krait_last_error());
    Work w;
    std::vector<int32_t> ids(2 * 41);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 7 + which * 13) % 97);
    for (int r = 0; r < rounds; ++r) {
        size_t n = 0;
        w.logits.assign(2 * 41 * 97, 0.0f);
        if (krait_session_forward(session, ids.data(), 2, 41, w.logits.data(), w.logits.size(), &n) != KRAIT_OK)
            throw std::runtime_error(krait_last_error());
        krait_generate_params gp;
        krait_generate_params_init(&gp);
        gp.max_new_tokens = 16;
        gp.stop_at_eos = 0;
        gp.sampling.seed = static_cast<uint64_t>(which);
        w.generated.assign(16, -1);
        krait_session_reset(session);
        if (krait_session_generate(session, ids.data(), 9, &gp, w.generated.data(), w.generated.size(), &n) != KRAIT_OK)
            throw std::runtime_error(krait_last_error());
    }
    krait_session_free(session);
    return w;
}

TEST(Concurrency, SessionsOnOneModelMatchRunningAlone) {
    krait_model* model = nullptr;
    ASSERT_EQ(krait_model_load("tests/fixtures/mamba/f32_tied", nullptr, &model), KRAIT_OK) << krait_last_error();
    constexpr int kSessions = 4;
    std::vector<Work> alone(kSessions), together(kSessions);
    for (int i = 0; i < kSessions; ++i) alone[i] = run(model, i, 1);
    std::vector<std::thread> threads;
    for (int i = 0; i < kSessions; ++i) threads.emplace_back([&, i] { together[i] = run(model, i, 3); });
    for (auto& t : threads) t.join();
    for (int i = 0; i < kSessions; ++i) {
        EXPECT_EQ(alone[i].logits, together[i].logits) << "session " << i;
        EXPECT_EQ(alone[i].generated, together[i].generated) << "session " << i;
    }
    krait_model_free(model);
}

}  // namespace

// ---- LoRA adapters: sessions with different active sets, adapters loaded and freed meanwhile ----

namespace {

constexpr const char* kLoraModel = "tests/fixtures/lora/mamba";

krait_adapter* load_adapter(krait_model* model, const char* name) {
    krait_adapter* a = nullptr;
    const std::string path = std::string(kLoraModel) + "/adapters/" + name;
    if (krait_adapter_load(model, path.c_str(), nullptr, &a) != KRAIT_OK) throw std::runtime_error(krait_last_error());
    return a;
}

// Session `which` uses its own active set: 0 base, 1 a, 2 b, 3 a*0.5 + b*1.5.
std::vector<float> run_with_adapters(krait_model* model, krait_adapter* a, krait_adapter* b, int which, int rounds) {
    krait_session* session = nullptr;
    if (krait_session_create(model, nullptr, &session) != KRAIT_OK) throw std::runtime_error(krait_last_error());
    krait_model_info info{};
    info.struct_size = sizeof info;
    krait_model_get_info(model, &info);
    const krait_adapter* sets[4][2] = {{nullptr, nullptr}, {a, nullptr}, {b, nullptr}, {a, b}};
    const float scales[4][2] = {{1, 1}, {1, 1}, {1, 1}, {0.5f, 1.5f}};
    const size_t counts[4] = {0, 1, 1, 2};
    if (krait_session_set_adapters(session, sets[which], scales[which], counts[which]) != KRAIT_OK)
        throw std::runtime_error(krait_last_error());
    std::vector<int32_t> ids(2 * 37);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 5 + which * 11) % info.vocab_size);
    std::vector<float> logits(ids.size() * static_cast<size_t>(info.vocab_size));
    for (int r = 0; r < rounds; ++r) {
        size_t n = 0;
        if (krait_session_forward(session, ids.data(), 2, 37, logits.data(), logits.size(), &n) != KRAIT_OK)
            throw std::runtime_error(krait_last_error());
    }
    krait_session_free(session);
    return logits;
}

}  // namespace

TEST(Concurrency, SessionsWithDifferentAdaptersMatchRunningAlone) {
    krait_model* model = nullptr;
    ASSERT_EQ(krait_model_load(kLoraModel, nullptr, &model), KRAIT_OK) << krait_last_error();
    krait_adapter* a = load_adapter(model, "a");
    krait_adapter* b = load_adapter(model, "b");
    constexpr int kSessions = 4;
    std::vector<std::vector<float>> alone(kSessions), together(kSessions);
    for (int i = 0; i < kSessions; ++i) alone[i] = run_with_adapters(model, a, b, i, 1);
    for (int i = 1; i < kSessions; ++i) ASSERT_NE(alone[i], alone[0]) << "set " << i << " should change the output";

    std::vector<std::thread> threads;
    for (int i = 0; i < kSessions; ++i)
        threads.emplace_back([&, i] { together[i] = run_with_adapters(model, a, b, i, 3); });
    // Meanwhile, another thread loads and frees adapters on the same model.
    threads.emplace_back([&] {
        for (int r = 0; r < 6; ++r) krait_adapter_free(load_adapter(model, r % 2 ? "a" : "b"));
    });
    for (auto& t : threads) t.join();
    for (int i = 0; i < kSessions; ++i) EXPECT_EQ(alone[i], together[i]) << "session " << i;
    krait_adapter_free(a);
    krait_adapter_free(b);
    krait_model_free(model);
}

TEST(Concurrency, AnAdapterFreedWhileInUseLivesUntilItsLastSessionMovesOn) {
    krait_model* model = nullptr;
    ASSERT_EQ(krait_model_load(kLoraModel, nullptr, &model), KRAIT_OK) << krait_last_error();
    krait_adapter* a = load_adapter(model, "a");
    const std::vector<float> want = run_with_adapters(model, a, nullptr, 1, 1);

    krait_session* session = nullptr;
    ASSERT_EQ(krait_session_create(model, nullptr, &session), KRAIT_OK);
    const krait_adapter* active[] = {a};
    ASSERT_EQ(krait_session_set_adapters(session, active, nullptr, 1), KRAIT_OK) << krait_last_error();
    krait_model_info info{};
    info.struct_size = sizeof info;
    krait_model_get_info(model, &info);
    std::vector<int32_t> ids(2 * 37);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 5 + 11) % info.vocab_size);
    std::vector<float> got(want.size());
    std::thread unloader([&] { krait_adapter_free(a); });  // the caller's handle goes away mid-call
    size_t n = 0;
    ASSERT_EQ(krait_session_forward(session, ids.data(), 2, 37, got.data(), got.size(), &n), KRAIT_OK);
    unloader.join();
    EXPECT_EQ(got, want);
    // Still active after the handle is gone: the session holds its own reference.
    ASSERT_EQ(krait_session_forward(session, ids.data(), 2, 37, got.data(), got.size(), &n), KRAIT_OK);
    EXPECT_EQ(got, want);
    ASSERT_EQ(krait_session_set_adapters(session, nullptr, nullptr, 0), KRAIT_OK);  // releases the last reference
    krait_session_free(session);
    krait_model_free(model);
}
