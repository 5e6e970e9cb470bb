// Several sessions on one model, each on its own thread, give exactly the
// results each gives alone (bitwise: same code, same thread count, same data).
// Run under ThreadSanitizer in CI (tools/test.sh) to catch data races.
#include <gtest/gtest.h>

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
