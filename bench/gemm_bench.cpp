// krait-bench-gemm: one-thread fp32 GEMM rates, Eigen (kernels::linear, which
// repacks W on every call) against the prepacked kernels::gemm_packed, on the
// shapes of Krait's image classifiers, next to the core's peak FMA rate.
// With --conv: MambaVision's 3x3 ConvBlock convolutions instead, im2col + packed
// GEMM against Winograd F(4x4, 3x3) (kernels/cpu/winograd), one image, one thread.
// With --decode: M = 1 (one decode step) on Llama-shaped layers, the weights
// streamed from DRAM (enough copies to pass 256 MB per engine, used in turn):
// F32 panels, BF16 panels (gemm_packed on pack_weights_half), BF16 rows read
// in place by linear_half, next to the bound of the measured read bandwidth.
// With --bf16: many-row products with BF16 weights (prompt prefill, ViT) on
// F32 panels, BF16 panels (exact: widened, F32 activations) and BF16 dot
// products (KRAIT_MATMUL_BF16: activations rounded to BF16) through each unit
// the CPU has (VDPBF16PS, AMX), next to the F32 FMA peak and the AMX peak
// (a register-only TDPBF16PS loop), and the largest difference from exact.
//
//   krait-bench-gemm [--repeats 7] [--min-ms 150] [--only vit|mv] [--shape M,K,N] [--packed-only]
//                    [--threads T] [--conv] [--decode] [--bf16]
//
// --threads T splits N over T std::threads (panel-aligned, gemm_split) for
// both engines; the default and the reference numbers are one thread.
//
// Each shape is timed `repeats` times per engine, the two engines interleaved
// (so a burst of load from other users hits both), each timing running whole
// calls for at least --min-ms; the best rate is kept. The peak is a tight
// register-only FMA loop (the physical bound of one core). The load average
// is printed before and after: on a shared machine, rates are only as good as
// the idle core they ran on.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>  // the AMX intrinsics (each loop carries its own target)
#endif

#include "kernels/cpu/dispatch.h"
#include "sdk/core/thread_pool.h"
#include "sdk/models/blocks.h"
#include "read_bandwidth.h"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string load_average() {
    std::ifstream f("/proc/loadavg");
    std::string a, b, c;
    f >> a >> b >> c;
    return a.empty() ? "n/a" : a + " " + b + " " + c;
}

// Peak fp32 FMA rate of one core for the kernel variant in use (the bench
// is compiled for baseline x86-64 like the library, so each loop carries its
// own target): independent FMA chains held in registers (24 x 16-wide with
// AVX-512, 12 x 8-wide with AVX2: more than latency x throughput = 4 x 2 on
// current cores), no memory traffic at all. The portable variant: a plain
// loop the compiler vectorises as it can.
#if defined(__x86_64__)
__attribute__((target("avx512f"))) double fma_loop_avx512(long n) {
    const long iters = n;
    // Written in assembly so the compiler can neither spill the accumulators
    // nor fold the chains: zmm0..zmm23 += zmm30 * zmm31, all zeros (no
    // denormal slow paths).
#define KRAIT_FMA1(a) "vfmadd231ps %%zmm30, %%zmm31, %%zmm" #a "\n\t"
#define KRAIT_FMA4(a, b, c, d) KRAIT_FMA1(a) KRAIT_FMA1(b) KRAIT_FMA1(c) KRAIT_FMA1(d)
    __asm__ volatile(
        "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
        "vmovaps %%zmm0, %%zmm1\n\tvmovaps %%zmm0, %%zmm2\n\tvmovaps %%zmm0, %%zmm3\n\t"
        "vmovaps %%zmm0, %%zmm4\n\tvmovaps %%zmm0, %%zmm5\n\tvmovaps %%zmm0, %%zmm6\n\t"
        "vmovaps %%zmm0, %%zmm7\n\tvmovaps %%zmm0, %%zmm8\n\tvmovaps %%zmm0, %%zmm9\n\t"
        "vmovaps %%zmm0, %%zmm10\n\tvmovaps %%zmm0, %%zmm11\n\tvmovaps %%zmm0, %%zmm12\n\t"
        "vmovaps %%zmm0, %%zmm13\n\tvmovaps %%zmm0, %%zmm14\n\tvmovaps %%zmm0, %%zmm15\n\t"
        "vmovaps %%zmm0, %%zmm16\n\tvmovaps %%zmm0, %%zmm17\n\tvmovaps %%zmm0, %%zmm18\n\t"
        "vmovaps %%zmm0, %%zmm19\n\tvmovaps %%zmm0, %%zmm20\n\tvmovaps %%zmm0, %%zmm21\n\t"
        "vmovaps %%zmm0, %%zmm22\n\tvmovaps %%zmm0, %%zmm23\n\tvmovaps %%zmm0, %%zmm30\n\t"
        "vmovaps %%zmm0, %%zmm31\n\t"
        "1:\n\t" KRAIT_FMA4(0, 1, 2, 3) KRAIT_FMA4(4, 5, 6, 7) KRAIT_FMA4(8, 9, 10, 11)
            KRAIT_FMA4(12, 13, 14, 15) KRAIT_FMA4(16, 17, 18, 19) KRAIT_FMA4(20, 21, 22, 23)
        "dec %0\n\tjnz 1b\n\t"
        "vzeroupper"
        : "+r"(n)
        :
        : "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
          "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22",
          "xmm23", "xmm30", "xmm31");
#undef KRAIT_FMA4
#undef KRAIT_FMA1
    return 2.0 * 16 * 24 * iters;
}

__attribute__((target("avx2,fma"))) double fma_loop_avx2(long n) {
    const long iters = n;
    // The same with ymm0..ymm11 += ymm14 * ymm15 (12 chains, 16 registers).
#define KRAIT_FMA1(a) "vfmadd231ps %%ymm14, %%ymm15, %%ymm" #a "\n\t"
#define KRAIT_FMA4(a, b, c, d) KRAIT_FMA1(a) KRAIT_FMA1(b) KRAIT_FMA1(c) KRAIT_FMA1(d)
    __asm__ volatile(
        "vpxor %%ymm0, %%ymm0, %%ymm0\n\t"
        "vmovaps %%ymm0, %%ymm1\n\tvmovaps %%ymm0, %%ymm2\n\tvmovaps %%ymm0, %%ymm3\n\t"
        "vmovaps %%ymm0, %%ymm4\n\tvmovaps %%ymm0, %%ymm5\n\tvmovaps %%ymm0, %%ymm6\n\t"
        "vmovaps %%ymm0, %%ymm7\n\tvmovaps %%ymm0, %%ymm8\n\tvmovaps %%ymm0, %%ymm9\n\t"
        "vmovaps %%ymm0, %%ymm10\n\tvmovaps %%ymm0, %%ymm11\n\tvmovaps %%ymm0, %%ymm14\n\t"
        "vmovaps %%ymm0, %%ymm15\n\t"
        "1:\n\t" KRAIT_FMA4(0, 1, 2, 3) KRAIT_FMA4(4, 5, 6, 7) KRAIT_FMA4(8, 9, 10, 11)
        "dec %0\n\tjnz 1b\n\t"
        "vzeroupper"
        : "+r"(n)
        :
        : "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
          "xmm14", "xmm15");
#undef KRAIT_FMA4
#undef KRAIT_FMA1
    return 2.0 * 8 * 12 * iters;
}

#endif

double fma_loop_portable(long n) {
    float sink = 0;
    float acc[128];
    for (int k = 0; k < 128; ++k) acc[k] = 1.0f + k * 1e-3f;
    const float b = 0.999999f, c = 1e-7f;
    for (long i = 0; i < n / 8; ++i)
        for (int k = 0; k < 128; ++k) acc[k] = std::fma(acc[k], b, c);
    for (float a : acc) sink += a;
    if (sink == 12345.0f) std::printf(" ");  // keep the result alive
    return 2.0 * 128 * (n / 8);
}

double peak_gflops() {
    const long iters = 20'000'000;
    const auto t0 = Clock::now();
    double flops;
    switch (krait::kernels::active().variant) {
#if defined(__x86_64__)
        case krait::kernels::CpuVariant::avx512: flops = fma_loop_avx512(iters); break;
        case krait::kernels::CpuVariant::avx2: flops = fma_loop_avx2(iters); break;
#endif
        default: flops = fma_loop_portable(iters); break;
    }
    return flops / seconds_since(t0) / 1e9;
}

struct Shape {
    const char* model;
    const char* layer;
    int64_t M, K, N;
};

// Runs fn as whole calls for at least min_s; returns seconds per call.
template <typename Fn>
double time_per_call(Fn&& fn, double min_s) {
    fn();  // warm the caches and the page tables
    long calls = 0;
    const auto t0 = Clock::now();
    double dt = 0;
    do {
        fn();
        ++calls;
        dt = seconds_since(t0);
    } while (dt < min_s);
    return dt / calls;
}

// Runs fn(n_begin, n_end) over [0, N) split into `threads` panel-aligned
// parts, as a model's thread pool would (the caller runs part 0).
template <typename Fn>
void split_run(int threads, int64_t N, Fn&& fn) {
    using krait::kernels::gemm_split;
    if (threads <= 1) return fn(int64_t{0}, N);
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t)
        pool.emplace_back([&, t] { fn(gemm_split(N, threads, t), gemm_split(N, threads, t + 1)); });
    fn(gemm_split(N, threads, 0), gemm_split(N, threads, 1));
    for (auto& th : pool) th.join();
}

// 3x3 / stride 1 / padding 1 convolutions of one image on one thread: the im2col
// path and the Winograd path of run_conv2d. "GFLOP/s" counts the direct
// convolution's 2 * 9 * C_in * C_out * H * W for both, so Winograd's figure is
// the rate a direct convolution would need to match it.
void bench_convs(int repeats, double min_s, double peak) {
    struct ConvShape {
        const char* model;
        const char* layer;
        int64_t channels, size;
    };
    const ConvShape shapes[] = {
        {"mv-t", "level 1 (56x56)", 80, 56},  {"mv-t", "level 2 (28x28)", 160, 28},
        {"mv-b", "level 1 (56x56)", 128, 56}, {"mv-b", "level 2 (28x28)", 256, 28},
        {"demo", "level 1 (8x8)", 24, 8},     {"demo", "level 2 (4x4)", 48, 4},
    };
    std::printf("%-5s %-16s %5s %5s | %9s %8s | %9s %8s | %7s | %9s\n", "model", "conv 3x3", "C", "HxW", "im2col",
                "of peak", "winograd", "of peak", "speedup", "max|diff|");
    std::mt19937 rng(43);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    krait::ThreadPool pool(1);
    for (const ConvShape& s : shapes) {
        const int64_t C = s.channels, H = s.size;
        std::vector<float> x(static_cast<size_t>(C * H * H)), w(static_cast<size_t>(C * C * 9)), b(static_cast<size_t>(C));
        for (float& v : x) v = dist(rng);
        for (float& v : w) v = dist(rng) * 0.05f;
        for (float& v : b) v = dist(rng);
        const krait::kernels::Winograd43Weights wino = krait::kernels::winograd43_pack(w.data(), C, C);
        std::vector<float> y_im2col(x.size()), y_wino(x.size()), scratch;
        krait::Conv2dWeights conv{w.data(), b.data(), C, C, 3, 3, 1, 1, 1};
        const auto run_im2col = [&] { krait::run_conv2d(pool, conv, x.data(), 1, H, H, y_im2col.data(), scratch); };
        krait::Conv2dWeights conv_w = conv;
        conv_w.winograd = &wino;
        const auto run_wino = [&] { krait::run_conv2d(pool, conv_w, x.data(), 1, H, H, y_wino.data(), scratch); };
        double t_im2col = 1e30, t_wino = 1e30;
        for (int r = 0; r < repeats; ++r) {
            t_im2col = std::min(t_im2col, time_per_call(run_im2col, min_s));
            t_wino = std::min(t_wino, time_per_call(run_wino, min_s));
        }
        double max_diff = 0, largest = 0;
        for (size_t i = 0; i < x.size(); ++i) {
            max_diff = std::max(max_diff, static_cast<double>(std::fabs(y_im2col[i] - y_wino[i])));
            largest = std::max(largest, static_cast<double>(std::fabs(y_im2col[i])));
        }
        const double flops = 2.0 * 9 * C * C * H * H;
        const double g_im2col = flops / t_im2col / 1e9, g_wino = flops / t_wino / 1e9;
        std::printf("%-5s %-16s %5lld %5lld | %9.1f %7.0f%% | %9.1f %7.0f%% | %6.2fx | %9.2g\n", s.model, s.layer,
                    static_cast<long long>(C), static_cast<long long>(H), g_im2col, 100.0 * g_im2col / peak, g_wino,
                    100.0 * g_wino / peak, g_wino / g_im2col, max_diff / std::max(largest, 1e-30));
        std::fflush(stdout);
    }
    std::printf("\n(GFLOP/s = 2 * 9 * C * C * H * W / seconds per call for both paths, so Winograd's \"of peak\"\n"
                " can pass 100%%: it does a quarter of the multiplies; max|diff| relative to the largest output)\n"
                "load average after: %s\n",
                load_average().c_str());
}

// M = 1 through F32 panels, BF16 panels and BF16 rows (linear_half), weights from DRAM.
#if defined(__x86_64__)
// Peak BF16 rate of one core's AMX unit: TDPBF16PS into four independent accumulator tiles (16 x 16
// F32 each, 16 x 32 BF16 operands: 16 * 16 * 32 multiply-adds per instruction), no loads in the loop.
struct alignas(64) AmxConfig {
    uint8_t palette = 1, start_row = 0, reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
};
__attribute__((target("amx-tile,amx-bf16"))) double amx_loop(long n) {
    AmxConfig cfg;
    for (int t = 0; t < 8; ++t) cfg.rows[t] = 16, cfg.colsb[t] = 64;
    // The whole config as the memory operand (GCC 12's _tile_loadconfig names only 8 bytes of it).
    __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
    for (long i = 0; i < n; ++i) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_release();
    return 2.0 * 16 * 16 * 32 * 4 * n;
}
#endif

double amx_peak_gflops() {
#if defined(__x86_64__)
    if (krait::kernels::bf16_products_supported() < krait::kernels::Bf16Products::amx) return 0;
    double best = 0;
    for (int r = 0; r < 3; ++r) {
        const auto t0 = Clock::now();
        const double flops = amx_loop(5'000'000);
        best = std::max(best, flops / seconds_since(t0) / 1e9);
    }
    return best;
#else
    return 0;
#endif
}

// --bf16: many-row GEMMs with BF16 weights (see the top of this file).
void bench_bf16(int repeats, double min_s, int threads, double peak) {
    using krait::kernels::Bf16Products;
    using krait::kernels::WeightType;
    const double amx_peak = amx_peak_gflops();
    std::printf("BF16 dot products on this CPU: %s; AMX peak (register-only TDPBF16PS loop, one core): %.0f GFLOP/s\n",
                krait::kernels::bf16_products_name(krait::kernels::bf16_products_supported()), amx_peak);
    std::printf("(\"of peak\": F32 columns against the FMA peak x threads, dot-product columns against the AMX peak x "
                "threads; max rel diff: largest |dot - exact| / max |exact| of the output)\n\n");
    struct Bf16Shape {
        const char* model;
        const char* layer;
        int64_t M, K, N;
    };
    const Bf16Shape shapes[] = {
        {"tinyllama", "q/o 2048->2048 pp512", 512, 2048, 2048},  {"tinyllama", "gate/up 2048->5632", 512, 2048, 5632},
        {"tinyllama", "down 5632->2048", 512, 5632, 2048},        {"smollm2", "gate/up 576->1536 pp512", 512, 576, 1536},
        {"vit-b16", "qkv 768->2304 (197)", 197, 768, 2304},       {"vit-b16", "fc1 768->3072", 197, 768, 3072},
        {"vit-b16", "fc2 3072->768", 197, 3072, 768},             {"vit-b16", "fc1 batch 16", 16 * 197, 768, 3072},
    };
    std::printf("%-9s %-24s %5s %5s %5s | %8s %8s %8s %8s | %6s %6s | %7s %7s | %9s\n", "model", "layer", "M", "K", "N",
                "f32", "bf16", "dpbf16", "amx", "f32 %", "amx %", "amx/f32", "amx/dp", "max rel");
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    const Bf16Products supported = krait::kernels::bf16_products_supported();
    for (const Bf16Shape& s : shapes) {
        std::vector<float> x(static_cast<size_t>(s.M * s.K)), W(static_cast<size_t>(s.N * s.K));
        std::vector<uint16_t> Wh(W.size());
        for (float& v : x) v = dist(rng);
        for (size_t i = 0; i < W.size(); ++i) {
            float v = dist(rng) * 0.05f;
            uint32_t bits;
            std::memcpy(&bits, &v, 4);
            Wh[i] = static_cast<uint16_t>(bits >> 16);
            bits &= 0xffff0000u;
            std::memcpy(&v, &bits, 4);
            W[i] = v;
        }
        const krait::kernels::PackedWeights f32 = krait::kernels::pack_weights(W.data(), s.N, s.K);
        krait::kernels::PackedWeights bf16 = krait::kernels::pack_weights_half(Wh.data(), WeightType::BF16, s.N, s.K);
        bf16.allow_bf16_products(true);
        std::vector<float> y_exact(static_cast<size_t>(s.M * s.N)), y(y_exact.size());
        const auto run = [&](const krait::kernels::PackedWeights& w, Bf16Products unit, float* out) {
            krait::kernels::GemmParams gp;
            gp.rows = s.M;
            gp.x = x.data();
            gp.x_stride = s.K;
            gp.weights = &w;
            gp.y = out;
            gp.y_stride = s.N;
            gp.bf16_products = unit;
            split_run(threads, s.N, [&](int64_t b, int64_t e) { krait::kernels::active().gemm_packed(gp, b, e); });
        };
        double t[4] = {1e30, 1e30, 1e30, 1e30};  // f32, bf16 exact, dpbf16, amx
        for (int r = 0; r < repeats; ++r) {
            t[0] = std::min(t[0], time_per_call([&] { run(f32, Bf16Products::none, y.data()); }, min_s));
            t[1] = std::min(t[1], time_per_call([&] { run(bf16, Bf16Products::none, y_exact.data()); }, min_s));
            if (supported >= Bf16Products::avx512_bf16)
                t[2] = std::min(t[2], time_per_call([&] { run(bf16, Bf16Products::avx512_bf16, y.data()); }, min_s));
            if (supported >= Bf16Products::amx)
                t[3] = std::min(t[3], time_per_call([&] { run(bf16, Bf16Products::amx, y.data()); }, min_s));
        }
        double max_diff = 0, max_ref = 0;  // the last unit run against exact
        for (size_t i = 0; i < y.size(); ++i) {
            max_diff = std::max(max_diff, static_cast<double>(std::fabs(y[i] - y_exact[i])));
            max_ref = std::max(max_ref, static_cast<double>(std::fabs(y_exact[i])));
        }
        const double flops = 2.0 * s.M * s.K * s.N;
        double g[4];
        for (int i = 0; i < 4; ++i) g[i] = t[i] < 1e29 ? flops / t[i] / 1e9 : 0;
        std::printf("%-9s %-24s %5lld %5lld %5lld | %8.1f %8.1f %8.1f %8.1f | %5.0f%% %5.0f%% | %6.2fx %6.2fx | %9.2g\n",
                    s.model, s.layer, static_cast<long long>(s.M), static_cast<long long>(s.K),
                    static_cast<long long>(s.N), g[0], g[1], g[2], g[3], 100.0 * g[0] / (peak * threads),
                    amx_peak > 0 ? 100.0 * g[3] / (amx_peak * threads) : 0.0, g[0] > 0 ? g[3] / g[0] : 0.0,
                    g[2] > 0 ? g[3] / g[2] : 0.0, supported != Bf16Products::none ? max_diff / max_ref : 0.0);
        std::fflush(stdout);
    }
    std::printf("\n(GFLOP/s = 2 M K N / seconds per call; 0: the CPU lacks the unit)\n");
}

void bench_decode(int repeats, double min_s, int threads) {
    const Shape shapes[] = {
        {"smollm2", "q/o 576->576", 1, 576, 576},       {"smollm2", "gate/up 576->1536", 1, 576, 1536},
        {"smollm2", "down 1536->576", 1, 1536, 576},    {"tinyllama", "q/o 2048->2048", 1, 2048, 2048},
        {"tinyllama", "gate/up 2048->5632", 1, 2048, 5632}, {"tinyllama", "down 5632->2048", 1, 5632, 2048},
    };
    const double bw = krait_bench::read_bandwidth_gbs(threads);
    std::printf("read bandwidth (%d thread(s), 512 MB buffer): %.1f GB/s; bound at M = 1: F32 %.1f GFLOP/s, "
                "BF16 %.1f GFLOP/s (2 FLOP per weight of 4 or 2 bytes)\n\n",
                threads, bw, bw / 2.0, bw);
    std::printf("%-9s %-20s %5s %5s | %9s %9s %9s | %7s %9s %9s\n", "model", "layer", "K", "N", "f32 pack",
                "bf16 pack", "bf16 rows", "ratio", "f32 GB/s", "bf16 GB/s");
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    using krait::kernels::WeightType;
    for (const Shape& s : shapes) {
        const int64_t count = s.N * s.K;
        const int copies = static_cast<int>(std::max<int64_t>(1, (int64_t{256} << 20) / (count * 4)));
        std::vector<krait::kernels::PackedWeights> f32(copies), bf16(copies);
        std::vector<std::vector<uint16_t>> rows(copies);
        std::vector<float> W(static_cast<size_t>(count));
        for (int c = 0; c < copies; ++c) {
            rows[c].resize(static_cast<size_t>(count));
            for (int64_t i = 0; i < count; ++i) {
                float v = dist(rng) * 0.05f;
                uint32_t bits;
                std::memcpy(&bits, &v, 4);
                rows[c][i] = static_cast<uint16_t>(bits >> 16);
                bits &= 0xffff0000u;
                std::memcpy(&v, &bits, 4);
                W[i] = v;
            }
            f32[c] = krait::kernels::pack_weights(W.data(), s.N, s.K);
            bf16[c] = krait::kernels::pack_weights_half(rows[c].data(), WeightType::BF16, s.N, s.K);
        }
        std::vector<float> x(static_cast<size_t>(s.K)), y(static_cast<size_t>(s.N));
        for (float& v : x) v = dist(rng);
        const auto packed_run = [&](std::vector<krait::kernels::PackedWeights>& set) {
            for (auto& w : set) {
                krait::kernels::GemmParams gp;
                gp.rows = 1;
                gp.x = x.data();
                gp.x_stride = s.K;
                gp.weights = &w;
                gp.y = y.data();
                gp.y_stride = s.N;
                split_run(threads, s.N, [&](int64_t b, int64_t e) { krait::kernels::active().gemm_packed(gp, b, e); });
            }
        };
        const auto rows_run = [&] {
            for (auto& w : rows) {
                krait::kernels::LinearParams lp;
                lp.rows = 1;
                lp.in_features = s.K;
                lp.out_features = s.N;
                lp.x = x.data();
                lp.x_stride = s.K;
                lp.y = y.data();
                lp.y_stride = s.N;
                lp.weight_type = WeightType::BF16;
                lp.weight_half = w.data();
                split_run(threads, s.N, [&](int64_t b, int64_t e) { krait::kernels::active().linear_half(lp, b, e); });
            }
        };
        double t_f32 = 1e30, t_bf16 = 1e30, t_rows = 1e30;
        for (int r = 0; r < repeats; ++r) {
            t_f32 = std::min(t_f32, time_per_call([&] { packed_run(f32); }, min_s) / copies);
            t_bf16 = std::min(t_bf16, time_per_call([&] { packed_run(bf16); }, min_s) / copies);
            t_rows = std::min(t_rows, time_per_call(rows_run, min_s) / copies);
        }
        const double flops = 2.0 * count;
        std::printf("%-9s %-20s %5lld %5lld | %9.2f %9.2f %9.2f | %6.2fx %9.1f %9.1f\n", s.model, s.layer,
                    static_cast<long long>(s.K), static_cast<long long>(s.N), flops / t_f32 / 1e9,
                    flops / t_bf16 / 1e9, flops / t_rows / 1e9, t_f32 / t_bf16, 4.0 * count / t_f32 / 1e9,
                    2.0 * count / t_bf16 / 1e9);
        std::fflush(stdout);
    }
    std::printf("\n(GFLOP/s = 2 K N / seconds per call; ratio = BF16 panels over F32 panels; GB/s = weight bytes read "
                "per second)\n");
}

}  // namespace

int main(int argc, char** argv) {
    int repeats = 7, threads = 1;
    double min_s = 0.15;
    std::string only;
    bool packed_only = false, convs = false, decode = false, bf16 = false;
    Shape custom{"custom", "", 0, 0, 0};
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&] {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "missing value for %s\n", a.c_str());
                std::exit(2);
            }
            return std::string(argv[++i]);
        };
        if (a == "--repeats") repeats = std::stoi(next());
        else if (a == "--min-ms") min_s = std::stod(next()) / 1000.0;
        else if (a == "--only") only = next();
        else if (a == "--threads") threads = std::max(1, std::stoi(next()));
        else if (a == "--packed-only") packed_only = true;  // skip Eigen (for tuning the blocking)
        else if (a == "--conv") convs = true;
        else if (a == "--decode") decode = true;
        else if (a == "--bf16") bf16 = true;
        else if (a == "--shape") {  // M,K,N: time just this shape
            long long m = 0, k = 0, n = 0;
            if (std::sscanf(next().c_str(), "%lld,%lld,%lld", &m, &k, &n) != 3 || m < 1 || k < 1 || n < 1) {
                std::fprintf(stderr, "--shape wants M,K,N\n");
                return 2;
            }
            custom = Shape{"custom", "--shape", m, k, n};
            only = "custom";
        } else {
            std::fprintf(stderr,
                         "usage: krait-bench-gemm [--repeats R] [--min-ms T] [--only vit|mv] [--shape M,K,N] "
                         "[--packed-only] [--threads T] [--conv] [--decode] [--bf16]\n");
            return 2;
        }
    }

    std::vector<Shape> shapes = {
        // ViT-B/16 at 224: 197 tokens, one image and a batch of 16.
        {"vit", "qkv 768->2304", 197, 768, 2304},
        {"vit", "proj 768->768", 197, 768, 768},
        {"vit", "fc1 768->3072", 197, 768, 3072},
        {"vit", "fc2 3072->768", 197, 3072, 768},
        {"vit", "b16 qkv", 3152, 768, 2304},
        {"vit", "b16 fc1", 3152, 768, 3072},
        {"vit", "b16 fc2", 3152, 3072, 768},
        // MambaVision-T at 224: stage 1 (56x56 tokens, 80 channels, MLP x4),
        // stage 3 (14x14, 320) and stage 4 (7x7, 640) linears.
        {"mv", "s1 80->320", 3136, 80, 320},
        {"mv", "s1 320->80", 3136, 320, 80},
        {"mv", "s3 320->1280", 196, 320, 1280},
        {"mv", "s3 1280->320", 196, 1280, 320},
        {"mv", "s3 320->640 (in_proj)", 196, 320, 640},
        {"mv", "s4 640->2560", 49, 640, 2560},
        {"mv", "s4 2560->640", 49, 2560, 640},
    };
    if (custom.M > 0) shapes.push_back(custom);

    std::printf("krait-bench-gemm: %d thread(s), best of %d, >= %.0f ms per timing, gemm_packed kernel: %s\n", threads,
                repeats, min_s * 1e3, krait::kernels::active().name);
    std::printf("load average before: %s\n", load_average().c_str());
    double peak = 0;
    for (int r = 0; r < 3; ++r) peak = std::max(peak, peak_gflops());
    std::printf("peak FMA rate (register-only loop, one core): %.1f GFLOP/s%s\n\n", peak,
                threads > 1 ? " (\"of peak\" below is against threads x this)" : "");
    if (convs) {
        bench_convs(repeats, min_s, peak);
        return 0;
    }
    if (bf16) {
        bench_bf16(repeats, min_s, threads, peak);
        std::printf("load average after: %s\n", load_average().c_str());
        return 0;
    }
    if (decode) {
        bench_decode(repeats, min_s, threads);
        std::printf("load average after: %s\n", load_average().c_str());
        return 0;
    }
    peak *= threads;
    std::printf("%-5s %-24s %6s %6s %6s | %9s %9s %7s %8s | %9s %9s\n", "model", "layer", "M", "K", "N", "eigen",
                "packed", "speedup", "of peak", "pack ms", "max|diff|");

    std::mt19937 rng(42);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (const Shape& s : shapes) {
        if (!only.empty() && only != s.model) continue;
        std::vector<float> x(static_cast<size_t>(s.M * s.K)), W(static_cast<size_t>(s.N * s.K)),
            bias(static_cast<size_t>(s.N)), y_eigen(static_cast<size_t>(s.M * s.N)), y_packed(y_eigen.size());
        for (float& v : x) v = dist(rng);
        for (float& v : W) v = dist(rng) * 0.05f;
        for (float& v : bias) v = dist(rng);

        const auto tp = Clock::now();
        const krait::kernels::PackedWeights packed = krait::kernels::pack_weights(W.data(), s.N, s.K);
        const double pack_ms = seconds_since(tp) * 1e3;

        krait::kernels::LinearParams lp;
        lp.rows = s.M;
        lp.in_features = s.K;
        lp.out_features = s.N;
        lp.x = x.data();
        lp.x_stride = s.K;
        lp.weight = W.data();
        lp.bias = bias.data();
        lp.y = y_eigen.data();
        lp.y_stride = s.N;
        krait::kernels::GemmParams gp;
        gp.rows = s.M;
        gp.x = x.data();
        gp.x_stride = s.K;
        gp.weights = &packed;
        gp.bias = bias.data();
        gp.y = y_packed.data();
        gp.y_stride = s.N;

        const auto eigen = [&] {
            split_run(threads, s.N, [&](int64_t b, int64_t e) { krait::kernels::active().linear(lp, b, e); });
        };
        const auto packed_gemm = [&] {
            split_run(threads, s.N, [&](int64_t b, int64_t e) { krait::kernels::active().gemm_packed(gp, b, e); });
        };
        double t_eigen = 1e30, t_packed = 1e30;
        for (int r = 0; r < repeats; ++r) {
            if (!packed_only) t_eigen = std::min(t_eigen, time_per_call(eigen, min_s));
            t_packed = std::min(t_packed, time_per_call(packed_gemm, min_s));
        }
        double max_diff = 0;
        if (!packed_only) {
            for (size_t i = 0; i < y_eigen.size(); ++i)
                max_diff = std::max(max_diff, static_cast<double>(std::fabs(y_eigen[i] - y_packed[i])));
        }
        const double flops = 2.0 * s.M * s.K * s.N;
        const double g_eigen = flops / t_eigen / 1e9, g_packed = flops / t_packed / 1e9;
        if (packed_only)
            std::printf("%-5s %-24s %6lld %6lld %6lld | %9s %9.1f %7s %7.0f%% | %9.2f %9s\n", s.model, s.layer,
                        static_cast<long long>(s.M), static_cast<long long>(s.K), static_cast<long long>(s.N), "-",
                        g_packed, "-", 100.0 * g_packed / peak, pack_ms, "-");
        else
            std::printf("%-5s %-24s %6lld %6lld %6lld | %9.1f %9.1f %6.2fx %7.0f%% | %9.2f %9.2g\n", s.model, s.layer,
                        static_cast<long long>(s.M), static_cast<long long>(s.K), static_cast<long long>(s.N), g_eigen,
                        g_packed, g_packed / g_eigen, 100.0 * g_packed / peak, pack_ms, max_diff);
        std::fflush(stdout);
    }
    std::printf("\n(GFLOP/s = 2 M K N / seconds per call)\nload average after: %s\n", load_average().c_str());
    return 0;
}
