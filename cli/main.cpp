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
//
// This file holds the subcommand table, the usage and main(); each subcommand is
// in cli/cmd_<name>.cpp and the pieces they share are in cli/cli_common.h.
#include <cstdio>
#include <exception>
#include <mutex>
#include <string>
#include <string_view>

#include "cli_common.h"

using namespace krait_cli;

namespace {

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
