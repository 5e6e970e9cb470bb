// Shared pieces of the `krait` command-line tool (see cli_common.h).
#include "cli_common.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <limits>
#include <optional>
#include <thread>

namespace krait_cli {

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

std::mutex g_stderr_mutex;

namespace {
bool g_bar_visible = false;  // a progress line without newline is on the terminal (guarded by g_stderr_mutex)
}  // namespace

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
std::atomic<bool> g_chat_mode{false};
std::mutex g_session_mutex;
krait_session* g_session = nullptr;

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


// ---- command-line parsing -------------------------------------------------------

void print_command_usage(FILE* out, const Command& cmd) {
    std::fprintf(out, "usage: krait %s %s\n\n%s\n\noptions:\n", cmd.name, cmd.synopsis, cmd.summary);
    for (const Option& o : cmd.options) {
        std::string left = o.short_name ? std::string(o.short_name) + ", " + o.long_name : std::string("    ") + o.long_name;
        if (o.value) left += std::string(" ") + o.value;
        std::fprintf(out, "  %-26s %s\n", left.c_str(), o.help.c_str());
    }
    std::fprintf(out, "  %-26s %s\n", "-h, --help", "show this help and exit");
}

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


std::function<std::string(const std::string&)> float_setter(float& out, double lo, double hi, bool lo_open) {
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

// A float as short text: "0.5", "1.5", "2.04124".
std::string short_float(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

// ---- model loading with a progress bar ------------------------------------------

namespace {

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

}  // namespace

namespace {
// A setter for an option that takes one of two names, each standing for a value of E.
template <class E>
std::function<std::string(const std::string&)> two_choice_setter(E& out, const char* a, E va, const char* b, E vb) {
    return [&out, a, va, b, vb](const std::string& s) -> std::string {
        if (s == a) out = va;
        else if (s == b) out = vb;
        else return "'" + s + "' is neither " + a + " nor " + b;
        return "";
    };
}
}  // namespace

std::vector<Option> load_options(LoadArgs& args) {
    return {
        {nullptr, "--weights", "stored|f32",
         "F16/BF16 weights kept as stored (half the memory of F32) or upcast to F32 at load (default stored)",
         two_choice_setter(args.weights, "stored", KRAIT_WEIGHTS_STORED, "f32", KRAIT_WEIGHTS_F32)},
        {nullptr, "--matmul", "exact|bf16",
         "bf16: products with BF16 weights on 16+ rows (prompts, images) round the activations to BF16 and use "
         "the CPU's AMX or AVX512-BF16 dot products, several times faster (default exact)",
         two_choice_setter(args.matmul, "exact", KRAIT_MATMUL_EXACT, "bf16", KRAIT_MATMUL_BF16)},
    };
}

krait::Model load_model(const std::string& dir, const LoadArgs& args) {
    LoadProgress progress(dir, isatty(STDERR_FILENO) == 1);
    krait_model_params params;
    krait_model_params_init(&params);
    params.weight_precision = args.weights;
    params.matmul_precision = args.matmul;
    if (!args.preprocessor_config.empty()) params.preprocessor_config = args.preprocessor_config.c_str();
    krait::Model model = krait::Model::load(dir, params, [&progress](float f) { return progress.update(f); });
    progress.finish();
    return model;
}

// ---- LoRA adapters (--adapter DIR[=SCALE]) ----------------------------------------

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

std::vector<Option> sampling_options(krait_sampling_params& sampling, const char* seed_repeats) {
    return {
        {nullptr, "--temperature", "T", "sampling temperature, 0 = greedy (default 0.8)", float_setter(sampling.temperature, 0.0, 1e6)},
        {nullptr, "--top-k", "K", "keep the K most likely tokens, 0 = off (default " + std::to_string(sampling.top_k) + ")", int_setter<int32_t>(sampling.top_k, 0, std::numeric_limits<int32_t>::max())},
        {nullptr, "--top-p", "P", "nucleus sampling, 1 = off (default " + number(sampling.top_p) + ")", float_setter(sampling.top_p, 0.0, 1.0, /*lo_open=*/true)},
        {nullptr, "--min-p", "P", "drop tokens below P * p_max, 0 = off (default " + number(sampling.min_p) + ")", float_setter(sampling.min_p, 0.0, 1.0)},
        {nullptr, "--repeat-penalty", "R", "repetition penalty, 1 = off (default " + number(sampling.repetition_penalty) + ")", float_setter(sampling.repetition_penalty, 0.0, 1e6, /*lo_open=*/true)},
        {nullptr, "--seed", "S", std::string("random seed: same seed, same ") + seed_repeats + " (default " + std::to_string(sampling.seed) + ")", int_setter<uint64_t>(sampling.seed, 0, std::numeric_limits<uint64_t>::max())},
    };
}

void insert_options_after(Command& cmd, const char* long_name, std::vector<Option> options) {
    auto at = std::find_if(cmd.options.begin(), cmd.options.end(),
                           [&](const Option& o) { return o.long_name && std::strcmp(o.long_name, long_name) == 0; });
    if (at != cmd.options.end()) ++at;
    cmd.options.insert(at, std::make_move_iterator(options.begin()), std::make_move_iterator(options.end()));
}

}  // namespace krait_cli
