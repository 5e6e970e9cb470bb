// krait-bench-mamba: Krait's side of the Mamba benchmark, through the C ABI.
//
//   krait-bench-mamba -m DIR [--threads N] [--prefill 1024] [--decode 64] [--repeats 3]
//
// Prints one JSON object: prefill tokens/s (one pass over a prompt of
// --prefill tokens, last-token logits), decode tokens/s (batch 1, greedy),
// and the machine's read bandwidth measured in the same process with the same
// thread count, so the decode bound (weight bytes per token / bandwidth) is
// computed from numbers taken side by side. Best of --repeats runs.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "krait/krait.h"
#include "read_bandwidth.h"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "krait-bench-mamba: %s: %s\n", what, krait_last_error());
    std::exit(1);
}

// Peak fp32 FMA rate: each thread runs 128 independent fused multiply-adds
// per iteration (enough accumulators to fill every FMA pipe).
double peak_gflops(int threads) {
    const long iters = 4'000'000;
    std::vector<std::thread> pool;
    std::vector<float> sink(threads);
    const auto t0 = Clock::now();
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            float acc[128];
            for (int k = 0; k < 128; ++k) acc[k] = 1.0f + k * 1e-3f;
            const float b = 0.999999f, c = 1e-7f;
            for (long i = 0; i < iters; ++i)
                for (int k = 0; k < 128; ++k) acc[k] = std::fma(acc[k], b, c);
            float s = 0;
            for (float a : acc) s += a;
            sink[t] = s;
        });
    }
    for (auto& th : pool) th.join();
    return 2.0 * 128 * iters * threads / seconds_since(t0) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
    std::string dir;
    int threads = 1, prefill = 1024, decode = 64, repeats = 3;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&] {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "missing value for %s\n", a.c_str());
                std::exit(2);
            }
            return std::string(argv[++i]);
        };
        if (a == "-m") dir = next();
        else if (a == "--threads") threads = std::stoi(next());
        else if (a == "--prefill") prefill = std::stoi(next());
        else if (a == "--decode") decode = std::stoi(next());
        else if (a == "--repeats") repeats = std::stoi(next());
        else {
            std::fprintf(stderr, "usage: krait-bench-mamba -m DIR [--threads N] [--prefill T] [--decode T] [--repeats R]\n");
            return 2;
        }
    }
    if (dir.empty()) {
        std::fprintf(stderr, "usage: krait-bench-mamba -m DIR [--threads N] [--prefill T] [--decode T] [--repeats R]\n");
        return 2;
    }

    krait_model* model = nullptr;
    if (krait_model_load(dir.c_str(), nullptr, &model) != KRAIT_OK) die("load");
    krait_model_info info;
    info.struct_size = sizeof info;
    krait_model_get_info(model, &info);
    krait_session_params sp;
    krait_session_params_init(&sp);
    sp.n_threads = threads;
    krait_session* session = nullptr;
    if (krait_session_create(model, &sp, &session) != KRAIT_OK) die("session");

    std::vector<int32_t> prompt(prefill);
    for (int i = 0; i < prefill; ++i) prompt[i] = (i * 7919) % static_cast<int32_t>(info.vocab_size);
    std::vector<float> logits(info.vocab_size);

    // Prefill: one parallel pass, last-token logits.
    double prefill_best = 0;
    for (int r = 0; r < repeats; ++r) {
        krait_session_reset(session);
        const auto t0 = Clock::now();
        if (krait_session_append(session, prompt.data(), prompt.size(), logits.data(), logits.size()) != KRAIT_OK)
            die("prefill");
        prefill_best = std::max(prefill_best, prefill / seconds_since(t0));
    }

    // Decode: greedy, timed from the first generated token to the last.
    struct Stamps {
        std::vector<Clock::time_point> t;
    } stamps;
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    gp.max_new_tokens = decode;
    gp.stop_at_eos = 0;
    gp.sampling.temperature = 0.0f;
    gp.on_token = [](int32_t, const char*, size_t, void* user) {
        static_cast<Stamps*>(user)->t.push_back(Clock::now());
        return 0;
    };
    gp.user_data = &stamps;
    std::vector<int32_t> out(decode);
    double decode_best = 0;
    for (int r = 0; r < repeats; ++r) {
        krait_session_reset(session);
        stamps.t.clear();
        size_t n = 0;
        if (krait_session_generate(session, prompt.data(), 8, &gp, out.data(), out.size(), &n) != KRAIT_OK) die("decode");
        const double dt = std::chrono::duration<double>(stamps.t.back() - stamps.t.front()).count();
        decode_best = std::max(decode_best, (stamps.t.size() - 1) / dt);
    }

    const double bw = krait_bench::read_bandwidth_gbs(threads, size_t{1} << 30, 5);
    const double bound = bw * 1e9 / static_cast<double>(info.weight_bytes);
    double peak = 0;
    for (int r = 0; r < 3; ++r) peak = std::max(peak, peak_gflops(threads));
    // Matrix FLOPs per prefill token: 2 per weight of every layer (embedding and
    // head excluded: only the last token's logits are computed).
    const double flops_per_token = 2.0 * static_cast<double>(info.num_parameters - info.vocab_size * info.hidden_size);
    const double prefill_gflops = prefill_best * flops_per_token / 1e9;
    std::printf(
        "{\"engine\": \"krait\", \"threads\": %d, \"prefill_tokens\": %d, \"prefill_tok_s\": %.2f, "
        "\"decode_tok_s\": %.2f, \"weight_bytes\": %lld, \"read_bandwidth_gb_s\": %.2f, "
        "\"decode_bound_tok_s\": %.2f, \"decode_fraction_of_bound\": %.3f, \"prefill_gflop_s\": %.1f, "
        "\"peak_gflop_s\": %.1f, \"prefill_fraction_of_peak\": %.3f}\n",
        threads, prefill, prefill_best, decode_best, static_cast<long long>(info.weight_bytes), bw, bound,
        decode_best / bound, prefill_gflops, peak, prefill_gflops / peak);
    krait_session_free(session);
    krait_model_free(model);
    return 0;
}
