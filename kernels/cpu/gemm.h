// Prepacked GEMM, F32 accumulation: y[M, N] (= or +=) x[M, K] W^T + b, with
// W packed ONCE (at model load) into the layout the micro-kernel streams, in
// F32 or in the checkpoint's F16 / BF16 (half the bytes: decode, M = 1, reads
// every weight once per token and is bound by memory bandwidth).
//
// Why: Eigen's GEMM repacks W on every call (12% of a ViT forward pass in
// gemm_pack_lhs) and its 48x4 micro-tile leaves AVX-512 FMA throughput
// unused (~160 GFLOP/s of a ~255 GFLOP/s core; this kernel: ~240, see
// bench/gemm_bench.cpp). Here W, [N, K] row-major as nn.Linear stores it, is
// cut into panels of kGemmNR output features, each stored K-major
// ([K][kGemmNR], zero-padded past N), so one k step of the micro-kernel reads
// kGemmNR contiguous weights (two zmm) and broadcasts one x value per row.
//
// Use: pack at load (pack_weights), keep the PackedWeights with the layer,
// and per call split the columns over threads on panel boundaries:
//     pool.parallel_for(N, kGemmNR, [&](int64_t b, int64_t e) { gemm_packed(p, b, e); });
// Rows are independent too: calling on row sub-ranges (x and y offset by r0
// rows, rows = r1 - r0) gives the same bits, for layers with few panels.
//
// Determinism: every output element is computed as ONE chain of fused
// multiply-adds in increasing k,
//     acc = (accumulate ? y : 0);  for k = 0..K-1: acc = fma(x[m,k], W[n,k], acc);
//     y = bias ? acc + bias[n] : acc;
// (partial sums that cross a K block are stored to y exactly in fp32 and
// reloaded, which continues the same chain). Nothing in that chain depends on
// M, on the row tile a row falls in, on [n_begin, n_end), on the thread split,
// or on buffer alignment (loads are unaligned; tails are masked, not computed
// differently), so the same inputs give bitwise-identical outputs however the
// caller splits the work. The micro-kernel of each variant (variant.h):
// avx512 12 x 32 zmm tiles (row tiles of <= 3 rows: 4 panels at once, for
// more independent chains), avx2 6 x 16 ymm tiles, portable plain C++; each
// is templated on the panel's element type and widens F16 / BF16 exactly in
// registers (BF16: << 16; F16: F16C vcvtph2ps, portable: exact conversion),
// so half panels give the same bits as F32 panels of the widened weights.
// They compute the same chains; the portable one fuses the multiply-adds only
// where its target has FMA (not baseline x86-64), so it may differ from the
// others in the last bits.
//
// BF16 dot products (bf16_products.h): BF16 panels packed with
// allow_bf16_products(true) (a model loaded with KRAIT_MATMUL_BF16), called
// with GemmParams::bf16_products set and at least kBf16ProductsMinRows rows,
// round x to BF16 (to nearest even) and run AMX tiles or VDPBF16PS instead:
// ~3-8x the F32 FMA rate on many rows. Each product is exact in F32, the sums
// are F32 in another order, so y differs from the exact chain by the rounding
// of x (relative 2^-9 per term); calls with fewer rows (decode) stay exact,
// so the bits then depend on how rows are grouped into calls.
#pragma once

#include "kernels/cpu/bf16_products.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/variant.h"

#include <cstddef>
#include <cstdint>
#include <memory>

namespace krait::kernels {

// Output features per packed panel (two zmm registers).
inline constexpr int64_t kGemmNR = 32;

// BF16 panels hold K rounded up to a multiple of this (zero rows past K): whole
// AMX tiles (16 pairs of k) and VDPBF16PS pairs, with no tail to mask.
inline constexpr int64_t kGemmBf16KAlign = 32;

// The fewest rows a call needs to take the BF16 dot products (below, the exact
// chain: decode steps read each weight once and are bound by memory anyway).
inline constexpr int64_t kBf16ProductsMinRows = 16;

// W packed as ceil(N / kGemmNR) panels of [K][kGemmNR] elements, one after
// the other, in one 64-byte-aligned allocation of panels * K * kGemmNR
// elements: the size of W with N rounded up to 32 (ViT: exactly W; N = 80:
// +20%). The elements are F32 (pack_weights) or the checkpoint's F16 / BF16
// bits (pack_weights_half: half the bytes; the micro-kernels widen them in
// registers, exactly, and the results equal the F32 panels' on the widened
// weights bit for bit).
// BF16 panels pair consecutive k (the layout AMX tiles and VDPBF16PS read,
// "VNNI"): panel j is [Kp / 2][kGemmNR][2], element (n, k) at
// [k / 2][n % kGemmNR][k % 2], with Kp = K rounded up to kGemmBf16KAlign
// (zeros past K). One 64-byte row then holds 16 columns at k and k + 1, and
// widening either is one shift or one mask. F32 and F16 panels: Kp = K. Move-only, immutable after packing, shared
// read-only by any number of threads and sessions; keep it next to the
// layer's weights for the life of the model. gemm_packed never reads W
// itself, so a layer served only by it (M > 1, and M == 1 too) need not keep
// W's pages resident.
// How PackedWeights frees its panels: large ones are mapped pages of their
// own (munmap'd, so the memory goes back to the system with the model),
// small ones come from aligned_alloc.
struct PackedWeightsFree {
    size_t mapped = 0;  // bytes mapped; 0: aligned_alloc
    void operator()(unsigned char* p) const;
};

class PackedWeights {
public:
    PackedWeights() = default;
    int64_t out_features() const { return n_; }  // N
    int64_t in_features() const { return k_; }   // K
    int64_t panels() const { return (n_ + kGemmNR - 1) / kGemmNR; }
    bool empty() const { return n_ == 0; }
    WeightType type() const { return type_; }
    size_t element_bytes() const { return type_ == WeightType::F32 ? sizeof(float) : sizeof(uint16_t); }
    // K as stored in a panel: K, or for BF16 K rounded up to kGemmBf16KAlign.
    int64_t padded_k() const { return kp_; }
    // Elements from one panel to the next.
    int64_t panel_stride() const { return kp_ * kGemmNR; }
    // Panel j: output features j * kGemmNR + [0, kGemmNR), [K][kGemmNR] (BF16: [Kp / 2][kGemmNR][2]).
    // panel() for F32 weights, panel_half() for F16 / BF16 ones.
    const float* panel(int64_t j) const { return reinterpret_cast<const float*>(data_.get()) + j * panel_stride(); }
    const uint16_t* panel_half(int64_t j) const {
        return reinterpret_cast<const uint16_t*>(data_.get()) + j * panel_stride();
    }
    // Index of element (n, k) within its panel (n % kGemmNR's column).
    int64_t index_in_panel(int64_t n, int64_t k) const {
        const int64_t c = n % kGemmNR;
        return type_ == WeightType::BF16 ? (k / 2) * (2 * kGemmNR) + 2 * c + k % 2 : k * kGemmNR + c;
    }
    // Element (n, k) of W, widened to F32 (slow: for adapters' merges and tests).
    float at(int64_t n, int64_t k) const;
    size_t bytes() const { return static_cast<size_t>(panels() * panel_stride()) * element_bytes(); }
    // Whether gemm_packed may use BF16 dot products on these (BF16) weights
    // (see the top of this file); set once at load, before any call.
    bool bf16_products_allowed() const { return bf16_products_ && type_ == WeightType::BF16; }
    void allow_bf16_products(bool allow) { bf16_products_ = allow; }

private:
    std::unique_ptr<unsigned char[], PackedWeightsFree> data_;
    size_t capacity_ = 0;  // bytes allocated (repacking into a big enough buffer reuses it)
    int64_t n_ = 0, k_ = 0, kp_ = 0;
    WeightType type_ = WeightType::F32;
    bool bf16_products_ = false;
    void reserve(size_t bytes);
    friend void pack_weights_strided(PackedWeights& dst, const float* src, int64_t N, int64_t K, int64_t stride_n,
                                     int64_t stride_k);
    friend PackedWeights pack_weights_half(const uint16_t* W, WeightType type, int64_t N, int64_t K);
};

// Packs W [N, K] row-major (nn.Linear.weight).
PackedWeights pack_weights(const float* W, int64_t N, int64_t K);

// Packs W [N, K] row-major in its stored 16-bit type (F16 or BF16; the bits
// are copied, padding is +0). Throws std::invalid_argument for F32.
PackedWeights pack_weights_half(const uint16_t* W, WeightType type, int64_t N, int64_t K);

// General form: element (n, k) of the logical [N, K] weight is
// src[n * stride_n + k * stride_k]. With stride_n = 1, stride_k = N it packs a
// [K, N] row-major matrix (e.g. im2col columns used as the right operand).
// Reuses dst's allocation when it is large enough.
void pack_weights_strided(PackedWeights& dst, const float* src, int64_t N, int64_t K, int64_t stride_n,
                          int64_t stride_k);

struct GemmParams {
    int64_t rows = 0;          // M >= 0
    const float* x = nullptr;  // [M, K], row stride x_stride (any alignment)
    int64_t x_stride = 0;
    const PackedWeights* weights = nullptr;  // N, K
    const float* bias = nullptr;             // [N] or nullptr
    float* y = nullptr;                      // [M, N], row stride y_stride (any alignment)
    int64_t y_stride = 0;
    bool accumulate = false;  // y += x W^T (+ b) instead of y = ...
    // The BF16 dot-product unit the caller allows (bf16_products()); used
    // only for weights that allow_bf16_products and calls of at least
    // kBf16ProductsMinRows rows, by the avx512 kernels (the others ignore it).
    // The caller vouches that the CPU has the unit.
    Bf16Products bf16_products = Bf16Products::none;
};

// Computes output columns [n_begin, n_end) for all M rows. n_begin and n_end
// must each be a multiple of kGemmNR or N (an empty [N, N) is fine). Reads
// only x's M rows of K floats, bias[n_begin, n_end) and, when accumulating
// or when K spans several K blocks (K > 1536), y[M, n_begin:n_end); writes
// only y[M, n_begin:n_end). Thread-safe for disjoint column (or row) ranges.
// Throws krait::Error (KRAIT_ERR_INVALID_ARGUMENT) when weights is null or
// the range is outside [0, N] or off the panel boundaries.
KRAIT_VARIANT_BEGIN
void gemm_packed(const GemmParams& p, int64_t n_begin, int64_t n_end);
KRAIT_VARIANT_END

// Thread split rule: part i of `parts` gets [gemm_split(N, parts, i),
// gemm_split(N, parts, i + 1)), whole panels, panel counts differing by at
// most one. Equivalently, ThreadPool::parallel_for(N, kGemmNR, ...) already
// hands out panel-aligned ranges (grain kGemmNR).
inline int64_t gemm_split(int64_t N, int64_t parts, int64_t i) {
    const int64_t panels = (N + kGemmNR - 1) / kGemmNR;
    const int64_t begin = (panels / parts) * i + (i < panels % parts ? i : panels % parts);
    return begin * kGemmNR < N ? begin * kGemmNR : N;
}

}  // namespace krait::kernels
