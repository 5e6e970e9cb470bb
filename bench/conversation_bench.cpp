// krait-bench-conversation: time to first token of each turn of a 10-turn conversation, reusing
// the session's state (krait_conversation_say: only the new tokens are prefilled) against
// re-prefilling the whole history in a fresh session every turn (render, tokenize,
// krait_session_generate), on the demo chat model (Llama, KV cache) and the demo Mamba model
// (recurrent state; a ChatML template is passed, it ships none). Greedy decoding, so both paths
// produce the same replies and the histories stay equal.
//
//   krait-bench-conversation [--threads 2] [--repeats 3] [--max-new-tokens 24] [--models-dir models]
//
// Prints, per model, one row per turn: the prompt's tokens, the tokens each path prefilled, and the
// best-of-repeats time to first token (ms) of each. Run from the repository root (or pass
// --models-dir).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "krait/krait.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "krait-bench-conversation: %s: %s\n", what, krait_last_error());
    std::exit(1);
}

const char* const kChatMl =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const char* const kQuestions[] = {
    "How much is the red teapot?",   "And how many are in stock?",     "What about the blue one?",
    "What does the green fan cost?", "How many do you have?",          "What colours does the vase come in?",
    "How much is the white one?",    "Do you sell a black toaster?",   "What about the red clock?",
    "And how many are in stock?",
};
constexpr int kTurns = 10;

struct FirstToken {
    Clock::time_point start, first;
    bool seen = false;
};

int on_token(int32_t, const char*, size_t, void* user) {
    auto* t = static_cast<FirstToken*>(user);
    if (!t->seen) {
        t->first = Clock::now();
        t->seen = true;
    }
    return 0;
}

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

// JSON string literal of UTF-8 text (the demo texts are ASCII; control characters escaped).
std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (const char ch : s) {
        if (ch == '"' || ch == '\\') out += std::string("\\") + ch;
        else if (static_cast<unsigned char>(ch) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", ch);
            out += buf;
        } else out += ch;
    }
    return out + "\"";
}

struct Row {
    int64_t prompt = 0, reuse_prefilled = 0;
    double reuse_ms = std::numeric_limits<double>::infinity(), fresh_ms = std::numeric_limits<double>::infinity();
};

void run(const std::string& dir, const char* tmpl, int32_t threads, int repeats, int32_t max_new_tokens) {
    krait_model* model = nullptr;
    if (krait_model_load(dir.c_str(), nullptr, &model) != KRAIT_OK) die(dir.c_str());
    krait_session_params sp;
    krait_session_params_init(&sp);
    sp.n_threads = threads;
    const krait_tokenizer* tok = nullptr;
    if (krait_model_get_tokenizer(model, &tok) != KRAIT_OK) die("tokenizer");
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    gp.max_new_tokens = max_new_tokens;
    gp.sampling.temperature = 0.0f;
    gp.on_token = on_token;

    std::vector<Row> rows(kTurns);
    for (int r = 0; r < repeats; ++r) {
        // Reuse: one session and conversation for all turns.
        krait_session* session = nullptr;
        if (krait_session_create(model, &sp, &session) != KRAIT_OK) die("session");
        krait_conversation* conv = nullptr;
        if (krait_conversation_create(session, nullptr, tmpl, nullptr, &conv) != KRAIT_OK) die("conversation");
        std::vector<std::string> messages;  // JSON objects of the history, for the re-prefill path
        for (int turn = 0; turn < kTurns; ++turn) {
            FirstToken t;
            gp.user_data = &t;
            t.start = Clock::now();
            if (krait_conversation_say(conv, kQuestions[turn], &gp) != KRAIT_OK) die("say");
            krait_conversation_stats st;
            st.struct_size = sizeof st;
            krait_conversation_get_stats(conv, &st);
            rows[turn].prompt = st.prompt_tokens;
            rows[turn].reuse_prefilled = st.prefilled_tokens;
            if (t.seen) rows[turn].reuse_ms = std::min(rows[turn].reuse_ms, ms_between(t.start, t.first));

            // Re-prefill: the same messages (the history before this turn's reply), from scratch.
            messages.push_back(std::string("{\"role\": \"user\", \"content\": ") + json_string(kQuestions[turn]) + "}");
            std::string json = "[";
            for (size_t i = 0; i < messages.size(); ++i) {
                if (i) json += ", ";
                json += messages[i];
            }
            json += "]";
            krait_session* fresh = nullptr;
            if (krait_session_create(model, &sp, &fresh) != KRAIT_OK) die("session");
            FirstToken f;
            gp.user_data = &f;
            f.start = Clock::now();
            size_t n = 0;
            if (krait_model_apply_chat_template(model, json.c_str(), 1, nullptr, tmpl, nullptr, 0, &n) != KRAIT_OK)
                die("template");
            std::string text(n, '\0');
            krait_model_apply_chat_template(model, json.c_str(), 1, nullptr, tmpl, text.data(), n, &n);
            std::vector<int32_t> ids(text.size() + 8);
            if (krait_tokenizer_encode(tok, text.data(), text.size(), 0, ids.data(), ids.size(), &n) != KRAIT_OK)
                die("encode");
            std::vector<int32_t> out(static_cast<size_t>(max_new_tokens));
            size_t got = 0;
            if (krait_session_generate(fresh, ids.data(), n, &gp, out.data(), out.size(), &got) != KRAIT_OK)
                die("generate");
            if (f.seen) rows[turn].fresh_ms = std::min(rows[turn].fresh_ms, ms_between(f.start, f.first));
            krait_session_free(fresh);

            const char* reply = nullptr;
            size_t count = 0;
            krait_conversation_get_n_messages(conv, &count);
            krait_conversation_get_message(conv, count - 1, nullptr, &reply);
            messages.push_back(std::string("{\"role\": \"assistant\", \"content\": ") + json_string(reply) + "}");
        }
        krait_conversation_free(conv);
        krait_session_free(session);
    }

    std::printf("\n%s (%d threads, greedy, max_new_tokens %d, best of %d)\n", dir.c_str(), threads, max_new_tokens,
                repeats);
    std::printf("| turn | prompt tokens | prefilled: reuse | prefilled: re-prefill | TTFT reuse (ms) | TTFT re-prefill (ms) | speed-up |\n");
    std::printf("|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int turn = 0; turn < kTurns; ++turn) {
        const Row& r = rows[turn];
        std::printf("| %d | %lld | %lld | %lld | %.2f | %.2f | %.1fx |\n", turn + 1, static_cast<long long>(r.prompt),
                    static_cast<long long>(r.reuse_prefilled), static_cast<long long>(r.prompt), r.reuse_ms,
                    r.fresh_ms, r.fresh_ms / r.reuse_ms);
    }
    krait_model_free(model);
}

}  // namespace

int main(int argc, char** argv) {
    int32_t threads = 2, max_new_tokens = 24;
    int repeats = 3;
    std::string models = "models";
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const auto next = [&] {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "krait-bench-conversation: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return std::string(argv[++i]);
        };
        if (a == "--threads") threads = std::atoi(next().c_str());
        else if (a == "--repeats") repeats = std::max(1, std::atoi(next().c_str()));
        else if (a == "--max-new-tokens") max_new_tokens = std::atoi(next().c_str());
        else if (a == "--models-dir") models = next();
        else {
            std::fprintf(stderr,
                         "usage: krait-bench-conversation [--threads 2] [--repeats 3] [--max-new-tokens 24] "
                         "[--models-dir models]\n");
            return 2;
        }
    }
    std::printf("krait %s, CPU kernels: %s\n", krait_version_string(), krait_cpu_kernels());
    run(models + "/chat-demo", nullptr, threads, repeats, max_new_tokens);
    run(models + "/mamba-demo", kChatMl, threads, repeats, max_new_tokens);
    return 0;
}
