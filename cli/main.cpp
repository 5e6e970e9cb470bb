// krait — the command-line tool of the Krait SDK.
//
//   krait generate -m DIR -p TEXT [options]   stream generated text to stdout
//   krait chat -m DIR [-p TEXT] [options]     a conversation (the model's chat template)
//   krait info -m DIR [ADAPTER_DIR...]        facts about a model (and LoRA adapters for it)
//   krait tokenize (-m DIR | -t FILE) -p TEXT token ids of a text
//   krait classify -m DIR IMAGE... [options]  top-k labels of images (classifiers)
//
// generate, chat and classify take `--adapter DIR[=SCALE]` (repeatable): PEFT LoRA
// adapters loaded for the model and active, scaled and summed, for the run.
//
// It uses only the public interface (krait.h through the C++ layer
// krait.hpp), like any other program built on the SDK.
//
// Exit codes: 0 success, 1 an SDK error ("krait: error: <krait_last_error()>"),
// 2 bad usage (with a usage message), 130 interrupted (Ctrl-C).
//
// Ctrl-C: SIGINT is blocked in every thread and taken by one watcher thread
// (sigwait), which sets a flag and calls krait_session_abort(), the one call
// the ABI allows from any thread at any time. Loading and generation then stop
// cleanly and the statistics so far are still printed. A second Ctrl-C ends the
// process at once, except in `krait chat`, where each Ctrl-C stops the reply in
// progress and the chat goes on (at the prompt it does nothing: /quit or Ctrl-D leave).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include <editline/readline.h>

#include "krait/krait.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 130;  // 128 + SIGINT, as shells report it

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

// "12.3 ms" below a second, "4.56 s" above: readable for tiny and large models alike.
std::string duration_text(double seconds) {
    char buf[32];
    if (seconds < 1.0) std::snprintf(buf, sizeof buf, "%.1f ms", seconds * 1e3);
    else std::snprintf(buf, sizeof buf, "%.2f s", seconds);
    return buf;
}

// ---- stderr shared by the progress bar and the log callback ------------------

// The log callback may run on library threads while the progress bar is drawn
// on the main thread: one lock keeps their lines apart.
std::mutex g_stderr_mutex;
bool g_bar_visible = false;  // a progress line without newline is on the terminal (guarded by g_stderr_mutex)

void clear_bar_locked() {
    if (g_bar_visible) {
        std::fputs("\r\033[K", stderr);
        g_bar_visible = false;
    }
}

void on_log(krait_log_level level, const char* message, void*) {
    const char* name = level == KRAIT_LOG_DEBUG ? "debug"
                       : level == KRAIT_LOG_INFO ? "info"
                       : level == KRAIT_LOG_WARN ? "warning"
                                                 : "error";
    std::lock_guard<std::mutex> lock(g_stderr_mutex);
    clear_bar_locked();
    std::fprintf(stderr, "krait: %s: %s\n", name, message);
}

// ---- Ctrl-C -------------------------------------------------------------------

std::atomic<bool> g_interrupted{false};
// `krait chat`: a Ctrl-C stops the reply in progress and the chat goes on (the loop clears
// g_interrupted after each reply); it never ends the process.
std::atomic<bool> g_chat_mode{false};
std::mutex g_session_mutex;            // guards g_session against the watcher using a freed session
krait_session* g_session = nullptr;

// Must run before any other thread exists, so that every thread (the SDK's
// workers included) inherits the blocked mask and only the watcher sees SIGINT.
void start_interrupt_watcher() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return;  // keep the default: Ctrl-C kills
    std::thread([set] {
        for (;;) {
            int sig = 0;
            if (sigwait(&set, &sig) != 0) return;
            // Outside chat, a second Ctrl-C ends the process at once.
            if (g_interrupted.exchange(true) && !g_chat_mode.load()) _exit(kExitInterrupted);
            std::lock_guard<std::mutex> lock(g_session_mutex);
            krait_session_abort(g_session);  // NULL is accepted
        }
    }).detach();
}

// Publishes the session to the watcher for as long as it lives.
class AbortableSession {
public:
    explicit AbortableSession(krait::Session& s) {
        std::lock_guard<std::mutex> lock(g_session_mutex);
        g_session = s.get();
    }
    ~AbortableSession() {
        std::lock_guard<std::mutex> lock(g_session_mutex);
        g_session = nullptr;
    }
    AbortableSession(const AbortableSession&) = delete;
    AbortableSession& operator=(const AbortableSession&) = delete;
};

// ---- command-line parsing -------------------------------------------------------

// One option of a subcommand. `value` is nullptr for a flag. `set` receives the
// value (or "" for a flag) and returns an error message, "" when accepted.
struct Option {
    const char* short_name;  // "-m" or nullptr
    const char* long_name;   // "--model"
    const char* value;       // "DIR", or nullptr for a flag
    std::string help;
    std::function<std::string(const std::string&)> set;
};

struct Command {
    const char* name;
    const char* synopsis;  // after "krait NAME "
    const char* summary;
    std::vector<Option> options;
    // Receives each argument that is not an option (returns an error message,
    // "" when accepted); commands without positional arguments leave it empty.
    std::function<std::string(const std::string&)> positional = {};
};

void print_command_usage(FILE* out, const Command& cmd) {
    std::fprintf(out, "usage: krait %s %s\n\n%s\n\noptions:\n", cmd.name, cmd.synopsis, cmd.summary);
    for (const Option& o : cmd.options) {
        std::string left = o.short_name ? std::string(o.short_name) + ", " + o.long_name : std::string("    ") + o.long_name;
        if (o.value) left += std::string(" ") + o.value;
        std::fprintf(out, "  %-26s %s\n", left.c_str(), o.help.c_str());
    }
    std::fprintf(out, "  %-26s %s\n", "-h, --help", "show this help and exit");
}

enum class ParseResult { ok, help, usage_error };

// Parses argv[first..argc) against cmd.options. Accepts "-x VALUE", "--long VALUE"
// and "--long=VALUE". Prints the usage on error or --help.
ParseResult parse_options(const Command& cmd, int argc, char** argv, int first) {
    auto fail = [&](const std::string& message) {
        std::fprintf(stderr, "krait %s: %s\n", cmd.name, message.c_str());
        std::fprintf(stderr, "usage: krait %s %s\n(see 'krait %s --help')\n", cmd.name, cmd.synopsis, cmd.name);
        return ParseResult::usage_error;
    };
    for (int i = first; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            print_command_usage(stdout, cmd);
            return ParseResult::help;
        }
        std::optional<std::string> inline_value;
        if (arg.rfind("--", 0) == 0) {
            const size_t eq = arg.find('=');
            if (eq != std::string::npos) {
                inline_value = arg.substr(eq + 1);
                arg.resize(eq);
            }
        }
        const Option* opt = nullptr;
        for (const Option& o : cmd.options)
            if (arg == o.long_name || (o.short_name && arg == o.short_name)) opt = &o;
        if (!opt) {
            if (arg.size() > 1 && arg[0] == '-') return fail("unknown option '" + arg + "'");
            if (!cmd.positional) return fail("unexpected argument '" + arg + "'");
            const std::string error = cmd.positional(argv[i]);
            if (!error.empty()) return fail(error);
            continue;
        }
        std::string value;
        if (opt->value) {
            if (inline_value) {
                value = *inline_value;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                return fail(std::string("option ") + opt->long_name + " needs a value " + opt->value);
            }
        } else if (inline_value) {
            return fail(std::string("option ") + opt->long_name + " takes no value");
        }
        const std::string error = opt->set(value);
        if (!error.empty()) return fail(std::string("option ") + opt->long_name + ": " + error);
    }
    return ParseResult::ok;
}

// Strict number parsing: the whole text must be the number, within [lo, hi].
template <class Int>
std::function<std::string(const std::string&)> int_setter(Int& out, Int lo, Int hi) {
    return [&out, lo, hi](const std::string& s) -> std::string {
        // Built by appending: GCC 12 warns falsely (-Wrestrict) on "[" + std::to_string(...).
        std::string range = "[";
        range += std::to_string(lo);
        range += ", ";
        range += std::to_string(hi);
        range += "]";
        Int v{};
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec == std::errc::result_out_of_range || (ec == std::errc() && end == s.data() + s.size() && (v < lo || v > hi)))
            return s + " is out of range " + range;
        if (s.empty() || ec != std::errc() || end != s.data() + s.size())
            return "'" + s + "' is not an integer" + (std::is_unsigned_v<Int> && s[0] == '-' ? " >= 0" : "");
        out = v;
        return "";
    };
}

std::function<std::string(const std::string&)> float_setter(float& out, double lo, double hi, bool lo_open = false) {
    return [&out, lo, hi, lo_open](const std::string& s) -> std::string {
        char* end = nullptr;
        errno = 0;
        const double v = s.empty() ? 0.0 : std::strtod(s.c_str(), &end);
        if (s.empty() || errno != 0 || end != s.c_str() + s.size() || !std::isfinite(v)) return "'" + s + "' is not a number";
        if (v < lo || v > hi || (lo_open && v == lo)) {
            char range[96];
            std::snprintf(range, sizeof range, "%s%g, %g]", lo_open ? "(" : "[", lo, hi);
            return s + " is out of range " + range;
        }
        out = static_cast<float>(v);
        return "";
    };
}

std::function<std::string(const std::string&)> string_setter(std::string& out) {
    return [&out](const std::string& s) -> std::string {
        out = s;
        return "";
    };
}

std::function<std::string(const std::string&)> flag_setter(bool& out) {
    return [&out](const std::string&) -> std::string {
        out = true;
        return "";
    };
}

// Reports a missing required option; returns the usage exit code.
int missing(const Command& cmd, const char* what) {
    std::fprintf(stderr, "krait %s: %s is required\nusage: krait %s %s\n(see 'krait %s --help')\n", cmd.name, what,
                 cmd.name, cmd.synopsis, cmd.name);
    return kExitUsage;
}

// A float as the shortest text that reads back the same in help messages ("0.95", "1").
std::string number(float v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v));
    return buf;
}

// ---- model loading with a progress bar ------------------------------------------

uint64_t weight_file_bytes(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    uint64_t total = 0;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.path().extension() != ".safetensors") continue;
        std::error_code size_ec;
        const auto size = entry.file_size(size_ec);
        if (!size_ec) total += size;
    }
    return total;
}

// On a terminal: a bar redrawn in place, shown only if the load takes long
// enough to be worth watching, and erased when done. Not on a terminal: a
// single line of milestones, only for large models (so logs of quick runs stay
// clean). A Ctrl-C cancels the load.
class LoadProgress {
public:
    LoadProgress(const std::string& dir, bool tty) : dir_(dir), tty_(tty), start_(Clock::now()) {
        constexpr uint64_t kLargeModelBytes = 256ull << 20;
        milestones_ = !tty_ && weight_file_bytes(dir) >= kLargeModelBytes;
    }
    ~LoadProgress() { finish(); }

    // Returns true to cancel.
    bool update(float fraction) {
        if (g_interrupted.load()) return true;
        const int percent = std::clamp(static_cast<int>(fraction * 100.0f), 0, 100);
        std::lock_guard<std::mutex> lock(g_stderr_mutex);
        if (tty_) {
            if (percent == last_percent_ || seconds_between(start_, Clock::now()) < 0.3) return false;
            constexpr int kWidth = 30;
            const int filled = percent * kWidth / 100;
            std::fprintf(stderr, "\rloading %s [%s%s] %3d%%", display_name().c_str(), std::string(filled, '#').c_str(),
                         std::string(kWidth - filled, '.').c_str(), percent);
            std::fflush(stderr);
            g_bar_visible = true;
        } else if (milestones_) {
            if (last_percent_ < 0) std::fprintf(stderr, "krait: loading %s:", dir_.c_str());
            for (int m = (last_percent_ / 10 + 1) * 10; m <= percent; m += 10) std::fprintf(stderr, " %d%%", m);
            std::fflush(stderr);
            printed_line_ = true;
        }
        last_percent_ = std::max(last_percent_, percent);
        return false;
    }

    void finish() {
        std::lock_guard<std::mutex> lock(g_stderr_mutex);
        clear_bar_locked();
        if (printed_line_) std::fputc('\n', stderr);
        printed_line_ = false;
    }

private:
    std::string display_name() const {
        const std::string name = std::filesystem::path(dir_).lexically_normal().filename().string();
        return name.empty() || name == "." ? dir_ : name;
    }

    std::string dir_;
    bool tty_;
    bool milestones_ = false;
    bool printed_line_ = false;
    int last_percent_ = -1;
    Clock::time_point start_;
};

krait::Model load_model(const std::string& dir) {
    LoadProgress progress(dir, isatty(STDERR_FILENO) == 1);
    krait::Model model = krait::Model::load(dir, [&progress](float f) { return progress.update(f); });
    progress.finish();
    return model;
}

// ---- LoRA adapters (--adapter DIR[=SCALE]) ----------------------------------------

struct AdapterArg {
    std::string dir;
    float scale = 1.0f;
};

const char* const kAdapterHelp = "PEFT LoRA adapter folder to apply, scaled by SCALE (default 1); repeatable: they add up";

// DIR[=SCALE]: the text after the last '=' is the scale when it reads as a number. A folder whose
// own name holds '=' is taken whole when it exists; otherwise a bad scale is reported as such.
std::function<std::string(const std::string&)> adapter_setter(std::vector<AdapterArg>& out) {
    return [&out](const std::string& s) -> std::string {
        AdapterArg arg{s, 1.0f};
        const size_t eq = s.rfind('=');
        if (eq != std::string::npos) {
            std::error_code ec;
            const bool whole_is_dir = std::filesystem::is_directory(s, ec);
            const std::string text = s.substr(eq + 1);
            char* end = nullptr;
            errno = 0;
            const double v = text.empty() ? 0.0 : std::strtod(text.c_str(), &end);
            const bool number = !text.empty() && end == text.c_str() + text.size();
            std::string problem;
            if (!number) problem = "is not a number";
            else if (!std::isfinite(v)) problem = "is not finite";
            else if (errno == ERANGE || std::fabs(v) > std::numeric_limits<float>::max())
                problem = "is out of float range";
            if (!problem.empty()) {
                if (whole_is_dir) {
                    out.push_back(arg);
                    return "";
                }
                return "'" + s + "': SCALE '" + text + "' " + problem + " (expected DIR or DIR=SCALE, e.g. " +
                       s.substr(0, eq) + "=0.5)";
            }
            arg.dir = s.substr(0, eq);
            arg.scale = static_cast<float>(v);
        }
        if (arg.dir.empty()) return "'" + s + "': the adapter folder is empty (expected DIR or DIR=SCALE)";
        out.push_back(arg);
        return "";
    };
}

// A float as short text: "0.5", "1.5", "2.04124".
std::string short_float(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

// Loads each adapter for `model` (timed one by one) and makes them active on `session` (the swap,
// timed alone). Returns the adapters, which must live as long as the caller uses their labels,
// and the lines to print on stderr with the run's statistics.
std::vector<krait::Adapter> apply_adapters(const krait::Model& model, krait::Session& session,
                                           const std::vector<AdapterArg>& args, std::vector<std::string>& report) {
    std::vector<krait::Adapter> adapters;
    for (const AdapterArg& a : args) {
        const Clock::time_point t0 = Clock::now();
        adapters.push_back(krait::Adapter::load(model, a.dir));
        const double load_s = seconds_between(t0, Clock::now());
        const krait_adapter_info info = adapters.back().info();
        char ms[32];
        std::snprintf(ms, sizeof ms, "%.2f ms", load_s * 1e3);
        std::string line = std::string("krait: adapter ") + info.name + " (" + a.dir + ") loaded in " + ms +
                           ": max rank " + std::to_string(info.max_rank) + ", " + std::to_string(info.num_targets) +
                           " targets";
        if (info.num_labels > 0) line += ", own head with " + std::to_string(info.num_labels) + " labels";
        report.push_back(line + ", scale " + short_float(a.scale));
    }
    if (adapters.empty()) return adapters;
    std::vector<const krait_adapter*> handles;
    std::vector<float> scales;
    for (size_t i = 0; i < adapters.size(); ++i) {
        handles.push_back(adapters[i].get());
        scales.push_back(args[i].scale);
    }
    const Clock::time_point t0 = Clock::now();
    const krait_status status = krait_session_set_adapters(session.get(), handles.data(), scales.data(), handles.size());
    const double swap_s = seconds_between(t0, Clock::now());
    if (status != KRAIT_OK) throw krait::Exception(status, krait_last_error());
    char line[160];
    std::snprintf(line, sizeof line, "krait: adapter swap (krait_session_set_adapters, %zu adapter%s) took %.1f us",
                  adapters.size(), adapters.size() == 1 ? "" : "s", swap_s * 1e6);
    report.emplace_back(line);
    return adapters;
}

// ---- krait generate --------------------------------------------------------------

int cmd_generate(int argc, char** argv, int first) {
    std::string model_dir, prompt;
    int32_t max_new_tokens = 64;
    int32_t threads = 0;
    bool no_special = false;
    bool ignore_eos = false;
    bool verbose = false;
    int64_t context_length = 0;
    krait::GenerateOptions gen;  // the library's defaults (shown in --help) ...
    gen.sampling.temperature = 0.8f;  // ... except where the tool chooses its own
    std::vector<std::string> stops;
    std::vector<AdapterArg> adapter_args;

    Command cmd{"generate", "-m DIR -p TEXT [options]",
                "Generates text after TEXT and streams it to stdout; statistics go to stderr.",
                {
                    {"-m", "--model", "DIR", "model directory (config.json, *.safetensors, tokenizer.json)", string_setter(model_dir)},
                    {"-p", "--prompt", "TEXT", "the prompt", string_setter(prompt)},
                    {"-n", "--max-tokens", "N", "tokens to generate at most (default 64)", int_setter<int32_t>(max_new_tokens, 1, 1 << 30)},
                    {nullptr, "--temperature", "T", "sampling temperature, 0 = greedy (default 0.8)", float_setter(gen.sampling.temperature, 0.0, 1e6)},
                    {nullptr, "--top-k", "K", "keep the K most likely tokens, 0 = off (default " + std::to_string(gen.sampling.top_k) + ")", int_setter<int32_t>(gen.sampling.top_k, 0, std::numeric_limits<int32_t>::max())},
                    {nullptr, "--top-p", "P", "nucleus sampling, 1 = off (default " + number(gen.sampling.top_p) + ")", float_setter(gen.sampling.top_p, 0.0, 1.0, /*lo_open=*/true)},
                    {nullptr, "--min-p", "P", "drop tokens below P * p_max, 0 = off (default " + number(gen.sampling.min_p) + ")", float_setter(gen.sampling.min_p, 0.0, 1.0)},
                    {nullptr, "--repeat-penalty", "R", "repetition penalty, 1 = off (default " + number(gen.sampling.repetition_penalty) + ")", float_setter(gen.sampling.repetition_penalty, 0.0, 1e6, /*lo_open=*/true)},
                    {nullptr, "--seed", "S", "random seed: same seed, same text (default " + std::to_string(gen.sampling.seed) + ")", int_setter<uint64_t>(gen.sampling.seed, 0, std::numeric_limits<uint64_t>::max())},
                    {nullptr, "--threads", "N", "worker threads, 0 = all cores (default 0)", int_setter<int32_t>(threads, 0, 4096)},
                    {nullptr, "--context-length", "N", "tokens the context holds (a transformer's KV cache), 0 = the model's default (default 0)", int_setter<int64_t>(context_length, 0, int64_t{1} << 30)},
                    {nullptr, "--stop", "STR", "stop once the text ends with STR (repeatable)",
                     [&stops](const std::string& s) -> std::string {
                         if (s.empty()) return "the stop string must not be empty";
                         stops.push_back(s);
                         return "";
                     }},
                    {nullptr, "--ignore-eos", nullptr, "do not stop at the end-of-sequence token (for benchmarks)", flag_setter(ignore_eos)},
                    {nullptr, "--no-special", nullptr, "do not add special tokens (BOS) to the prompt", flag_setter(no_special)},
                    {nullptr, "--adapter", "DIR[=SCALE]", kAdapterHelp, adapter_setter(adapter_args)},
                    {"-v", "--verbose", nullptr, "also print the library's info messages", flag_setter(verbose)},
                }};
    switch (parse_options(cmd, argc, argv, first)) {
        case ParseResult::help: return kExitOk;
        case ParseResult::usage_error: return kExitUsage;
        case ParseResult::ok: break;
    }
    if (model_dir.empty()) return missing(cmd, "-m DIR");
    if (prompt.empty()) return missing(cmd, "-p TEXT (non-empty)");
    if (verbose) krait_set_log_callback(on_log, nullptr, KRAIT_LOG_INFO);
    gen.max_new_tokens = max_new_tokens;
    gen.stop_strings = stops;
    gen.stop_at_eos = !ignore_eos;

    const Clock::time_point t_load = Clock::now();
    krait::Model model = load_model(model_dir);
    const double load_s = seconds_between(t_load, Clock::now());
    const krait::Tokenizer tokenizer = model.tokenizer();
    const std::vector<int32_t> prompt_ids = tokenizer.encode(prompt, !no_special);
    krait_session_params session_params;
    krait_session_params_init(&session_params);
    session_params.n_threads = threads;
    session_params.context_length = context_length;
    krait::Session session(model, session_params);
    std::vector<std::string> adapter_report;
    const std::vector<krait::Adapter> adapters = apply_adapters(model, session, adapter_args, adapter_report);
    AbortableSession abortable(session);

    if (g_interrupted.load()) {  // Ctrl-C before the session could take an abort request
        std::fprintf(stderr, "krait: interrupted\n");
        return kExitInterrupted;
    }

    // Timestamps from the streaming callback: the first token marks the end of
    // the prefill (which so includes sampling that token), first-to-last the decode rate.
    size_t n_generated = 0;
    bool ends_with_newline = true;
    Clock::time_point t_first{}, t_last{};
    const Clock::time_point t_start = Clock::now();
    bool aborted = false;
    try {
        session.generate(prompt_ids, gen, [&](int32_t, std::string_view piece) {
            const Clock::time_point now = Clock::now();
            if (n_generated++ == 0) t_first = now;
            t_last = now;
            if (!piece.empty()) {
                std::fwrite(piece.data(), 1, piece.size(), stdout);
                std::fflush(stdout);
                ends_with_newline = piece.back() == '\n';
            }
            // Stop on Ctrl-C, and when nobody reads the text any more (closed pipe, full disk).
            return g_interrupted.load() || std::ferror(stdout) != 0;
        });
    } catch (const krait::Exception& e) {
        if (e.status() != KRAIT_ERR_ABORTED) throw;
        aborted = true;
    }
    // Keep the statistics off the text's last line when both share a terminal.
    if (!ends_with_newline && isatty(STDOUT_FILENO) == 1) std::fputc('\n', stdout);
    std::fflush(stdout);

    std::fprintf(stderr, "krait: model loaded in %s\n", duration_text(load_s).c_str());
    for (const std::string& line : adapter_report) std::fprintf(stderr, "%s\n", line.c_str());
    if (n_generated == 0) {
        std::fprintf(stderr, "krait: prompt %zu tokens, prefill %s\n", prompt_ids.size(),
                     aborted || g_interrupted.load() ? "interrupted" : "produced no token");
    } else {
        const double prefill_s = seconds_between(t_start, t_first);
        const double decode_s = seconds_between(t_first, t_last);
        std::fprintf(stderr, "krait: prompt %zu tokens, prefill %s (%.1f tok/s)\n", prompt_ids.size(),
                     duration_text(prefill_s).c_str(), prefill_s > 0 ? static_cast<double>(prompt_ids.size()) / prefill_s : 0.0);
        // n tokens arrive at n timestamps: n - 1 decode steps between the first and the last.
        if (n_generated >= 2 && decode_s > 0)
            std::fprintf(stderr, "krait: generated %zu tokens, decode %s (%.1f tok/s)\n", n_generated,
                         duration_text(decode_s).c_str(), static_cast<double>(n_generated - 1) / decode_s);
        else
            std::fprintf(stderr, "krait: generated %zu token%s\n", n_generated, n_generated == 1 ? "" : "s");
    }
    if (aborted || g_interrupted.load()) {
        std::fprintf(stderr, "krait: interrupted\n");
        return kExitInterrupted;
    }
    if (std::ferror(stdout)) {
        std::fprintf(stderr, "krait: error: writing the text to stdout failed\n");
        return kExitError;
    }
    return kExitOk;
}

// ---- krait info ------------------------------------------------------------------

const char* kind_name(krait_model_kind kind) {
    switch (kind) {
        case KRAIT_MODEL_SEQUENCE: return "sequence (language model)";
        case KRAIT_MODEL_CLASSIFIER: return "classifier";
        case KRAIT_MODEL_ASSISTANT: return "assistant";
        default: return "unknown";
    }
}

std::string human(double value, const char* const* units, int n_units, double step) {
    int u = 0;
    while (value >= step && u + 1 < n_units) {
        value /= step;
        ++u;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.1f %s", value, units[u]);
    return buf;
}

// The first labels, then how many more: "cat, dog, ... (98 more)".
std::string label_summary(const std::vector<std::string>& labels) {
    std::string shown;
    constexpr size_t kShown = 8;
    for (size_t k = 0; k < labels.size() && k < kShown; ++k) shown += (k ? ", " : "") + labels[k];
    if (labels.size() > kShown) shown += ", ... (" + std::to_string(labels.size() - kShown) + " more)";
    return shown;
}

bool is_adapter_dir(const std::string& dir) {
    std::error_code ec;
    return std::filesystem::is_regular_file(std::filesystem::path(dir) / "adapter_config.json", ec);
}

// An adapter as loaded for `model`: the library's reading of its config and tensors (module names,
// per-module ranks and scalings after rank_pattern / alpha_pattern), as generate and classify use it.
void print_adapter_info(const krait::Model& model, const std::string& model_dir, const std::string& dir) {
    const Clock::time_point t0 = Clock::now();
    const krait::Adapter adapter = krait::Adapter::load(model, dir);
    const double load_s = seconds_between(t0, Clock::now());
    const krait_adapter_info a = adapter.info();
    const std::vector<krait_adapter_target> targets = adapter.targets();
    const krait_model_info m = model.info();

    std::vector<const krait_adapter_target*> adapted, replaced;
    size_t module_width = std::string("module").size();
    for (const krait_adapter_target& t : targets) {
        (t.replaced ? replaced : adapted).push_back(&t);
        module_width = std::max(module_width, std::string(t.module).size());
    }
    std::printf("adapter          %s\n", dir.c_str());
    std::printf("name             %s\n", a.name);
    std::printf("base model       %s (%s)\n", model_dir.c_str(), m.architecture ? m.architecture : "?");
    std::printf("rank             %d (largest over its modules)\n", a.max_rank);
    std::printf("lora_alpha       %s\n", short_float(a.lora_alpha).c_str());
    std::printf("rslora           %s\n", a.use_rslora ? "yes (scaling = alpha / sqrt(r))" : "no (scaling = alpha / r)");
    std::printf("parameters       %lld\n", static_cast<long long>(a.num_parameters));
    std::printf("loaded in        %.2f ms\n", load_s * 1e3);
    std::printf("targets          %zu adapted, %zu replaced\n", adapted.size(), replaced.size());
    if (!adapted.empty()) {
        std::printf("  %-*s  %-9s  %4s  %s\n", static_cast<int>(module_width), "module", "kind", "rank", "scaling");
        for (const krait_adapter_target* t : adapted)
            std::printf("  %-*s  %-9s  %4d  %s\n", static_cast<int>(module_width), t->module, t->kind, t->rank,
                        short_float(t->scaling).c_str());
    }
    if (!replaced.empty()) {
        std::printf("replaced         (modules_to_save: the adapter's own copy is used while it is active)\n");
        for (const krait_adapter_target* t : replaced)
            std::printf("  %-*s  %s\n", static_cast<int>(module_width), t->module, t->kind);
    }
    if (a.num_labels > 0) {
        std::printf("labels           %lld (its own classifier head)\n", static_cast<long long>(a.num_labels));
        std::printf("                 %s\n", label_summary(adapter.labels()).c_str());
    } else if (m.kind == KRAIT_MODEL_CLASSIFIER) {
        std::printf("labels           the model's (%lld)\n", static_cast<long long>(m.num_labels));
    }
}

int cmd_info(int argc, char** argv, int first) {
    std::string model_dir;
    std::vector<std::string> dirs;
    bool verbose = false;
    Command cmd{"info", "-m DIR [ADAPTER_DIR...] | DIR",
                "Prints facts about a model (-m DIR, or DIR alone).\n"
                "\n"
                "With ADAPTER_DIRs (PEFT LoRA adapter folders: adapter_config.json +\n"
                "adapter_model.safetensors), prints for each adapter its rank, lora_alpha, rslora,\n"
                "parameters, the modules it adapts (module, kind, rank, scaling), the modules it\n"
                "replaces and the labels of a replacement classifier head. An adapter is read as\n"
                "loaded for its base model, given with -m: that checks every tensor and resolves\n"
                "module names and per-module ranks and scalings (rank_pattern, alpha_pattern)\n"
                "exactly as generate and classify --adapter will use them, so -m is required.",
                {
                    {"-m", "--model", "DIR", "model directory (the base model of any ADAPTER_DIR)", string_setter(model_dir)},
                    {"-v", "--verbose", nullptr, "also print the library's info messages", flag_setter(verbose)},
                },
                [&dirs](const std::string& s) -> std::string {
                    dirs.push_back(s);
                    return "";
                }};
    switch (parse_options(cmd, argc, argv, first)) {
        case ParseResult::help: return kExitOk;
        case ParseResult::usage_error: return kExitUsage;
        case ParseResult::ok: break;
    }
    if (model_dir.empty()) {
        if (dirs.empty()) return missing(cmd, "-m DIR");
        for (const std::string& d : dirs)
            if (is_adapter_dir(d)) {
                std::fprintf(stderr,
                             "krait info: '%s' is a LoRA adapter folder: give its base model with -m MODEL_DIR\n"
                             "  (the adapter is read as loaded for that model, which resolves its targets)\n"
                             "usage: krait info %s\n(see 'krait info --help')\n",
                             d.c_str(), cmd.synopsis);
                return kExitUsage;
            }
        if (dirs.size() > 1) {
            std::fprintf(stderr, "krait info: one model DIR at a time, or -m DIR followed by adapter folders\n"
                                 "usage: krait info %s\n(see 'krait info --help')\n", cmd.synopsis);
            return kExitUsage;
        }
        model_dir = dirs[0];
        dirs.clear();
    }
    if (verbose) krait_set_log_callback(on_log, nullptr, KRAIT_LOG_INFO);

    const krait::Model model = load_model(model_dir);
    if (!dirs.empty()) {
        for (size_t k = 0; k < dirs.size(); ++k) {
            if (k) std::printf("\n");
            print_adapter_info(model, model_dir, dirs[k]);
        }
        return kExitOk;
    }
    const krait_model_info i = model.info();
    static const char* const kCounts[] = {"", "K", "M", "B"};
    static const char* const kBytes[] = {" B", "KiB", "MiB", "GiB", "TiB"};
    if (i.kind == KRAIT_MODEL_CLASSIFIER) {
        const std::vector<std::string> labels = model.labels();
        const std::string shown = label_summary(labels);
        std::printf("model            %s\n", model_dir.c_str());
        std::printf("architecture     %s\n", i.architecture ? i.architecture : "?");
        std::printf("kind             %s\n", kind_name(i.kind));
        std::printf("input size       %lld x %lld (height x width)\n", static_cast<long long>(i.image_height),
                    static_cast<long long>(i.image_width));
        std::printf("labels           %lld\n", static_cast<long long>(i.num_labels));
        std::printf("                 %s\n", shown.c_str());
        std::printf("parameters       %lld (%s)\n", static_cast<long long>(i.num_parameters),
                    human(static_cast<double>(i.num_parameters), kCounts, 4, 1000.0).c_str());
        std::printf("dtype            %s\n", i.source_dtype ? i.source_dtype : "?");
        std::printf("weight bytes     %lld (%s, held in memory)\n", static_cast<long long>(i.weight_bytes),
                    human(static_cast<double>(i.weight_bytes), kBytes, 5, 1024.0).c_str());
        std::printf("cpu kernels      %s\n", krait_cpu_kernels());
        return kExitOk;
    }
    std::string tokenizer_vocab;
    try {
        tokenizer_vocab = std::to_string(model.tokenizer().vocab_size());
    } catch (const krait::Exception& e) {
        if (e.status() != KRAIT_ERR_UNSUPPORTED) throw;
        tokenizer_vocab = "none (no tokenizer.json)";
    }
    auto token = [](int32_t id) { return id < 0 ? std::string("none") : std::to_string(id); };

    std::printf("model            %s\n", model_dir.c_str());
    std::printf("architecture     %s\n", i.architecture ? i.architecture : "?");
    std::printf("kind             %s\n", kind_name(i.kind));
    std::printf("layers           %lld\n", static_cast<long long>(i.num_layers));
    std::printf("hidden           %lld\n", static_cast<long long>(i.hidden_size));
    std::printf("state            %lld\n", static_cast<long long>(i.state_size));
    std::printf("vocab            %lld\n", static_cast<long long>(i.vocab_size));
    std::printf("parameters       %lld (%s)\n", static_cast<long long>(i.num_parameters),
                human(static_cast<double>(i.num_parameters), kCounts, 4, 1000.0).c_str());
    std::printf("dtype            %s\n", i.source_dtype ? i.source_dtype : "?");
    std::printf("weight bytes     %lld (%s, held in memory)\n", static_cast<long long>(i.weight_bytes),
                human(static_cast<double>(i.weight_bytes), kBytes, 5, 1024.0).c_str());
    std::printf("bos / eos        %s / %s\n", token(i.bos_token_id).c_str(), token(i.eos_token_id).c_str());
    std::printf("tokenizer vocab  %s\n", tokenizer_vocab.c_str());
    std::printf("cpu kernels      %s\n", krait_cpu_kernels());
    return kExitOk;
}

// ---- krait tokenize --------------------------------------------------------------

// Shows a token's text with invisible characters made visible: "\n", "\t", "\x01".
std::string quoted(const std::string& s) {
    std::string out = "\"";
    for (const unsigned char c : s) {
        if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c == '\r') out += "\\r";
        else if (c == '"' || c == '\\') out += std::string("\\") + static_cast<char>(c);
        else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else out += static_cast<char>(c);
    }
    return out + "\"";
}

int cmd_tokenize(int argc, char** argv, int first) {
    std::string model_dir, tokenizer_file, text;
    bool have_text = false, no_special = false, pieces = false, verbose = false;
    Command cmd{"tokenize", "(-m DIR | -t FILE) -p TEXT [options]",
                "Prints the token ids of TEXT, space-separated on one line.",
                {
                    {"-m", "--model", "DIR", "model directory (uses its tokenizer.json)", string_setter(model_dir)},
                    {"-t", "--tokenizer", "FILE", "a tokenizer.json file instead of a model", string_setter(tokenizer_file)},
                    {"-p", "--prompt", "TEXT", "the text to tokenize",
                     [&](const std::string& s) -> std::string {
                         text = s;
                         have_text = true;
                         return "";
                     }},
                    {nullptr, "--no-special", nullptr, "do not add special tokens (BOS)", flag_setter(no_special)},
                    {nullptr, "--pieces", nullptr, "one token per line: id and its text", flag_setter(pieces)},
                    {"-v", "--verbose", nullptr, "also print the library's info messages", flag_setter(verbose)},
                }};
    switch (parse_options(cmd, argc, argv, first)) {
        case ParseResult::help: return kExitOk;
        case ParseResult::usage_error: return kExitUsage;
        case ParseResult::ok: break;
    }
    if (model_dir.empty() == tokenizer_file.empty()) return missing(cmd, "exactly one of -m DIR and -t FILE");
    if (!have_text) return missing(cmd, "-p TEXT");
    if (verbose) krait_set_log_callback(on_log, nullptr, KRAIT_LOG_INFO);

    std::optional<krait::Model> model;  // keeps a borrowed tokenizer valid
    krait::Tokenizer tokenizer = krait::Tokenizer::borrow(nullptr);
    if (!tokenizer_file.empty()) {
        tokenizer = krait::Tokenizer::load(tokenizer_file);
    } else {
        model.emplace(load_model(model_dir));
        tokenizer = model->tokenizer();
    }
    const std::vector<int32_t> ids = tokenizer.encode(text, !no_special);
    if (pieces) {
        for (const int32_t id : ids) std::printf("%d\t%s\n", id, quoted(tokenizer.decode(&id, 1)).c_str());
    } else {
        for (size_t k = 0; k < ids.size(); ++k) std::printf(k ? " %d" : "%d", ids[k]);
        std::printf("\n");
    }
    std::fprintf(stderr, "krait: %zu tokens\n", ids.size());
    return kExitOk;
}

// ---- krait classify ---------------------------------------------------------------

// The library numbers images within one call ("image 3: ..."); the tool calls
// once per batch, so the number is made absolute (1-based, as printed) here.
std::string renumbered(const std::string& message, size_t first) {
    const std::string prefix = "image ";
    if (message.rfind(prefix, 0) != 0) return message;
    size_t index = 0;
    const char* begin = message.data() + prefix.size();
    const char* end = message.data() + message.size();
    const auto [p, ec] = std::from_chars(begin, end, index);
    if (ec != std::errc() || p == end || *p != ':') return message;
    return prefix + std::to_string(first + index + 1) + std::string(p);
}

int cmd_classify(int argc, char** argv, int first) {
    std::string model_dir;
    std::vector<std::string> images;
    int32_t top_k = 5;
    int32_t threads = 0;
    int64_t max_pixels = KRAIT_DEFAULT_MAX_IMAGE_PIXELS;
    krait_session_params defaults;
    krait_session_params_init(&defaults);
    int32_t batch = defaults.max_batch;
    bool verbose = false;
    std::vector<AdapterArg> adapter_args;
    Command cmd{"classify", "-m DIR IMAGE... [options]",
                "Prints the most probable labels of each image (PNG, JPEG, BMP, GIF) with their\n"
                "probabilities; throughput goes to stderr. DIR is an image classifier (ViT, MambaVision).",
                {
                    {"-m", "--model", "DIR", "model directory (config.json, *.safetensors)", string_setter(model_dir)},
                    {"-k", "--top-k", "K", "labels to print per image (default 5)", int_setter<int32_t>(top_k, 1, std::numeric_limits<int32_t>::max())},
                    {"-b", "--batch", "B", "images per forward pass (default " + std::to_string(batch) + ")", int_setter<int32_t>(batch, 1, 1 << 20)},
                    {nullptr, "--threads", "N", "worker threads, 0 = all cores (default 0)", int_setter<int32_t>(threads, 0, 4096)},
                    {nullptr, "--max-pixels", "N", "refuse images with more pixels (default " + std::to_string(max_pixels) + ")", int_setter<int64_t>(max_pixels, 1, std::numeric_limits<int64_t>::max())},
                    {nullptr, "--adapter", "DIR[=SCALE]", std::string(kAdapterHelp) + "; an adapter's own head brings its labels", adapter_setter(adapter_args)},
                    {"-v", "--verbose", nullptr, "also print the library's info messages", flag_setter(verbose)},
                },
                [&images](const std::string& s) -> std::string {
                    images.push_back(s);
                    return "";
                }};
    switch (parse_options(cmd, argc, argv, first)) {
        case ParseResult::help: return kExitOk;
        case ParseResult::usage_error: return kExitUsage;
        case ParseResult::ok: break;
    }
    if (model_dir.empty()) return missing(cmd, "-m DIR");
    if (images.empty()) return missing(cmd, "at least one IMAGE");
    if (verbose) krait_set_log_callback(on_log, nullptr, KRAIT_LOG_INFO);

    const Clock::time_point t_load = Clock::now();
    krait::Model model = load_model(model_dir);
    const double load_s = seconds_between(t_load, Clock::now());
    krait_session_params params = defaults;
    params.n_threads = threads;
    params.max_image_pixels = max_pixels;
    params.max_batch = batch;
    krait::Session session(model, params);
    std::vector<std::string> adapter_report;
    const std::vector<krait::Adapter> adapters = apply_adapters(model, session, adapter_args, adapter_report);
    AbortableSession abortable(session);

    // One call per batch, so results appear as they are ready and a long list
    // of files needs no more memory than one batch.
    size_t done = 0;
    double compute_s = 0;
    bool aborted = false;
    for (size_t start = 0; start < images.size() && !g_interrupted.load(); start += static_cast<size_t>(batch)) {
        const size_t count = std::min(images.size() - start, static_cast<size_t>(batch));
        const std::vector<std::string> chunk(images.begin() + static_cast<std::ptrdiff_t>(start),
                                             images.begin() + static_cast<std::ptrdiff_t>(start + count));
        krait::Classifications results;
        const Clock::time_point t0 = Clock::now();
        try {
            results = session.classify_files(chunk, top_k);
        } catch (const krait::Exception& e) {
            if (e.status() == KRAIT_ERR_ABORTED) {
                aborted = true;
                break;
            }
            throw krait::Exception(e.status(), renumbered(e.what(), start));
        }
        compute_s += seconds_between(t0, Clock::now());
        for (size_t j = 0; j < count; ++j) {
            std::printf("%s\n", chunk[j].c_str());
            for (const krait::Classification& c : results[j])
                std::printf("  %.4f  %s\n", static_cast<double>(c.probability), c.label.c_str());
        }
        std::fflush(stdout);
        done += count;
    }

    std::fprintf(stderr, "krait: model loaded in %s\n", duration_text(load_s).c_str());
    for (const std::string& line : adapter_report) std::fprintf(stderr, "%s\n", line.c_str());
    if (done > 0)
        std::fprintf(stderr, "krait: classified %zu image%s in %s (%.1f images/s, decoding included)\n", done,
                     done == 1 ? "" : "s", duration_text(compute_s).c_str(),
                     compute_s > 0 ? static_cast<double>(done) / compute_s : 0.0);
    if (aborted || g_interrupted.load()) {
        std::fprintf(stderr, "krait: interrupted\n");
        return kExitInterrupted;
    }
    if (std::ferror(stdout)) {
        std::fprintf(stderr, "krait: error: writing the results to stdout failed\n");
        return kExitError;
    }
    return kExitOk;
}

// ---- krait chat --------------------------------------------------------------------

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
    void regenerate(const krait_generate_params& params) {
        check_status(krait_conversation_regenerate(conv_.get(), &params));
    }
    void undo() { check_status(krait_conversation_undo(conv_.get())); }

    // Forgets every turn; the system prompt stays.
    void reset() { rebuild(system(), /*keep_turns=*/false); }

    // Sets (or with "" removes) the system prompt; the turns stay.
    void set_system(const std::string& text) { rebuild(text, /*keep_turns=*/true); }

    void save(const std::string& path) const { check_status(krait_conversation_save(conv_.get(), path.c_str())); }
    void load(const std::string& path) {
        krait_conversation* c = nullptr;
        check_status(krait_conversation_load(session_.get(), path.c_str(), tmpl(), nullptr, &c));
        conv_.reset(c);
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
    }

    krait::Session& session_;
    std::string template_src_;
    std::unique_ptr<krait_conversation, Free> conv_;
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
        return turn([&](const krait_generate_params& p) { conv_.say(text, p); });
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
};

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

    Command cmd{"chat", "-m DIR [-p TEXT] [options]",
                "Holds a conversation with a language model, formatted with its own chat template.\n"
                "On a terminal: a prompt with line editing and history (libedit); each reply streams\n"
                "to stdout, its tokens/s to stderr. Lines starting with '/' are commands (/help lists\n"
                "them: /reset, /undo, /regenerate, /system, /save, /load, /adapter, /quit). Ctrl-C\n"
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
                    {nullptr, "--template", "FILE", "Jinja chat template to use instead of the model's (needed when it has none)", string_setter(template_file)},
                    {"-n", "--max-new-tokens", "N", "tokens per reply at most (default 512)", int_setter<int32_t>(max_new_tokens, 1, 1 << 30)},
                    {nullptr, "--max-tokens", "N", "same as --max-new-tokens (as generate spells it)", int_setter<int32_t>(max_new_tokens, 1, 1 << 30)},
                    {nullptr, "--temperature", "T", "sampling temperature, 0 = greedy (default 0.8)", float_setter(gen.sampling.temperature, 0.0, 1e6)},
                    {nullptr, "--top-k", "K", "keep the K most likely tokens, 0 = off (default " + std::to_string(gen.sampling.top_k) + ")", int_setter<int32_t>(gen.sampling.top_k, 0, std::numeric_limits<int32_t>::max())},
                    {nullptr, "--top-p", "P", "nucleus sampling, 1 = off (default " + number(gen.sampling.top_p) + ")", float_setter(gen.sampling.top_p, 0.0, 1.0, /*lo_open=*/true)},
                    {nullptr, "--min-p", "P", "drop tokens below P * p_max, 0 = off (default " + number(gen.sampling.min_p) + ")", float_setter(gen.sampling.min_p, 0.0, 1.0)},
                    {nullptr, "--repeat-penalty", "R", "repetition penalty, 1 = off (default " + number(gen.sampling.repetition_penalty) + ")", float_setter(gen.sampling.repetition_penalty, 0.0, 1e6, /*lo_open=*/true)},
                    {nullptr, "--seed", "S", "random seed: same seed, same replies (default " + std::to_string(gen.sampling.seed) + ")", int_setter<uint64_t>(gen.sampling.seed, 0, std::numeric_limits<uint64_t>::max())},
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
    krait::Model model = load_model(model_dir);
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

// ---- dispatch ----------------------------------------------------------------------

struct Subcommand {
    const char* name;
    const char* summary;
    int (*run)(int argc, char** argv, int first);
};

// New subcommands are one more row.
const Subcommand kSubcommands[] = {
    {"generate", "generate text from a prompt, streamed to stdout", cmd_generate},
    {"chat", "hold a conversation with a language model (its chat template)", cmd_chat},
    {"classify", "print the top labels of images (image classifiers)", cmd_classify},
    {"info", "print facts about a model", cmd_info},
    {"tokenize", "print the token ids of a text", cmd_tokenize},
};

void print_usage(FILE* out) {
    std::fprintf(out, "usage: krait <command> [options]\n\ncommands:\n");
    for (const Subcommand& s : kSubcommands) std::fprintf(out, "  %-10s %s\n", s.name, s.summary);
    std::fprintf(out,
                 "\n'krait <command> --help' describes a command's options.\n"
                 "'krait --version' prints the version.\n");
}

int run(int argc, char** argv) {
    if (argc < 2) {
        print_usage(stderr);
        return kExitUsage;
    }
    const std::string name = argv[1];
    if (name == "-h" || name == "--help") {
        print_usage(stdout);
        return kExitOk;
    }
    if (name == "help") {  // `krait help generate` == `krait generate --help`
        if (argc == 2) {
            print_usage(stdout);
            return kExitOk;
        }
        char help_flag[] = "--help";
        char* help_argv[] = {argv[0], argv[2], help_flag};
        for (const Subcommand& s : kSubcommands)
            if (argv[2] == std::string_view(s.name)) return s.run(3, help_argv, 2);
        std::fprintf(stderr, "krait: unknown command '%s'\n", argv[2]);
        print_usage(stderr);
        return kExitUsage;
    }
    if (name == "--version" || name == "-V") {
        std::printf("krait %s (built against krait.h %d.%d.%d)\n", krait::version_string().c_str(), KRAIT_VERSION_MAJOR,
                    KRAIT_VERSION_MINOR, KRAIT_VERSION_PATCH);
        return kExitOk;
    }
    for (const Subcommand& s : kSubcommands)
        if (name == s.name) return s.run(argc, argv, 2);
    std::fprintf(stderr, "krait: unknown command '%s'\n", name.c_str());
    print_usage(stderr);
    return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
    start_interrupt_watcher();
    // Library warnings go through the same lock as the progress bar (-v lowers the level).
    krait_set_log_callback(on_log, nullptr, KRAIT_LOG_WARN);
    try {
        krait::check_version();
        return run(argc, argv);
    } catch (const krait::Exception& e) {
        {
            std::lock_guard<std::mutex> lock(g_stderr_mutex);
            clear_bar_locked();
        }
        if (e.status() == KRAIT_ERR_CANCELLED && g_interrupted.load()) {
            std::fprintf(stderr, "krait: interrupted\n");
            return kExitInterrupted;
        }
        std::fprintf(stderr, "krait: error: %s\n", e.what());
        return kExitError;
    } catch (const std::exception& e) {  // std::bad_alloc and the like from the tool itself
        std::fprintf(stderr, "krait: error: %s\n", e.what());
        return kExitError;
    }
}
