// krait generate: generated text streamed to stdout, statistics to stderr.
#include "cli_common.h"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace krait_cli {

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
    LoadArgs load_args;

    Command cmd{"generate", "-m DIR -p TEXT [options]",
                "Generates text after TEXT and streams it to stdout; statistics go to stderr.",
                {
                    {"-m", "--model", "DIR", "model directory (config.json, *.safetensors, tokenizer.json)", string_setter(model_dir)},
                    {"-p", "--prompt", "TEXT", "the prompt", string_setter(prompt)},
                    {"-n", "--max-tokens", "N", "tokens to generate at most (default 64)", int_setter<int32_t>(max_new_tokens, 1, 1 << 30)},
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
    insert_options_after(cmd, "--max-tokens", sampling_options(gen.sampling, "text"));
    insert_options_after(cmd, "--context-length", load_options(load_args));
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
    krait::Model model = load_model(model_dir, load_args);
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

}  // namespace krait_cli
