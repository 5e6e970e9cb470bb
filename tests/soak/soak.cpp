// krait_soak: a bounded mixed workload on the demo models, through the public C API only (krait.h).
//
// Issue 15 ("Hardening"): threads create and free sessions, generate, chat, classify, load and unload
// adapters, switch adapters on sessions, abort calls (from the token callback, from another thread in
// lock step, and from another thread at a random moment) and make overlapping calls that must be refused
// with KRAIT_ERR_BUSY, for a given time. Every result is compared BITWISE with the one a single-threaded
// pass computed first with the same inputs and the same session thread count (krait.h: results depend on
// a session's n_threads, never on how busy other sessions keep the shared workers). Any status other than
// the one asked for, and any output that differs, is an error: printed with the operation, the status and
// krait_last_error(), and the program exits non-zero at the end.
//
// Resident memory is sampled from /proc/self/statm; after the run the peak of the warm-up (the first 20% of
// the time) is compared with the peak of the last 20%: a leak per operation grows the second over
// thousands of operations, while the mix of sessions alive at once (which varies) is seen in both
// windows. The check is on by default in plain builds and off under a sanitizer (ASan keeps freed memory in
// its quarantine and TSan grows shadow memory as new addresses are touched, so RSS there says nothing about
// Krait; LeakSanitizer at exit covers leaks in the ASan run). The figures are printed in every build.
//
// Usage: krait_soak [--seconds S] [--threads T] [--seed N] [--rss-check | --no-rss-check]
// The models are found under the source tree compiled in (KRAIT_SOURCE_DIR), or the directory named by
// the environment variable KRAIT_SOURCE_DIR.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "krait/krait.h"

#ifndef KRAIT_SOURCE_DIR
#define KRAIT_SOURCE_DIR "."
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SOAK_SANITIZER "ASan"
#elif defined(__SANITIZE_THREAD__)
#define SOAK_SANITIZER "TSan"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SOAK_SANITIZER "ASan"
#elif __has_feature(thread_sanitizer)
#define SOAK_SANITIZER "TSan"
#endif
#endif
#ifndef SOAK_SANITIZER
#define SOAK_SANITIZER ""
#endif

namespace {

using Clock = std::chrono::steady_clock;

// ---- What the workload runs on ---------------------------------------------------------------------

constexpr int32_t kGenTokens = 24;          // greedy tokens per Mamba generation (EOS ignored: a fixed length)
constexpr int32_t kReplyTokens = 48;        // the most tokens of a chat or assistant reply (they end at EOS)
constexpr int64_t kContextLength = 512;     // chat and assistant sessions: their prompts and replies fit easily,
                                            // and a small KV cache keeps the memory of the sessions alive small
constexpr double kWarmupFraction = 0.2;     // the RSS windows: the first and the last 20% of the run
constexpr double kRssBoundFraction = 0.05;  // allowed RSS growth after warm-up: 5% + 8 MiB (see main)
constexpr double kRssBoundMiB = 8.0;
constexpr size_t kMaxErrorsPrinted = 50;

const char* const kChatQuestions[2] = {"How much is the red teapot?", "And how many are in stock?"};
const char* const kAssistantQuestion = "What colour is the circle?";
const int kDigits[] = {0, 2, 3, 5, 7, 9};  // models/samples/digit_<d>.png
constexpr size_t kNumPictures = std::size(kDigits);

// The operation kinds, picked at random by each thread.
enum Op {
    kGenerate,         // Mamba, greedy, base model (1-2 runs on one session, reset in between)
    kGenerateAdapter,  // the same with the LoRA adapter (the shared handle, or one loaded and freed by the op)
    kSwitchAdapters,   // one session, the adapter switched on and off between generations
    kChat,             // chat-demo: a conversation of two turns
    kClassify,         // vit-digits or mambavision-digits on the six digit pictures, files or encoded bytes
    kClassifyAdapter,  // mambavision-digits with the parity adapter (a new head), then without it
    kAssistant,        // shapes-llava: one turn about a picture
    kAdapterChurn,     // adapters loaded, inspected and freed, no session
    kAbortCallback,    // a generation aborted from its own token callback
    kAbortLockStep,    // a generation aborted from another thread while its callback waits
    kAbortRace,        // a generation aborted from another thread at a random moment
    kAbortChat,        // a conversation reply aborted from its callback; the conversation goes on
    kAbortClassify,    // a classification aborted from another thread at a random moment
    kBusy,             // another thread calls into a session during its generation or reply: KRAIT_ERR_BUSY
    kOpCount
};
const char* const kOpNames[kOpCount] = {
    "generate",      "generate+adapter", "switch-adapters", "chat",       "classify",   "classify+adapter", "assistant",
    "adapter-churn", "abort-callback",   "abort-lockstep",  "abort-race", "abort-chat", "abort-classify",   "busy"};

// ---- Errors and counters -----------------------------------------------------------------------------

struct Counters {
    std::atomic<uint64_t> done[kOpCount]{};
    std::atomic<uint64_t> errors[kOpCount]{};
    std::atomic<uint64_t> aborted{};        // KRAIT_ERR_ABORTED where an abort was asked for
    std::atomic<uint64_t> busy{};           // KRAIT_ERR_BUSY where an overlapping call was made
    std::atomic<uint64_t> race_finished{};  // random-moment aborts that came after the call had finished
    std::atomic<uint64_t> sessions{};       // sessions created and freed
    std::atomic<uint64_t> adapter_loads{};  // adapters loaded (and freed) during the run
};

Counters g_count;
std::mutex g_error_mu;
size_t g_errors_printed = 0;
std::atomic<bool> g_setup_failed{false};

// The worker's identity, for error messages.
struct Where {
    int thread = -1;  // -1: the single-threaded pass
    Op op = kOpCount;
};

void report(const Where& w, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void report(const Where& w, const char* fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w.op < kOpCount) g_count.errors[w.op]++;
    if (w.thread < 0) g_setup_failed = true;
    std::lock_guard<std::mutex> lock(g_error_mu);
    if (g_errors_printed++ < kMaxErrorsPrinted)
        std::fprintf(stderr, "krait_soak: ERROR [%s, %s]: %s\n",
                     w.thread < 0 ? "setup" : ("thread " + std::to_string(w.thread)).c_str(),
                     w.op < kOpCount ? kOpNames[w.op] : "-", msg);
}

// Checks a status; on a mismatch reports it with this thread's krait_last_error() (read at once, before
// any other Krait call can replace it).
bool expect(const Where& w, krait_status got, krait_status want, const char* call) {
    if (got == want) return true;
    report(w, "%s returned %d (%s), expected %d (%s): %s", call, static_cast<int>(got), krait_status_string(got),
           static_cast<int>(want), krait_status_string(want), krait_last_error());
    return false;
}

// ---- Handles -----------------------------------------------------------------------------------------

struct SessionHandle {
    krait_session* s = nullptr;
    SessionHandle() = default;
    SessionHandle(const SessionHandle&) = delete;
    SessionHandle& operator=(const SessionHandle&) = delete;
    ~SessionHandle() {
        if (s) {
            krait_session_free(s);
            g_count.sessions++;
        }
    }
};

bool make_session(const Where& w, krait_model* model, int32_t n_threads, SessionHandle* out) {
    krait_session_params p;
    krait_session_params_init(&p);
    p.n_threads = n_threads;
    p.context_length = kContextLength;  // read by KV-cache models only
    return expect(w, krait_session_create(model, &p, &out->s), KRAIT_OK, "krait_session_create");
}

struct ConversationHandle {
    krait_conversation* c = nullptr;
    ConversationHandle() = default;
    ConversationHandle(const ConversationHandle&) = delete;
    ConversationHandle& operator=(const ConversationHandle&) = delete;
    ~ConversationHandle() { krait_conversation_free(c); }
};

// ---- Results -----------------------------------------------------------------------------------------

// One predicted class, compared bit for bit (the probability's bits, not a tolerance).
struct Class {
    int32_t label_id;
    uint32_t probability_bits;
    std::string label;
    bool operator==(const Class& o) const {
        return label_id == o.label_id && probability_bits == o.probability_bits && label == o.label;
    }
};

std::string describe(const std::vector<int32_t>& ids) {
    std::string s;
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i) s += ' ';
        s += std::to_string(ids[i]);
    }
    return "[" + s + "]";
}

std::string describe(const std::vector<Class>& c) {
    std::string s;
    for (size_t i = 0; i < c.size() && i < 4; ++i) {
        float p;
        std::memcpy(&p, &c[i].probability_bits, sizeof p);
        char buf[96];
        std::snprintf(buf, sizeof buf, "%s%s %.9g", i ? ", " : "", c[i].label.c_str(), static_cast<double>(p));
        s += buf;
    }
    return "[" + s + (c.size() > 4 ? ", ...]" : "]");
}

// The classifier setups compared: the two models, and MambaVision with the parity adapter.
enum Classifier { kViT, kMambaVision, kMambaVisionParity, kClassifierCount };

// Everything shared by the threads: the models (immutable, thread-safe per krait.h), the adapters held
// for the whole run, the inputs, and the expected results per session thread count (index 0: n_threads 1,
// index 1: n_threads 2).
struct World {
    krait_model* mamba = nullptr;
    krait_model* chat = nullptr;
    krait_model* vit = nullptr;
    krait_model* mambavision = nullptr;
    krait_model* llava = nullptr;
    krait_adapter* licences = nullptr;  // models/mamba-demo-lora-licenses on mamba
    krait_adapter* parity = nullptr;    // models/mambavision-digits-lora-parity on mambavision
    std::string licences_path, parity_path;

    std::vector<int32_t> prompt;                      // models/mamba-demo/demo_prompt.txt, tokenized
    std::vector<std::string> picture_paths;           // the digit pictures
    std::vector<std::vector<uint8_t>> picture_bytes;  // the same files' bytes (classify_encoded)
    std::vector<float> shapes_pixels;                 // models/samples/shapes_1.png, model-ready for llava
    std::string shapes_path;
    int64_t llava_h = 0, llava_w = 0;
    int64_t labels[kClassifierCount] = {};  // top_k: every class, so every probability is compared

    std::vector<int32_t> gen[2][2];     // [n_threads][adapter]: greedy tokens
    std::string chat_replies[2][2];     // [n_threads][turn]
    size_t chat_reply2_tokens[2] = {};  // tokens streamed for the second reply (abort-chat picks one)
    std::vector<Class> classes[2][kClassifierCount];
    std::string assistant_reply[2];
    double gen_seconds = 0;  // one generation's duration in the single-threaded pass: where
                             // a random-moment abort lands (a placement, never a check)
};

// ---- The calls -----------------------------------------------------------------------------------------

// Token callback state: the tokens streamed so far and an action to run after the k-th one.
struct Stream {
    std::vector<int32_t> tokens;
    size_t at = 0;
    std::function<void()> action;
    static int on_token(int32_t id, const char*, size_t, void* user) {
        auto* s = static_cast<Stream*>(user);
        s->tokens.push_back(id);
        if (s->action && s->tokens.size() == s->at) s->action();
        return 0;
    }
};

krait_generate_params greedy_params(int32_t max_new_tokens, int stop_at_eos, Stream* stream) {
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    gp.max_new_tokens = max_new_tokens;
    gp.stop_at_eos = stop_at_eos;
    gp.sampling.temperature = 0.0f;
    gp.on_token = &Stream::on_token;
    gp.user_data = stream;
    return gp;
}

// The demo prompt's greedy continuation on an emptied session. The tokens come back in *out on KRAIT_OK;
// `stream` sees them one by one (the only record of them when the call is aborted).
krait_status generate(const World& world, krait_session* s, Stream* stream, std::vector<int32_t>* out) {
    krait_session_reset(s);
    const krait_generate_params gp = greedy_params(kGenTokens, 0, stream);
    std::vector<int32_t> ids(kGenTokens, -1);
    size_t n = 0;
    const krait_status st =
        krait_session_generate(s, world.prompt.data(), world.prompt.size(), &gp, ids.data(), ids.size(), &n);
    if (st == KRAIT_OK) {
        ids.resize(n);
        *out = ids;
    }
    return st;
}

bool check_tokens(const Where& w, const std::vector<int32_t>& got, const std::vector<int32_t>& want, const char* what) {
    if (got == want) return true;
    report(w, "%s: tokens %s, expected %s", what, describe(got).c_str(), describe(want).c_str());
    return false;
}

// Generates and compares with the expected tokens.
bool generate_and_check(const Where& w, const World& world, krait_session* s, const std::vector<int32_t>& want) {
    Stream stream;
    std::vector<int32_t> got;
    if (!expect(w, generate(world, s, &stream, &got), KRAIT_OK, "krait_session_generate")) return false;
    return check_tokens(w, got, want, "generation") && check_tokens(w, stream.tokens, want, "streamed tokens");
}

bool set_adapter(const Where& w, krait_session* s, const krait_adapter* a) {
    const krait_adapter* set[1] = {a};
    return expect(w, krait_session_set_adapters(s, a ? set : nullptr, nullptr, a ? 1 : 0), KRAIT_OK,
                  "krait_session_set_adapters");
}

// An aborted generation: the tokens it streamed must begin the expected ones and the session must hold
// exactly what krait.h says (nothing if no token came, else the prompt and the tokens streamed).
bool check_aborted_generation(const Where& w, const World& world, krait_session* s, const Stream& stream,
                              const std::vector<int32_t>& want) {
    bool ok = true;
    if (stream.tokens.size() >= want.size() || !std::equal(stream.tokens.begin(), stream.tokens.end(), want.begin())) {
        report(w, "aborted generation streamed %s, not a proper prefix of %s", describe(stream.tokens).c_str(),
               describe(want).c_str());
        ok = false;
    }
    std::vector<int32_t> context(world.prompt.size() + want.size() + 1);
    size_t n = 0;
    if (!expect(w, krait_session_get_tokens(s, context.data(), context.size(), &n), KRAIT_OK,
                "krait_session_get_tokens"))
        return false;
    context.resize(n);
    std::vector<int32_t> expected_context;
    if (!stream.tokens.empty()) {
        expected_context = world.prompt;
        expected_context.insert(expected_context.end(), stream.tokens.begin(), stream.tokens.end());
    }
    return check_tokens(w, context, expected_context, "context after the abort") && ok;
}

// A two-turn chat on a conversation; replies[i] is the i-th assistant message. `stream2` (may be NULL) is
// the second reply's callback state. Failures are reported here, while krait_last_error() still holds the
// message (freeing the conversation is a Krait call too).
bool chat(const Where& w, krait_session* s, std::string replies[2], Stream* stream2) {
    ConversationHandle conv;
    if (!expect(w, krait_conversation_create(s, nullptr, nullptr, nullptr, &conv.c), KRAIT_OK,
                "krait_conversation_create"))
        return false;
    for (int turn = 0; turn < 2; ++turn) {
        Stream own;
        const krait_generate_params gp = greedy_params(kReplyTokens, 1, turn == 1 && stream2 ? stream2 : &own);
        if (!expect(w, krait_conversation_say(conv.c, kChatQuestions[turn], &gp), KRAIT_OK, "krait_conversation_say"))
            return false;
        const char* content = nullptr;
        if (!expect(w, krait_conversation_get_message(conv.c, static_cast<size_t>(2 * turn + 1), nullptr, &content),
                    KRAIT_OK, "krait_conversation_get_message"))
            return false;
        replies[turn] = content;
    }
    return true;
}

bool check_text(const Where& w, const std::string& got, const std::string& want, const char* what) {
    if (got == want) return true;
    report(w, "%s: \"%s\", expected \"%s\"", what, got.c_str(), want.c_str());
    return false;
}

// The six digit pictures through a classifier session, every class of each (top_k = all labels).
krait_status classify(const World& world, krait_session* s, int64_t top_k, bool encoded, std::vector<Class>* out) {
    std::vector<krait_classification> raw(kNumPictures * static_cast<size_t>(top_k));
    size_t n = 0;
    krait_status st;
    if (encoded) {
        std::vector<const void*> data;
        std::vector<size_t> sizes;
        for (const auto& b : world.picture_bytes) {
            data.push_back(b.data());
            sizes.push_back(b.size());
        }
        st = krait_session_classify_encoded(s, data.data(), sizes.data(), kNumPictures, static_cast<int32_t>(top_k),
                                            raw.data(), raw.size(), &n);
    } else {
        std::vector<const char*> paths;
        for (const auto& p : world.picture_paths) paths.push_back(p.c_str());
        st = krait_session_classify_files(s, paths.data(), kNumPictures, static_cast<int32_t>(top_k), raw.data(),
                                          raw.size(), &n);
    }
    if (st != KRAIT_OK) return st;
    out->clear();
    for (size_t i = 0; i < n; ++i) {
        Class c{raw[i].label_id, 0, raw[i].label ? raw[i].label : "(null)"};
        std::memcpy(&c.probability_bits, &raw[i].probability, sizeof c.probability_bits);
        out->push_back(c);
    }
    return st;
}

bool check_classes(const Where& w, const std::vector<Class>& got, const std::vector<Class>& want, const char* what) {
    if (got == want) return true;
    size_t i = 0;
    while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
    report(
        w, "%s: differs from the single-threaded result at entry %zu of %zu: got %s, expected %s", what, i, want.size(),
        describe(std::vector<Class>(got.begin() + static_cast<long>(std::min(i, got.size())), got.end())).c_str(),
        describe(std::vector<Class>(want.begin() + static_cast<long>(std::min(i, want.size())), want.end())).c_str());
    return false;
}

// One assistant turn about the shapes picture (failures reported here, as in chat()).
bool assistant(const Where& w, const World& world, krait_session* s, const std::vector<float>& pixels,
               std::string* reply) {
    ConversationHandle conv;
    if (!expect(w, krait_conversation_create(s, nullptr, nullptr, nullptr, &conv.c), KRAIT_OK,
                "krait_conversation_create"))
        return false;
    Stream stream;
    const krait_generate_params gp = greedy_params(kReplyTokens, 1, &stream);
    if (!expect(w,
                krait_conversation_say_images(conv.c, kAssistantQuestion, pixels.data(), 1, world.llava_h,
                                              world.llava_w, &gp),
                KRAIT_OK, "krait_conversation_say_images"))
        return false;
    const char* content = nullptr;
    if (!expect(w, krait_conversation_get_message(conv.c, 1, nullptr, &content), KRAIT_OK,
                "krait_conversation_get_message"))
        return false;
    *reply = content;
    return true;
}

// ---- Lock step between a call's token callback and another thread ----------------------------------

// The callback hands control to the other thread and waits until it is done: whatever that thread does
// happens while the call is certainly running, without any timing.
struct LockStep {
    std::mutex mu;
    std::condition_variable cv;
    bool go = false, done = false, cancelled = false;

    void in_callback() {  // on the calling thread, from the token callback
        std::unique_lock<std::mutex> lock(mu);
        go = true;
        cv.notify_all();
        cv.wait(lock, [&] { return done; });
    }
    void run_other(const std::function<void()>& f) {  // on the other thread
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return go || cancelled; });
        if (go) f();
        done = true;
        cv.notify_all();
    }
    // The call returned without reaching the callback's step (it failed first, an error already reported):
    // release the other thread without letting it touch the session, which is no longer in a call.
    void cancel() {
        std::lock_guard<std::mutex> lock(mu);
        cancelled = true;
        cv.notify_all();
    }
};

// ---- The operations ----------------------------------------------------------------------------------

struct Worker {
    World& world;
    Where where;
    std::mt19937_64 rng;

    int pick(int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); }
    bool coin() { return rng() & 1; }
    int32_t n_threads() { return 1 + pick(2); }

    // The shared adapter handle, or a new one; a new one is freed right after it is made active, so the
    // session's own reference keeps it alive (krait.h, LoRA adapters, Lifetime).
    krait_adapter* adapter_for(bool licences, bool* fresh) {
        *fresh = coin();
        if (!*fresh) return licences ? world.licences : world.parity;
        krait_adapter* a = nullptr;
        krait_model* m = licences ? world.mamba : world.mambavision;
        const std::string& path = licences ? world.licences_path : world.parity_path;
        if (!expect(where, krait_adapter_load(m, path.c_str(), nullptr, &a), KRAIT_OK, "krait_adapter_load"))
            return nullptr;
        g_count.adapter_loads++;
        return a;
    }

    // Makes the licences (Mamba) or parity (MambaVision) adapter active on `s`, from the shared handle or a
    // fresh one freed right after (adapter_for). False (the error reported) if that fails.
    bool activate_adapter(krait_session* s, bool licences) {
        bool fresh = false;
        krait_adapter* a = adapter_for(licences, &fresh);
        if (!a) return false;
        const bool set = set_adapter(where, s, a);
        if (fresh) krait_adapter_free(a);
        return set;
    }

    void op_generate(bool with_adapter) {
        const int32_t nt = n_threads();
        SessionHandle s;
        if (!make_session(where, world.mamba, nt, &s)) return;
        if (with_adapter && !activate_adapter(s.s, /*licences=*/true)) return;
        const int runs = 1 + pick(2);  // a session used twice: the reset must leave nothing behind
        for (int r = 0; r < runs; ++r)
            if (!generate_and_check(where, world, s.s, world.gen[nt - 1][with_adapter])) return;
    }

    void op_switch_adapters() {
        const int32_t nt = n_threads();
        SessionHandle s;
        if (!make_session(where, world.mamba, nt, &s)) return;
        for (int step = 0; step < 4; ++step) {
            const int use = pick(2);
            if (!set_adapter(where, s.s, use ? world.licences : nullptr)) return;
            if (!generate_and_check(where, world, s.s, world.gen[nt - 1][use])) return;
        }
    }

    void op_chat() {
        const int32_t nt = n_threads();
        SessionHandle s;
        if (!make_session(where, world.chat, nt, &s)) return;
        std::string replies[2];
        if (!chat(where, s.s, replies, nullptr)) return;
        for (int t = 0; t < 2; ++t) check_text(where, replies[t], world.chat_replies[nt - 1][t], "chat reply");
    }

    void op_classify() {
        const int32_t nt = n_threads();
        const Classifier which = coin() ? kViT : kMambaVision;
        SessionHandle s;
        if (!make_session(where, which == kViT ? world.vit : world.mambavision, nt, &s)) return;
        std::vector<Class> got;
        const bool encoded = coin();
        if (!expect(where, classify(world, s.s, world.labels[which], encoded, &got), KRAIT_OK,
                    encoded ? "krait_session_classify_encoded" : "krait_session_classify_files"))
            return;
        check_classes(where, got, world.classes[nt - 1][which], which == kViT ? "vit-digits" : "mambavision-digits");
    }

    void op_classify_adapter() {
        const int32_t nt = n_threads();
        SessionHandle s;
        if (!make_session(where, world.mambavision, nt, &s)) return;
        if (!activate_adapter(s.s, /*licences=*/false)) return;
        std::vector<Class> got;
        if (!expect(where, classify(world, s.s, world.labels[kMambaVisionParity], coin(), &got), KRAIT_OK,
                    "krait_session_classify_*"))
            return;
        if (!check_classes(where, got, world.classes[nt - 1][kMambaVisionParity], "with the parity adapter")) return;
        // Back to the model's own head on the same session.
        if (!set_adapter(where, s.s, nullptr)) return;
        if (!expect(where, classify(world, s.s, world.labels[kMambaVision], coin(), &got), KRAIT_OK,
                    "krait_session_classify_*"))
            return;
        check_classes(where, got, world.classes[nt - 1][kMambaVision], "after the adapter was switched off");
    }

    void op_assistant() {
        const int32_t nt = n_threads();
        // Half the time the picture is prepared here, concurrently with everything else: it must come out
        // exactly as in the single-threaded pass.
        std::vector<float> pixels;
        if (coin()) {
            pixels.resize(world.shapes_pixels.size());
            size_t n = 0;
            if (!expect(where,
                        krait_model_preprocess_image_file(world.llava, world.shapes_path.c_str(), pixels.data(),
                                                          pixels.size(), &n),
                        KRAIT_OK, "krait_model_preprocess_image_file"))
                return;
            if (pixels != world.shapes_pixels) {
                report(where, "the preprocessed shapes picture differs from the single-threaded one");
                return;
            }
        }
        SessionHandle s;
        if (!make_session(where, world.llava, nt, &s)) return;
        std::string reply;
        if (!assistant(where, world, s.s, pixels.empty() ? world.shapes_pixels : pixels, &reply)) return;
        check_text(where, reply, world.assistant_reply[nt - 1], "assistant reply");
    }

    void op_adapter_churn() {
        // Several handles of both adapters, freed in a random order while other threads use the same adapters.
        std::vector<krait_adapter*> handles;
        for (int i = 0, n = 1 + pick(3); i < n; ++i) {
            const bool lic = coin();
            krait_adapter* a = nullptr;
            if (!expect(where,
                        krait_adapter_load(lic ? world.mamba : world.mambavision,
                                           (lic ? world.licences_path : world.parity_path).c_str(), nullptr, &a),
                        KRAIT_OK, "krait_adapter_load"))
                break;
            g_count.adapter_loads++;
            krait_adapter_info info;
            info.struct_size = sizeof info;
            if (expect(where, krait_adapter_get_info(a, &info), KRAIT_OK, "krait_adapter_get_info") &&
                info.num_labels != (lic ? 0 : world.labels[kMambaVisionParity]))
                report(where, "adapter %s: num_labels %lld", info.name, static_cast<long long>(info.num_labels));
            handles.push_back(a);
        }
        std::shuffle(handles.begin(), handles.end(), rng);
        for (krait_adapter* a : handles) krait_adapter_free(a);
    }

    // A generation stopped by krait_session_abort; `how`: 0 from its own callback, 1 from another thread in lock
    // step with the callback, 2 from another thread at a random moment. Then the session must work as new.
    void op_abort_generation(int how) {
        const int32_t nt = n_threads();
        const int use = pick(2);
        const std::vector<int32_t>& want = world.gen[nt - 1][use];
        SessionHandle s;
        if (!make_session(where, world.mamba, nt, &s)) return;
        if (use && !set_adapter(where, s.s, world.licences)) return;
        Stream stream;
        stream.at = 1 + static_cast<size_t>(pick(kGenTokens - 1));  // never the last token: the abort must stop it
        LockStep step;
        std::thread other;
        krait_session* session = s.s;
        if (how == 0) {
            stream.action = [session] { krait_session_abort(session); };
        } else if (how == 1) {
            stream.action = [&step] { step.in_callback(); };
            other = std::thread([&step, session] { step.run_other([session] { krait_session_abort(session); }); });
        } else {
            const auto delay =
                std::chrono::duration<double>(world.gen_seconds * 1.2 * std::uniform_real_distribution<>(0, 1)(rng));
            other = std::thread([session, delay] {
                std::this_thread::sleep_for(delay);
                krait_session_abort(session);
            });
        }
        std::vector<int32_t> got;
        const krait_status st = generate(world, s.s, &stream, &got);
        if (how == 1 && stream.tokens.size() < stream.at) step.cancel();
        if (other.joinable()) other.join();
        if (how == 2 && st == KRAIT_OK) {
            // The abort came after the generation (or after the reset that precedes the next one): a request
            // made as a call returns may still be pending, so withdraw it (krait.h, krait_session_abort).
            g_count.race_finished++;
            krait_session_clear_abort(s.s);
            if (!check_tokens(where, got, want, "generation that finished before the abort")) return;
        } else {
            if (!expect(where, st, KRAIT_ERR_ABORTED, "krait_session_generate (aborted)")) return;
            g_count.aborted++;
            if (how != 2 && stream.tokens.size() != stream.at)
                report(where, "aborted at token %zu, but %zu tokens were streamed", stream.at, stream.tokens.size());
            if (!check_aborted_generation(where, world, s.s, stream, want)) return;
        }
        // The session is usable again: reset, and the same generation gives the same tokens.
        generate_and_check(where, world, s.s, want);
    }

    void op_abort_chat() {
        const int32_t nt = n_threads();
        SessionHandle s;
        if (!make_session(where, world.chat, nt, &s)) return;
        ConversationHandle conv;
        if (!expect(where, krait_conversation_create(s.s, nullptr, nullptr, nullptr, &conv.c), KRAIT_OK,
                    "krait_conversation_create"))
            return;
        Stream first;
        krait_generate_params gp = greedy_params(kReplyTokens, 1, &first);
        if (!expect(where, krait_conversation_say(conv.c, kChatQuestions[0], &gp), KRAIT_OK, "krait_conversation_say"))
            return;
        // The second reply stops at a token before its last one: ABORTED, and the conversation is as before it.
        Stream second;
        second.at = 1 + static_cast<size_t>(pick(static_cast<int>(world.chat_reply2_tokens[nt - 1]) - 1));
        krait_session* session = s.s;
        second.action = [session] { krait_session_abort(session); };
        gp = greedy_params(kReplyTokens, 1, &second);
        if (!expect(where, krait_conversation_say(conv.c, kChatQuestions[1], &gp), KRAIT_ERR_ABORTED,
                    "krait_conversation_say (aborted)"))
            return;
        g_count.aborted++;
        size_t n = 0;
        if (expect(where, krait_conversation_get_n_messages(conv.c, &n), KRAIT_OK,
                   "krait_conversation_get_n_messages") &&
            n != 2)
            report(where, "the aborted reply left %zu messages, expected 2", n);
        // Asked again, the conversation replies as if the abort had never happened.
        Stream third;
        gp = greedy_params(kReplyTokens, 1, &third);
        if (!expect(where, krait_conversation_say(conv.c, kChatQuestions[1], &gp), KRAIT_OK, "krait_conversation_say"))
            return;
        const char* content = nullptr;
        if (!expect(where, krait_conversation_get_message(conv.c, 3, nullptr, &content), KRAIT_OK,
                    "krait_conversation_get_message"))
            return;
        check_text(where, content, world.chat_replies[nt - 1][1], "reply after an aborted reply");
    }

    void op_abort_classify() {
        const int32_t nt = n_threads();
        const Classifier which = coin() ? kViT : kMambaVision;
        SessionHandle s;
        if (!make_session(where, which == kViT ? world.vit : world.mambavision, nt, &s)) return;
        const std::vector<Class>& want = world.classes[nt - 1][which];
        krait_session* session = s.s;
        // The delay spans about one generation (a classification of six pictures takes a similar time), so
        // both outcomes occur.
        const auto delay =
            std::chrono::duration<double>(world.gen_seconds * std::uniform_real_distribution<>(0, 1)(rng));
        std::thread other([session, delay] {
            std::this_thread::sleep_for(delay);
            krait_session_abort(session);
        });
        std::vector<Class> got;
        const bool encoded = coin();
        const krait_status st = classify(world, s.s, world.labels[which], encoded, &got);
        other.join();
        if (st == KRAIT_OK) {
            g_count.race_finished++;
            if (!check_classes(where, got, want, "classification that finished before the abort")) return;
        } else {
            if (!expect(where, st, KRAIT_ERR_ABORTED, "krait_session_classify_* (aborted)")) return;
            g_count.aborted++;
        }
        krait_session_clear_abort(s.s);
        if (!expect(where, classify(world, s.s, world.labels[which], !encoded, &got), KRAIT_OK,
                    "krait_session_classify_*"))
            return;
        check_classes(where, got, want, "classification after an abort");
    }

    // Another thread calls into a session while its call runs (in lock step with the token callback, so the
    // overlap is certain): KRAIT_ERR_BUSY, nothing done, and the running call gives its usual result.
    struct Intrusion {
        const char* name;
        std::function<krait_status()> call;
    };

    // Starts the intruding thread: once the callback hands over, it makes one of `intrusions`, picked here.
    std::thread intrude(LockStep& step, std::vector<Intrusion> intrusions) {
        Intrusion chosen = std::move(intrusions[static_cast<size_t>(pick(static_cast<int>(intrusions.size())))]);
        return std::thread([&step, chosen, w = where] {
            step.run_other([&] {
                if (expect(w, chosen.call(), KRAIT_ERR_BUSY, chosen.name)) g_count.busy++;
            });
        });
    }

    void op_busy() {
        const int32_t nt = n_threads();
        LockStep step;
        krait_generate_params defaults;
        krait_generate_params_init(&defaults);
        if (coin()) {
            // A conversation reply on chat-demo; the intruder uses the conversation or its session.
            SessionHandle s;
            if (!make_session(where, world.chat, nt, &s)) return;
            ConversationHandle conv;
            if (!expect(where, krait_conversation_create(s.s, nullptr, nullptr, nullptr, &conv.c), KRAIT_OK,
                        "krait_conversation_create"))
                return;
            krait_conversation* c = conv.c;
            krait_session* session = s.s;
            std::thread other = intrude(
                step,
                {{"krait_conversation_add_message", [c] { return krait_conversation_add_message(c, "user", "hello"); }},
                 {"krait_conversation_say", [c, defaults] { return krait_conversation_say(c, "hello", &defaults); }},
                 {"krait_conversation_get_n_messages",
                  [c] {
                      size_t n = 0;
                      return krait_conversation_get_n_messages(c, &n);
                  }},
                 {"krait_session_reset", [session] { return krait_session_reset(session); }},
                 {"krait_session_chat", [session, defaults] {
                      size_t n = 0;
                      return krait_session_chat(session, "[{\"role\":\"user\",\"content\":\"hi\"}]", &defaults, nullptr,
                                                0, &n);
                  }}});
            Stream stream;
            stream.at = 1;
            stream.action = [&step] { step.in_callback(); };
            const krait_generate_params gp = greedy_params(kReplyTokens, 1, &stream);
            const krait_status st = krait_conversation_say(conv.c, kChatQuestions[0], &gp);
            if (stream.tokens.empty()) step.cancel();
            other.join();
            if (!expect(where, st, KRAIT_OK, "krait_conversation_say (intruded)")) return;
            const char* content = nullptr;
            size_t n = 0;
            if (expect(where, krait_conversation_get_message(conv.c, 1, nullptr, &content), KRAIT_OK,
                       "krait_conversation_get_message"))
                check_text(where, content, world.chat_replies[nt - 1][0], "reply during a refused call");
            if (expect(where, krait_conversation_get_n_messages(conv.c, &n), KRAIT_OK,
                       "krait_conversation_get_n_messages") &&
                n != 2)
                report(where, "%zu messages after a refused call, expected 2", n);
            return;
        }
        // A Mamba generation; the intruder makes one of the session calls. A refused call creates nothing, but
        // what it would have created is freed anyway, so that a wrong OK does not also leak.
        SessionHandle s;
        if (!make_session(where, world.mamba, nt, &s)) return;
        krait_session* session = s.s;
        const krait_adapter* licences = world.licences;
        const std::vector<int32_t>& prompt = world.prompt;
        std::thread other = intrude(
            step,
            {{"krait_session_generate",
              [session, &prompt, defaults] {
                  int32_t ids[64];
                  size_t n = 0;
                  return krait_session_generate(session, prompt.data(), prompt.size(), &defaults, ids, 64, &n);
              }},
             {"krait_session_append",
              [session, &prompt] { return krait_session_append(session, prompt.data(), prompt.size(), nullptr, 0); }},
             {"krait_session_reset", [session] { return krait_session_reset(session); }},
             {"krait_session_set_adapters",
              [session, licences] {
                  const krait_adapter* set[1] = {licences};
                  return krait_session_set_adapters(session, set, nullptr, 1);
              }},
             {"krait_session_get_tokens",
              [session] {
                  int32_t ids[64];
                  size_t n = 0;
                  return krait_session_get_tokens(session, ids, 64, &n);
              }},
             {"krait_session_snapshot",
              [session] {
                  krait_state* state = nullptr;
                  const krait_status st = krait_session_snapshot(session, &state);
                  krait_state_free(state);
                  return st;
              }},
             {"krait_session_set_threads", [session] { return krait_session_set_threads(session, 1); }},
             {"krait_conversation_create", [session] {
                  krait_conversation* conv = nullptr;
                  const krait_status st =
                      krait_conversation_create(session, nullptr, "{{ messages[0]['content'] }}", nullptr, &conv);
                  krait_conversation_free(conv);
                  return st;
              }}});
        Stream stream;
        stream.at = 1 + static_cast<size_t>(pick(kGenTokens - 1));
        stream.action = [&step] { step.in_callback(); };
        std::vector<int32_t> got;
        const krait_status st = generate(world, s.s, &stream, &got);
        if (stream.tokens.size() < stream.at) step.cancel();
        other.join();
        if (!expect(where, st, KRAIT_OK, "krait_session_generate (intruded)")) return;
        check_tokens(where, got, world.gen[nt - 1][0], "generation during a refused call");
    }

    void run_op(Op op) {
        where.op = op;
        switch (op) {
            case kGenerate:
                op_generate(false);
                break;
            case kGenerateAdapter:
                op_generate(true);
                break;
            case kSwitchAdapters:
                op_switch_adapters();
                break;
            case kChat:
                op_chat();
                break;
            case kClassify:
                op_classify();
                break;
            case kClassifyAdapter:
                op_classify_adapter();
                break;
            case kAssistant:
                op_assistant();
                break;
            case kAdapterChurn:
                op_adapter_churn();
                break;
            case kAbortCallback:
                op_abort_generation(0);
                break;
            case kAbortLockStep:
                op_abort_generation(1);
                break;
            case kAbortRace:
                op_abort_generation(2);
                break;
            case kAbortChat:
                op_abort_chat();
                break;
            case kAbortClassify:
                op_abort_classify();
                break;
            case kBusy:
                op_busy();
                break;
            case kOpCount:
                break;
        }
        g_count.done[op]++;
    }
};

// ---- Setup: models, inputs, and the single-threaded pass --------------------------------------------

std::string source_dir() {
    const char* env = std::getenv("KRAIT_SOURCE_DIR");
    return env && *env ? env : KRAIT_SOURCE_DIR;
}

std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool load_model(const std::string& root, const char* dir, krait_model** out) {
    return expect(Where{}, krait_model_load((root + "/models/" + dir).c_str(), nullptr, out), KRAIT_OK, dir);
}

bool setup(World& world) {
    const std::string root = source_dir();
    const Where w;
    if (!load_model(root, "mamba-demo", &world.mamba) || !load_model(root, "chat-demo", &world.chat) ||
        !load_model(root, "vit-digits", &world.vit) || !load_model(root, "mambavision-digits", &world.mambavision) ||
        !load_model(root, "shapes-llava", &world.llava))
        return false;
    world.licences_path = root + "/models/mamba-demo-lora-licenses";
    world.parity_path = root + "/models/mambavision-digits-lora-parity";
    if (!expect(w, krait_adapter_load(world.mamba, world.licences_path.c_str(), nullptr, &world.licences), KRAIT_OK,
                "krait_adapter_load (licences)") ||
        !expect(w, krait_adapter_load(world.mambavision, world.parity_path.c_str(), nullptr, &world.parity), KRAIT_OK,
                "krait_adapter_load (parity)"))
        return false;

    // Inputs.
    const std::vector<uint8_t> prompt_bytes = read_file(root + "/models/mamba-demo/demo_prompt.txt");
    std::string prompt_text(prompt_bytes.begin(), prompt_bytes.end());
    while (!prompt_text.empty() && (prompt_text.back() == '\n' || prompt_text.back() == '\r')) prompt_text.pop_back();
    const krait_tokenizer* tok = nullptr;
    size_t n = 0;
    if (!expect(w, krait_model_get_tokenizer(world.mamba, &tok), KRAIT_OK, "krait_model_get_tokenizer")) return false;
    world.prompt.resize(256);
    if (!expect(w,
                krait_tokenizer_encode(tok, prompt_text.data(), prompt_text.size(), 0, world.prompt.data(),
                                       world.prompt.size(), &n),
                KRAIT_OK, "krait_tokenizer_encode"))
        return false;
    world.prompt.resize(n);
    if (world.prompt.empty()) return report(w, "the demo prompt is empty"), false;
    for (int d : kDigits) {
        world.picture_paths.push_back(root + "/models/samples/digit_" + std::to_string(d) + ".png");
        world.picture_bytes.push_back(read_file(world.picture_paths.back()));
        if (world.picture_bytes.back().empty())
            return report(w, "cannot read %s", world.picture_paths.back().c_str()), false;
    }
    world.shapes_path = root + "/models/samples/shapes_1.png";
    krait_model_info info;
    info.struct_size = sizeof info;
    if (!expect(w, krait_model_get_info(world.llava, &info), KRAIT_OK, "krait_model_get_info")) return false;
    world.llava_h = info.image_height;
    world.llava_w = info.image_width;
    world.shapes_pixels.resize(static_cast<size_t>(3 * world.llava_h * world.llava_w));
    if (!expect(w,
                krait_model_preprocess_image_file(world.llava, world.shapes_path.c_str(), world.shapes_pixels.data(),
                                                  world.shapes_pixels.size(), &n),
                KRAIT_OK, "krait_model_preprocess_image_file"))
        return false;
    krait_model* classifiers[kClassifierCount] = {world.vit, world.mambavision, world.mambavision};
    for (int c = 0; c < kClassifierCount; ++c) {
        if (!expect(w, krait_model_get_info(classifiers[c], &info), KRAIT_OK, "krait_model_get_info")) return false;
        world.labels[c] = info.num_labels;
    }
    krait_adapter_info ainfo;
    ainfo.struct_size = sizeof ainfo;
    if (!expect(w, krait_adapter_get_info(world.parity, &ainfo), KRAIT_OK, "krait_adapter_get_info")) return false;
    world.labels[kMambaVisionParity] = ainfo.num_labels;

    // The expected results: each operation once, alone, per session thread count.
    for (int32_t nt = 1; nt <= 2; ++nt) {
        const int i = nt - 1;
        for (int use = 0; use < 2; ++use) {
            SessionHandle s;
            if (!make_session(w, world.mamba, nt, &s) || (use && !set_adapter(w, s.s, world.licences))) return false;
            Stream stream;
            const auto t0 = Clock::now();
            if (!expect(w, generate(world, s.s, &stream, &world.gen[i][use]), KRAIT_OK, "krait_session_generate"))
                return false;
            if (nt == 1 && use == 0) world.gen_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
            if (world.gen[i][use].size() != static_cast<size_t>(kGenTokens))
                return report(w, "generation gave %zu tokens", world.gen[i][use].size()), false;
        }
        {
            SessionHandle s;
            Stream second;
            if (!make_session(w, world.chat, nt, &s) || !chat(w, s.s, world.chat_replies[i], &second)) return false;
            world.chat_reply2_tokens[i] = second.tokens.size();
            if (second.tokens.size() < 2)
                return report(w, "the second chat reply has %zu tokens", second.tokens.size()), false;
        }
        for (int c = 0; c < kClassifierCount; ++c) {
            SessionHandle s;
            if (!make_session(w, classifiers[c], nt, &s) ||
                (c == kMambaVisionParity && !set_adapter(w, s.s, world.parity)))
                return false;
            if (!expect(w, classify(world, s.s, world.labels[c], false, &world.classes[i][c]), KRAIT_OK,
                        "krait_session_classify_files"))
                return false;
        }
        {
            SessionHandle s;
            if (!make_session(w, world.llava, nt, &s) ||
                !assistant(w, world, s.s, world.shapes_pixels, &world.assistant_reply[i]))
                return false;
        }
    }
    // The adapters must change what they are compared on, or those comparisons would prove nothing.
    if (world.gen[0][0] == world.gen[0][1])
        return report(w, "the licences adapter does not change the generation"), false;
    return true;
}

// ---- Resident memory ------------------------------------------------------------------------------------

double rss_mib() {
    std::ifstream statm("/proc/self/statm");
    long long size = 0, resident = 0;
    statm >> size >> resident;
    return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

struct Options {
    double seconds = 20;
    int threads = 4;
    uint64_t seed = 1;
    int rss_check = -1;  // -1: on unless a sanitizer build
};

bool parse(int argc, char** argv, Options* o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const bool has_value = i + 1 < argc;
        if (a == "--seconds" && has_value)
            o->seconds = std::atof(argv[++i]);
        else if (a == "--threads" && has_value)
            o->threads = std::atoi(argv[++i]);
        else if (a == "--seed" && has_value)
            o->seed = std::strtoull(argv[++i], nullptr, 10);
        else if (a == "--rss-check")
            o->rss_check = 1;
        else if (a == "--no-rss-check")
            o->rss_check = 0;
        else
            return false;
    }
    return o->seconds > 0 && o->threads > 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options opt;
    if (!parse(argc, argv, &opt)) {
        std::fprintf(
            stderr,
            "usage: krait_soak [--seconds S (20)] [--threads T (4)] [--seed N (1)] [--rss-check | --no-rss-check]\n");
        return 2;
    }
    const bool sanitized = *SOAK_SANITIZER != '\0';
    const bool rss_check = opt.rss_check < 0 ? !sanitized : opt.rss_check == 1;
    std::printf("krait_soak: %g s, %d threads, seed %llu, krait %s (%s kernels), build %s\n", opt.seconds, opt.threads,
                static_cast<unsigned long long>(opt.seed), krait_version_string(), krait_cpu_kernels(),
                sanitized ? SOAK_SANITIZER : "plain");
    std::fflush(stdout);

    World world;
    const auto setup_start = Clock::now();
    const bool ready = setup(world);
    const double setup_seconds = std::chrono::duration<double>(Clock::now() - setup_start).count();
    int status = 0;
    double rss_warmup = 0, rss_end = 0, rss_max = 0;
    double elapsed = 0;
    if (!ready) {
        std::fprintf(stderr, "krait_soak: setup failed\n");
        status = 1;
    } else {
        // Does a session's thread count change results? krait.h allows it; the workload compares each result
        // with the one of its own thread count either way. Reported so that the claim is seen to hold (or not).
        std::string differ;
        for (int u = 0; u < 2; ++u)
            if (world.gen[0][u] != world.gen[1][u]) differ += u ? " generate+adapter" : " generate";
        if (world.chat_replies[0][0] != world.chat_replies[1][0] ||
            world.chat_replies[0][1] != world.chat_replies[1][1])
            differ += " chat";
        const char* const classifier_names[kClassifierCount] = {" vit-digits", " mambavision-digits",
                                                                " mambavision-digits+parity"};
        for (int c = 0; c < kClassifierCount; ++c)
            if (!(world.classes[0][c] == world.classes[1][c])) differ += classifier_names[c];
        if (world.assistant_reply[0] != world.assistant_reply[1]) differ += " assistant";
        std::printf("single-threaded pass: %.1f s; sessions with n_threads 1 and 2: %s\n", setup_seconds,
                    differ.empty() ? "bitwise identical results"
                                   : ("results differ for" + differ + " (each run is compared with its own)").c_str());
        std::printf("  chat: \"%s\" / \"%s\"; assistant: \"%s\"\n", world.chat_replies[0][0].c_str(),
                    world.chat_replies[0][1].c_str(), world.assistant_reply[0].c_str());
        std::fflush(stdout);

        std::atomic<bool> stop{false};
        std::vector<std::thread> threads;
        for (int t = 0; t < opt.threads; ++t) {
            threads.emplace_back([&, t] {
                Worker wk{world, Where{t, kOpCount}, std::mt19937_64(opt.seed * 1000003u + static_cast<uint64_t>(t))};
                while (!stop.load(std::memory_order_relaxed)) wk.run_op(static_cast<Op>(wk.pick(kOpCount)));
            });
        }
        // Sample RSS while the threads run; print a progress line every minute.
        const auto start = Clock::now();
        const double warmup_end = opt.seconds * kWarmupFraction, tail_start = opt.seconds * (1.0 - kWarmupFraction);
        double next_progress = 60;
        for (;;) {
            elapsed = std::chrono::duration<double>(Clock::now() - start).count();
            if (elapsed >= opt.seconds) break;
            const double rss = rss_mib();
            if (elapsed <= warmup_end)
                rss_warmup = std::max(rss_warmup, rss);
            else
                rss_max = std::max(rss_max, rss);
            if (elapsed >= tail_start) rss_end = std::max(rss_end, rss);
            if (elapsed >= next_progress) {
                uint64_t ops = 0, errs = 0;
                for (int i = 0; i < kOpCount; ++i) ops += g_count.done[i], errs += g_count.errors[i];
                std::printf("  [%4.0f s] %llu operations, %llu errors, RSS %.1f MiB\n", elapsed,
                            static_cast<unsigned long long>(ops), static_cast<unsigned long long>(errs), rss);
                std::fflush(stdout);
                next_progress += 60;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        stop = true;
        for (auto& t : threads) t.join();
        elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    }

    // The table.
    uint64_t total = 0, errors = 0;
    std::printf("\n%-18s %10s %8s\n", "operation", "done", "errors");
    for (int i = 0; i < kOpCount; ++i) {
        std::printf("%-18s %10llu %8llu\n", kOpNames[i], static_cast<unsigned long long>(g_count.done[i].load()),
                    static_cast<unsigned long long>(g_count.errors[i].load()));
        total += g_count.done[i];
        errors += g_count.errors[i];
    }
    if (g_setup_failed) errors++;
    std::printf("%-18s %10llu %8llu\n", "total", static_cast<unsigned long long>(total),
                static_cast<unsigned long long>(errors));
    std::printf(
        "in %.1f s: %llu sessions, %llu adapter loads; asked for and got: %llu ABORTED, %llu BUSY; "
        "%llu random-moment aborts came after the call finished\n",
        elapsed, static_cast<unsigned long long>(g_count.sessions.load()),
        static_cast<unsigned long long>(g_count.adapter_loads.load()),
        static_cast<unsigned long long>(g_count.aborted.load()), static_cast<unsigned long long>(g_count.busy.load()),
        static_cast<unsigned long long>(g_count.race_finished.load()));
    if (ready) {
        // The bound: 5% covers the allocator's own variation (free lists, trimming) and 8 MiB what the mix
        // of sessions alive at once can add when it peaks later than in the warm-up: each thread holds at
        // most one session and one helper thread (a KV cache of kContextLength tokens is at most 1 MiB on
        // chat-demo and shapes-llava, scratch buffers and glibc's per-thread arenas a few hundred KiB each).
        // A leak of even 1 KiB per operation exceeds it within minutes (thousands of operations).
        const double bound = rss_warmup * (1.0 + kRssBoundFraction) + kRssBoundMiB;
        const bool rss_ok = rss_end <= bound;
        std::printf(
            "RSS MiB: after warm-up %.1f (peak of the first %.0f%%), end %.1f (peak of the last %.0f%%), "
            "max after warm-up %.1f; bound %.1f (+5%% + 8 MiB): %s\n",
            rss_warmup, kWarmupFraction * 100, rss_end, kWarmupFraction * 100, rss_max, bound,
            rss_check ? (rss_ok ? "OK" : "EXCEEDED") : (sanitized ? "not checked (sanitizer build)" : "not checked"));
        if (rss_check && !rss_ok) status = 1;
    }
    if (errors) status = 1;

    krait_adapter_free(world.licences);
    krait_adapter_free(world.parity);
    krait_model_free(world.mamba);
    krait_model_free(world.chat);
    krait_model_free(world.vit);
    krait_model_free(world.mambavision);
    krait_model_free(world.llava);
    std::printf("krait_soak: %s\n", status ? "FAILED" : "OK");
    return status;
}
