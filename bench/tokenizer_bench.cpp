// krait-bench-tokenizer: encode throughput (MB/s) of a tokenizer.json through the C ABI.
// The throughput figure that tests/unit/tokenizer_test.cpp used to assert on (a clock in a test is
// flaky on a loaded machine; the test now checks only the result, the speed is measured here).
//
//   krait-bench-tokenizer TOKENIZER_JSON TEXT_FILE [--mb 1] [--calls 3]
//
// Repeats TEXT_FILE (e.g. README.md) up to --mb megabytes, encodes it --calls times and prints the best
// time, the ids and MB/s. A quadratic encode shows as MB/s falling when --mb grows.
#include <krait/krait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: krait-bench-tokenizer TOKENIZER_JSON TEXT_FILE [--mb MB] [--calls N]\n");
        return 2;
    }
    double mb = 1.0;
    long calls = 3;
    for (int i = 3; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--mb") mb = std::strtod(argv[i + 1], nullptr);
        else if (a == "--calls") calls = std::strtol(argv[i + 1], nullptr, 10);
        else {
            std::fprintf(stderr, "unknown option %s\n", a.c_str());
            return 2;
        }
    }
    if (mb <= 0 || calls < 1) {
        std::fprintf(stderr, "--mb must be > 0 and --calls >= 1\n");
        return 2;
    }
    std::ifstream in(argv[2], std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string piece = ss.str();
    if (!in || piece.empty()) {
        std::fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    std::string text;
    while (text.size() < static_cast<size_t>(mb * (1 << 20))) text += piece;

    krait_tokenizer* tok = nullptr;
    if (krait_tokenizer_load(argv[1], &tok) != KRAIT_OK) {
        std::fprintf(stderr, "%s\n", krait_last_error());
        return 1;
    }
    std::vector<int32_t> ids(text.size() + 16);  // at most one id per byte (plus specials)
    size_t n = 0;
    double best = 1e30;
    for (long c = 0; c < calls; ++c) {
        const auto t0 = std::chrono::steady_clock::now();
        const krait_status st = krait_tokenizer_encode(tok, text.data(), text.size(), 0, ids.data(), ids.size(), &n);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (st != KRAIT_OK) {
            std::fprintf(stderr, "%s\n", krait_last_error());
            krait_tokenizer_free(tok);
            return 1;
        }
        if (s < best) best = s;
    }
    std::printf("encoded %zu bytes into %zu ids: best of %ld %.4f s, %.2f MB/s\n", text.size(), n, calls, best,
                text.size() / best / 1e6);
    krait_tokenizer_free(tok);
    return 0;
}
