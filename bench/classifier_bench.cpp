// krait-bench-classifier: images/s of one classifier through the C ABI
// (krait_session_classifier_forward on a random model-ready tensor), for A/B
// timing of a change and for profiling (`perf record` around it) without the
// Python layer. tools/bench_vision.py is the side-by-side comparison with the
// peers; this is the quick single-engine probe.
//
//   krait-bench-classifier MODEL_DIR [--batch 16] [--calls 5] [--threads 2] [--size 224]
//
// Prints the best of --calls timed calls after one warm-up call, and the first
// logit (a change that alters the numbers shows there).
#include <krait/krait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: krait-bench-classifier MODEL_DIR [--batch B] [--calls N] [--threads T] [--size S]\n");
        return 2;
    }
    const char* dir = argv[1];
    long batch = 16, calls = 5, threads = 2, size = 224;
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        const long v = std::strtol(argv[i + 1], nullptr, 10);
        if (a == "--batch") batch = v;
        else if (a == "--calls") calls = v;
        else if (a == "--threads") threads = v;
        else if (a == "--size") size = v;
        else {
            std::fprintf(stderr, "unknown option %s\n", a.c_str());
            return 2;
        }
    }
    if (batch < 1 || calls < 1 || threads < 0 || size < 1) {
        std::fprintf(stderr, "--batch, --calls and --size must be >= 1, --threads >= 0\n");
        return 2;
    }
    krait_model* model = nullptr;
    if (krait_model_load(dir, nullptr, &model) != KRAIT_OK) {
        std::fprintf(stderr, "%s\n", krait_last_error());
        return 1;
    }
    krait_session_params sp;
    krait_session_params_init(&sp);
    sp.n_threads = static_cast<int32_t>(threads);
    krait_session* session = nullptr;
    int64_t classes = 0;
    if (krait_session_create(model, &sp, &session) != KRAIT_OK ||
        krait_session_get_num_labels(session, &classes) != KRAIT_OK) {
        std::fprintf(stderr, "%s\n", krait_last_error());
        krait_model_free(model);
        return 1;
    }
    std::vector<float> pixels(static_cast<size_t>(batch * 3 * size * size)), logits(static_cast<size_t>(batch * classes));
    std::mt19937 rng(1);
    std::normal_distribution<float> normal;
    for (float& v : pixels) v = normal(rng);
    double best = 1e30;
    int status = 0;
    for (long i = 0; i <= calls && status == 0; ++i) {  // call 0 warms up
        size_t written = 0;
        const auto t0 = std::chrono::steady_clock::now();
        if (krait_session_classifier_forward(session, pixels.data(), batch, size, size, logits.data(), logits.size(),
                                             &written) != KRAIT_OK) {
            std::fprintf(stderr, "%s\n", krait_last_error());
            status = 1;
        }
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (i > 0 && dt < best) best = dt;
    }
    if (status == 0)
        std::printf("%s: batch %ld, %ldx%ld, %ld threads: best %.2f ms per call = %.2f images/s (logit[0] %.6f)\n", dir,
                    batch, size, size, threads, best * 1e3, batch / best, logits[0]);
    krait_session_free(session);
    krait_model_free(model);
    return status;
}
