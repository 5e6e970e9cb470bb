// krait-bench-decode: decode tokens/s of a Llama-shaped model with BF16
// weights, used as stored (BF16 in place) and upcast to F32, side by side in
// one process (same machine state), through the C ABI.
//
//   krait-bench-decode [--hidden 576] [--inter 1536] [--layers 30] [--heads 9] [--kv-heads 3]
//                      [--vocab 49152] [--threads 1] [--decode 32] [--repeats 3] [--prefill 0]
//
// The default shape is SmolLM2-135M's (random weights, written to a temporary
// directory): 135M parameters, 270 MB in BF16, 540 MB in F32, so decoding
// streams the weights from DRAM as a larger model would. Prints tokens/s of
// each and the ratio; best of --repeats runs of --decode single-token steps
// after a 16-token prefill. --prefill P also times a P-token prompt (one
// call from an empty state), best of the same runs. Last, the read bandwidth
// of DRAM and the decode bound it gives (bandwidth / weight_bytes).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "krait/krait.h"
#include "read_bandwidth.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "krait-bench-decode: %s: %s\n", what, krait_last_error());
    std::exit(1);
}

struct Shape {
    int64_t hidden = 576, inter = 1536, layers = 30, heads = 9, kv_heads = 3, vocab = 49152;
};

void write_model(const fs::path& dir, const Shape& s) {
    fs::create_directories(dir);
    std::ofstream(dir / "config.json") << "{\"model_type\": \"llama\", \"hidden_size\": " << s.hidden
                                       << ", \"intermediate_size\": " << s.inter << ", \"num_attention_heads\": "
                                       << s.heads << ", \"num_key_value_heads\": " << s.kv_heads
                                       << ", \"num_hidden_layers\": " << s.layers << ", \"vocab_size\": " << s.vocab
                                       << ", \"rms_norm_eps\": 1e-5, \"max_position_embeddings\": 2048, "
                                          "\"rope_theta\": 10000.0, \"tie_word_embeddings\": true}";
    const int64_t D = s.hidden, hd = D / s.heads, KV = s.kv_heads * hd;
    std::vector<std::pair<std::string, std::vector<int64_t>>> t = {{"model.embed_tokens.weight", {s.vocab, D}},
                                                                    {"model.norm.weight", {D}}};
    for (int64_t i = 0; i < s.layers; ++i) {
        const std::string p = "model.layers." + std::to_string(i) + ".";
        t.push_back({p + "self_attn.q_proj.weight", {D, D}});
        t.push_back({p + "self_attn.k_proj.weight", {KV, D}});
        t.push_back({p + "self_attn.v_proj.weight", {KV, D}});
        t.push_back({p + "self_attn.o_proj.weight", {D, D}});
        t.push_back({p + "mlp.gate_proj.weight", {s.inter, D}});
        t.push_back({p + "mlp.up_proj.weight", {s.inter, D}});
        t.push_back({p + "mlp.down_proj.weight", {D, s.inter}});
        t.push_back({p + "input_layernorm.weight", {D}});
        t.push_back({p + "post_attention_layernorm.weight", {D}});
    }
    std::string header = "{";
    uint64_t offset = 0;
    for (const auto& [name, shape] : t) {
        int64_t n = 1;
        std::string dims;
        for (int64_t d : shape) {  // appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "" + string
            n *= d;
            if (!dims.empty()) dims += ',';
            dims += std::to_string(d);
        }
        header += std::string(header.size() > 1 ? "," : "") + "\"" + name + "\":{\"dtype\":\"BF16\",\"shape\":[" + dims +
                  "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + 2 * n) + "]}";
        offset += 2 * static_cast<uint64_t>(n);
    }
    header += "}";
    while (header.size() % 8) header += ' ';
    std::ofstream out(dir / "model.safetensors", std::ios::binary);
    const uint64_t hn = header.size();
    out.write(reinterpret_cast<const char*>(&hn), 8);
    out.write(header.data(), static_cast<std::streamsize>(hn));
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> dist(-0.05f, 0.05f);
    for (const auto& [name, shape] : t) {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        std::vector<uint16_t> data(static_cast<size_t>(n));
        for (auto& h : data) {
            const float f = name.find("norm") != std::string::npos ? 1.0f : dist(rng);
            uint32_t bits;
            std::memcpy(&bits, &f, 4);
            h = static_cast<uint16_t>(bits >> 16);
        }
        out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(2 * n));
    }
}

// Best decode tokens/s over `repeats` runs; also returns weight_bytes and, when prefill > 0, the best
// tokens/s of a `prefill`-token prompt (one append call from an empty state).
double decode_rate(const std::string& dir, krait_weight_precision precision, int threads, int decode, int repeats,
                   int prefill, int64_t* weight_bytes, double* prefill_rate) {
    krait_model_params mp;
    krait_model_params_init(&mp);
    mp.weight_precision = precision;
    krait_model* model = nullptr;
    if (krait_model_load(dir.c_str(), &mp, &model) != KRAIT_OK) die("load");
    krait_model_info info;
    info.struct_size = sizeof info;
    krait_model_get_info(model, &info);
    *weight_bytes = info.weight_bytes;
    krait_session_params sp;
    krait_session_params_init(&sp);
    sp.n_threads = threads;
    sp.context_length = std::max(256, prefill + 64);
    krait_session* session = nullptr;
    if (krait_session_create(model, &sp, &session) != KRAIT_OK) die("session");
    std::vector<float> logits(static_cast<size_t>(info.vocab_size));
    std::vector<int32_t> prompt(16);
    for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>(i * 7 + 3);
    std::vector<int32_t> long_prompt(static_cast<size_t>(prefill));
    for (size_t i = 0; i < long_prompt.size(); ++i)
        long_prompt[i] = static_cast<int32_t>((i * 7919 + 11) % static_cast<size_t>(info.vocab_size));
    double best = 0.0;
    for (int r = 0; r < repeats; ++r) {
        if (prefill > 0) {
            krait_session_reset(session);
            const auto t0 = Clock::now();
            if (krait_session_append(session, long_prompt.data(), long_prompt.size(), logits.data(), logits.size()) !=
                KRAIT_OK)
                die("long prefill");
            const double s = std::chrono::duration<double>(Clock::now() - t0).count();
            *prefill_rate = std::max(*prefill_rate, prefill / s);
        }
        krait_session_reset(session);
        if (krait_session_append(session, prompt.data(), prompt.size(), logits.data(), logits.size()) != KRAIT_OK)
            die("prefill");
        const auto t0 = Clock::now();
        for (int i = 0; i < decode; ++i) {
            const int32_t id = static_cast<int32_t>((i * 131 + 17) % info.vocab_size);
            if (krait_session_append(session, &id, 1, logits.data(), logits.size()) != KRAIT_OK) die("decode");
        }
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        best = std::max(best, decode / s);
    }
    krait_session_free(session);
    krait_model_free(model);
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    Shape s;
    int threads = 1, decode = 32, repeats = 3, prefill = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        const long v = std::atol(argv[i + 1]);
        if (a == "--hidden") s.hidden = v;
        else if (a == "--inter") s.inter = v;
        else if (a == "--layers") s.layers = v;
        else if (a == "--heads") s.heads = v;
        else if (a == "--kv-heads") s.kv_heads = v;
        else if (a == "--vocab") s.vocab = v;
        else if (a == "--threads") threads = static_cast<int>(v);
        else if (a == "--decode") decode = static_cast<int>(v);
        else if (a == "--repeats") repeats = static_cast<int>(v);
        else if (a == "--prefill") prefill = static_cast<int>(v);
        else {
            std::fprintf(stderr, "krait-bench-decode: unknown option %s\n", a.c_str());
            return 2;
        }
    }
    const fs::path dir = fs::temp_directory_path() / ("krait_bench_decode_" + std::to_string(::getpid()));
    write_model(dir, s);
    int64_t bytes_stored = 0, bytes_f32 = 0;
    // Interleaved (stored, f32, stored, f32) so drift on a shared machine hits both.
    double stored = 0.0, f32 = 0.0, prefill_stored = 0.0, prefill_f32 = 0.0;
    for (int round = 0; round < 2; ++round) {
        stored = std::max(stored, decode_rate(dir.string(), KRAIT_WEIGHTS_STORED, threads, decode, repeats, prefill,
                                              &bytes_stored, &prefill_stored));
        f32 = std::max(f32, decode_rate(dir.string(), KRAIT_WEIGHTS_F32, threads, decode, repeats, prefill, &bytes_f32,
                                        &prefill_f32));
    }
    fs::remove_all(dir);
    // The DRAM bound: a decode step reads every weight once (the head is the tied embedding), so at most
    // bandwidth / weight_bytes steps per second.
    const double bw = krait_bench::read_bandwidth_gbs(threads);
    std::printf("{\"threads\": %d, \"layers\": %lld, \"hidden\": %lld, \"weight_bytes_bf16\": %lld, "
                "\"weight_bytes_f32\": %lld, \"decode_tok_s_bf16\": %.2f, \"decode_tok_s_f32\": %.2f, "
                "\"bf16_over_f32\": %.2f, \"read_gb_s\": %.1f, \"bound_tok_s_bf16\": %.2f, "
                "\"bound_tok_s_f32\": %.2f",
                threads, static_cast<long long>(s.layers), static_cast<long long>(s.hidden),
                static_cast<long long>(bytes_stored), static_cast<long long>(bytes_f32), stored, f32, stored / f32, bw,
                bw * 1e9 / static_cast<double>(bytes_stored), bw * 1e9 / static_cast<double>(bytes_f32));
    if (prefill > 0)
        std::printf(", \"prefill_tokens\": %d, \"prefill_tok_s_bf16\": %.1f, \"prefill_tok_s_f32\": %.1f", prefill,
                    prefill_stored, prefill_f32);
    std::printf("}\n");
    return 0;
}
