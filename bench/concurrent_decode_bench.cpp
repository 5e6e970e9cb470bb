// krait-bench-concurrent: aggregate decode tokens/s of one session alone against several sessions
// decoding at once on the same model, each on its own thread (the shared worker pool's goal: four
// sessions on a 2-core machine reach >= 0.9x the aggregate tokens/s of one session alone).
//
//   krait-bench-concurrent [-m DIR] [--sessions 4] [--threads 0] [--decode 256] [--repeats 3]
//                          [--hidden 512] [--layers 12] [--vocab 8192]
//
// Without -m it writes a random-weight Mamba model of the given shape (default ~30M parameters:
// big enough that a decode step is real work, small enough to run in seconds) to a temporary
// directory. Each session uses --threads (0 = all cores, the default sessions get). Prints one JSON
// object; best of --repeats for each configuration.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "krait/krait.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "krait-bench-concurrent: %s: %s\n", what, krait_last_error());
    std::exit(1);
}

struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    float lo, hi;  // uniform random values
};

// A Hugging Face MambaForCausalLM directory (config.json + model.safetensors, tied embeddings).
void write_random_mamba(const std::string& dir, int64_t D, int64_t layers, int64_t V) {
    const int64_t I = 2 * D, N = 16, R = (D + 15) / 16, K = 4;
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/config.json") << "{\"architectures\": [\"MambaForCausalLM\"], \"model_type\": \"mamba\", "
                                        << "\"hidden_size\": " << D << ", \"intermediate_size\": " << I
                                        << ", \"state_size\": " << N << ", \"num_hidden_layers\": " << layers
                                        << ", \"vocab_size\": " << V << ", \"time_step_rank\": " << R
                                        << ", \"conv_kernel\": " << K
                                        << ", \"expand\": 2, \"hidden_act\": \"silu\", \"layer_norm_epsilon\": 1e-05, "
                                           "\"residual_in_fp32\": true, \"tie_word_embeddings\": true, "
                                           "\"use_bias\": false, \"use_conv_bias\": true, \"eos_token_id\": 0, "
                                           "\"bos_token_id\": 0, \"pad_token_id\": 0}";
    std::vector<Tensor> ts = {{"backbone.embeddings.weight", {V, D}, -0.1f, 0.1f},
                              {"backbone.norm_f.weight", {D}, 0.9f, 1.1f}};
    for (int64_t l = 0; l < layers; ++l) {
        const std::string p = "backbone.layers." + std::to_string(l) + ".";
        ts.push_back({p + "norm.weight", {D}, 0.9f, 1.1f});
        ts.push_back({p + "mixer.A_log", {I, N}, 0.0f, 2.0f});
        ts.push_back({p + "mixer.D", {I}, 0.5f, 1.5f});
        ts.push_back({p + "mixer.conv1d.weight", {I, 1, K}, -0.5f, 0.5f});
        ts.push_back({p + "mixer.conv1d.bias", {I}, -0.1f, 0.1f});
        ts.push_back({p + "mixer.in_proj.weight", {2 * I, D}, -0.05f, 0.05f});
        ts.push_back({p + "mixer.x_proj.weight", {R + 2 * N, I}, -0.05f, 0.05f});
        ts.push_back({p + "mixer.dt_proj.weight", {I, R}, -0.1f, 0.1f});
        ts.push_back({p + "mixer.dt_proj.bias", {I}, -4.0f, -2.0f});
        ts.push_back({p + "mixer.out_proj.weight", {D, I}, -0.05f, 0.05f});
    }
    std::string header = "{";
    int64_t offset = 0;
    for (size_t i = 0; i < ts.size(); ++i) {
        int64_t n = 1;
        std::string shape;
        for (size_t d = 0; d < ts[i].shape.size(); ++d) {
            n *= ts[i].shape[d];
            if (d) shape += ',';  // piece by piece: GCC 12 warns falsely (-Wrestrict) on "" + string
            shape += std::to_string(ts[i].shape[d]);
        }
        if (i) header += ',';
        header += '"';
        header += ts[i].name;
        header += "\":{\"dtype\":\"F32\",\"shape\":[";
        header += shape;
        header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + 4 * n) + "]}";
        offset += 4 * n;
    }
    header += "}";
    while (header.size() % 8) header += ' ';
    std::ofstream out(dir + "/model.safetensors", std::ios::binary);
    const uint64_t header_size = header.size();
    out.write(reinterpret_cast<const char*>(&header_size), 8);
    out << header;
    std::mt19937 rng(7);
    for (const Tensor& t : ts) {
        int64_t n = 1;
        for (int64_t d : t.shape) n *= d;
        std::uniform_real_distribution<float> u(t.lo, t.hi);
        std::vector<float> v(static_cast<size_t>(n));
        for (float& x : v) x = u(rng);
        out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(4 * n));
    }
}

// One session's greedy decode of `decode` tokens after an 8-token prompt; returns tokens made.
size_t decode_once(krait_model* model, int threads, int decode, int which) {
    krait_session_params sp;
    krait_session_params_init(&sp);
    sp.n_threads = threads;
    krait_session* session = nullptr;
    if (krait_session_create(model, &sp, &session) != KRAIT_OK) die("session");
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    gp.max_new_tokens = decode;
    gp.stop_at_eos = 0;
    gp.sampling.temperature = 0.0f;
    std::vector<int32_t> prompt(8), out(static_cast<size_t>(decode));
    for (int i = 0; i < 8; ++i) prompt[i] = 1 + (which * 8 + i) * 37 % 1000;
    size_t n = 0;
    if (krait_session_generate(session, prompt.data(), prompt.size(), &gp, out.data(), out.size(), &n) != KRAIT_OK)
        die("generate");
    krait_session_free(session);
    return n;
}

// Aggregate tokens/s of `sessions` sessions decoding at once (each on its own thread).
double aggregate_tps(krait_model* model, int sessions, int threads, int decode) {
    std::vector<size_t> made(static_cast<size_t>(sessions));
    const auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int s = 0; s < sessions; ++s) ts.emplace_back([&, s] { made[s] = decode_once(model, threads, decode, s); });
    for (auto& t : ts) t.join();
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    size_t total = 0;
    for (size_t m : made) total += m;
    return static_cast<double>(total) / dt;
}

}  // namespace

int main(int argc, char** argv) {
    std::string dir;
    int sessions = 4, threads = 0, decode = 256, repeats = 3;
    int64_t hidden = 512, layers = 12, vocab = 8192;
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
        else if (a == "--sessions") sessions = std::stoi(next());
        else if (a == "--threads") threads = std::stoi(next());
        else if (a == "--decode") decode = std::stoi(next());
        else if (a == "--repeats") repeats = std::stoi(next());
        else if (a == "--hidden") hidden = std::stoll(next());
        else if (a == "--layers") layers = std::stoll(next());
        else if (a == "--vocab") vocab = std::stoll(next());
        else {
            std::fprintf(stderr, "usage: krait-bench-concurrent [-m DIR] [--sessions S] [--threads N] [--decode T] "
                                 "[--repeats R] [--hidden D] [--layers L] [--vocab V]\n");
            return 2;
        }
    }
    std::string made_dir;
    if (dir.empty()) {
        made_dir = (std::filesystem::temp_directory_path() / ("krait-bench-concurrent-" + std::to_string(getpid()))).string();
        write_random_mamba(made_dir, hidden, layers, vocab);
        dir = made_dir;
    }
    krait_model* model = nullptr;
    if (krait_model_load(dir.c_str(), nullptr, &model) != KRAIT_OK) die("load");
    decode_once(model, threads, 16, 0);  // warm up: pages mapped, workers started
    double one = 0, many = 0;
    for (int r = 0; r < repeats; ++r) {  // interleaved, so both see the same machine load
        one = std::max(one, aggregate_tps(model, 1, threads, decode));
        many = std::max(many, aggregate_tps(model, sessions, threads, decode));
    }
    std::printf("{\"model\": \"%s\", \"cores\": %u, \"threads_per_session\": %d, \"decode_tokens\": %d, "
                "\"one_session_tps\": %.1f, \"sessions\": %d, \"aggregate_tps\": %.1f, \"ratio\": %.3f}\n",
                made_dir.empty() ? dir.c_str() : "random mamba", std::thread::hardware_concurrency(), threads, decode,
                one, sessions, many, many / one);
    krait_model_free(model);
    if (!made_dir.empty()) std::filesystem::remove_all(made_dir);
    return 0;
}
