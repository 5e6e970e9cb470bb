// BF16 dot products for gemm_packed (gemm_bf16.h): the AMX and VDPBF16PS
// kernels, in the avx512 variant only. The plain reference is the exact
// chain on x rounded to BF16 (tests/unit/gemm_test.cpp: linear_ref on
// round_to_bf16(x)); both kernels here equal it within F32 summation error.
//
// Both read the paired BF16 panels in place (gemm.h: [Kp / 2][32][2], Kp a
// multiple of 32, zeros past K) and x rounded to BF16 once per call and M
// block into a thread-local buffer (round_rows: zeros past K and past the
// last row), so neither has a K or row tail: padded terms are 0 * 0.
#include "kernels/cpu/gemm_bf16.h"

#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace krait::kernels {
KRAIT_VARIANT_BEGIN

#if defined(__AVX512F__)

namespace {

// The AMX tile instructions are inline assembly without memory operands the
// compiler sees: order the buffer writes before the loads, and the reads
// after the stores, by hand.
inline void compiler_barrier() { __asm__ __volatile__("" ::: "memory"); }

// 16 floats rounded to BF16 as round_to_bf16 does (AVX-512F only).
inline __m256i round16_bf16(__m512 v) {
    const __m512i b = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(b, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb));
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(b, _mm512_set1_epi32(0x00400000)));
    return _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16));
}

// x rows [0, rows) of K floats (row stride xs), rounded to BF16, zero-padded to rows_padded rows of Kp
// (Kp a multiple of 32), into one of two layouts, each a sequence of 32-k groups per row:
//  - plain [rows_padded][Kp] (VDPBF16PS: a row's k pairs in order);
//  - AMX's blocked order: 32-row blocks, each [Kp / 32][32 rows][32 k], so that one k step of a row
//    block (its two A tiles, 2 KiB) is contiguous and the blocks stream in order.
enum class XLayout { plain, blocked };
void round_rows(const float* x, int64_t xs, int64_t rows, int64_t K, int64_t rows_padded, int64_t Kp, XLayout layout,
                uint16_t* out) {
    const int64_t steps = Kp / 32;
    for (int64_t r = 0; r < rows_padded; ++r) {
        // Row r's first 32-k group, and the distance from one group to the next.
        uint16_t* row = layout == XLayout::plain ? out + r * Kp : out + (r / 32) * steps * 32 * 32 + (r % 32) * 32;
        const int64_t group_stride = layout == XLayout::plain ? 32 : 32 * 32;
        const float* xr = x + r * xs;
        for (int64_t k = 0; k < Kp; k += 16) {
            __m256i h = _mm256_setzero_si256();
            if (r < rows) {
                const int live = static_cast<int>(std::clamp<int64_t>(K - k, 0, 16));
                const __mmask16 m = static_cast<__mmask16>((1u << live) - 1);
                h = round16_bf16(_mm512_maskz_loadu_ps(m, xr + k));  // zeros past K
            }
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + (k / 32) * group_stride + k % 32), h);
        }
    }
}

// y rows [0, rows) x columns [0, nv) of a 32-column panel from the sums c [rows][32]:
// y = (accumulate ? y : 0) + c + bias.
void write_rows(const GemmParams& p, float* y, const float* c, int64_t rows, int nv, const float* bias) {
    const __mmask16 m0 = static_cast<__mmask16>((1u << std::min(nv, 16)) - 1);
    const __mmask16 m1 = static_cast<__mmask16>((1u << std::clamp(nv - 16, 0, 16)) - 1);
    const __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    const __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
    for (int64_t r = 0; r < rows; ++r) {
        float* yr = y + r * p.y_stride;
        __m512 v0 = _mm512_load_ps(c + r * kGemmNR), v1 = _mm512_load_ps(c + r * kGemmNR + 16);
        if (p.accumulate) {
            v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, yr), v0);
            v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, yr + 16), v1);
        }
        if (bias) {
            v0 = _mm512_add_ps(v0, b0);
            v1 = _mm512_add_ps(v1, b1);
        }
        _mm512_mask_storeu_ps(yr, m0, v0);
        _mm512_mask_storeu_ps(yr + 16, m1, v1);
    }
}

// Rows per M block: the block's rounded x ([rows][Kp] BF16) stays within ~1 MiB of L2 while the
// thread's panels stream past it; whole 32-row AMX blocks.
int64_t rows_per_block(int64_t Kp, int64_t M) {
    const int64_t fit = std::max<int64_t>(32, (int64_t{1} << 20) / (2 * Kp) / 32 * 32);
    return std::min(fit, (M + 31) / 32 * 32);
}

// ---- AMX: 32 x 32 output blocks in four 16 x 16 F32 tiles --------------------------------------
// Tiles 0-3: C (rows 0-15 / 16-31 x columns 0-15 / 16-31), 4-5: A (16 rows x 32 k of x), 6-7: B
// (16 pairs of k x 16 columns, read from the panel in place: its pair rows are 2 * 32 elements =
// 128 bytes apart, the first 64 bytes columns 0-15, the next 64 columns 16-31).
struct alignas(64) TileConfig {
    uint8_t palette = 1;
    uint8_t start_row = 0;
    uint8_t reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
};

// LDTILECFG with the whole 64-byte config as its memory operand. (GCC 12's _tile_loadconfig names
// only its first 8 bytes, so the compiler may drop the stores of rows and colsb as dead: the
// instruction then faults on an invalid config.)
inline void load_tile_config(const TileConfig& cfg) { __asm__ volatile("ldtilecfg %0" ::"m"(cfg)); }

__attribute__((target("amx-tile,amx-bf16"))) void gemm_amx(const GemmParams& p, int64_t n_begin, int64_t n_end) {
    const PackedWeights& W = *p.weights;
    const int64_t K = W.in_features(), Kp = W.padded_k(), M = p.rows;
    TileConfig cfg;
    for (int t = 0; t < 8; ++t) cfg.rows[t] = 16, cfg.colsb[t] = 64;
    load_tile_config(cfg);

    thread_local std::vector<uint16_t> a_buffer;
    alignas(64) float c[32 * kGemmNR];
    const int64_t mb_max = rows_per_block(Kp, M);
    if (a_buffer.size() < static_cast<size_t>(mb_max * Kp)) a_buffer.resize(static_cast<size_t>(mb_max * Kp));
    uint16_t* a = a_buffer.data();
    constexpr int64_t a_stride = 32 * 2;  // bytes: a row of one k step's A block

    for (int64_t ic = 0; ic < M; ic += mb_max) {
        const int64_t mb = std::min(mb_max, M - ic), mb_padded = (mb + 31) / 32 * 32;
        round_rows(p.x + ic * p.x_stride, p.x_stride, mb, K, mb_padded, Kp, XLayout::blocked, a);
        compiler_barrier();
        for (int64_t n0 = n_begin; n0 < n_end; n0 += kGemmNR) {
            const int nv = static_cast<int>(std::min(kGemmNR, n_end - n0));
            const uint16_t* w = W.panel_half(n0 / kGemmNR);
            const float* bias = p.bias ? p.bias + n0 : nullptr;
            for (int64_t r = 0; r < mb; r += 32) {
                const uint16_t* a0 = a + r * Kp;  // row block r / 32: [Kp / 32][32][32]
                const uint16_t* a1 = a0 + 16 * 32;
                _tile_zero(0);
                _tile_zero(1);
                _tile_zero(2);
                _tile_zero(3);
                for (int64_t k = 0; k < Kp; k += 32) {
                    const uint16_t* wk = w + k * kGemmNR;  // pair row k / 2
                    _tile_loadd(4, a0 + k * 32, a_stride);
                    _tile_loadd(6, wk, 2 * kGemmNR * 2);
                    _tile_loadd(7, wk + 32, 2 * kGemmNR * 2);
                    _tile_dpbf16ps(0, 4, 6);
                    _tile_dpbf16ps(1, 4, 7);
                    _tile_loadd(5, a1 + k * 32, a_stride);
                    _tile_dpbf16ps(2, 5, 6);
                    _tile_dpbf16ps(3, 5, 7);
                }
                _tile_stored(0, c, kGemmNR * 4);
                _tile_stored(1, c + 16, kGemmNR * 4);
                _tile_stored(2, c + 16 * kGemmNR, kGemmNR * 4);
                _tile_stored(3, c + 16 * kGemmNR + 16, kGemmNR * 4);
                compiler_barrier();
                write_rows(p, p.y + (ic + r) * p.y_stride + n0, c, std::min<int64_t>(32, mb - r), nv, bias);
            }
        }
    }
    _tile_release();  // the tile state is large: let the OS skip saving it
}

// ---- VDPBF16PS: MR rows x 32 columns, 2 * MR zmm accumulators --------------------------------
template <int MR>
__attribute__((target("avx512bf16"))) void tile_dpbf16(int64_t pairs, const uint16_t* a, int64_t a_stride,
                                                        const uint16_t* w, float* c) {
    __m512 acc[MR][2];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t k2 = 0; k2 < pairs; ++k2) {
        const __m512i w0 = _mm512_load_si512(w + k2 * 2 * kGemmNR);
        const __m512i w1 = _mm512_load_si512(w + k2 * 2 * kGemmNR + 32);
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) {
            int32_t pair;  // x[r][2 k2], x[r][2 k2 + 1]
            std::memcpy(&pair, a + r * a_stride + 2 * k2, sizeof pair);
            const __m512i av = _mm512_set1_epi32(pair);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], (__m512bh)av, (__m512bh)w0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], (__m512bh)av, (__m512bh)w1);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
        _mm512_store_ps(c + r * kGemmNR, acc[r][0]);
        _mm512_store_ps(c + r * kGemmNR + 16, acc[r][1]);
    }
}

constexpr int kDpMr = 12;  // as the F32 kernel: 24 accumulators, 2 weight vectors, a broadcast

void gemm_dpbf16(const GemmParams& p, int64_t n_begin, int64_t n_end) {
    using TileFn = void (*)(int64_t, const uint16_t*, int64_t, const uint16_t*, float*);
    static constexpr TileFn tiles[kDpMr] = {&tile_dpbf16<1>, &tile_dpbf16<2>, &tile_dpbf16<3>,  &tile_dpbf16<4>,
                                            &tile_dpbf16<5>, &tile_dpbf16<6>, &tile_dpbf16<7>,  &tile_dpbf16<8>,
                                            &tile_dpbf16<9>, &tile_dpbf16<10>, &tile_dpbf16<11>, &tile_dpbf16<12>};
    const PackedWeights& W = *p.weights;
    const int64_t K = W.in_features(), Kp = W.padded_k(), M = p.rows;
    thread_local std::vector<uint16_t> a_buffer;
    alignas(64) float c[kDpMr * kGemmNR];
    const int64_t mb_max = rows_per_block(Kp, M);
    if (a_buffer.size() < static_cast<size_t>(mb_max * Kp)) a_buffer.resize(static_cast<size_t>(mb_max * Kp));
    uint16_t* a = a_buffer.data();
    for (int64_t ic = 0; ic < M; ic += mb_max) {
        const int64_t mb = std::min(mb_max, M - ic);
        round_rows(p.x + ic * p.x_stride, p.x_stride, mb, K, mb, Kp, XLayout::plain, a);
        for (int64_t n0 = n_begin; n0 < n_end; n0 += kGemmNR) {
            const int nv = static_cast<int>(std::min(kGemmNR, n_end - n0));
            const uint16_t* w = W.panel_half(n0 / kGemmNR);
            const float* bias = p.bias ? p.bias + n0 : nullptr;
            for (int64_t r = 0; r < mb; r += kDpMr) {
                const int mr = static_cast<int>(std::min<int64_t>(kDpMr, mb - r));
                tiles[mr - 1](Kp / 2, a + r * Kp, Kp, w, c);
                write_rows(p, p.y + (ic + r) * p.y_stride + n0, c, mr, nv, bias);
            }
        }
    }
}

}  // namespace

bool gemm_bf16_products(const GemmParams& p, int64_t n_begin, int64_t n_end) {
    switch (p.bf16_products) {
        case Bf16Products::amx: gemm_amx(p, n_begin, n_end); return true;
        case Bf16Products::avx512_bf16: gemm_dpbf16(p, n_begin, n_end); return true;
        case Bf16Products::none: return false;
    }
    return false;
}

#else

bool gemm_bf16_products(const GemmParams&, int64_t, int64_t) { return false; }

#endif

KRAIT_VARIANT_END
}  // namespace krait::kernels
