// krait chat: a conversation with a language model, formatted with its chat template.
#include "cli_common.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <editline/readline.h>

namespace krait_cli {

namespace {

struct ChatMessage {
    std::string role;
    std::string content;
};

void check_status(krait_status s) {
    if (s != KRAIT_OK) throw krait::Exception(s, krait_last_error());
}

// The conversation the chat holds: a krait_conversation on the chat's session (the library
// renders the messages with the chat template, the model's or --template's, and prefills only
// what the session does not hold yet), recreated from its messages when the system prompt changes.
class ChatConversation {
public:
    ChatConversation(krait::Session& session, const std::string& system, std::string template_src)
        : session_(session), template_src_(std::move(template_src)) {
        conv_.reset(create(system));
    }

    size_t n_messages() const {
        size_t n = 0;
        check_status(krait_conversation_get_n_messages(conv_.get(), &n));
        return n;
    }
    ChatMessage message(size_t i) const {
        const char* role = nullptr;
        const char* content = nullptr;
        check_status(krait_conversation_get_message(conv_.get(), i, &role, &content));
        return {role, content};
    }
    std::string system() const {
        if (n_messages() == 0) return "";
        ChatMessage m = message(0);
        return m.role == "system" ? m.content : "";
    }
    krait_conversation_stats stats() const {
        krait_conversation_stats st{};
        st.struct_size = sizeof st;
        check_status(krait_conversation_get_stats(conv_.get(), &st));
        return st;
    }

    void say(const std::string& text, const krait_generate_params& params) {
        check_status(krait_conversation_say(conv_.get(), text.c_str(), &params));
    }
    // pixels [n, 3, height, width], model-ready (an assistant's).
    void say_images(const std::string& text, const std::vector<float>& pixels, int64_t n, int64_t height,
                    int64_t width, const krait_generate_params& params) {
        check_status(
            krait_conversation_say_images(conv_.get(), text.c_str(), pixels.data(), n, height, width, &params));
        has_images_ = true;
    }
    bool has_images() const { return has_images_; }
    void regenerate(const krait_generate_params& params) {
        check_status(krait_conversation_regenerate(conv_.get(), &params));
    }
    void undo() { check_status(krait_conversation_undo(conv_.get())); }

    // Forgets every turn; the system prompt stays.
    void reset() { rebuild(system(), /*keep_turns=*/false); }

    // Sets (or with "" removes) the system prompt; the turns stay (their text: refused when they hold
    // pictures, which the C ABI does not hand back).
    void set_system(const std::string& text) {
        if (has_images_)
            throw krait::Exception(KRAIT_ERR_INVALID_ARGUMENT,
                                   "the conversation holds pictures, which a new system prompt would drop; /reset first");
        rebuild(text, /*keep_turns=*/true);
    }

    void save(const std::string& path) const { check_status(krait_conversation_save(conv_.get(), path.c_str())); }
    void load(const std::string& path) {
        krait_conversation* c = nullptr;
        check_status(krait_conversation_load(session_.get(), path.c_str(), tmpl(), nullptr, &c));
        conv_.reset(c);
        has_images_ = false;
    }

private:
    struct Free {
        void operator()(krait_conversation* c) const noexcept { krait_conversation_free(c); }
    };

    const char* tmpl() const { return template_src_.empty() ? nullptr : template_src_.c_str(); }

    krait_conversation* create(const std::string& system) const {
        krait_conversation* c = nullptr;
        check_status(krait_conversation_create(session_.get(), system.empty() ? nullptr : system.c_str(), tmpl(), nullptr, &c));
        return c;
    }

    void rebuild(const std::string& system, bool keep_turns) {
        std::unique_ptr<krait_conversation, Free> fresh(create(system));
        if (keep_turns) {
            const size_t n = n_messages();
            for (size_t i = 0; i < n; ++i) {
                const ChatMessage m = message(i);
                if (i == 0 && m.role == "system") continue;
                check_status(krait_conversation_add_message(fresh.get(), m.role.c_str(), m.content.c_str()));
            }
        }
        conv_ = std::move(fresh);
        if (!keep_turns) has_images_ = false;
    }

    krait::Session& session_;
    std::string template_src_;
    std::unique_ptr<krait_conversation, Free> conv_;
    bool has_images_ = false;
};

// Lines from the user: libedit (line editing, history) on a terminal, plain lines otherwise.
class LineReader {
public:
    LineReader(bool interactive, std::string history_path)
        : interactive_(interactive), history_path_(std::move(history_path)) {
        if (!interactive_) return;
        rl_readline_name = const_cast<char*>("krait");
        using_history();
        stifle_history(1000);
        if (!history_path_.empty()) read_history(history_path_.c_str());  // a missing file is no history yet
    }

    // False at the end of the input (Ctrl-D).
    bool read(std::string& line, const char* prompt) {
        if (!interactive_) {
            if (!std::getline(std::cin, line)) return false;
            if (!line.empty() && line.back() == '\r') line.pop_back();
            return true;
        }
        char* p = readline(prompt);
        if (!p) {
            std::fputc('\n', stdout);  // the shell's prompt on a line of its own
            std::fflush(stdout);
            return false;
        }
        line = p;
        std::free(p);
        if (line.find_first_not_of(" \t") != std::string::npos) {
            add_history(line.c_str());
            if (!history_path_.empty()) write_history(history_path_.c_str());
        }
        return true;
    }

private:
    bool interactive_;
    std::string history_path_;
};

// $XDG_STATE_HOME/krait/chat_history, else ~/.local/state/krait/chat_history; "" when neither
// can be made (then the history lasts as long as the chat).
std::string default_history_path() {
    namespace fs = std::filesystem;
    fs::path dir;
    if (const char* state = std::getenv("XDG_STATE_HOME"); state && *state) dir = fs::path(state) / "krait";
    else if (const char* home = std::getenv("HOME"); home && *home) dir = fs::path(home) / ".local" / "state" / "krait";
    else return "";
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return "";
    return (dir / "chat_history").string();
}

std::string read_text_file(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) throw krait::Exception(KRAIT_ERR_IO, "cannot open '" + path + "': " + std::strerror(errno));
    std::string text;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    const bool failed = std::ferror(f) != 0;
    std::fclose(f);
    if (failed) throw krait::Exception(KRAIT_ERR_IO, "cannot read '" + path + "'");
    return text;
}

std::string trimmed(const std::string& s) {
    const size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    const size_t e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

const char* const kChatCommandsHelp =
    "commands:\n"
    "  /reset             forget the conversation (the system prompt stays)\n"
    "  /undo              take back the last turn (your message and its reply)\n"
    "  /regenerate        answer your last message again\n"
    "  /system [TEXT]     show the system prompt, or set it (the turns stay); /system off removes it\n"
    "  /image FILE        a picture for the next message (vision-language assistants)\n"
    "  /save PATH         save the conversation to a file\n"
    "  /load PATH         continue a saved conversation\n"
    "  /adapter [NAME|DIR[=SCALE]|off]\n"
    "                     list the adapters, answer with one (a DIR is loaded), or with none\n"
    "  /history           show the conversation\n"
    "  /help              this list\n"
    "  /quit              leave (also /exit, or Ctrl-D)\n"
    "Ctrl-C stops a reply. To send a message that starts with '/', type '//' instead.\n";

// The streamed reply: text to stdout as it comes, timestamps for the statistics.
struct ChatStream {
    size_t n_tokens = 0;
    bool ends_with_newline = true;
    Clock::time_point t_first{}, t_last{};
};

int chat_on_token(int32_t, const char* piece, size_t len, void* user) {
    ChatStream* s = static_cast<ChatStream*>(user);
    const Clock::time_point now = Clock::now();
    if (s->n_tokens++ == 0) s->t_first = now;
    s->t_last = now;
    if (len > 0) {
        std::fwrite(piece, 1, len, stdout);
        std::fflush(stdout);
        s->ends_with_newline = piece[len - 1] == '\n';
    }
    return std::ferror(stdout) != 0 ? 1 : 0;  // nobody reads any more (closed pipe)
}

struct LoadedAdapter {
    krait::Adapter adapter;
    std::string name;
    std::string dir;
    float scale;
};

class Chat {
public:
    Chat(const krait::Model& model, krait::Session& session, ChatConversation& conv, krait_generate_params params,
         std::vector<LoadedAdapter>& adapters, bool interactive)
        : model_(model), session_(session), conv_(conv), params_(params), adapters_(adapters),
          interactive_(interactive), status_tty_(isatty(STDERR_FILENO) == 1) {
        for (size_t i = 0; i < adapters_.size(); ++i) active_.push_back(i);
    }

    // Notices and statistics: on stderr, dimmed on a terminal.
    void note(const std::string& text) const {
        std::fflush(stdout);
        if (status_tty_) std::fprintf(stderr, "\033[2m%s\033[0m\n", text.c_str());
        else std::fprintf(stderr, "krait: %s\n", text.c_str());
    }
    void error(const std::string& text) {
        std::fflush(stdout);
        std::fprintf(stderr, "krait: error: %s\n", text.c_str());
        failed_ = true;
    }

    bool failed() const { return failed_; }
    bool interrupted() const { return interrupted_; }

    // One reply (say / regenerate), streamed, then its statistics. False on an error or Ctrl-C.
    template <class Call>
    bool turn(Call call) {
        ChatStream stream;
        krait_generate_params p = params_;
        p.on_token = chat_on_token;
        p.user_data = &stream;
        g_interrupted.store(false);
        session_.clear_abort();
        {
            std::lock_guard<std::mutex> lock(g_session_mutex);
            g_session = session_.get();
        }
        const Clock::time_point t_start = Clock::now();
        krait_status status = KRAIT_OK;
        std::string message;
        try {
            call(p);
        } catch (const krait::Exception& e) {
            status = e.status();
            message = e.what();
        }
        {
            std::lock_guard<std::mutex> lock(g_session_mutex);
            g_session = nullptr;
        }
        session_.clear_abort();  // a Ctrl-C as the reply ended must not stop the next one
        const bool aborted = status == KRAIT_ERR_ABORTED || g_interrupted.exchange(false);
        if (stream.n_tokens > 0 && !stream.ends_with_newline) std::fputc('\n', stdout);
        std::fflush(stdout);

        if (status != KRAIT_OK && status != KRAIT_ERR_ABORTED) {
            error(message);
            return false;
        }
        std::string stats = std::to_string(stream.n_tokens) + (stream.n_tokens == 1 ? " token" : " tokens");
        if (stream.n_tokens > 0) {
            const double total_s = seconds_between(t_start, stream.t_last);
            const double decode_s = seconds_between(stream.t_first, stream.t_last);
            char buf[160];
            if (stream.n_tokens >= 2 && decode_s > 0)
                std::snprintf(buf, sizeof buf, " in %s, %.1f tok/s (first token after %s)", duration_text(total_s).c_str(),
                              static_cast<double>(stream.n_tokens - 1) / decode_s,
                              duration_text(seconds_between(t_start, stream.t_first)).c_str());
            else
                std::snprintf(buf, sizeof buf, " in %s", duration_text(total_s).c_str());
            stats += buf;
        }
        if (aborted) {
            stats += ", interrupted";
        } else {
            // What the turn cost: the rendered prompt, and how much of it the session already held.
            const krait_conversation_stats cost = conv_.stats();
            stats += "; prompt " + std::to_string(cost.prompt_tokens) + " tokens, " + std::to_string(cost.reused_tokens) +
                     " reused";
        }
        note(status_tty_ ? "[" + stats + "]" : stats);
        if (aborted) interrupted_ = true;
        return !aborted;
    }

    bool say(const std::string& text) {
        if (n_images_ == 0) return turn([&](const krait_generate_params& p) { conv_.say(text, p); });
        const krait_model_info info = model_.info();
        const bool ok = turn([&](const krait_generate_params& p) {
            conv_.say_images(text, image_pixels_, n_images_, info.image_height, info.image_width, p);
        });
        image_pixels_.clear();  // sent (or refused): the next message starts without pictures
        n_images_ = 0;
        return ok;
    }

    // A picture for the next message (an assistant's: preprocessed as the model says).
    void attach_image(const std::string& path) {
        size_t n = 0;
        check_status(krait_model_preprocess_image_file(model_.get(), path.c_str(), nullptr, 0, &n));
        std::vector<float> pixels(n);
        check_status(krait_model_preprocess_image_file(model_.get(), path.c_str(), pixels.data(), n, &n));
        image_pixels_.insert(image_pixels_.end(), pixels.begin(), pixels.end());
        ++n_images_;
    }

    // Runs one line of input: a command or a message. False when the chat should end.
    bool line(const std::string& raw) {
        const std::string text = trimmed(raw);
        if (text.empty()) return true;
        if (text[0] != '/') {
            say(text);
            return true;
        }
        if (text.rfind("//", 0) == 0) {
            say(text.substr(1));
            return true;
        }
        const size_t space = text.find_first_of(" \t");
        const std::string name = text.substr(0, space);
        const std::string arg = space == std::string::npos ? "" : trimmed(text.substr(space));
        try {
            return command(name, arg);
        } catch (const krait::Exception& e) {
            error(e.what());
            return true;
        }
    }

private:
    bool command(const std::string& name, const std::string& arg) {
        auto no_argument = [&]() {
            if (arg.empty()) return true;
            error(name + " takes no argument");
            return false;
        };
        if (name == "/quit" || name == "/exit") return false;
        if (name == "/help" || name == "/?") {
            std::fputs(kChatCommandsHelp, stdout);
            std::fflush(stdout);
        } else if (name == "/reset") {
            if (no_argument()) {
                conv_.reset();
                note("conversation cleared");
            }
        } else if (name == "/image") {
            if (arg.empty()) {
                error("/image takes a file: /image FILE");
            } else {
                attach_image(arg);
                note("picture " + arg + " goes with the next message");
            }
        } else if (name == "/undo") {
            if (no_argument()) {
                conv_.undo();
                note("last turn taken back");
            }
        } else if (name == "/regenerate") {
            if (no_argument()) turn([&](const krait_generate_params& p) { conv_.regenerate(p); });
        } else if (name == "/system") {
            if (arg.empty()) {
                const std::string sys = conv_.system();
                note(sys.empty() ? "no system prompt" : "system prompt: " + sys);
            } else if (arg == "off") {
                conv_.set_system("");
                note("system prompt removed");
            } else {
                conv_.set_system(arg);
                note("system prompt set");
            }
        } else if (name == "/save" || name == "/load") {
            if (arg.empty()) {
                error(name + " needs a PATH");
            } else if (name == "/save") {
                conv_.save(arg);
                note("conversation saved to " + arg);
            } else {
                conv_.load(arg);
                note("conversation loaded from " + arg + " (" + std::to_string(conv_.n_messages()) + " messages)");
            }
        } else if (name == "/history") {
            if (no_argument()) {
                for (size_t i = 0; i < conv_.n_messages(); ++i)
                    std::printf("%s: %s\n", conv_.message(i).role.c_str(), conv_.message(i).content.c_str());
                if (conv_.n_messages() == 0) note("the conversation is empty");
                std::fflush(stdout);
            }
        } else if (name == "/adapter") {
            adapter(arg);
        } else {
            error("unknown command '" + name + "' (/help lists the commands; start a message with // to send a leading /)");
        }
        return true;
    }

    void apply_active() {
        std::vector<const krait_adapter*> handles;
        std::vector<float> scales;
        for (const size_t i : active_) {
            handles.push_back(adapters_[i].adapter.get());
            scales.push_back(adapters_[i].scale);
        }
        check_status(krait_session_set_adapters(session_.get(), handles.empty() ? nullptr : handles.data(),
                                                scales.empty() ? nullptr : scales.data(), handles.size()));
        // The conversation reuses only state computed with the adapters active now (library 1.4).
    }

    void adapter(const std::string& arg) {
        if (arg.empty()) {
            if (adapters_.empty()) note("no adapters loaded (/adapter DIR[=SCALE] loads one)");
            for (size_t i = 0; i < adapters_.size(); ++i) {
                const bool on = std::find(active_.begin(), active_.end(), i) != active_.end();
                note(std::string(on ? "* " : "  ") + adapters_[i].name + " (" + adapters_[i].dir + "), scale " +
                     short_float(adapters_[i].scale));
            }
            if (active_.empty()) note("answering with the base model");
            return;
        }
        if (arg == "off") {
            active_.clear();
            apply_active();
            note("answering with the base model");
            return;
        }
        // A loaded adapter by name or folder; otherwise a folder to load (DIR[=SCALE]).
        for (size_t i = 0; i < adapters_.size(); ++i) {
            if (arg == adapters_[i].name || arg == adapters_[i].dir) {
                active_ = {i};
                apply_active();
                note("answering with adapter " + adapters_[i].name);
                return;
            }
        }
        std::vector<AdapterArg> parsed;
        const std::string problem = adapter_setter(parsed)(arg);
        if (!problem.empty()) throw krait::Exception(KRAIT_ERR_INVALID_ARGUMENT, problem);
        for (size_t i = 0; i < adapters_.size(); ++i) {
            if (parsed[0].dir == adapters_[i].dir || parsed[0].dir == adapters_[i].name) {
                adapters_[i].scale = parsed[0].scale;
                active_ = {i};
                apply_active();
                note("answering with adapter " + adapters_[i].name + ", scale " + short_float(adapters_[i].scale));
                return;
            }
        }
        std::error_code ec;
        if (!std::filesystem::is_directory(parsed[0].dir, ec))
            throw krait::Exception(KRAIT_ERR_INVALID_ARGUMENT,
                                   "no adapter named '" + arg + "' is loaded and no such folder exists (/adapter lists them)");
        krait::Adapter a = krait::Adapter::load(model_, parsed[0].dir);
        const std::string loaded_name = a.info().name;
        adapters_.push_back({std::move(a), loaded_name, parsed[0].dir, parsed[0].scale});
        active_ = {adapters_.size() - 1};
        apply_active();
        note("answering with adapter " + loaded_name + " (loaded from " + parsed[0].dir + "), scale " +
             short_float(parsed[0].scale));
    }

    const krait::Model& model_;
    krait::Session& session_;
    ChatConversation& conv_;
    krait_generate_params params_;
    std::vector<LoadedAdapter>& adapters_;
    std::vector<size_t> active_;
    bool interactive_;
    bool status_tty_;
    bool failed_ = false;
    bool interrupted_ = false;
    std::vector<float> image_pixels_;  // pictures for the next message: [n_images_, 3, H, W]
    int64_t n_images_ = 0;
};

}  // namespace

int cmd_chat(int argc, char** argv, int first) {
    std::string model_dir, prompt, system, template_file, history_file;
    bool have_prompt = false, no_history = false, verbose = false;
    int32_t max_new_tokens = 512;
    int32_t threads = 0;
    int64_t context_length = 0;
    krait::GenerateOptions gen;
    gen.sampling.temperature = 0.8f;  // as generate
    std::vector<std::string> stops;
    std::vector<AdapterArg> adapter_args;
    LoadArgs load_args;
    std::vector<std::string> images;

    Command cmd{"chat", "-m DIR [-p TEXT] [--image FILE] [options]",
                "Holds a conversation with a language model, formatted with its own chat template.\n"
                "On a terminal: a prompt with line editing and history (libedit); each reply streams\n"
                "to stdout, its tokens/s to stderr. Lines starting with '/' are commands (/help lists\n"
                "them: /reset, /undo, /regenerate, /system, /image, /save, /load, /adapter, /quit). Ctrl-C\n"
                "stops a reply, Ctrl-D leaves. Not on a terminal: one message or command per line\n"
                "of stdin, no prompt. With -p TEXT: one turn, the reply to stdout, then exit.",
                {
                    {"-m", "--model", "DIR", "model directory (config.json, *.safetensors, tokenizer.json)", string_setter(model_dir)},
                    {"-p", "--prompt", "TEXT", "one message: print the reply and exit (no interaction)",
                     [&](const std::string& s) -> std::string {
                         prompt = s;
                         have_prompt = true;
                         return "";
                     }},
                    {nullptr, "--system", "TEXT", "system prompt (default none)", string_setter(system)},
                    {nullptr, "--image", "FILE", "a picture for the first message (a vision-language assistant; repeatable)",
                     [&images](const std::string& s) -> std::string {
                         images.push_back(s);
                         return "";
                     }},
                    {nullptr, "--template", "FILE", "Jinja chat template to use instead of the model's (needed when it has none)", string_setter(template_file)},
                    {"-n", "--max-new-tokens", "N", "tokens per reply at most (default 512)", int_setter<int32_t>(max_new_tokens, 1, 1 << 30)},
                    {nullptr, "--max-tokens", "N", "same as --max-new-tokens (as generate spells it)", int_setter<int32_t>(max_new_tokens, 1, 1 << 30)},
                    {nullptr, "--stop", "STR", "end a reply once its text ends with STR (repeatable)",
                     [&stops](const std::string& s) -> std::string {
                         if (s.empty()) return "the stop string must not be empty";
                         stops.push_back(s);
                         return "";
                     }},
                    {nullptr, "--threads", "N", "worker threads, 0 = all cores (default 0)", int_setter<int32_t>(threads, 0, 4096)},
                    {nullptr, "--context-length", "N", "tokens the context holds (a transformer's KV cache), 0 = the model's default (default 0)", int_setter<int64_t>(context_length, 0, int64_t{1} << 30)},
                    {nullptr, "--adapter", "DIR[=SCALE]", std::string(kAdapterHelp) + "; /adapter switches", adapter_setter(adapter_args)},
                    {nullptr, "--history", "FILE", "line-editing history file (default $XDG_STATE_HOME/krait/chat_history)", string_setter(history_file)},
                    {nullptr, "--no-history", nullptr, "keep no history file", flag_setter(no_history)},
                    {"-v", "--verbose", nullptr, "also print the library's info messages", flag_setter(verbose)},
                }};
    insert_options_after(cmd, "--max-tokens", sampling_options(gen.sampling, "replies"));
    insert_options_after(cmd, "--context-length", load_options(load_args));
    switch (parse_options(cmd, argc, argv, first)) {
        case ParseResult::help:
            std::printf("\nIn the chat:\n%s", kChatCommandsHelp);
            return kExitOk;
        case ParseResult::usage_error: return kExitUsage;
        case ParseResult::ok: break;
    }
    if (model_dir.empty()) return missing(cmd, "-m DIR");
    if (have_prompt && prompt.empty()) return missing(cmd, "-p TEXT (non-empty)");
    if (verbose) krait_set_log_callback(on_log, nullptr, KRAIT_LOG_INFO);
    const std::string template_src = template_file.empty() ? std::string() : read_text_file(template_file);

    g_chat_mode.store(!have_prompt);  // one turn (-p): Ctrl-C as in generate
    krait::Model model = load_model(model_dir, load_args);
    if (g_interrupted.load()) {
        std::fprintf(stderr, "krait: interrupted\n");
        return kExitInterrupted;
    }
    krait_session_params session_params;
    krait_session_params_init(&session_params);
    session_params.n_threads = threads;
    session_params.context_length = context_length;
    krait::Session session(model, session_params);
    std::vector<std::string> adapter_report;
    std::vector<krait::Adapter> loaded = apply_adapters(model, session, adapter_args, adapter_report);
    std::vector<LoadedAdapter> adapters;
    for (size_t i = 0; i < loaded.size(); ++i) {
        const std::string name = loaded[i].info().name;
        adapters.push_back({std::move(loaded[i]), name, adapter_args[i].dir, adapter_args[i].scale});
    }
    if (verbose)
        for (const std::string& line : adapter_report) std::fprintf(stderr, "%s\n", line.c_str());

    std::vector<const char*> stop_ptrs;
    for (const std::string& s : stops) stop_ptrs.push_back(s.c_str());
    krait_generate_params params;
    krait_generate_params_init(&params);
    params.max_new_tokens = max_new_tokens;
    params.sampling = gen.sampling;
    params.stop_strings = stop_ptrs.empty() ? nullptr : stop_ptrs.data();
    params.n_stop_strings = stop_ptrs.size();

    std::optional<ChatConversation> conv_holder;
    try {
        conv_holder.emplace(session, system, template_src);
    } catch (const krait::Exception& e) {
        const std::string message = e.what();
        if (template_src.empty() && message.find("no chat template") != std::string::npos)
            throw krait::Exception(e.status(), message + " (krait chat --template FILE)");
        throw;
    }
    ChatConversation& conv = *conv_holder;
    const bool interactive = !have_prompt && isatty(STDIN_FILENO) == 1;
    Chat chat(model, session, conv, params, adapters, interactive);
    for (const std::string& path : images) chat.attach_image(path);

    if (have_prompt) {
        chat.say(prompt);
        if (chat.interrupted()) {
            std::fprintf(stderr, "krait: interrupted\n");
            return kExitInterrupted;
        }
        return chat.failed() ? kExitError : kExitOk;
    }

    if (interactive) {
        const krait_model_info info = model.info();
        std::fprintf(stderr, "krait chat: %s (%s). /help lists the commands; Ctrl-C stops a reply, Ctrl-D leaves.\n",
                     model_dir.c_str(), info.architecture ? info.architecture : "?");
    }
    // The history is libedit's: kept only for a chat at a terminal.
    const std::string history_path =
        !interactive || no_history ? std::string() : !history_file.empty() ? history_file : default_history_path();
    LineReader reader(interactive, history_path);
    std::string line;
    while (reader.read(line, "> ")) {
        g_interrupted.store(false);  // a Ctrl-C at the prompt does nothing
        if (!chat.line(line)) break;
    }
    // Not on a terminal, a failed line (an SDK error, an unknown command) makes the exit status 1.
    return !interactive && chat.failed() ? kExitError : kExitOk;
}

}  // namespace krait_cli
