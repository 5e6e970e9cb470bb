// krait-bench-lora: LoRA hot-swap costs through the C ABI.
//
//   krait-bench-lora -m MODEL --adapter DIR [--adapter DIR2] [--threads N] [--prefill 512] [--decode 64]
//                    [--repeats 5] [--swaps 2000]
//
// Prints one JSON object:
//   load_ms        time to load each adapter (read, check, lay out);
//   swap_us        krait_session_set_adapters latency (median, p99, max over --swaps calls,
//                  cycling {A}, {B}, {A*0.5 + B*1.5}, {});
//   decode         ms per token at batch 1, greedy, base vs adapter A active (best of --repeats,
//                  the two modes interleaved so both see the same machine state), and the overhead;
//   prefill        tokens/s over a --prefill-token prompt, base vs A.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "krait/krait.h"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "krait-bench-lora: %s: %s\n", what, krait_last_error());
    std::exit(1);
}

void check(krait_status s, const char* what) {
    if (s != KRAIT_OK) die(what);
}

// Seconds for `n_new` greedy tokens after an 8-token prompt, excluding the prompt's prefill.
double decode_seconds(krait_session* s, const std::vector<int32_t>& prompt, int n_new) {
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    gp.sampling.temperature = 0.0f;
    gp.stop_at_eos = 0;
    gp.max_new_tokens = n_new;
    std::vector<int32_t> out(static_cast<size_t>(n_new));
    size_t n = 0;
    check(krait_session_reset(s), "reset");
    auto t0 = Clock::now();
    check(krait_session_append(s, prompt.data(), prompt.size(), nullptr, 0), "append");
    const double t_prompt = seconds_since(t0);
    check(krait_session_reset(s), "reset");
    t0 = Clock::now();
    check(krait_session_generate(s, prompt.data(), prompt.size(), &gp, out.data(), out.size(), &n), "generate");
    return seconds_since(t0) - t_prompt;
}

double prefill_seconds(krait_session* s, const std::vector<int32_t>& prompt) {
    check(krait_session_reset(s), "reset");
    const auto t0 = Clock::now();
    check(krait_session_append(s, prompt.data(), prompt.size(), nullptr, 0), "append");
    return seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
    std::string model_dir;
    std::vector<std::string> adapter_dirs;
    int threads = 0, prefill = 512, decode = 64, repeats = 5, swaps = 2000;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "krait-bench-lora: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "-m") model_dir = next();
        else if (a == "--adapter") adapter_dirs.push_back(next());
        else if (a == "--threads") threads = std::atoi(next());
        else if (a == "--prefill") prefill = std::atoi(next());
        else if (a == "--decode") decode = std::atoi(next());
        else if (a == "--repeats") repeats = std::atoi(next());
        else if (a == "--swaps") swaps = std::atoi(next());
        else {
            std::fprintf(stderr, "usage: krait-bench-lora -m MODEL --adapter DIR [--adapter DIR2] [--threads N] "
                                 "[--prefill T] [--decode T] [--repeats R] [--swaps S]\n");
            return 2;
        }
    }
    if (model_dir.empty() || adapter_dirs.empty()) {
        std::fprintf(stderr, "krait-bench-lora: -m MODEL and --adapter DIR are required\n");
        return 2;
    }

    krait_model* model = nullptr;
    check(krait_model_load(model_dir.c_str(), nullptr, &model), "load model");
    krait_model_info info{};
    info.struct_size = sizeof info;
    check(krait_model_get_info(model, &info), "info");

    std::vector<krait_adapter*> adapters;
    std::vector<double> load_ms;
    for (const auto& dir : adapter_dirs) {
        krait_adapter* a = nullptr;
        const auto t0 = Clock::now();
        check(krait_adapter_load(model, dir.c_str(), nullptr, &a), dir.c_str());
        load_ms.push_back(seconds_since(t0) * 1e3);
        adapters.push_back(a);
    }
    krait_adapter_info ainfo{};
    ainfo.struct_size = sizeof ainfo;
    check(krait_adapter_get_info(adapters[0], &ainfo), "adapter info");

    krait_session_params sp;
    krait_session_params_init(&sp);
    sp.n_threads = threads;
    krait_session* session = nullptr;
    check(krait_session_create(model, &sp, &session), "session");

    // Swap latency: cycle through four sets.
    const krait_adapter* a = adapters[0];
    const krait_adapter* b = adapters.size() > 1 ? adapters[1] : adapters[0];
    const krait_adapter* sets[4][2] = {{a, nullptr}, {b, nullptr}, {a, b}, {nullptr, nullptr}};
    const float scales[4][2] = {{1, 1}, {1, 1}, {0.5f, 1.5f}, {1, 1}};
    const size_t counts[4] = {1, 1, 2, 0};
    std::vector<double> swap_us;
    for (int i = 0; i < swaps; ++i) {
        const int k = i % 4;
        const auto t0 = Clock::now();
        check(krait_session_set_adapters(session, sets[k], scales[k], counts[k]), "set_adapters");
        swap_us.push_back(seconds_since(t0) * 1e6);
    }
    std::sort(swap_us.begin(), swap_us.end());
    auto pct = [&](double q) { return swap_us[static_cast<size_t>(q * static_cast<double>(swap_us.size() - 1))]; };

    std::vector<int32_t> short_prompt(8), long_prompt(static_cast<size_t>(prefill));
    for (size_t i = 0; i < short_prompt.size(); ++i) short_prompt[i] = static_cast<int32_t>((i * 7919) % info.vocab_size);
    for (size_t i = 0; i < long_prompt.size(); ++i) long_prompt[i] = static_cast<int32_t>((i * 7919) % info.vocab_size);

    const krait_adapter* only_a[] = {a};
    double best_base = 1e30, best_lora = 1e30, best_pre_base = 1e30, best_pre_lora = 1e30;
    decode_seconds(session, short_prompt, 4);  // warm-up
    for (int r = 0; r < repeats; ++r) {
        check(krait_session_set_adapters(session, nullptr, nullptr, 0), "set base");
        best_base = std::min(best_base, decode_seconds(session, short_prompt, decode));
        best_pre_base = std::min(best_pre_base, prefill_seconds(session, long_prompt));
        check(krait_session_set_adapters(session, only_a, nullptr, 1), "set A");
        best_lora = std::min(best_lora, decode_seconds(session, short_prompt, decode));
        best_pre_lora = std::min(best_pre_lora, prefill_seconds(session, long_prompt));
    }
    const double per_tok_base = best_base / (decode - 1) * 1e3, per_tok_lora = best_lora / (decode - 1) * 1e3;

    std::printf("{\"engine\": \"krait\", \"threads\": %d, \"adapter_rank\": %d, \"adapter_targets\": %lld, "
                "\"adapter_parameters\": %lld,\n",
                threads, ainfo.max_rank, static_cast<long long>(ainfo.num_targets),
                static_cast<long long>(ainfo.num_parameters));
    std::printf(" \"load_ms\": [");
    for (size_t i = 0; i < load_ms.size(); ++i) std::printf("%s%.2f", i ? ", " : "", load_ms[i]);
    std::printf("],\n \"swap_us\": {\"median\": %.2f, \"p99\": %.2f, \"max\": %.2f, \"count\": %d},\n", pct(0.5),
                pct(0.99), swap_us.back(), swaps);
    std::printf(" \"decode_ms_per_token\": {\"base\": %.3f, \"lora\": %.3f, \"overhead_pct\": %.2f},\n", per_tok_base,
                per_tok_lora, (per_tok_lora / per_tok_base - 1.0) * 100.0);
    std::printf(" \"prefill_tok_s\": {\"base\": %.1f, \"lora\": %.1f, \"overhead_pct\": %.2f}}\n",
                prefill / best_pre_base, prefill / best_pre_lora, (best_pre_lora / best_pre_base - 1.0) * 100.0);

    krait_session_free(session);
    for (auto* ad : adapters) krait_adapter_free(ad);
    krait_model_free(model);
    return 0;
}
