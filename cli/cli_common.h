// Pieces of the `krait` command-line tool shared by its subcommands: exit codes,
// timing and number formatting, stderr (log callback, progress bar), Ctrl-C
// handling, option parsing and usage, model loading and LoRA adapter arguments.
// Each subcommand lives in its own cli/cmd_<name>.cpp; cli/main.cpp dispatches.
#pragma once

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include "krait/krait.hpp"

namespace krait_cli {

// ---- exit codes and time ------------------------------------------------------

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 130;  // 128 + SIGINT, as shells report it

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b);

// "12.3 ms" below a second, "4.56 s" above: readable for tiny and large models alike.
std::string duration_text(double seconds);

// ---- stderr shared by the progress bar and the log callback ------------------

// The log callback may run on library threads while the progress bar is drawn
// on the main thread: one lock keeps their lines apart.
extern std::mutex g_stderr_mutex;

// Erases a progress bar left on the terminal; the caller holds g_stderr_mutex.
void clear_bar_locked();

// The library's log callback: "krait: <level>: <message>" on stderr.
void on_log(krait_log_level level, const char* message, void*);

// ---- Ctrl-C -------------------------------------------------------------------

extern std::atomic<bool> g_interrupted;
// `krait chat`: a Ctrl-C stops the reply in progress and the chat goes on (the loop clears
// g_interrupted after each reply); it never ends the process.
extern std::atomic<bool> g_chat_mode;
extern std::mutex g_session_mutex;  // guards g_session against the watcher using a freed session
extern krait_session* g_session;

// Must run before any other thread exists, so that every thread (the SDK's
// workers included) inherits the blocked mask and only the watcher sees SIGINT.
void start_interrupt_watcher();

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

// --temperature, --top-k, --top-p, --min-p, --repeat-penalty and --seed, setting `sampling` (whose
// values are the defaults shown); `seed_repeats` names what one seed reproduces ("text", "replies").
std::vector<Option> sampling_options(krait_sampling_params& sampling, const char* seed_repeats);
// Inserts `options` after the option called `long_name` (at the end if there is none).
void insert_options_after(Command& cmd, const char* long_name, std::vector<Option> options);

// The --help text of a subcommand.
void print_command_usage(FILE* out, const Command& cmd);

enum class ParseResult { ok, help, usage_error };

// Parses argv[first..argc) against cmd.options. Accepts "-x VALUE", "--long VALUE"
// and "--long=VALUE". Prints the usage on error or --help.
ParseResult parse_options(const Command& cmd, int argc, char** argv, int first);

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

// A finite number within [lo, hi] (or (lo, hi] with lo_open).
std::function<std::string(const std::string&)> float_setter(float& out, double lo, double hi, bool lo_open = false);
std::function<std::string(const std::string&)> string_setter(std::string& out);
std::function<std::string(const std::string&)> flag_setter(bool& out);

// Reports a missing required option; returns the usage exit code.
int missing(const Command& cmd, const char* what);

// A float as the shortest text that reads back the same in help messages ("0.95", "1").
std::string number(float v);

// A float as short text: "0.5", "1.5", "2.04124".
std::string short_float(double v);

// ---- model loading with a progress bar ------------------------------------------

// How the model keeps and multiplies its weights (krait_model_params): --weights stored|f32 and
// --matmul exact|bf16, shared by the commands that load a model for inference.
struct LoadArgs {
    krait_weight_precision weights = KRAIT_WEIGHTS_STORED;
    krait_matmul_precision matmul = KRAIT_MATMUL_EXACT;
    std::string preprocessor_config;  // JSON text (classify --preprocessor-config FILE); empty = the model's files
};
std::vector<Option> load_options(LoadArgs& args);

// Loads a model with a progress bar on a terminal (milestones for large models
// otherwise); a Ctrl-C cancels the load.
krait::Model load_model(const std::string& dir, const LoadArgs& args = {});

// ---- LoRA adapters (--adapter DIR[=SCALE]) ----------------------------------------

struct AdapterArg {
    std::string dir;
    float scale = 1.0f;
};

inline const char* const kAdapterHelp =
    "PEFT LoRA adapter folder to apply, scaled by SCALE (default 1); repeatable: they add up";

// DIR[=SCALE]: the text after the last '=' is the scale when it reads as a number. A folder whose
// own name holds '=' is taken whole when it exists; otherwise a bad scale is reported as such.
std::function<std::string(const std::string&)> adapter_setter(std::vector<AdapterArg>& out);

// Loads each adapter for `model` (timed one by one) and makes them active on `session` (the swap,
// timed alone). Returns the adapters, which must live as long as the caller uses their labels,
// and the lines to print on stderr with the run's statistics.
std::vector<krait::Adapter> apply_adapters(const krait::Model& model, krait::Session& session,
                                           const std::vector<AdapterArg>& args, std::vector<std::string>& report);

// ---- subcommands (cli/cmd_<name>.cpp) ---------------------------------------------

// Each runs `krait <name>` on argv[first..argc) and returns the exit code.
int cmd_generate(int argc, char** argv, int first);
int cmd_chat(int argc, char** argv, int first);
int cmd_classify(int argc, char** argv, int first);
int cmd_info(int argc, char** argv, int first);
int cmd_tokenize(int argc, char** argv, int first);

}  // namespace krait_cli
