// krait.h's ABI RULES and the semantics of krait_session_abort, through the public header only:
//  * the frozen layouts (krait_sampling_params nested in krait_generate_params, the
//    krait_classification array element) are those of 1.2;
//  * info structs: a struct_size of 0 or below the struct's first version is refused, struct_size is
//    never written, and nothing past the caller's struct_size is written;
//  * an abort applies to the call running or the next one to start, is consumed by it, and never
//    reaches the call after; calls that do not start (argument errors, size queries) and calls that
//    are not abortable leave it pending; krait_session_clear_abort withdraws it.
// Every test is deterministic: requests are made before a call, from the call's own token callback, or
// from another thread in lock step with that callback; nothing depends on timing.
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "krait/krait.h"

namespace {

const std::string kTied = "tests/fixtures/mamba/f32_tied";
const std::string kVit = "tests/fixtures/vit/f32_base";  // 5 labels, 8 x 8
const std::string kLoraVit = "tests/fixtures/lora/vit";
const std::string kSample = "tests/fixtures/images/samples/rgb_37x53.png";

struct Handles {
    krait_model* model = nullptr;
    krait_session* session = nullptr;
    explicit Handles(const std::string& dir) {
        EXPECT_EQ(krait_model_load(dir.c_str(), nullptr, &model), KRAIT_OK) << krait_last_error();
        if (model) {
            EXPECT_EQ(krait_session_create(model, nullptr, &session), KRAIT_OK) << krait_last_error();
        }
    }
    ~Handles() {
        krait_session_free(session);
        krait_model_free(model);
    }
    Handles(const Handles&) = delete;
    Handles& operator=(const Handles&) = delete;
};

// ---- frozen layouts ---------------------------------------------------------------------------

TEST(AbiRules, FrozenLayoutsAreThoseOf1_2) {
    if (sizeof(void*) != 8) GTEST_SKIP() << "the numbers below are the LP64 layout";
    // krait_classification: array element without struct_size.
    EXPECT_EQ(sizeof(krait_classification), 16u);
    EXPECT_EQ(offsetof(krait_classification, label_id), 0u);
    EXPECT_EQ(offsetof(krait_classification, probability), 4u);
    EXPECT_EQ(offsetof(krait_classification, label), 8u);
    // krait_sampling_params: nested by value, never grows.
    EXPECT_EQ(sizeof(krait_sampling_params), 32u);
    EXPECT_EQ(offsetof(krait_sampling_params, seed), 24u);
    // ... so the fields of krait_generate_params after it stay where 1.2 put them.
    EXPECT_EQ(offsetof(krait_generate_params, sampling), 8u);
    EXPECT_EQ(offsetof(krait_generate_params, stop_strings), 40u);
    EXPECT_EQ(offsetof(krait_generate_params, user_data), 72u);
    EXPECT_GE(sizeof(krait_generate_params), 80u);  // may grow at the end
}

// A caller's params struct with guard bytes after it: what an init function wrote past `size` shows.
struct Guarded {
    alignas(8) unsigned char bytes[512];
    explicit Guarded() { std::memset(bytes, 0xAB, sizeof bytes); }
    size_t written_past(size_t size) const {
        size_t n = 0;
        for (size_t i = size; i < sizeof bytes; ++i) n += bytes[i] != 0xAB;
        return n;
    }
};

// Size of a params struct as a program built against an older header had it (LP64): the end of the
// last field that header knew.
constexpr size_t kModelParams_1_2 = offsetof(krait_model_params, progress_user_data) + sizeof(void*);
constexpr size_t kModelParams_1_8 = offsetof(krait_model_params, preprocessor_config) + sizeof(void*);
constexpr size_t kSessionParams_1_0 = offsetof(krait_session_params, n_threads) + sizeof(int32_t);
constexpr size_t kSessionParams_1_8 = offsetof(krait_session_params, image_cache_bytes) + sizeof(int64_t);

TEST(AbiRules, SizedInitWritesNothingPastTheCallersStruct) {
    // A program built against header 1.2 (a smaller krait_model_params) gets the fields it knows, with
    // struct_size saying so, and nothing past them; the load then takes defaults for the newer fields.
    Guarded g;
    auto* mp = reinterpret_cast<krait_model_params*>(g.bytes);
    krait_model_params_init_sized(mp, kModelParams_1_2);
    EXPECT_EQ(g.written_past(kModelParams_1_2), 0u);
    EXPECT_EQ(mp->struct_size, kModelParams_1_2);
    EXPECT_EQ(mp->device, KRAIT_DEVICE_CPU);
    EXPECT_EQ(mp->progress, nullptr);
    krait_model* model = nullptr;
    ASSERT_EQ(krait_model_load(kTied.c_str(), mp, &model), KRAIT_OK) << krait_last_error();
    krait_model_free(model);

    Guarded s;
    auto* sp = reinterpret_cast<krait_session_params*>(s.bytes);
    krait_session_params_init_sized(sp, kSessionParams_1_0);
    EXPECT_EQ(s.written_past(kSessionParams_1_0), 0u);
    EXPECT_EQ(sp->struct_size, kSessionParams_1_0);
    EXPECT_EQ(sp->n_threads, 0);

    // Sizes below struct_size itself write only that many bytes; NULL does nothing.
    Guarded tiny;
    krait_generate_params_init_sized(reinterpret_cast<krait_generate_params*>(tiny.bytes), 2);
    EXPECT_EQ(tiny.written_past(2), 0u);
    krait_adapter_params_init_sized(nullptr, sizeof(krait_adapter_params));
    krait_model_params_init_sized(nullptr, 0);
}

TEST(AbiRules, TheInitMacrosPassTheHeadersSizeAndTheExportedFunctionsWriteThe1_8Layout) {
    krait_model_params mp;
    krait_model_params_init(&mp);  // the header's macro: sizeof *params
    EXPECT_EQ(mp.struct_size, sizeof mp);
    krait_session_params sp;
    krait_session_params_init(&sp);
    EXPECT_EQ(sp.struct_size, sizeof sp);
    EXPECT_EQ(sp.max_batch, 32);
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    EXPECT_EQ(gp.struct_size, sizeof gp);
    EXPECT_EQ(gp.max_new_tokens, 32);
    EXPECT_EQ(gp.sampling.top_k, 50);
    krait_adapter_params ap;
    krait_adapter_params_init(&ap);
    EXPECT_EQ(ap.struct_size, sizeof ap);

    // The exported functions of those names (what programs built against headers up to 1.8 call)
    // write the 1.8 layout and never more, however the structs grow.
    Guarded g;
    (krait_model_params_init)(reinterpret_cast<krait_model_params*>(g.bytes));
    EXPECT_EQ(g.written_past(kModelParams_1_8), 0u);
    EXPECT_EQ(reinterpret_cast<krait_model_params*>(g.bytes)->struct_size, kModelParams_1_8);
    Guarded s;
    (krait_session_params_init)(reinterpret_cast<krait_session_params*>(s.bytes));
    EXPECT_EQ(s.written_past(kSessionParams_1_8), 0u);
    EXPECT_EQ(reinterpret_cast<krait_session_params*>(s.bytes)->image_cache_bytes, KRAIT_DEFAULT_IMAGE_CACHE_BYTES);
    Guarded gen;
    (krait_generate_params_init)(reinterpret_cast<krait_generate_params*>(gen.bytes));
    EXPECT_EQ(gen.written_past(offsetof(krait_generate_params, user_data) + sizeof(void*)), 0u);
    Guarded ad;
    (krait_adapter_params_init)(reinterpret_cast<krait_adapter_params*>(ad.bytes));
    EXPECT_EQ(ad.written_past(sizeof(uint32_t) + sizeof(void*) + 4), 0u);  // struct_size, padding, name
}

TEST(AbiRules, SamplingStructSizeIsNotRead) {
    // The nested struct is frozen: its struct_size is not read, so a caller that left it 0 samples as
    // one that set it.
    Handles h(kTied);
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    gp.max_new_tokens = 6;
    gp.stop_at_eos = 0;
    gp.sampling.temperature = 0.8f;
    gp.sampling.seed = 7;
    const int32_t prompt[] = {1, 2, 3};
    std::vector<int32_t> a(6), b(6);
    size_t n = 0;
    ASSERT_EQ(krait_session_generate(h.session, prompt, 3, &gp, a.data(), a.size(), &n), KRAIT_OK) << krait_last_error();
    ASSERT_EQ(krait_session_reset(h.session), KRAIT_OK);
    gp.sampling.struct_size = 0;
    ASSERT_EQ(krait_session_generate(h.session, prompt, 3, &gp, b.data(), b.size(), &n), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(a, b);
}

// ---- info structs -----------------------------------------------------------------------------

// Calls `get` on a struct of type T with struct_size `size` inside a buffer of 0x5a bytes; returns
// the status and checks that struct_size was not written and nothing at or past `size` either.
template <class T, class Get>
krait_status call_with_size(uint32_t size, Get&& get, T* result = nullptr) {
    struct {
        T info;
        unsigned char guard[64];
    } buf;
    std::memset(&buf, 0x5a, sizeof buf);
    buf.info.struct_size = size;
    const krait_status st = get(&buf.info);
    EXPECT_EQ(buf.info.struct_size, size) << "struct_size was written";
    const auto* bytes = reinterpret_cast<const unsigned char*>(&buf);
    // From the end of the caller's struct, or after struct_size itself (checked above) when smaller.
    for (size_t i = std::max<size_t>(size, sizeof(uint32_t)); i < sizeof buf; ++i)
        if (bytes[i] != 0x5a) {
            ADD_FAILURE() << "byte " << i << " past struct_size " << size << " was written";
            break;
        }
    if (result) *result = buf.info;
    return st;
}

TEST(AbiRules, ModelInfoRefusesStructSizeBelowItsFirstVersion) {
    Handles h(kTied);
    auto get = [&](krait_model_info* i) { return krait_model_get_info(h.model, i); };
    const uint32_t v1_0 = offsetof(krait_model_info, source_dtype) + sizeof(const char*);
    for (uint32_t size : {0u, 4u, 8u, v1_0 - 1}) {
        EXPECT_EQ(call_with_size<krait_model_info>(size, get), KRAIT_ERR_INVALID_ARGUMENT) << size;
        EXPECT_NE(std::string(krait_last_error()).find("struct_size"), std::string::npos) << krait_last_error();
    }
    krait_model_info info;
    EXPECT_EQ(call_with_size<krait_model_info>(v1_0, get, &info), KRAIT_OK) << krait_last_error();  // a 1.0 caller
    EXPECT_EQ(info.kind, KRAIT_MODEL_SEQUENCE);
    EXPECT_STREQ(info.architecture, "mamba");
    EXPECT_EQ(call_with_size<krait_model_info>(sizeof(krait_model_info), get, &info), KRAIT_OK);
    EXPECT_EQ(info.num_labels, 0);
    // A caller built against a later header (a larger struct) gets every field this library knows.
    EXPECT_EQ(call_with_size<krait_model_info>(sizeof(krait_model_info) + 16, get), KRAIT_OK);
}

TEST(AbiRules, AdapterInfoAndTargetRefuseStructSize0AndNeverWriteIt) {
    Handles h(kLoraVit);
    krait_adapter* a = nullptr;
    ASSERT_EQ(krait_adapter_load(h.model, (kLoraVit + "/adapters/new_names").c_str(), nullptr, &a), KRAIT_OK)
        << krait_last_error();

    auto get_info = [&](krait_adapter_info* i) { return krait_adapter_get_info(a, i); };
    const uint32_t info_1_2 = offsetof(krait_adapter_info, num_labels) + sizeof(int64_t);
    for (uint32_t size : {0u, 4u, info_1_2 - 1}) {
        EXPECT_EQ(call_with_size<krait_adapter_info>(size, get_info), KRAIT_ERR_INVALID_ARGUMENT) << size;
        EXPECT_NE(std::string(krait_last_error()).find("struct_size"), std::string::npos) << krait_last_error();
    }
    krait_adapter_info info;
    ASSERT_EQ(call_with_size<krait_adapter_info>(sizeof(krait_adapter_info), get_info, &info), KRAIT_OK)
        << krait_last_error();
    EXPECT_GT(info.num_targets, 0);
    EXPECT_EQ(info.num_labels, 3);
    EXPECT_EQ(call_with_size<krait_adapter_info>(sizeof(krait_adapter_info) + 16, get_info), KRAIT_OK);

    auto get_target = [&](krait_adapter_target* t) { return krait_adapter_get_target(a, 0, t); };
    const uint32_t target_1_2 = offsetof(krait_adapter_target, replaced) + sizeof(int32_t);
    for (uint32_t size : {0u, 4u, target_1_2 - 1}) {
        EXPECT_EQ(call_with_size<krait_adapter_target>(size, get_target), KRAIT_ERR_INVALID_ARGUMENT) << size;
        EXPECT_NE(std::string(krait_last_error()).find("struct_size"), std::string::npos) << krait_last_error();
    }
    krait_adapter_target t;
    ASSERT_EQ(call_with_size<krait_adapter_target>(target_1_2, get_target, &t), KRAIT_OK) << krait_last_error();
    EXPECT_NE(t.module, nullptr);
    EXPECT_EQ(call_with_size<krait_adapter_target>(sizeof(krait_adapter_target) + 16, get_target), KRAIT_OK);
    krait_adapter_free(a);
}

// ---- abort ------------------------------------------------------------------------------------

struct SequenceCalls {
    Handles h{kTied};
    std::vector<int32_t> ids = std::vector<int32_t>(2 * 5, 3);
    std::vector<float> logits;

    krait_status forward() {
        size_t n = 0;
        if (logits.empty()) {
            EXPECT_EQ(krait_session_forward(h.session, ids.data(), 2, 5, nullptr, 0, &n), KRAIT_OK);
            logits.resize(n);
        }
        return krait_session_forward(h.session, ids.data(), 2, 5, logits.data(), logits.size(), &n);
    }
};

TEST(AbortSemantics, ARequestBeforeTheCallStopsItAndIsConsumed) {
    SequenceCalls c;
    ASSERT_EQ(c.forward(), KRAIT_OK) << krait_last_error();
    const std::vector<float> expected = c.logits;
    std::fill(c.logits.begin(), c.logits.end(), -1.0f);
    krait_session_abort(c.h.session);
    EXPECT_EQ(c.forward(), KRAIT_ERR_ABORTED);
    EXPECT_NE(std::string(krait_last_error()).find("aborted"), std::string::npos);
    EXPECT_EQ(c.forward(), KRAIT_OK) << "the request reached a second call";
    EXPECT_EQ(c.logits, expected);
}

TEST(AbortSemantics, SeveralRequestsCountAsOne) {
    SequenceCalls c;
    krait_session_abort(c.h.session);
    krait_session_abort(c.h.session);
    krait_session_abort(c.h.session);
    EXPECT_EQ(c.forward(), KRAIT_ERR_ABORTED);
    EXPECT_EQ(c.forward(), KRAIT_OK);
}

TEST(AbortSemantics, ARequestFromAnotherThreadBeforeTheCallIsNotLost) {
    // The request races nothing: the other thread has made it before the call starts (join), which
    // is exactly the case the 1.2 library lost by clearing the flag as a call started.
    SequenceCalls c;
    std::thread other([&] { krait_session_abort(c.h.session); });
    other.join();
    EXPECT_EQ(c.forward(), KRAIT_ERR_ABORTED);
    EXPECT_EQ(c.forward(), KRAIT_OK);
}

TEST(AbortSemantics, CallsThatDoNotStartLeaveTheRequestPending) {
    SequenceCalls c;
    ASSERT_EQ(c.forward(), KRAIT_OK);
    krait_session_abort(c.h.session);
    size_t n = 0;
    // A size query, argument errors and a buffer too small do not start the call...
    EXPECT_EQ(krait_session_forward(c.h.session, c.ids.data(), 2, 5, nullptr, 0, &n), KRAIT_OK);
    const int32_t bad[] = {1, 1 << 30};
    EXPECT_EQ(krait_session_forward(c.h.session, bad, 1, 2, c.logits.data(), c.logits.size(), &n),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_forward(c.h.session, c.ids.data(), 2, 5, c.logits.data(), 1, &n), KRAIT_ERR_BUFFER_TOO_SMALL);
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    gp.max_new_tokens = 0;
    int32_t out[4];
    EXPECT_EQ(krait_session_generate(c.h.session, c.ids.data(), 2, &gp, out, 4, &n), KRAIT_ERR_INVALID_ARGUMENT);
    // ... and calls that are not abortable neither see nor consume it.
    EXPECT_EQ(krait_session_reset(c.h.session), KRAIT_OK);
    EXPECT_EQ(krait_session_set_threads(c.h.session, 1), KRAIT_OK);
    EXPECT_EQ(krait_session_set_adapters(c.h.session, nullptr, nullptr, 0), KRAIT_OK);
    EXPECT_EQ(c.forward(), KRAIT_ERR_ABORTED);
    EXPECT_EQ(c.forward(), KRAIT_OK);
}

TEST(AbortSemantics, ClearAbortWithdrawsAPendingRequest) {
    SequenceCalls c;
    krait_session_abort(c.h.session);
    krait_session_clear_abort(c.h.session);
    EXPECT_EQ(c.forward(), KRAIT_OK) << krait_last_error();
    krait_session_clear_abort(c.h.session);  // nothing pending: a no-op
    EXPECT_EQ(c.forward(), KRAIT_OK);
}

TEST(AbortSemantics, AnAbortedAppendLeavesAnEmptyContext) {
    Handles h(kTied);
    const int32_t ids[] = {1, 2, 3};
    ASSERT_EQ(krait_session_append(h.session, ids, 3, nullptr, 0), KRAIT_OK);
    krait_session_abort(h.session);
    EXPECT_EQ(krait_session_append(h.session, ids, 3, nullptr, 0), KRAIT_ERR_ABORTED);
    // Empty context: a generation with no prompt has nothing to continue from.
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    int32_t out[4];
    size_t n = 0;
    EXPECT_EQ(krait_session_generate(h.session, nullptr, 0, &gp, out, 4, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("empty context"), std::string::npos) << krait_last_error();
    EXPECT_EQ(krait_session_append(h.session, ids, 3, nullptr, 0), KRAIT_OK);
}

// Greedy generation that records the tokens its callback saw and can act at token `at`.
struct Generation {
    Handles h{kTied};
    std::vector<int32_t> seen;
    std::function<void()> at_token;
    size_t at = 0;
    krait_generate_params params() {
        krait_generate_params gp;
        krait_generate_params_init(&gp);
        gp.sampling.temperature = 0.0f;
        gp.stop_at_eos = 0;
        gp.user_data = this;
        gp.on_token = [](int32_t id, const char*, size_t, void* user) {
            auto* g = static_cast<Generation*>(user);
            g->seen.push_back(id);
            if (g->seen.size() == g->at && g->at_token) g->at_token();
            return 0;
        };
        return gp;
    }
    krait_status run(int32_t max_new_tokens, std::vector<int32_t>& out, bool reset = true) {
        if (reset) {
            EXPECT_EQ(krait_session_reset(h.session), KRAIT_OK);
        }
        seen.clear();
        krait_generate_params gp = params();
        gp.max_new_tokens = max_new_tokens;
        out.assign(static_cast<size_t>(max_new_tokens), -1);
        size_t n = 0;
        const int32_t prompt[] = {1, 2, 3};
        const krait_status st = krait_session_generate(h.session, prompt, 3, &gp, out.data(), out.size(), &n);
        if (st == KRAIT_OK) out.resize(n);
        return st;
    }
};

TEST(AbortSemantics, ARequestBeforeGenerateStopsItBeforeAnyToken) {
    Generation g;
    std::vector<int32_t> expected, out;
    ASSERT_EQ(g.run(8, expected), KRAIT_OK) << krait_last_error();
    krait_session_abort(g.h.session);
    EXPECT_EQ(g.run(8, out), KRAIT_ERR_ABORTED);
    EXPECT_TRUE(g.seen.empty()) << "a token was generated after the abort";
    ASSERT_EQ(g.run(8, out), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(out, expected);
}

TEST(AbortSemantics, AnAbortFromTheTokenCallbackStopsBeforeTheNextToken) {
    Generation g;
    std::vector<int32_t> expected, out;
    ASSERT_EQ(g.run(8, expected), KRAIT_OK);
    g.at = 3;
    g.at_token = [&] { krait_session_abort(g.h.session); };
    EXPECT_EQ(g.run(8, out), KRAIT_ERR_ABORTED);
    EXPECT_EQ(g.seen, std::vector<int32_t>(expected.begin(), expected.begin() + 3));
    // The context holds the prompt and the 3 tokens: continuing without a prompt goes on from there.
    g.at_token = nullptr;
    g.seen.clear();
    krait_generate_params gp = g.params();
    gp.max_new_tokens = 5;
    std::vector<int32_t> rest(5);
    size_t n = 0;
    ASSERT_EQ(krait_session_generate(g.h.session, nullptr, 0, &gp, rest.data(), rest.size(), &n), KRAIT_OK)
        << krait_last_error();
    EXPECT_EQ(rest, std::vector<int32_t>(expected.begin() + 3, expected.end()));
}

TEST(AbortSemantics, AnAbortOnTheLastTokenIsConsumedByThatCall) {
    // The call ends with its last token before it checks again: it completes, and the request it did
    // not need is dropped as it returns instead of stopping the next call.
    Generation g;
    std::vector<int32_t> expected, out;
    ASSERT_EQ(g.run(4, expected), KRAIT_OK);
    g.at = 4;
    g.at_token = [&] { krait_session_abort(g.h.session); };
    ASSERT_EQ(g.run(4, out), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(out, expected);
    g.at_token = nullptr;
    ASSERT_EQ(g.run(4, out), KRAIT_OK) << "the request reached the next call: " << krait_last_error();
    EXPECT_EQ(out, expected);
}

TEST(AbortSemantics, AnAbortFromAnotherThreadDuringGenerate) {
    // Lock step, no timing: at token 2 the callback wakes the other thread and waits until it has
    // called krait_session_abort; the generation must then stop before token 3.
    Generation g;
    std::mutex mu;
    std::condition_variable cv;
    bool go = false, done = false;
    std::thread other([&] {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return go; });
        krait_session_abort(g.h.session);
        done = true;
        cv.notify_all();
    });
    g.at = 2;
    g.at_token = [&] {
        std::unique_lock<std::mutex> lock(mu);
        go = true;
        cv.notify_all();
        cv.wait(lock, [&] { return done; });
    };
    std::vector<int32_t> out;
    EXPECT_EQ(g.run(50, out), KRAIT_ERR_ABORTED);
    other.join();
    EXPECT_EQ(g.seen.size(), 2u);
    g.at_token = nullptr;
    EXPECT_EQ(g.run(3, out), KRAIT_OK) << krait_last_error();
}

TEST(AbortSemantics, ClassifierCalls) {
    Handles h(kVit);
    const char* paths[] = {kSample.c_str()};
    krait_classification out[2];
    size_t n = 0;
    ASSERT_EQ(krait_session_classify_files(h.session, paths, 1, 2, out, 2, &n), KRAIT_OK) << krait_last_error();
    const int32_t best = out[0].label_id;

    krait_session_abort(h.session);
    EXPECT_EQ(krait_session_classify_files(h.session, paths, 1, 2, nullptr, 0, &n), KRAIT_OK);  // size query
    out[0].label_id = -1;
    EXPECT_EQ(krait_session_classify_files(h.session, paths, 1, 2, out, 2, &n), KRAIT_ERR_ABORTED);
    EXPECT_EQ(out[0].label_id, -1) << "an aborted call wrote results";
    ASSERT_EQ(krait_session_classify_files(h.session, paths, 1, 2, out, 2, &n), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(out[0].label_id, best);

    const std::vector<float> pixels(3 * 8 * 8, 0.25f);
    float logits[5];
    krait_session_abort(h.session);
    EXPECT_EQ(krait_session_classifier_forward(h.session, pixels.data(), 1, 7, 8, logits, 5, &n),
              KRAIT_ERR_INVALID_ARGUMENT);  // 7 is no multiple of the patch size: refused before it starts
    EXPECT_EQ(krait_session_classifier_forward(h.session, pixels.data(), 1, 8, 8, logits, 5, &n), KRAIT_ERR_ABORTED);
    EXPECT_EQ(krait_session_classifier_forward(h.session, pixels.data(), 1, 8, 8, logits, 5, &n), KRAIT_OK)
        << krait_last_error();
}

}  // namespace
