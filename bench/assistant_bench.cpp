// krait-bench-assistant: the four latencies of a vision-language assistant (LLaVA,
// KRAIT_MODEL_ASSISTANT) at batch 1, through the C ABI.
//
//   krait-bench-assistant -m LLAVA_DIR [--threads N] [--weights stored|f32] [--matmul exact|bf16] [--text-tokens 30]
//                         [--decode 32] [--repeats 3] [--second-tokens 15] [--seed 1]
//
// Inputs are random: one image of model-ready pixels [1, 3, H, W] (H, W from krait_model_info
// image_height / image_width) and random text ids (never the image token). The prompt is 5 text
// tokens, the image (image_rows copies of image_token_id), then --text-tokens text tokens, as
// LlavaProcessor writes "USER: <image>\n... ASSISTANT:". Measured, best of --repeats:
//   * encode ms: krait_session_encode_images of the one image (vision tower + projector);
//   * TTFT ms: krait_session_reset, krait_session_append_images of the whole prompt with the
//     image (logits after the last token), argmax: encode + prefill + first token;
//   * decode tokens/s: krait_session_generate (empty prompt: it continues the context; greedy,
//     stop_at_eos 0) of --decode tokens; the first comes from the prompt's logits, each later one
//     needs one forward pass, so the rate is (decode - 1) / time: single-token steps per second;
//   * second-question TTFT ms: after that reply, krait_session_append of --second-tokens new text
//     tokens (the KV cache keeps the image and the first turn; generate leaves its last token
//     pending, so the pass holds it too) with logits, argmax.
// Prints one machine-readable JSON line (starting with {"bench": "assistant") and a table.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "krait/krait.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "krait-bench-assistant: %s: %s\n", what, krait_last_error());
    std::exit(1);
}

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

int32_t argmax(const std::vector<float>& v) {
    return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

void usage() {
    std::fprintf(stderr,
                 "usage: krait-bench-assistant -m LLAVA_DIR [--threads N] [--weights stored|f32] [--matmul exact|bf16] "
                 "[--text-tokens 30] [--decode 32] [--repeats 3] [--second-tokens 15] [--seed 1]\n");
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    std::string dir;
    int32_t threads = 0;
    int text_tokens = 30, decode = 32, repeats = 3, second_tokens = 15;
    const int prefix_tokens = 5;
    unsigned seed = 1;
    krait_weight_precision precision = KRAIT_WEIGHTS_STORED;
    krait_matmul_precision matmul = KRAIT_MATMUL_EXACT;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const auto next = [&] {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "krait-bench-assistant: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return std::string(argv[++i]);
        };
        if (a == "-m" || a == "--model") dir = next();
        else if (a == "--threads") threads = std::atoi(next().c_str());
        else if (a == "--weights") {
            const std::string w = next();
            if (w == "stored") precision = KRAIT_WEIGHTS_STORED;
            else if (w == "f32") precision = KRAIT_WEIGHTS_F32;
            else usage();
        } else if (a == "--matmul") {
            const std::string w = next();
            if (w == "exact") matmul = KRAIT_MATMUL_EXACT;
            else if (w == "bf16") matmul = KRAIT_MATMUL_BF16;
            else usage();
        } else if (a == "--text-tokens") text_tokens = std::max(0, std::atoi(next().c_str()));
        else if (a == "--decode") decode = std::max(2, std::atoi(next().c_str()));
        else if (a == "--repeats") repeats = std::max(1, std::atoi(next().c_str()));
        else if (a == "--second-tokens") second_tokens = std::max(1, std::atoi(next().c_str()));
        else if (a == "--seed") seed = static_cast<unsigned>(std::atoi(next().c_str()));
        else usage();
    }
    if (dir.empty()) usage();

    krait_model_params mp;
    krait_model_params_init(&mp);
    mp.weight_precision = precision;
    mp.matmul_precision = matmul;
    krait_model* model = nullptr;
    const auto t_load = Clock::now();
    if (krait_model_load(dir.c_str(), &mp, &model) != KRAIT_OK) die("load");
    const double load_ms = ms_since(t_load);
    krait_model_info info;
    info.struct_size = sizeof info;
    if (krait_model_get_info(model, &info) != KRAIT_OK) die("info");
    if (info.kind != KRAIT_MODEL_ASSISTANT) {
        std::fprintf(stderr, "krait-bench-assistant: %s is not an assistant (LLaVA) model\n", dir.c_str());
        return 1;
    }
    const int64_t H = info.image_height, W = info.image_width, rows = info.image_rows;
    const int32_t image_token = info.image_token_id;

    // Random inputs: pixels roughly as CLIP's normalisation leaves them, text ids anywhere but the image token.
    std::mt19937 rng(seed);
    std::vector<float> pixels(static_cast<size_t>(3 * H * W));
    std::normal_distribution<float> px(0.0f, 1.0f);
    for (float& p : pixels) p = px(rng);
    std::uniform_int_distribution<int32_t> tok(3, static_cast<int32_t>(info.vocab_size) - 1);
    const auto text_id = [&] {
        for (;;) {
            const int32_t id = tok(rng);
            if (id != image_token) return id;
        }
    };
    std::vector<int32_t> prompt;
    for (int i = 0; i < prefix_tokens; ++i) prompt.push_back(text_id());
    prompt.insert(prompt.end(), static_cast<size_t>(rows), image_token);
    for (int i = 0; i < text_tokens; ++i) prompt.push_back(text_id());
    std::vector<int32_t> second(static_cast<size_t>(second_tokens));
    for (int32_t& id : second) id = text_id();

    krait_session_params sp;
    krait_session_params_init(&sp);
    sp.n_threads = threads;
    sp.context_length = static_cast<int64_t>(prompt.size()) + decode + second_tokens + 64;
    krait_session* session = nullptr;
    if (krait_session_create(model, &sp, &session) != KRAIT_OK) die("session");

    size_t n_feat = 0;
    if (krait_session_encode_images(session, pixels.data(), 1, H, W, nullptr, 0, &n_feat) != KRAIT_OK)
        die("encode size query");
    std::vector<float> features(n_feat);
    std::vector<float> logits(static_cast<size_t>(info.vocab_size));
    std::vector<int32_t> out(static_cast<size_t>(decode));
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    gp.max_new_tokens = decode;
    gp.sampling.temperature = 0.0f;
    gp.stop_at_eos = 0;

    const double inf = std::numeric_limits<double>::infinity();
    double encode_ms = inf, ttft_ms = inf, second_ms = inf, decode_rate = 0.0;
    std::vector<double> all_encode, all_ttft, all_decode, all_second;
    int32_t first = -1, second_first = -1;
    for (int r = 0; r < repeats; ++r) {
        auto t0 = Clock::now();
        size_t n = 0;
        if (krait_session_encode_images(session, pixels.data(), 1, H, W, features.data(), features.size(), &n) !=
            KRAIT_OK)
            die("encode");
        all_encode.push_back(ms_since(t0));

        t0 = Clock::now();
        if (krait_session_reset(session) != KRAIT_OK) die("reset");
        if (krait_session_append_images(session, prompt.data(), prompt.size(), pixels.data(), 1, H, W, logits.data(),
                                        logits.size()) != KRAIT_OK)
            die("append_images");
        first = argmax(logits);
        all_ttft.push_back(ms_since(t0));

        t0 = Clock::now();
        if (krait_session_generate(session, nullptr, 0, &gp, out.data(), out.size(), &n) != KRAIT_OK) die("generate");
        const double s = ms_since(t0) / 1e3;
        if (n != static_cast<size_t>(decode)) {
            std::fprintf(stderr, "krait-bench-assistant: generated %zu of %d tokens\n", n, decode);
            return 1;
        }
        if (out[0] != first) {
            std::fprintf(stderr, "krait-bench-assistant: greedy first token %d != argmax %d\n", out[0], first);
            return 1;
        }
        all_decode.push_back((decode - 1) / s);

        t0 = Clock::now();
        if (krait_session_append(session, second.data(), second.size(), logits.data(), logits.size()) != KRAIT_OK)
            die("second question");
        second_first = argmax(logits);
        all_second.push_back(ms_since(t0));

        encode_ms = std::min(encode_ms, all_encode.back());
        ttft_ms = std::min(ttft_ms, all_ttft.back());
        decode_rate = std::max(decode_rate, all_decode.back());
        second_ms = std::min(second_ms, all_second.back());
    }

    const auto list = [](const std::vector<double>& v) {
        std::string s = "[";
        for (size_t i = 0; i < v.size(); ++i) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%s%.3f", i ? ", " : "", v[i]);
            s += buf;
        }
        s += "]";
        return s;
    };
    std::printf(
        "{\"bench\": \"assistant\", \"krait\": \"%s\", \"kernels\": \"%s\", \"threads\": %d, \"weights\": \"%s\", "
        "\"source_dtype\": \"%s\", \"weight_bytes\": %lld, \"load_ms\": %.1f, \"image\": [%lld, %lld], "
        "\"image_rows\": %lld, \"prompt_tokens\": %zu, \"decode_tokens\": %d, \"second_tokens\": %d, \"repeats\": %d, "
        "\"encode_ms\": %.3f, \"ttft_ms\": %.3f, \"decode_tok_s\": %.4f, \"second_ttft_ms\": %.3f, "
        "\"first_token\": %d, \"second_first_token\": %d, \"all_encode_ms\": %s, \"all_ttft_ms\": %s, "
        "\"all_decode_tok_s\": %s, \"all_second_ttft_ms\": %s}\n",
        krait_version_string(), krait_cpu_kernels(), threads, precision == KRAIT_WEIGHTS_F32 ? "f32" : "stored",
        info.source_dtype, static_cast<long long>(info.weight_bytes), load_ms, static_cast<long long>(H),
        static_cast<long long>(W), static_cast<long long>(rows), prompt.size(), decode, second_tokens, repeats,
        encode_ms, ttft_ms, decode_rate, second_ms, first, second_first, list(all_encode).c_str(),
        list(all_ttft).c_str(), list(all_decode).c_str(), list(all_second).c_str());

    std::printf("\n%s (%s, weights %s, %d threads, best of %d)\n", dir.c_str(), info.source_dtype,
                precision == KRAIT_WEIGHTS_F32 ? "f32" : "stored", threads, repeats);
    std::printf("prompt: %d text + %lld image rows (%lldx%lld) + %d text = %zu tokens; decode %d; second question %d "
                "tokens; load %.0f ms, weights %.2f GB\n",
                prefix_tokens, static_cast<long long>(rows), static_cast<long long>(H), static_cast<long long>(W),
                text_tokens, prompt.size(), decode, second_tokens, load_ms, info.weight_bytes / 1e9);
    std::printf("| measure | value |\n|---|---:|\n");
    std::printf("| image encode (ms) | %.1f |\n", encode_ms);
    std::printf("| TTFT: encode + prefill + first token (ms) | %.1f |\n", ttft_ms);
    std::printf("| decode (tokens/s) | %.2f |\n", decode_rate);
    std::printf("| second-question TTFT (ms) | %.1f |\n", second_ms);
    std::printf("| second / first TTFT | %.1f%% |\n", 100.0 * second_ms / ttft_ms);

    krait_session_free(session);
    krait_model_free(model);
    return 0;
}
