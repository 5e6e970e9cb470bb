// Allocation failures (issue 15): every call of the C ABI along model load, session creation,
// generation, chat, classification, assistant turns and adapter load is run again and again with
// its 1st, 2nd, 3rd, ... allocation failing (failing_allocator.h), until a run makes no more
// allocations than the one that failed. Each failed run must
//   - return KRAIT_ERR_OUT_OF_MEMORY with its message, or KRAIT_OK with the right output (a cache
//     that could not grow is only slower); never crash, terminate, or report another error;
//   - leave the objects it was given usable: the same call, allocations working again, gives the
//     output of an undisturbed run, on the same session, and a bystander session of the same
//     model, created before, still gives its own output;
//   - leak nothing: under AddressSanitizer (CI's ASan stage) LeakSanitizer checks the whole run at
//     exit, every failed run included.
// Sessions run on one thread, so the n-th allocation is the same one in every run. Only the call under
// test counts (failing_allocator::Counted): the test's own bookkeeping never fails.
//
// Coverage: every allocation index is tried for the calls that make up to KRAIT_ALLOC_SWEEP_ALL
// allocations (default 300); in calls that make more (model loads read whole vocabularies), every
// index up to that bound and then an even spread of as many indices again, plus the last one. The
// environment variable KRAIT_ALLOC_SWEEP_ALL=0 tries every index of every call (tools/alloc_sweep.sh,
// figures in docs/RELIABILITY.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "krait/krait.h"
#include "tests/alloc/failing_allocator.h"

namespace {

// A call's result: its status and what it produced, compared as text.
struct Outcome {
    krait_status status = KRAIT_OK;
    std::string output;
};

int64_t sweep_all_bound() {
    const char* env = std::getenv("KRAIT_ALLOC_SWEEP_ALL");
    if (!env || !*env) return 300;
    const int64_t v = std::atoll(env);
    return v <= 0 ? INT64_MAX : v;
}

// The allocation indices tried for a call that makes `total` allocations (see the header comment).
std::vector<int64_t> indices_for(int64_t total) {
    const int64_t all = sweep_all_bound();
    std::vector<int64_t> out;
    for (int64_t n = 1; n <= std::min(total, all); ++n) out.push_back(n);
    if (total > all) {
        const int64_t rest = total - all, step = std::max<int64_t>(1, rest / all);
        for (int64_t n = all + step; n < total; n += step) out.push_back(n);
        out.push_back(total);
    }
    return out;
}

struct SweepFigures {
    int64_t allocations = 0;  // made by one undisturbed call
    int64_t tried = 0;        // failing indices tried
    int64_t ok_anyway = 0;    // failed runs that still returned KRAIT_OK (with the right output)
    std::map<krait_status, int64_t> statuses;
    std::map<krait_status, std::string> first_message;  // of each status other than OUT_OF_MEMORY
};

// Runs `call` undisturbed (its output is the reference), then once per allocation index with that
// allocation failing. After each failed run `call` runs again undisturbed and must give the reference
// output, and `bystander` (the same model's other session, or nothing) must give its own.
// `call` itself puts its objects back in their starting state first (e.g. resets its session).
SweepFigures sweep(const std::string& what, const std::function<Outcome()>& call,
                   const std::function<Outcome()>& bystander = nullptr,
                   const std::function<void(int64_t)>& check_after_failure = nullptr) {
    SweepFigures figures;
    failing_allocator::arm(0);
    const Outcome reference = call();
    figures.allocations = failing_allocator::counted();
    failing_allocator::disarm();
    EXPECT_EQ(reference.status, KRAIT_OK) << what << ": " << krait_last_error();
    if (reference.status != KRAIT_OK) return figures;
    const Outcome bystander_reference = bystander ? bystander() : Outcome{};
    EXPECT_EQ(bystander_reference.status, KRAIT_OK) << what << " (bystander): " << krait_last_error();

    for (const int64_t n : indices_for(figures.allocations)) {
        failing_allocator::arm(n);
        const Outcome failed = call();
        const bool fired = failing_allocator::disarm();
        if (!fired) {
            // Fewer allocations than undisturbed: allowed (caches warmed by earlier runs), and then
            // this run was undisturbed.
            EXPECT_EQ(failed.status, KRAIT_OK) << what << ", allocation " << n << " not reached: " << krait_last_error();
            continue;
        }
        ++figures.tried;
        ++figures.statuses[failed.status];
        if (failed.status == KRAIT_OK) {
            ++figures.ok_anyway;
            EXPECT_EQ(failed.output, reference.output) << what << ": allocation " << n << " failed, the call returned OK"
                                                       << " with another output";
        } else {
            const std::string message = krait_last_error();
            if (failed.status != KRAIT_ERR_OUT_OF_MEMORY && !figures.first_message.count(failed.status))
                figures.first_message[failed.status] = "allocation " + std::to_string(n) + ": " + message;
            // An allocation failure is reported as such: another status would send the caller looking
            // for a bad file or argument (a file read cut short by the failure read as malformed JSON
            // before tests/alloc).
            EXPECT_EQ(failed.status, KRAIT_ERR_OUT_OF_MEMORY)
                << what << ": allocation " << n << " failed: status " << krait_status_string(failed.status) << ": "
                << message;
            EXPECT_FALSE(message.empty()) << what << ": allocation " << n << " failed: no message";
            if (check_after_failure) check_after_failure(n);
        }
        // Usable afterwards: the first call or object that is not stops the sweep (one report, not thousands).
        const Outcome again = call();
        if (again.status != KRAIT_OK || again.output != reference.output) {
            ADD_FAILURE() << what << ": after allocation " << n << " failed, the call gives status "
                          << krait_status_string(again.status) << " (" << krait_last_error() << "), output '"
                          << again.output << "', want '" << reference.output << "'";
            return figures;
        }
        if (bystander) {
            const Outcome other = bystander();
            if (other.status != KRAIT_OK || other.output != bystander_reference.output) {
                ADD_FAILURE() << what << ": after allocation " << n << " failed, the bystander session gives status "
                              << krait_status_string(other.status) << " (" << krait_last_error() << "), output '"
                              << other.output << "', want '" << bystander_reference.output << "'";
                return figures;
            }
        }
    }
    std::string statuses;
    for (const auto& [status, count] : figures.statuses)
        statuses += std::string(" ") + krait_status_string(status) + " x" + std::to_string(count);
    for (const auto& [status, message] : figures.first_message)
        statuses += std::string("\n             ") + krait_status_string(status) + ", first: " + message;
    std::printf("[ sweep    ] %-44s %7lld allocations, %6lld failed runs:%s\n", what.c_str(),
                static_cast<long long>(figures.allocations), static_cast<long long>(figures.tried), statuses.c_str());
    return figures;
}

// ---- the objects the calls work on -----------------------------------------------------

struct ModelPtr {
    krait_model* p = nullptr;
    ~ModelPtr() { krait_model_free(p); }
};
struct SessionPtr {
    krait_session* p = nullptr;
    ~SessionPtr() { krait_session_free(p); }
};
struct ConversationPtr {
    krait_conversation* p = nullptr;
    ~ConversationPtr() { krait_conversation_free(p); }
};
struct AdapterPtr {
    krait_adapter* p = nullptr;
    ~AdapterPtr() { krait_adapter_free(p); }
};

std::unique_ptr<ModelPtr> load(const char* dir) {
    auto m = std::make_unique<ModelPtr>();
    EXPECT_EQ(krait_model_load(dir, nullptr, &m->p), KRAIT_OK) << dir << ": " << krait_last_error();
    return m;
}

std::unique_ptr<SessionPtr> one_thread_session(krait_model* model) {
    auto s = std::make_unique<SessionPtr>();
    krait_session_params params;
    krait_session_params_init(&params);
    params.n_threads = 1;
    EXPECT_EQ(krait_session_create(model, &params, &s->p), KRAIT_OK) << krait_last_error();
    return s;
}

std::string describe(const krait_model* model) {
    size_t n = 0;
    if (krait_model_describe(model, nullptr, 0, &n) != KRAIT_OK) return "";
    std::string text(n, '\0');
    if (krait_model_describe(model, text.data(), text.size(), &n) != KRAIT_OK) return "";
    return text;
}

// Loads `dir`; the output is the model's description (its configuration as Krait read it).
Outcome load_call(const char* dir) {
    krait_model* model = nullptr;
    Outcome o;
    {
        const failing_allocator::Counted counted;
        o.status = krait_model_load(dir, nullptr, &model);
    }
    if (o.status == KRAIT_OK) o.output = describe(model);
    krait_model_free(model);
    return o;
}

// Creates a session; the output says only that it could.
Outcome create_session_call(krait_model* model) {
    krait_session_params params;
    krait_session_params_init(&params);
    params.n_threads = 1;
    krait_session* session = nullptr;
    Outcome o;
    {
        const failing_allocator::Counted counted;
        o.status = krait_session_create(model, &params, &session);
    }
    krait_session_free(session);
    return o;
}

std::vector<int32_t> encode(const krait_model* model, const char* text) {
    const krait_tokenizer* tok = nullptr;
    EXPECT_EQ(krait_model_get_tokenizer(model, &tok), KRAIT_OK);
    size_t n = 0;
    EXPECT_EQ(krait_tokenizer_encode(tok, text, std::strlen(text), 1, nullptr, 0, &n), KRAIT_OK);
    std::vector<int32_t> ids(n);
    EXPECT_EQ(krait_tokenizer_encode(tok, text, std::strlen(text), 1, ids.data(), ids.size(), &n), KRAIT_OK);
    return ids;
}

// Greedy generation of 6 tokens from `prompt` on an emptied session; the output is the ids.
Outcome generate_call(krait_session* session, const std::vector<int32_t>& prompt) {
    Outcome o;
    o.status = krait_session_reset(session);
    if (o.status != KRAIT_OK) return o;
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    gp.sampling.temperature = 0.0f;
    gp.max_new_tokens = 6;
    int32_t ids[6];
    size_t n = 0;
    {
        const failing_allocator::Counted counted;
        o.status = krait_session_generate(session, prompt.data(), prompt.size(), &gp, ids, 6, &n);
    }
    for (size_t i = 0; o.status == KRAIT_OK && i < n; ++i) o.output += std::to_string(ids[i]) + " ";
    return o;
}

// After a generation failed: krait.h says the context is empty or holds the prompt and the tokens
// generated so far (as after ABORTED).
void expect_context_after_failed_generate(krait_session* session, const std::vector<int32_t>& prompt,
                                          const std::string& what, int64_t n) {
    size_t n_tokens = 0;
    ASSERT_EQ(krait_session_get_tokens(session, nullptr, 0, &n_tokens), KRAIT_OK) << krait_last_error();
    std::vector<int32_t> tokens(n_tokens);
    ASSERT_EQ(krait_session_get_tokens(session, tokens.data(), tokens.size(), &n_tokens), KRAIT_OK);
    if (tokens.empty()) return;
    EXPECT_TRUE(tokens.size() >= prompt.size() && std::equal(prompt.begin(), prompt.end(), tokens.begin()))
        << what << ": after allocation " << n << " failed, the context holds " << tokens.size()
        << " tokens that do not start with the prompt";
}

// A new conversation on `session` and one turn (say); the output is the reply. With `pixels`, the
// turn shows that picture (an assistant).
Outcome chat_call(krait_session* session, const char* text, const std::vector<float>* pixels = nullptr,
                  int64_t height = 0, int64_t width = 0) {
    Outcome o;
    krait_conversation* conv = nullptr;
    {
        const failing_allocator::Counted counted;
        o.status = krait_conversation_create(session, nullptr, nullptr, nullptr, &conv);
    }
    if (o.status != KRAIT_OK) return o;
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    gp.sampling.temperature = 0.0f;
    gp.max_new_tokens = 8;
    {
        const failing_allocator::Counted counted;
        o.status = pixels ? krait_conversation_say_images(conv, text, pixels->data(), 1, height, width, &gp)
                          : krait_conversation_say(conv, text, &gp);
    }
    if (o.status == KRAIT_OK) {
        size_t n = 0;
        const char* role = nullptr;
        const char* content = nullptr;
        o.status = krait_conversation_get_n_messages(conv, &n);
        if (o.status == KRAIT_OK) o.status = krait_conversation_get_message(conv, n - 1, &role, &content);
        if (o.status == KRAIT_OK) o.output = std::string(role) + ": " + content;
    }
    krait_conversation_free(conv);
    return o;
}

// Classifies one picture file; the output is the top 3 classes and their probabilities' bits.
Outcome classify_call(krait_session* session, const char* path) {
    Outcome o;
    krait_classification top[3];
    size_t n = 0;
    {
        const failing_allocator::Counted counted;
        o.status = krait_session_classify_files(session, &path, 1, 3, top, 3, &n);
    }
    for (size_t i = 0; o.status == KRAIT_OK && i < n; ++i) {
        uint32_t bits;
        std::memcpy(&bits, &top[i].probability, sizeof bits);
        o.output += std::to_string(top[i].label_id) + "=" + top[i].label + "/" + std::to_string(bits) + " ";
    }
    return o;
}

// Loads an adapter for `model`; the output is its count of targets and of values.
Outcome adapter_load_call(krait_model* model, const char* dir) {
    krait_adapter* adapter = nullptr;
    Outcome o;
    {
        const failing_allocator::Counted counted;
        o.status = krait_adapter_load(model, dir, nullptr, &adapter);
    }
    if (o.status == KRAIT_OK) {
        krait_adapter_info info;
        info.struct_size = sizeof info;
        o.status = krait_adapter_get_info(adapter, &info);
        if (o.status == KRAIT_OK) o.output = std::to_string(info.num_targets) + " targets, " + std::to_string(info.num_parameters) + " values";
    }
    krait_adapter_free(adapter);
    return o;
}

std::vector<float> picture_for(const krait_model* model, const char* path, int64_t* height, int64_t* width) {
    krait_model_info info;
    info.struct_size = sizeof info;
    EXPECT_EQ(krait_model_get_info(model, &info), KRAIT_OK);
    *height = info.image_height;
    *width = info.image_width;
    size_t n = 0;
    EXPECT_EQ(krait_model_preprocess_image_file(model, path, nullptr, 0, &n), KRAIT_OK) << krait_last_error();
    std::vector<float> pixels(n);
    EXPECT_EQ(krait_model_preprocess_image_file(model, path, pixels.data(), n, &n), KRAIT_OK) << krait_last_error();
    return pixels;
}

// nlohmann::json (a dependency of the library) allocates in its destructor: destroying an array or
// object moves the children into a std::vector first (no recursion on deep documents). A failure
// there cannot be reported and ends the program (std::terminate from a destructor), so those
// allocations are never made to fail (docs/RELIABILITY.md). Found in libkrait's symbol table.
class ExemptJsonDestructor : public ::testing::Environment {
public:
    void SetUp() override {
        krait_version();  // libkrait is loaded by now anyway; this names the dependency
        const char* names[] = {"json_value7destroyE"};
        const int found = failing_allocator::exempt_functions("libkrait.so", names, 1);
        ASSERT_GT(found, 0) << "nlohmann::json's json_value::destroy not found in libkrait.so's symbol table "
                               "(a stripped build?): allocations in it would be made to fail and terminate";
    }
};
const ::testing::Environment* const exempt_json_destructor =
    ::testing::AddGlobalTestEnvironment(new ExemptJsonDestructor);

// ---- the calls --------------------------------------------------------------------------------

TEST(AllocationFailures, ModelLoads) {
    for (const char* dir : {"models/mamba-demo", "models/chat-demo", "models/vit-digits", "models/mambavision-digits",
                            "models/vit-digits-onnx/model.onnx", "models/shapes-llava", "models/shapes-mamba-assistant",
                            "tests/fixtures/mamba2/f32_g2_untied"}) {
        sweep(std::string("load ") + dir, [&] { return load_call(dir); });
    }
}

TEST(AllocationFailures, SessionCreation) {
    for (const char* dir : {"models/mamba-demo", "models/chat-demo", "models/mambavision-digits",
                            "models/shapes-llava"}) {
        auto model = load(dir);
        sweep(std::string("create a session on ") + dir, [&] { return create_session_call(model->p); });
    }
}

TEST(AllocationFailures, Generate) {
    for (const char* dir : {"models/mamba-demo", "models/chat-demo"}) {
        auto model = load(dir);
        auto session = one_thread_session(model->p), bystander = one_thread_session(model->p);
        const std::vector<int32_t> prompt = encode(model->p, "The licence of this");
        sweep(std::string("generate on ") + dir, [&] { return generate_call(session->p, prompt); },
              [&] { return generate_call(bystander->p, prompt); },
              [&](int64_t n) { expect_context_after_failed_generate(session->p, prompt, dir, n); });
    }
}

TEST(AllocationFailures, Chat) {
    auto model = load("models/chat-demo");
    auto session = one_thread_session(model->p), bystander = one_thread_session(model->p);
    sweep("chat on models/chat-demo", [&] { return chat_call(session->p, "Do you sell umbrellas?"); },
          [&] { return chat_call(bystander->p, "Hello"); });
}

TEST(AllocationFailures, Classify) {
    for (const char* dir : {"models/vit-digits", "models/mambavision-digits", "models/vit-digits-onnx/model.onnx"}) {
        auto model = load(dir);
        auto session = one_thread_session(model->p), bystander = one_thread_session(model->p);
        sweep(std::string("classify on ") + dir, [&] { return classify_call(session->p, "models/samples/digit_3.png"); },
              [&] { return classify_call(bystander->p, "models/samples/digit_7.png"); });
    }
}

TEST(AllocationFailures, AssistantTurns) {
    for (const char* dir : {"models/shapes-llava", "models/shapes-mamba-assistant"}) {
        auto model = load(dir);
        int64_t height = 0, width = 0;
        const std::vector<float> pixels = picture_for(model->p, "models/samples/shapes_1.png", &height, &width);
        auto session = one_thread_session(model->p), bystander = one_thread_session(model->p);
        sweep(std::string("assistant turn on ") + dir,
              [&] { return chat_call(session->p, "What colour is the circle?", &pixels, height, width); },
              [&] { return chat_call(bystander->p, "And where is it?", &pixels, height, width); });
    }
}

TEST(AllocationFailures, AdapterLoadAndUse) {
    struct Case {
        const char* model;
        const char* adapter;
    };
    for (const Case c : {Case{"models/mamba-demo", "models/mamba-demo-lora-licenses"},
                         Case{"models/mambavision-digits", "models/mambavision-digits-lora-parity"}}) {
        auto model = load(c.model);
        sweep(std::string("load adapter ") + c.adapter, [&] { return adapter_load_call(model->p, c.adapter); });
    }
    // Generation and classification with the adapter active: the per-call LoRA paths.
    auto mamba = load("models/mamba-demo");
    AdapterPtr licenses;
    ASSERT_EQ(krait_adapter_load(mamba->p, "models/mamba-demo-lora-licenses", nullptr, &licenses.p), KRAIT_OK)
        << krait_last_error();
    auto session = one_thread_session(mamba->p), bystander = one_thread_session(mamba->p);
    ASSERT_EQ(krait_session_set_adapters(session->p, &licenses.p, nullptr, 1), KRAIT_OK) << krait_last_error();
    const std::vector<int32_t> prompt = encode(mamba->p, "The licence of this");
    sweep("generate with adapter models/mamba-demo-lora-licenses", [&] { return generate_call(session->p, prompt); },
          [&] { return generate_call(bystander->p, prompt); });
    sweep("set adapters on a models/mamba-demo session", [&] {
        Outcome o;
        const failing_allocator::Counted counted;
        o.status = krait_session_set_adapters(session->p, &licenses.p, nullptr, 1);
        return o;
    });

    auto vision = load("models/mambavision-digits");
    AdapterPtr parity;
    ASSERT_EQ(krait_adapter_load(vision->p, "models/mambavision-digits-lora-parity", nullptr, &parity.p), KRAIT_OK)
        << krait_last_error();
    auto classifier = one_thread_session(vision->p);
    ASSERT_EQ(krait_session_set_adapters(classifier->p, &parity.p, nullptr, 1), KRAIT_OK) << krait_last_error();
    sweep("classify with adapter models/mambavision-digits-lora-parity",
          [&] { return classify_call(classifier->p, "models/samples/digit_3.png"); });
}

}  // namespace
