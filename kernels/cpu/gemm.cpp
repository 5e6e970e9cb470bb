#include "kernels/cpu/gemm.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <utility>

#include "kernels/cpu/gemm_bf16.h"
#include "kernels/cpu/kernel_error.h"
#include "kernels/cpu/linear_half.h"

#include <new>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace krait::kernels {
KRAIT_VARIANT_BEGIN

namespace {

// Blocking, measured with bench/gemm_bench.cpp on the AMD EPYC dev machine
// (Zen 5: 48 KiB L1d, 1 MiB L2 per core, 32 MiB L3; one thread, best of
// several runs; KRAIT_GEMM_KC / _MC / _MR override them for such sweeps).
// Loop nest per call: M blocks (kMc rows) > K blocks (<= kKc) > the
// thread's panels > row tiles (kMr rows) > micro-tile over the K block.
//  - kMc = 24 (AMD; Intel: see blocking()): the y block [kMc][n range] (<= 300 KiB for N = 3072) stays in
//    L2 across K blocks, and the x block [kMc][K block] too. 24 beat 36, 48
//    and 96 by ~7% on M = 3152, N = 3072 and tied elsewhere; the cost is that
//    the thread's weights stream from L3 once per 24 rows (~20 GB/s per core
//    at full speed).
//  - kKc = 1536: a panel slice [kc][32] (192 KiB) is read from L2 by the
//    row tiles in turn; larger blocks mean fewer trips of the partial sums
//    through y. 256 and 384 were 5-10% slower, 768 2-3% slower, K unblocked
//    (3072) no better.
//  - kMr = 12: 24 zmm accumulators + 2 weight vectors + a broadcast. 8 and
//    14 rows measured the same within noise.
#ifndef KRAIT_GEMM_KC
#define KRAIT_GEMM_KC 1536
#endif
#ifndef KRAIT_GEMM_MC
#define KRAIT_GEMM_MC 24
#endif
#ifndef KRAIT_GEMM_MR
#define KRAIT_GEMM_MR 12
#endif
constexpr int kMr = KRAIT_GEMM_MR;
static_assert(KRAIT_GEMM_MC % kMr == 0, "M blocks must hold whole row tiles");
static_assert(KRAIT_GEMM_KC % 2 == 0, "K blocks hold whole pairs of k");

// The M and K block sizes in use: the defaults above, per CPU vendor, or KRAIT_GEMM_MC /
// KRAIT_GEMM_KC from the environment (read once; for blocking sweeps with bench/gemm_bench.cpp), M
// rounded up to whole row tiles and K to whole pairs. The blocking never changes the results
// (gemm.h: the chains continue through y exactly), only the speed.
//  - Intel: kMc = 192. On the Intel Xeon dev machine (Sapphire Rapids class, 2 MiB L2 per core,
//    `krait-bench-gemm --packed-only`, one thread) 192 rows beat 24 by 10-25%: ViT-B/16 shapes
//    68-75% of the FMA peak instead of 56-66%, M = 512 Llama shapes 57-67% instead of 46-59%
//    (96 and 384 were in between or noisier). Its weights then stream from L3 once per 192 rows.
struct Blocking {
    int64_t mc, kc;
};
bool intel_cpu() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    unsigned a = 0, b = 0, c = 0, d = 0;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    return b == 0x756e6547u && d == 0x49656e69u && c == 0x6c65746eu;  // "Genu" "ineI" "ntel"
#else
    return false;
#endif
}
const Blocking& blocking() {
    static const Blocking b = [] {
        Blocking v{intel_cpu() ? int64_t{192} : int64_t{KRAIT_GEMM_MC}, KRAIT_GEMM_KC};
        const auto read = [](const char* name, int64_t& out, int64_t multiple) {
            if (const char* s = std::getenv(name)) {
                const long long n = std::atoll(s);
                if (n > 0 && n <= (1 << 20)) out = (n + multiple - 1) / multiple * multiple;
            }
        };
        read("KRAIT_GEMM_MC", v.mc, kMr);
        read("KRAIT_GEMM_KC", v.kc, 2);
        return v;
    }();
    return b;
}

constexpr size_t kAlign = 64;

void check_range(const GemmParams& p, int64_t n_begin, int64_t n_end) {
    if (!p.weights) fail_kernel_argument("gemm_packed: no packed weights");
    const int64_t N = p.weights->out_features();
    // Both ends on a panel boundary or at N (so [N, N), an idle thread's share, is fine).
    const auto on_boundary = [&](int64_t n) { return n % kGemmNR == 0 || n == N; };
    if (n_begin < 0 || n_end > N || n_begin > n_end || !on_boundary(n_begin) || !on_boundary(n_end))
        fail_kernel_argument("gemm_packed: column range [" + std::to_string(n_begin) + ", " + std::to_string(n_end) +
                      ") of N = " + std::to_string(N) + " must start and end on multiples of " +
                      std::to_string(kGemmNR) + " or at N");
}

// K == 0: the sum is empty, y = (accumulate ? y : 0) + bias.
void gemm_empty_k(const GemmParams& p, int64_t n_begin, int64_t n_end) {
    for (int64_t m = 0; m < p.rows; ++m) {
        float* y = p.y + m * p.y_stride;
        for (int64_t n = n_begin; n < n_end; ++n) {
            const float acc = p.accumulate ? y[n] : 0.0f;
            y[n] = p.bias ? acc + p.bias[n] : acc;
        }
    }
}

// The element type of a panel of weight type T, and one element widened to F32 (exact).
template <WeightType T>
using Elem = std::conditional_t<T == WeightType::F32, float, uint16_t>;

template <WeightType T>
inline float widen1(const Elem<T>* p) {
    if constexpr (T == WeightType::F32) return *p;
    else if constexpr (T == WeightType::BF16) return bf16_to_f32(*p);
    else return f16_to_f32(*p);
}

// Offset of (k, column c) from a panel's (or K block's) start: [k][kGemmNR],
// or for BF16 the paired rows [k / 2][kGemmNR][2] (gemm.h). A K block starts
// at an even k, so its offset k0 * kGemmNR is the same in both layouts.
template <WeightType T>
constexpr int64_t panel_offset(int64_t k, int64_t c) {
    if constexpr (T == WeightType::BF16) return (k >> 1) * (2 * kGemmNR) + 2 * c + (k & 1);
    else return k * kGemmNR + c;
}

// One multiply-add of the chain. With hardware FMA it is the same fused
// operation the SIMD kernels do, so all paths agree bit for bit.
inline float madd(float a, float b, float c) {
#if defined(FP_FAST_FMAF) || defined(__FMA__) || defined(__aarch64__)
    return std::fma(a, b, c);
#else
    return a * b + c;  // no fused multiply-add in hardware: a libm fma would be very slow
#endif
}

// Portable micro-tile: MR rows x columns [c0, c0 + 16) of one panel (of
// which [0, nv) are live), k steps [0, kb). `load_y`: the chain continues
// from y; `bias` non-null on the last K block. Same layout and chains as
// the SIMD kernels. This is what ARM and pre-AVX2 x86 builds run: shaped
// like the classic 6 x 16 kernel so the compiler keeps the accumulators in
// vector registers (NEON: 24 q registers) and vectorises over columns (on
// an AVX2 build it reaches ~70 GFLOP/s, the intrinsics ~120).
template <WeightType T, int MR>
void tile_portable(int c0, int nv, int64_t kb, const float* x, int64_t xs, const Elem<T>* w, float* y, int64_t ys,
                   bool load_y, const float* bias) {
    constexpr int kCols = 16;
    float acc[MR][kCols];
    for (int r = 0; r < MR; ++r)
        for (int c = 0; c < kCols; ++c) acc[r][c] = (load_y && c0 + c < nv) ? y[r * ys + c0 + c] : 0.0f;
    for (int64_t k = 0; k < kb; ++k) {
        float wf[kCols];
#pragma GCC unroll 16
        for (int c = 0; c < kCols; ++c) wf[c] = widen1<T>(w + panel_offset<T>(k, c0 + c));
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
            const float a = x[r * xs + k];
#pragma GCC unroll 16
            for (int c = 0; c < kCols; ++c) acc[r][c] = madd(a, wf[c], acc[r][c]);
        }
    }
    for (int r = 0; r < MR; ++r)
        for (int c = 0; c < kCols && c0 + c < nv; ++c)
            y[r * ys + c0 + c] = bias ? acc[r][c] + bias[c0 + c] : acc[r][c];
}

// Any row count and live width: 6-row tiles, then one row at a time, over
// the panel's (live) 16-column halves.
template <WeightType T>
[[maybe_unused]] void tiles_portable(int mr, int nv, int64_t kb, const float* x, int64_t xs, const Elem<T>* w, float* y,
                                     int64_t ys, bool load_y, const float* bias) {
    constexpr int kRows = 6;
    for (int c0 = 0; c0 < nv; c0 += 16) {
        int r = 0;
        for (; r + kRows <= mr; r += kRows)
            tile_portable<T, kRows>(c0, nv, kb, x + r * xs, xs, w, y + r * ys, ys, load_y, bias);
        for (; r < mr; ++r) tile_portable<T, 1>(c0, nv, kb, x + r * xs, xs, w, y + r * ys, ys, load_y, bias);
    }
}

#if defined(__AVX512F__)

// 16 weights of a panel row widened to F32 (aligned: panels are 64-byte aligned, rows 32 elements).
template <WeightType T>
inline __m512 load_w16(const Elem<T>* p) {
    if constexpr (T == WeightType::F32) {
        return _mm512_load_ps(p);
    } else {
        static_assert(T == WeightType::F16, "BF16 panels are paired: for_each_k");
        return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
    }
}

// Calls step(k, wv) for k = 0 .. kb - 1, wv[g] being the 16 weights of column
// group g (columns 16 * (g % 2) .. of panel g / 2, panels panel_stride apart)
// at k, widened to F32. BF16 panels hold k and k + 1 in one 64-byte row: k's
// weights are the low halves of its 32-bit lanes (a shift), k + 1's the high
// halves (a mask), so one load serves two k steps.
template <WeightType T, int G, typename Step>
inline void for_each_k(const Elem<T>* w, int64_t panel_stride, int64_t kb, Step&& step) {
    const auto at = [&](int g) { return w + (g / 2) * panel_stride + 16 * (g % 2) * (T == WeightType::BF16 ? 2 : 1); };
    if constexpr (T == WeightType::BF16) {
        const __m512i high = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
        int64_t k = 0;
        for (; k + 2 <= kb; k += 2) {
            __m512i raw[G];
            __m512 wv[G];
#pragma GCC unroll 16
            for (int g = 0; g < G; ++g) {
                raw[g] = _mm512_load_si512(at(g) + k * kGemmNR);
                wv[g] = _mm512_castsi512_ps(_mm512_slli_epi32(raw[g], 16));
            }
            step(k, wv);
#pragma GCC unroll 16
            for (int g = 0; g < G; ++g) wv[g] = _mm512_castsi512_ps(_mm512_and_si512(raw[g], high));
            step(k + 1, wv);
        }
        if (k < kb) {
            __m512 wv[G];
#pragma GCC unroll 16
            for (int g = 0; g < G; ++g) wv[g] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_load_si512(at(g) + k * kGemmNR), 16));
            step(k, wv);
        }
    } else {
        for (int64_t k = 0; k < kb; ++k) {
            __m512 wv[G];
#pragma GCC unroll 16
            for (int g = 0; g < G; ++g) wv[g] = load_w16<T>(at(g) + k * kGemmNR);
            step(k, wv);
        }
    }
}

// AVX-512 micro-tile: MR rows x 16 * NV columns (NV zmm per row), kb k
// steps. Per k step: NV aligned loads of the packed panel, MR broadcasts of
// x, NV * MR FMAs into NV * MR accumulators. nv < 16 * NV masks the y/bias
// loads and the stores (the padded weight columns are zero and simply not
// stored). NV = 1 serves a tail panel with at most 16 live columns (N = 80:
// the third panel), at half the FMAs; its chains are the same.
template <WeightType T, int MR, int NV>
void tile_avx512(int64_t kb, const float* x, int64_t xs, const Elem<T>* w, float* y, int64_t ys, bool load_y,
                 const float* bias, int nv) {
    __mmask16 mask[NV];
    for (int v = 0; v < NV; ++v) {
        const int live = std::clamp(nv - 16 * v, 0, 16);
        mask[v] = static_cast<__mmask16>((1u << live) - 1);
    }
    __m512 c[MR][NV];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
        for (int v = 0; v < NV; ++v)
            c[r][v] = load_y ? _mm512_maskz_loadu_ps(mask[v], y + r * ys + 16 * v) : _mm512_setzero_ps();
    for_each_k<T, NV>(w, 0, kb, [&](int64_t k, const __m512* wv) {
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) {
            const __m512 a = _mm512_set1_ps(x[r * xs + k]);
            for (int v = 0; v < NV; ++v) c[r][v] = _mm512_fmadd_ps(a, wv[v], c[r][v]);
        }
    });
    if (bias) {
        for (int v = 0; v < NV; ++v) {
            const __m512 b = _mm512_maskz_loadu_ps(mask[v], bias + 16 * v);
            for (int r = 0; r < MR; ++r) c[r][v] = _mm512_add_ps(c[r][v], b);
        }
    }
    for (int r = 0; r < MR; ++r)
        for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(y + r * ys + 16 * v, mask[v], c[r][v]);
}

// Few rows (decode: M = 1): NP whole panels at once, MR <= 3 rows, so that
// 2 * NP * MR independent chains hide the FMA latency (one panel gives only
// two per row). The chains are those of tile_avx512, bit for bit.
template <WeightType T, int MR, int NP>
void tile_avx512_panels(int64_t kb, const float* x, int64_t xs, const Elem<T>* w, int64_t panel_stride, float* y,
                        int64_t ys, bool load_y, const float* bias) {
    __m512 c[MR][NP][2];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
        for (int q = 0; q < NP; ++q)
            for (int v = 0; v < 2; ++v)
                c[r][q][v] = load_y ? _mm512_loadu_ps(y + r * ys + q * kGemmNR + 16 * v) : _mm512_setzero_ps();
    for_each_k<T, 2 * NP>(w, panel_stride, kb, [&](int64_t k, const __m512* wv) {
        __m512 a[MR];
        for (int r = 0; r < MR; ++r) a[r] = _mm512_set1_ps(x[r * xs + k]);
#pragma GCC unroll 8
        for (int q = 0; q < NP; ++q) {
            for (int r = 0; r < MR; ++r) {
                c[r][q][0] = _mm512_fmadd_ps(a[r], wv[2 * q], c[r][q][0]);
                c[r][q][1] = _mm512_fmadd_ps(a[r], wv[2 * q + 1], c[r][q][1]);
            }
        }
    });
    if (bias) {
        for (int q = 0; q < NP; ++q)
            for (int v = 0; v < 2; ++v) {
                const __m512 b = _mm512_loadu_ps(bias + q * kGemmNR + 16 * v);
                for (int r = 0; r < MR; ++r) c[r][q][v] = _mm512_add_ps(c[r][q][v], b);
            }
    }
    for (int r = 0; r < MR; ++r)
        for (int q = 0; q < NP; ++q)
            for (int v = 0; v < 2; ++v) _mm512_storeu_ps(y + r * ys + q * kGemmNR + 16 * v, c[r][q][v]);
}

template <WeightType T>
using TileFn = void (*)(int64_t, const float*, int64_t, const Elem<T>*, float*, int64_t, bool, const float*, int);

template <WeightType T, int NV, int... I>
constexpr std::array<TileFn<T>, sizeof...(I)> make_tiles(std::integer_sequence<int, I...>) {
    return {&tile_avx512<T, I + 1, NV>...};
}

// Avx512Tiles<T>::tiles[half][mr - 1] handles an mr-row tile (the M tail uses
// the shorter ones); half = 1 when the panel has at most 16 live columns.
template <WeightType T>
struct Avx512Tiles {
    static constexpr std::array<TileFn<T>, kMr> tiles[2] = {
        make_tiles<T, 2>(std::make_integer_sequence<int, kMr>{}), make_tiles<T, 1>(std::make_integer_sequence<int, kMr>{})};
};

// Panels handled at once by tile_avx512_panels, for row tiles of at most kFewRows rows.
constexpr int kPanelsAtOnce = 4;
constexpr int kFewRows = 3;

#elif defined(__AVX2__) && defined(__FMA__)

// AVX2 + FMA builds (no AVX-512): the classic 6 x 16 micro-tile, MR rows x
// one 16-column half of a panel in 2 * MR ymm accumulators (12 of the 16
// registers), per k step two loads of the panel half and MR broadcasts.
// Same chains as every other path. Full halves use plain loads and stores;
// only a tail half (Masked) needs masks, which then take two registers.
// 8 weights of a panel row widened to F32 (aligned: rows are 32 elements of a 64-byte-aligned panel).
template <WeightType T>
inline __m256 load_w8(const Elem<T>* p) {
    if constexpr (T == WeightType::F32) {
        return _mm256_load_ps(p);
    } else {
        static_assert(T == WeightType::F16, "BF16 panels are paired: see tile_avx2");
#if defined(__F16C__)
        return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(p)));
#else
        return _mm256_setr_ps(f16_to_f32(p[0]), f16_to_f32(p[1]), f16_to_f32(p[2]), f16_to_f32(p[3]),
                              f16_to_f32(p[4]), f16_to_f32(p[5]), f16_to_f32(p[6]), f16_to_f32(p[7]));
#endif
    }
}

template <WeightType T, int MR, bool Masked>
void tile_avx2(int c0, int nv, int64_t kb, const float* x, int64_t xs, const Elem<T>* w, float* y, int64_t ys,
               bool load_y, const float* bias) {
    __m256i mask[2];
    for (int v = 0; v < 2; ++v) {
        const int live = std::clamp(nv - c0 - 8 * v, 0, 8);
        mask[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(live), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    const auto load = [&](const float* p, int v) {
        return Masked ? _mm256_maskload_ps(p, mask[v]) : _mm256_loadu_ps(p);
    };
    // Two plain arrays and fully unrolled row loops: otherwise GCC 12 stores
    // every accumulator to the stack on each k step.
    __m256 c0v[MR], c1v[MR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
        c0v[r] = load_y ? load(y + r * ys + c0, 0) : _mm256_setzero_ps();
        c1v[r] = load_y ? load(y + r * ys + c0 + 8, 1) : _mm256_setzero_ps();
    }
    const auto step = [&](int64_t k, __m256 w0, __m256 w1) {
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
            const __m256 a = _mm256_broadcast_ss(x + r * xs + k);
            c0v[r] = _mm256_fmadd_ps(a, w0, c0v[r]);
            c1v[r] = _mm256_fmadd_ps(a, w1, c1v[r]);
        }
    };
    if constexpr (T == WeightType::BF16) {
        // Paired rows (gemm.h): one 32-byte load holds 8 columns at k (low halves) and k + 1 (high halves).
        const __m256i high = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
        const auto widen = [&](__m256i raw, int64_t odd) {
            return _mm256_castsi256_ps(odd ? _mm256_and_si256(raw, high) : _mm256_slli_epi32(raw, 16));
        };
        int64_t k = 0;
        for (; k < kb; k += 2) {
            const Elem<T>* wk = w + k * kGemmNR + 2 * c0;
            const __m256i r0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(wk));
            const __m256i r1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(wk + 16));
            step(k, widen(r0, 0), widen(r1, 0));
            if (k + 1 < kb) step(k + 1, widen(r0, 1), widen(r1, 1));
        }
    } else {
        const Elem<T>* wc = w + c0;
        for (int64_t k = 0; k < kb; ++k) step(k, load_w8<T>(wc + k * kGemmNR), load_w8<T>(wc + k * kGemmNR + 8));
    }
    if (bias) {
        const __m256 b0 = load(bias + c0, 0), b1 = load(bias + c0 + 8, 1);
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
            c0v[r] = _mm256_add_ps(c0v[r], b0);
            c1v[r] = _mm256_add_ps(c1v[r], b1);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
        if (Masked) {
            _mm256_maskstore_ps(y + r * ys + c0, mask[0], c0v[r]);
            _mm256_maskstore_ps(y + r * ys + c0 + 8, mask[1], c1v[r]);
        } else {
            _mm256_storeu_ps(y + r * ys + c0, c0v[r]);
            _mm256_storeu_ps(y + r * ys + c0 + 8, c1v[r]);
        }
    }
}

template <WeightType T>
void tiles_avx2(int mr, int nv, int64_t kb, const float* x, int64_t xs, const Elem<T>* w, float* y, int64_t ys,
                bool load_y, const float* bias) {
    using TileAvx2Fn = void (*)(int, int, int64_t, const float*, int64_t, const Elem<T>*, float*, int64_t, bool,
                                const float*);
    // tiles[masked][mr - 1].
    static constexpr TileAvx2Fn tiles[2][6] = {
        {&tile_avx2<T, 1, false>, &tile_avx2<T, 2, false>, &tile_avx2<T, 3, false>, &tile_avx2<T, 4, false>,
         &tile_avx2<T, 5, false>, &tile_avx2<T, 6, false>},
        {&tile_avx2<T, 1, true>, &tile_avx2<T, 2, true>, &tile_avx2<T, 3, true>, &tile_avx2<T, 4, true>,
         &tile_avx2<T, 5, true>, &tile_avx2<T, 6, true>}};
    for (int c0 = 0; c0 < nv; c0 += 16) {
        const bool masked = nv - c0 < 16;
        for (int r = 0; r < mr; r += 6)
            tiles[masked][std::min(6, mr - r) - 1](c0, nv, kb, x + r * xs, xs, w, y + r * ys, ys, load_y, bias);
    }
}

#endif

// The blocked loop nest shared by all paths; `tile(mr, kb, x, w, y, load_y, bias, nv)` computes
// one row tile of one panel over one K block. Where the path has one (AVX-512), row tiles of at most
// kFewRows rows take kPanelsAtOnce whole panels at a time through `panels_tile(mr, kb, x, w,
// panel_stride, y, load_y, bias)`; the chains are the same.
template <WeightType T, typename Tile, typename PanelsTile>
void gemm_blocked(const GemmParams& p, int64_t n_begin, int64_t n_end, Tile&& tile, PanelsTile&& panels_tile,
                  int panels_at_once, int few_rows) {
    const PackedWeights& W = *p.weights;
    const int64_t K = W.in_features();
    const Elem<T>* base = reinterpret_cast<const Elem<T>*>(W.panel_half(0));
    const int64_t panel_stride = W.panel_stride();
    // K in blocks of at most about kc, balanced (K = 1600: 800 + 800, not 1536 + 64), each starting
    // at an even k (BF16 panels pair k and k + 1).
    const int64_t mc = blocking().mc, kc = blocking().kc;
    const int64_t k_blocks = (K + kc - 1) / kc, pairs = (K + 1) / 2;
    const auto kb_of = [&](int64_t block, int64_t pc) {
        return std::min(2 * (pairs / k_blocks + (block < pairs % k_blocks ? 1 : 0)), K - pc);
    };
    for (int64_t ic = 0; ic < p.rows; ic += mc) {
        const int64_t mb = std::min(mc, p.rows - ic);
        for (int64_t block = 0, pc = 0; block < k_blocks; pc += kb_of(block, pc), ++block) {
            const int64_t kb = kb_of(block, pc);
            const bool load_y = p.accumulate || pc > 0;
            const bool last = pc + kb == K;
            int64_t n0 = n_begin;
            if (mb <= few_rows) {
                const int mr = static_cast<int>(mb);
                const int64_t m = ic;
                for (; n0 + panels_at_once * kGemmNR <= n_end; n0 += panels_at_once * kGemmNR) {
                    const Elem<T>* w = base + (n0 / kGemmNR) * panel_stride + pc * kGemmNR;
                    const float* bias = (last && p.bias) ? p.bias + n0 : nullptr;
                    panels_tile(mr, kb, p.x + m * p.x_stride + pc, w, panel_stride, p.y + m * p.y_stride + n0, load_y,
                                bias);
                }
            }
            for (; n0 < n_end; n0 += kGemmNR) {
                const int nv = static_cast<int>(std::min(kGemmNR, n_end - n0));
                const Elem<T>* w = base + (n0 / kGemmNR) * panel_stride + pc * kGemmNR;
                const float* bias = (last && p.bias) ? p.bias + n0 : nullptr;
                for (int64_t ir = 0; ir < mb; ir += kMr) {
                    const int mr = static_cast<int>(std::min<int64_t>(kMr, mb - ir));
                    const int64_t m = ic + ir;
                    tile(mr, kb, p.x + m * p.x_stride + pc, w, p.y + m * p.y_stride + n0, load_y, bias, nv);
                }
            }
        }
    }
}

template <WeightType T>
void gemm_typed(const GemmParams& p, int64_t n_begin, int64_t n_end) {
#if defined(__AVX512F__)
    using Tiles = Avx512Tiles<T>;
    gemm_blocked<T>(
        p, n_begin, n_end,
        [&](int mr, int64_t kb, const float* x, const Elem<T>* w, float* y, bool load_y, const float* bias, int nv) {
            Tiles::tiles[nv <= 16][mr - 1](kb, x, p.x_stride, w, y, p.y_stride, load_y, bias, nv);
        },
        [&](int mr, int64_t kb, const float* x, const Elem<T>* w, int64_t stride, float* y, bool load_y,
            const float* bias) {
            static_assert(kFewRows == 3 && kPanelsAtOnce == 4, "one instance per row count below");
            if (mr == 1) tile_avx512_panels<T, 1, 4>(kb, x, p.x_stride, w, stride, y, p.y_stride, load_y, bias);
            else if (mr == 2) tile_avx512_panels<T, 2, 4>(kb, x, p.x_stride, w, stride, y, p.y_stride, load_y, bias);
            else tile_avx512_panels<T, 3, 4>(kb, x, p.x_stride, w, stride, y, p.y_stride, load_y, bias);
        },
        kPanelsAtOnce, kFewRows);
#else
    gemm_blocked<T>(
        p, n_begin, n_end,
        [&](int mr, int64_t kb, const float* x, const Elem<T>* w, float* y, bool load_y, const float* bias, int nv) {
#if defined(__AVX2__) && defined(__FMA__)
            tiles_avx2<T>(mr, nv, kb, x, p.x_stride, w, y, p.y_stride, load_y, bias);
#else
            tiles_portable<T>(mr, nv, kb, x, p.x_stride, w, y, p.y_stride, load_y, bias);
#endif
        },
        [](int, int64_t, const float*, const Elem<T>*, int64_t, float*, bool, const float*) {}, 1, 0);
#endif
}

}  // namespace

void gemm_packed(const GemmParams& p, int64_t n_begin, int64_t n_end) {
    check_range(p, n_begin, n_end);
    if (p.rows <= 0 || n_begin == n_end) return;
    if (p.weights->in_features() == 0) return gemm_empty_k(p, n_begin, n_end);
    if (p.bf16_products != Bf16Products::none && p.rows >= kBf16ProductsMinRows &&
        p.weights->bf16_products_allowed() && gemm_bf16_products(p, n_begin, n_end))
        return;
    switch (p.weights->type()) {
        case WeightType::F32: return gemm_typed<WeightType::F32>(p, n_begin, n_end);
        case WeightType::BF16: return gemm_typed<WeightType::BF16>(p, n_begin, n_end);
        case WeightType::F16: return gemm_typed<WeightType::F16>(p, n_begin, n_end);
    }
}

KRAIT_VARIANT_END
}  // namespace krait::kernels
