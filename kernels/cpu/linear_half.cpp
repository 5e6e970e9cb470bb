#include "kernels/cpu/linear_half.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/kernel_error.h"

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__) && defined(__F16C__))
#include <immintrin.h>
#endif

namespace krait::kernels {
KRAIT_VARIANT_BEGIN

namespace {

// ---- Vector traits: widen W weights to F32, multiply-add, sum ----------------------------------------------

#if defined(__AVX512F__)
#define KRAIT_HALF_AVX512 1
struct Isa {
    using V = __m512;
    static constexpr int W = 16;
    static V zero() { return _mm512_setzero_ps(); }
    static V load(const float* p) { return _mm512_loadu_ps(p); }
    template <WeightType T>
    static V widen(const uint16_t* p) {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        if constexpr (T == WeightType::BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
        else return _mm512_cvtph_ps(h);
    }
    static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
    static float sum(V v) { return _mm512_reduce_add_ps(v); }
    static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
};
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define KRAIT_HALF_AVX2 1
struct Isa {
    using V = __m256;
    static constexpr int W = 8;
    static V zero() { return _mm256_setzero_ps(); }
    static V load(const float* p) { return _mm256_loadu_ps(p); }
    template <WeightType T>
    static V widen(const uint16_t* p) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        if constexpr (T == WeightType::BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
        else return _mm256_cvtph_ps(h);
    }
    static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static float sum(V v) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
};
#endif

// The plain C++ lanes: one float "vector" (the compiler may still vectorise).
struct Portable {
    using V = float;
    static constexpr int W = 1;
    static V zero() { return 0.0f; }
    static V load(const float* p) { return *p; }
    template <WeightType T>
    static V widen(const uint16_t* p) {
        if constexpr (T == WeightType::BF16) return bf16_to_f32(*p);
        else return f16_to_f32(*p);
    }
    static V fma(V a, V b, V c) { return a * b + c; }
    static float sum(V v) { return v; }
    static void store(float* p, V v) { *p = v; }
};

// One tile: NR consecutive weight rows (w, row stride K) times MR x rows;
// writes the dot products to out[m][n]. The tail of K past the last whole
// vector is done in scalar F32.
template <class I, WeightType T, int NR, int MR>
void tile(const uint16_t* w, int64_t K, const float* x, int64_t x_stride, float out[][4]) {
    typename I::V acc[MR][NR];
    for (int m = 0; m < MR; ++m)
        for (int n = 0; n < NR; ++n) acc[m][n] = I::zero();
    int64_t k = 0;
    for (; k + I::W <= K; k += I::W) {
        typename I::V wv[NR];
        for (int n = 0; n < NR; ++n) wv[n] = I::template widen<T>(w + n * K + k);
        for (int m = 0; m < MR; ++m) {
            const typename I::V xv = I::load(x + m * x_stride + k);
            for (int n = 0; n < NR; ++n) acc[m][n] = I::fma(wv[n], xv, acc[m][n]);
        }
    }
    for (int m = 0; m < MR; ++m)
        for (int n = 0; n < NR; ++n) {
            float s = I::sum(acc[m][n]);
            const float* xr = x + m * x_stride;
            const uint16_t* wr = w + n * K;
            for (int64_t kk = k; kk < K; ++kk) s += Portable::widen<T>(wr + kk) * xr[kk];
            out[m][n] = s;
        }
}

template <class I, WeightType T, int MR>
void rows_tile(const LinearParams& p, int64_t m0, int64_t n_begin, int64_t n_end) {
    const int64_t K = p.in_features;
    const float* x = p.x + m0 * p.x_stride;
    float out[4][4];
    auto emit = [&](int64_t n0, int nr) {
        for (int m = 0; m < MR; ++m) {
            float* y = p.y + (m0 + m) * p.y_stride + n0;
            for (int n = 0; n < nr; ++n) {
                float v = out[m][n] + (p.bias ? p.bias[n0 + n] : 0.0f);
                y[n] = p.accumulate ? y[n] + v : v;
            }
        }
    };
    int64_t n = n_begin;
    for (; n + 4 <= n_end; n += 4) {
        tile<I, T, 4, MR>(p.weight_half + n * K, K, x, p.x_stride, out);
        emit(n, 4);
    }
    for (; n < n_end; ++n) {
        tile<I, T, 1, MR>(p.weight_half + n * K, K, x, p.x_stride, out);
        emit(n, 1);
    }
}

template <class I, WeightType T>
void gemv_rows(const LinearParams& p, int64_t n_begin, int64_t n_end) {
    int64_t m = 0;
    for (; m + 4 <= p.rows; m += 4) rows_tile<I, T, 4>(p, m, n_begin, n_end);
    switch (p.rows - m) {
        case 3: rows_tile<I, T, 3>(p, m, n_begin, n_end); break;
        case 2: rows_tile<I, T, 2>(p, m, n_begin, n_end); break;
        case 1: rows_tile<I, T, 1>(p, m, n_begin, n_end); break;
        default: break;
    }
}

template <class I>
void gemv_dispatch(const LinearParams& p, int64_t n_begin, int64_t n_end) {
    if (p.weight_type == WeightType::BF16) gemv_rows<I, WeightType::BF16>(p, n_begin, n_end);
    else gemv_rows<I, WeightType::F16>(p, n_begin, n_end);
}

template <class I, WeightType T>
void widen_row(const uint16_t* src, int64_t n, float* dst) {
    int64_t i = 0;
    for (; i + I::W <= n; i += I::W) I::store(dst + i, I::template widen<T>(src + i));
    for (; i < n; ++i) dst[i] = Portable::widen<T>(src + i);
}

void check(const LinearParams& p, int64_t n_begin, int64_t n_end) {
    if (p.weight_type == WeightType::F32 || !p.weight_half)
        fail_kernel_argument("linear_half: needs F16 or BF16 weights in weight_half");
    if (n_begin < 0 || n_end > p.out_features || n_begin > n_end)
        fail_kernel_argument("linear_half: output range [" + std::to_string(n_begin) + ", " + std::to_string(n_end) +
                             ") outside [0, " + std::to_string(p.out_features) + "]");
}

}  // namespace

void widen_half(WeightType type, const uint16_t* src, int64_t n, float* dst) {
#if defined(KRAIT_HALF_AVX512) || defined(KRAIT_HALF_AVX2)
    using I = Isa;
#else
    using I = Portable;
#endif
    if (type == WeightType::BF16) widen_row<I, WeightType::BF16>(src, n, dst);
    else if (type == WeightType::F16) widen_row<I, WeightType::F16>(src, n, dst);
    else fail_kernel_argument("widen_half: the weights are F32");
}

void linear_half(const LinearParams& p, int64_t n_begin, int64_t n_end) {
    check(p, n_begin, n_end);
    if (p.rows <= 0 || n_begin == n_end) return;
    if (p.rows <= kHalfGemvRows) {
#if defined(KRAIT_HALF_AVX512) || defined(KRAIT_HALF_AVX2)
        gemv_dispatch<Isa>(p, n_begin, n_end);
#else
        gemv_dispatch<Portable>(p, n_begin, n_end);
#endif
        return;
    }
    // Many rows: widen blocks of weight rows into a per-thread buffer (<= 256 KiB, so the block
    // stays in L2 while Eigen packs it) and run the F32 GEMM on each block.
    const int64_t K = p.in_features;
    const int64_t block = std::max<int64_t>(8, (int64_t{256} * 1024 / 4) / std::max<int64_t>(K, 1));
    thread_local std::vector<float> buffer;
    if (buffer.size() < static_cast<size_t>(std::min(block, n_end - n_begin) * K))
        buffer.resize(static_cast<size_t>(std::min(block, n_end - n_begin) * K));
    for (int64_t n0 = n_begin; n0 < n_end; n0 += block) {
        const int64_t nb = std::min(block, n_end - n0);
        for (int64_t r = 0; r < nb; ++r) widen_half(p.weight_type, p.weight_half + (n0 + r) * K, K, buffer.data() + r * K);
        LinearParams q = p;
        q.weight_type = WeightType::F32;
        q.weight_half = nullptr;
        q.weight = buffer.data();
        q.out_features = nb;
        q.bias = p.bias ? p.bias + n0 : nullptr;
        q.y = p.y + n0;
        linear(q, 0, nb);
    }
}

KRAIT_VARIANT_END
}  // namespace krait::kernels
