// Shared building blocks (sdk/models/blocks.h) and their kernels
// (kernels/cpu/{layer_norm,activation_kernels,attention,conv2d}).
//
// 1. Each optimised kernel, driven through the threaded run_* entry points,
//    against its plain double-precision reference on random shapes (odd
//    sizes, strides, padding, groups, batch > 1, several thread counts).
// 2. Results are bitwise identical whatever the alignment of the caller's
//    buffers and whatever the thread count where work is split elementwise.
// 3. The semantics against PyTorch itself on tests/fixtures/blocks, made by
//    tools/gen_blocks_fixtures.py (F.layer_norm, F.gelu, sdpa, F.conv2d, BN).
//
// Tolerance everywhere: max |got - want| <= 1e-5 * max(1, max |want|) — fp32
// rounding of differently ordered sums and of vectorised exp/erf/tanh.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/dispatch.h"
#include "sdk/core/error.h"
#include "sdk/core/thread_pool.h"
#include "sdk/models/blocks.h"
#include "tests/common/fixtures.h"

namespace {

using krait::Activation;
using krait::testing::all_close;
namespace kn = krait::kernels;

constexpr float kTol = 1e-5f;

std::vector<float> random_vector(std::mt19937& rng, size_t n, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

std::string shape_str(std::initializer_list<int64_t> dims) {
    std::string s;
    for (int64_t d : dims) {
        if (!s.empty()) s += 'x';
        s += std::to_string(d);
    }
    return s;
}

bool bitwise_equal(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

// ---------------------------------------------------------------------------------------------
// LayerNorm
// ---------------------------------------------------------------------------------------------

TEST(LayerNorm, MatchesReferenceOnRandomShapes) {
    std::mt19937 rng(11);
    const int64_t shapes[][2] = {{1, 1}, {3, 7}, {5, 77}, {17, 768}, {2, 1000}, {300, 33}};
    for (int threads : {1, 3}) {
        krait::ThreadPool pool(threads);
        for (const auto& s : shapes) {
            for (int variant = 0; variant < 4; ++variant) {  // affine on/off, strided, in place
                const int64_t rows = s[0], dim = s[1];
                const bool strided = variant == 1, in_place = variant == 2, no_affine = variant == 3;
                const int64_t xs = strided ? dim + 5 : dim, ys = strided ? dim + 3 : dim;
                auto x = random_vector(rng, rows * xs, -4.0f, 6.0f);
                auto w = random_vector(rng, dim, 0.5f, 1.5f), b = random_vector(rng, dim);
                krait::LayerNormWeights ln{no_affine ? nullptr : w.data(), no_affine ? nullptr : b.data(), dim, 1e-5f};
                std::vector<float> want(rows * (in_place ? xs : ys)), got;
                kn::LayerNormParams p{rows, dim, x.data(), xs, ln.weight, ln.bias, ln.eps, want.data(),
                                      in_place ? xs : ys};
                kn::layer_norm_ref(p);
                if (in_place) {
                    got = x;
                    krait::run_layer_norm(pool, ln, got.data(), rows, xs, got.data(), xs);
                } else {
                    got.assign(want.size(), 0.0f);
                    krait::run_layer_norm(pool, ln, x.data(), rows, xs, got.data(), ys);
                }
                SCOPED_TRACE(shape_str({rows, dim}) + " variant " + std::to_string(variant));
                // Compare the rows' dim columns only (strided gaps hold x or zeros).
                const int64_t gs = in_place ? xs : ys;
                std::vector<float> g, wv;
                for (int64_t r = 0; r < rows; ++r)
                    for (int64_t i = 0; i < dim; ++i) g.push_back(got[r * gs + i]), wv.push_back(want[r * gs + i]);
                EXPECT_TRUE(all_close(g.data(), wv, kTol));
            }
        }
    }
}

TEST(LayerNorm, BitwiseIndependentOfAlignmentAndThreads) {
    std::mt19937 rng(12);
    const int64_t rows = 9, dim = 771;
    auto src = random_vector(rng, rows * dim + 32, -3.0f, 3.0f);
    auto w = random_vector(rng, dim), b = random_vector(rng, dim);
    krait::LayerNormWeights ln{w.data(), b.data(), dim, 1e-6f};
    std::vector<float> first;
    for (int threads : {1, 2, 4}) {
        krait::ThreadPool pool(threads);
        for (int xo : {0, 1, 3, 7}) {
            for (int yo : {0, 5, 16}) {
                std::vector<float> x(src.begin(), src.begin() + rows * dim + 32);
                std::memmove(x.data() + xo, src.data(), rows * dim * sizeof(float));
                std::vector<float> y(rows * dim + 32);
                krait::run_layer_norm(pool, ln, x.data() + xo, rows, dim, y.data() + yo, dim);
                std::vector<float> out(y.begin() + yo, y.begin() + yo + rows * dim);
                if (first.empty()) first = out;
                EXPECT_TRUE(bitwise_equal(out.data(), first.data(), out.size()))
                    << "threads " << threads << " x offset " << xo << " y offset " << yo;
            }
        }
    }
}

TEST(LayerNorm, RejectsBadArguments) {
    krait::ThreadPool pool(1);
    float x[4] = {};
    EXPECT_THROW(krait::run_layer_norm(pool, {nullptr, nullptr, 0, 1e-5f}, x, 1, 4, x, 4), krait::Error);
    EXPECT_THROW(krait::run_layer_norm(pool, {nullptr, nullptr, 4, 1e-5f}, x, 1, 3, x, 4), krait::Error);
}

// ---------------------------------------------------------------------------------------------
// Activations
// ---------------------------------------------------------------------------------------------

const std::pair<Activation, kn::ActivationKind> kActs[] = {
    {Activation::Relu, kn::ActivationKind::Relu},         {Activation::GeluErf, kn::ActivationKind::GeluErf},
    {Activation::GeluTanh, kn::ActivationKind::GeluTanh}, {Activation::QuickGelu, kn::ActivationKind::QuickGelu},
    {Activation::Silu, kn::ActivationKind::Silu},
};

TEST(Activations, MatchReferenceElementwise) {
    // Per element: |got - want| <= 1e-5 * max(1, |want|) (stricter than the global rule).
    std::mt19937 rng(21);
    krait::ThreadPool pool(3);
    for (int64_t n : {1, 15, 16, 17, 513, 40000}) {
        auto x = random_vector(rng, n, -12.0f, 12.0f);
        if (n > 10) x[0] = 0.0f, x[1] = -100.0f, x[2] = 100.0f, x[3] = 1e-30f, x[4] = -8.5f;
        for (const auto& [act, kind] : kActs) {
            auto got = x;
            krait::run_activation(pool, act, got.data(), n);
            for (int64_t i = 0; i < n; ++i) {
                const float want = kn::activation_ref(kind, x[i]);
                ASSERT_LE(std::fabs(got[i] - want), kTol * std::max(1.0f, std::fabs(want)))
                    << "activation " << static_cast<int>(kind) << " at x = " << x[i] << " (n " << n << ")";
            }
        }
    }
    auto x = random_vector(rng, 100), y = x;
    krait::run_activation(pool, Activation::None, y.data(), 100);
    EXPECT_TRUE(bitwise_equal(x.data(), y.data(), 100));
}

TEST(Activations, BitwiseIndependentOfAlignmentAndSplit) {
    std::mt19937 rng(22);
    const int64_t n = 5000;
    auto src = random_vector(rng, n, -6.0f, 6.0f);
    for (const auto& [act, kind] : kActs) {
        // Whole array at offset 0 on one thread is the baseline.
        std::vector<float> base = src;
        kn::active().apply_activation(kind, base.data(), n);
        for (int off : {1, 2, 5, 9}) {
            std::vector<float> buf(n + 16);
            std::memcpy(buf.data() + off, src.data(), n * sizeof(float));
            // Split at an odd place, as a thread split or a row segment would.
            kn::active().apply_activation(kind, buf.data() + off, 37);
            kn::active().apply_activation(kind, buf.data() + off + 37, n - 37);
            EXPECT_TRUE(bitwise_equal(buf.data() + off, base.data(), n))
                << "activation " << static_cast<int>(kind) << " offset " << off;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// MLP
// ---------------------------------------------------------------------------------------------

std::vector<float> linear_plain(const std::vector<float>& x, int64_t rows, const std::vector<float>& w,
                                const float* b, int64_t in, int64_t out) {
    std::vector<float> y(rows * out);
    kn::LinearParams p{rows, in, out, x.data(), in, w.data(), b, y.data(), out, false};
    kn::linear_ref(p);
    return y;
}

TEST(Mlp, MatchesReference) {
    std::mt19937 rng(31);
    krait::ThreadPool pool(3);
    const int64_t shapes[][3] = {{1, 8, 32}, {5, 24, 61}, {1500, 40, 97}};  // rows, dim, hidden (> row block)
    for (const auto& s : shapes) {
        for (const auto& [act, kind] : kActs) {
            for (bool accumulate : {false, true}) {
                const int64_t rows = s[0], dim = s[1], hidden = s[2];
                auto x = random_vector(rng, rows * dim, -2.0f, 2.0f);
                auto w1 = random_vector(rng, hidden * dim, -0.3f, 0.3f), b1 = random_vector(rng, hidden);
                auto w2 = random_vector(rng, dim * hidden, -0.3f, 0.3f), b2 = random_vector(rng, dim);
                auto y0 = random_vector(rng, rows * dim);
                auto h = linear_plain(x, rows, w1, b1.data(), dim, hidden);
                for (auto& v : h) v = kn::activation_ref(kind, v);
                auto want = linear_plain(h, rows, w2, b2.data(), hidden, dim);
                if (accumulate)
                    for (size_t i = 0; i < want.size(); ++i) want[i] += y0[i];
                krait::MlpWeights mlp{{w1.data(), b1.data(), dim, hidden}, {w2.data(), b2.data(), hidden, dim}, act};
                auto got = y0;
                std::vector<float> scratch;
                krait::run_mlp(pool, mlp, x.data(), rows, got.data(), accumulate, scratch);
                SCOPED_TRACE(shape_str({rows, dim, hidden}) + " act " + std::to_string(static_cast<int>(act)) +
                             (accumulate ? " accumulate" : ""));
                EXPECT_TRUE(all_close(got.data(), want, kTol));
                if (accumulate) {
                    // The residual pattern x += mlp(x): y aliases x.
                    auto residual = x;
                    krait::run_mlp(pool, mlp, residual.data(), rows, residual.data(), true, scratch);
                    auto want_res = linear_plain(h, rows, w2, b2.data(), hidden, dim);
                    for (size_t i = 0; i < want_res.size(); ++i) want_res[i] += x[i];
                    EXPECT_TRUE(all_close(residual.data(), want_res, kTol)) << "in place";
                }
            }
        }
    }
}

TEST(Mlp, RejectsMismatchedLayers) {
    krait::ThreadPool pool(1);
    std::vector<float> w(64), x(8), y(8), scratch;
    krait::MlpWeights mlp{{w.data(), nullptr, 4, 8}, {w.data(), nullptr, 7, 4}, Activation::GeluErf};
    EXPECT_THROW(krait::run_mlp(pool, mlp, x.data(), 1, y.data(), false, scratch), krait::Error);
}

// ---------------------------------------------------------------------------------------------
// Attention
// ---------------------------------------------------------------------------------------------

TEST(AttentionKernel, MatchesReferenceOnRandomShapes) {
    std::mt19937 rng(41);
    const int64_t shapes[][2] = {{1, 8}, {7, 12}, {49, 32}, {100, 16}, {197, 64}, {577, 64}};
    for (const auto& s : shapes) {
        for (bool causal : {false, true}) {
            const int64_t T = s[0], hd = s[1], stride = 3 * hd + 5;  // q | k | v columns plus a gap
            auto qkv = random_vector(rng, T * stride, -2.0f, 2.0f);
            auto want = qkv, got = qkv;
            auto params = [&](std::vector<float>& buf) {
                kn::AttentionParams p;
                p.tokens = T;
                p.head_dim = hd;
                p.q = buf.data();
                p.k = buf.data() + hd;
                p.v = buf.data() + 2 * hd;
                p.out = buf.data();  // in place over q, as run_self_attention does
                p.q_stride = p.k_stride = p.v_stride = p.out_stride = stride;
                p.scale = 1.0f / std::sqrt(static_cast<float>(hd));
                p.causal = causal;
                return p;
            };
            kn::attention_ref(params(want));
            std::vector<float> scratch(kn::attention_scratch_floats(T));
            kn::active().attention(params(got), scratch.data());
            SCOPED_TRACE(shape_str({T, hd}) + (causal ? " causal" : ""));
            EXPECT_TRUE(all_close(got.data(), want, kTol));
        }
    }
}

// Queries over a longer KV cache (the last T of S positions), with and without a sliding window,
// through several 128-query blocks: the shapes Llama/Mistral prefill and decode produce.
TEST(AttentionKernel, CausalOverACacheWithWindowsMatchesReference) {
    std::mt19937 rng(43);
    // {T queries, S keys, head_dim, window}
    const int64_t shapes[][4] = {{1, 1, 8, 0},    {1, 37, 16, 0},  {5, 37, 16, 0},  {37, 37, 20, 8},
                                 {1, 300, 64, 0}, {130, 300, 64, 0}, {300, 300, 32, 0}, {300, 300, 32, 17},
                                 {9, 200, 16, 3}, {1, 200, 16, 1}};
    for (const auto& s : shapes) {
        const int64_t T = s[0], S = s[1], hd = s[2], window = s[3];
        const int64_t kv_stride = 2 * hd + 3;  // k | v of one KV head inside a wider cache row
        auto q = random_vector(rng, T * hd, -2.0f, 2.0f);
        auto kv = random_vector(rng, S * kv_stride, -2.0f, 2.0f);
        std::vector<float> want(T * hd), got(T * hd, 7.0f);
        auto params = [&](std::vector<float>& out) {
            kn::AttentionParams p;
            p.tokens = T;
            p.keys = S;
            p.head_dim = hd;
            p.q = q.data();
            p.q_stride = hd;
            p.k = kv.data();
            p.v = kv.data() + hd;
            p.k_stride = p.v_stride = kv_stride;
            p.out = out.data();
            p.out_stride = hd;
            p.scale = 1.0f / std::sqrt(static_cast<float>(hd));
            p.causal = true;
            p.query_offset = S - T;
            p.window = window;
            return p;
        };
        kn::attention_ref(params(want));
        std::vector<float> scratch(kn::attention_scratch_floats(T, S));
        kn::active().attention(params(got), scratch.data());
        SCOPED_TRACE(shape_str({T, S, hd, window}));
        EXPECT_TRUE(all_close(got.data(), want, kTol));
    }
}

struct AttnCase {
    int64_t sequences, tokens, heads, head_dim;
    bool fused, bias, causal;
};

// Plain reference of the whole block: projections, per (sequence, head) attention_ref, out projection.
std::vector<float> self_attention_plain(const AttnCase& c, const std::vector<float>& x, const krait::AttentionWeights& a) {
    const int64_t dim = c.heads * c.head_dim, rows = c.sequences * c.tokens;
    std::vector<float> qkv(rows * 3 * dim);
    auto project = [&](const krait::Linear& l, float* y) {
        kn::LinearParams p{rows, l.in_features, l.out_features, x.data(), dim, l.weight, l.bias, y, 3 * dim, false};
        kn::linear_ref(p);
    };
    if (c.fused) {
        project(a.qkv, qkv.data());
    } else {
        project(a.q, qkv.data());
        project(a.k, qkv.data() + dim);
        project(a.v, qkv.data() + 2 * dim);
    }
    std::vector<float> o(rows * dim);
    for (int64_t s = 0; s < c.sequences; ++s)
        for (int64_t h = 0; h < c.heads; ++h) {
            float* base = qkv.data() + s * c.tokens * 3 * dim + h * c.head_dim;
            kn::AttentionParams p;
            p.tokens = c.tokens;
            p.head_dim = c.head_dim;
            p.q = base, p.k = base + dim, p.v = base + 2 * dim;
            p.q_stride = p.k_stride = p.v_stride = 3 * dim;
            p.out = o.data() + s * c.tokens * dim + h * c.head_dim;
            p.out_stride = dim;
            p.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
            p.causal = c.causal;
            kn::attention_ref(p);
        }
    std::vector<float> y(rows * dim);
    kn::LinearParams p{rows, dim, dim, o.data(), dim, a.out.weight, a.out.bias, y.data(), dim, false};
    kn::linear_ref(p);
    return y;
}

struct AttnWeightsOwned {
    std::vector<float> wq, bq, wk, bk, wv, bv, wqkv, bqkv, wo, bo;
    krait::AttentionWeights a;
    AttnWeightsOwned(std::mt19937& rng, const AttnCase& c) {
        const int64_t dim = c.heads * c.head_dim;
        const float r = 1.0f / std::sqrt(static_cast<float>(dim));
        auto lin = [&](std::vector<float>& w, std::vector<float>& b, int64_t out) {
            w = random_vector(rng, out * dim, -r, r);
            b = random_vector(rng, out, -0.1f, 0.1f);
            return krait::Linear{w.data(), c.bias ? b.data() : nullptr, dim, out};
        };
        if (c.fused) {
            a.qkv = lin(wqkv, bqkv, 3 * dim);
        } else {
            a.q = lin(wq, bq, dim);
            a.k = lin(wk, bk, dim);
            a.v = lin(wv, bv, dim);
        }
        a.out = lin(wo, bo, dim);
        a.num_heads = c.heads;
        a.head_dim = c.head_dim;
        a.causal = c.causal;
    }
};

TEST(SelfAttention, MatchesReference) {
    std::mt19937 rng(42);
    const AttnCase cases[] = {
        {1, 1, 1, 4, false, true, false},     {3, 37, 4, 12, false, true, false},
        {2, 197, 3, 64, false, true, false},  {50, 49, 4, 8, true, true, false},  // many windows: > one row block
        {7, 16, 2, 16, true, false, false},   {2, 33, 3, 8, false, false, true},
    };
    for (const auto& c : cases) {
        AttnWeightsOwned w(rng, c);
        const int64_t dim = c.heads * c.head_dim, rows = c.sequences * c.tokens;
        auto x = random_vector(rng, rows * dim, -2.0f, 2.0f);
        const auto want = self_attention_plain(c, x, w.a);
        SCOPED_TRACE(shape_str({c.sequences, c.tokens, c.heads, c.head_dim}) + (c.fused ? " fused" : "") +
                     (c.causal ? " causal" : ""));
        for (int threads : {1, 3}) {
            krait::ThreadPool pool(threads);
            std::vector<float> scratch, got(rows * dim);
            krait::run_self_attention(pool, w.a, x.data(), c.sequences, c.tokens, got.data(), false, scratch);
            EXPECT_TRUE(all_close(got.data(), want, kTol)) << "threads " << threads;
            // Accumulate into a residual that is the input itself (y aliases x).
            auto residual = x;
            krait::run_self_attention(pool, w.a, residual.data(), c.sequences, c.tokens, residual.data(), true,
                                      scratch);
            auto want_acc = want;
            for (size_t i = 0; i < want_acc.size(); ++i) want_acc[i] += x[i];
            EXPECT_TRUE(all_close(residual.data(), want_acc, kTol)) << "accumulate in place, threads " << threads;
        }
    }
}

TEST(SelfAttention, BitwiseIndependentOfAlignment) {
    std::mt19937 rng(43);
    const AttnCase c{3, 29, 2, 12, true, true, false};
    AttnWeightsOwned w(rng, c);
    const int64_t dim = c.heads * c.head_dim, rows = c.sequences * c.tokens;
    const auto src = random_vector(rng, rows * dim, -2.0f, 2.0f);
    krait::ThreadPool pool(2);
    std::vector<float> first;
    for (int off : {0, 1, 3, 6}) {
        std::vector<float> x(rows * dim + 16), y(rows * dim + 16);
        std::memcpy(x.data() + off, src.data(), src.size() * sizeof(float));
        std::vector<float> scratch(off + 1);  // a different heap block each time
        krait::run_self_attention(pool, w.a, x.data() + off, c.sequences, c.tokens, y.data() + off, false, scratch);
        std::vector<float> out(y.begin() + off, y.begin() + off + rows * dim);
        if (first.empty()) first = out;
        EXPECT_TRUE(bitwise_equal(out.data(), first.data(), out.size())) << "offset " << off;
    }
}

TEST(SelfAttention, RejectsInconsistentShapes) {
    krait::ThreadPool pool(1);
    std::vector<float> w(64 * 64), x(64), y(64), scratch;
    krait::AttentionWeights a;
    a.qkv = {w.data(), nullptr, 8, 24};
    a.out = {w.data(), nullptr, 8, 8};
    a.num_heads = 3;  // 3 * 4 != 8
    a.head_dim = 4;
    EXPECT_THROW(krait::run_self_attention(pool, a, x.data(), 1, 8, y.data(), false, scratch), krait::Error);
    a.num_heads = 2;
    a.qkv.out_features = 16;  // not 3 * dim
    EXPECT_THROW(krait::run_self_attention(pool, a, x.data(), 1, 8, y.data(), false, scratch), krait::Error);
    a.qkv = {};
    a.q = a.k = {w.data(), nullptr, 8, 8};  // v missing
    EXPECT_THROW(krait::run_self_attention(pool, a, x.data(), 1, 8, y.data(), false, scratch), krait::Error);
}

// ---------------------------------------------------------------------------------------------
// Conv2d and BatchNorm folding
// ---------------------------------------------------------------------------------------------

struct ConvCase {
    int64_t batch, cin, cout, h, w, kh, kw, stride, padding, groups;
    bool bias;
};

std::string conv_name(const ConvCase& c) {
    return shape_str({c.batch, c.cin, c.h, c.w}) + " -> " + std::to_string(c.cout) + " k" + shape_str({c.kh, c.kw}) +
           " s" + std::to_string(c.stride) + " p" + std::to_string(c.padding) + " g" + std::to_string(c.groups);
}

std::vector<float> conv_plain(const ConvCase& c, const std::vector<float>& x, const std::vector<float>& w,
                              const float* bias) {
    kn::Conv2dParams p;
    p.batch = c.batch, p.in_channels = c.cin, p.out_channels = c.cout, p.groups = c.groups;
    p.in_h = c.h, p.in_w = c.w, p.kernel_h = c.kh, p.kernel_w = c.kw, p.stride = c.stride, p.padding = c.padding;
    p.out_h = (c.h + 2 * c.padding - c.kh) / c.stride + 1;
    p.out_w = (c.w + 2 * c.padding - c.kw) / c.stride + 1;
    std::vector<float> y(c.batch * c.cout * p.out_h * p.out_w);
    p.x = x.data(), p.weight = w.data(), p.bias = bias, p.y = y.data();
    kn::conv2d_ref(p);
    return y;
}

TEST(Conv2d, MatchesReferenceOnRandomShapes) {
    std::mt19937 rng(51);
    const ConvCase cases[] = {
        {1, 3, 8, 13, 11, 3, 3, 2, 1, 1, true},     // stem-like, odd sizes, stride 2
        {2, 6, 4, 11, 9, 3, 3, 1, 1, 2, true},      // groups 2
        {2, 6, 9, 10, 7, 3, 3, 2, 1, 3, false},     // groups 3, stride 2
        {2, 5, 5, 9, 8, 3, 3, 1, 1, 5, true},       // depthwise
        {2, 5, 10, 9, 8, 3, 3, 2, 1, 5, true},      // depthwise, channel multiplier 2, stride 2
        {1, 4, 4, 12, 12, 7, 7, 1, 3, 4, false},    // depthwise 7x7
        {2, 6, 6, 23, 19, 5, 5, 1, 2, 6, true},     // depthwise 5x5 (several 64-output blocks per plane)
        {1, 5, 5, 21, 18, 5, 5, 2, 2, 5, true},     // depthwise 5x5 stride 2, odd height
        {1, 3, 6, 17, 20, 3, 3, 2, 1, 3, false},    // depthwise 3x3 stride 2, multiplier 2
        {1, 4, 4, 7, 7, 3, 3, 1, 1, 4, true},       // depthwise on a 7x7 plane
        {1, 2, 2, 9, 10, 3, 3, 3, 0, 2, true},      // depthwise stride 3, no padding
        {2, 7, 9, 5, 6, 1, 1, 1, 0, 1, true},       // pointwise
        {1, 8, 6, 9, 9, 1, 1, 2, 0, 2, true},       // 1x1 stride 2, grouped
        {2, 3, 16, 48, 32, 16, 16, 16, 0, 1, true}, // ViT patch embedding
        {1, 3, 12, 40, 37, 4, 4, 4, 0, 1, true},    // patch 4 (Swin-like), > 256 output positions
        {3, 16, 24, 41, 39, 3, 3, 1, 1, 1, true},   // many positions: several tiles per image
        {1, 2, 3, 4, 5, 5, 3, 1, 2, 1, true},       // non-square kernel, padding larger than needed
        {1, 2, 2, 3, 3, 3, 3, 3, 0, 1, false},      // a single output position
    };
    for (int threads : {1, 2, 5}) {
        krait::ThreadPool pool(threads);
        for (const auto& c : cases) {
            auto x = random_vector(rng, c.batch * c.cin * c.h * c.w, -2.0f, 2.0f);
            auto w = random_vector(rng, c.cout * (c.cin / c.groups) * c.kh * c.kw, -0.5f, 0.5f);
            auto b = random_vector(rng, c.cout);
            const float* bias = c.bias ? b.data() : nullptr;
            const auto want = conv_plain(c, x, w, bias);
            krait::Conv2dWeights conv{w.data(), bias, c.cin, c.cout, c.kh, c.kw, c.stride, c.padding, c.groups};
            std::vector<float> got(want.size(), NAN), scratch;
            krait::run_conv2d(pool, conv, x.data(), c.batch, c.h, c.w, got.data(), scratch);
            EXPECT_TRUE(all_close(got.data(), want, kTol)) << conv_name(c) << ", threads " << threads;
        }
    }
}

TEST(Conv2d, BitwiseIndependentOfAlignment) {
    std::mt19937 rng(52);
    for (const ConvCase& c : {ConvCase{2, 6, 8, 15, 13, 3, 3, 1, 1, 1, true}, ConvCase{2, 6, 6, 15, 13, 3, 3, 1, 1, 6, true}}) {
        const int64_t oh = c.h, ow = c.w, n_out = c.batch * c.cout * oh * ow, n_in = c.batch * c.cin * c.h * c.w;
        const auto src = random_vector(rng, n_in);
        auto w = random_vector(rng, c.cout * (c.cin / c.groups) * 9), b = random_vector(rng, c.cout);
        krait::Conv2dWeights conv{w.data(), b.data(), c.cin, c.cout, 3, 3, 1, 1, c.groups};
        krait::ThreadPool pool(2);
        std::vector<float> first;
        for (int off : {0, 1, 2, 7}) {
            std::vector<float> x(n_in + 16), y(n_out + 16), scratch(off + 1);
            std::memcpy(x.data() + off, src.data(), n_in * sizeof(float));
            krait::run_conv2d(pool, conv, x.data() + off, c.batch, c.h, c.w, y.data() + off, scratch);
            std::vector<float> out(y.begin() + off, y.begin() + off + n_out);
            if (first.empty()) first = out;
            EXPECT_TRUE(bitwise_equal(out.data(), first.data(), out.size())) << conv_name(c) << " offset " << off;
        }
    }
}

TEST(Conv2d, OutputSizeAndBadArguments) {
    EXPECT_EQ(krait::conv2d_output_size(224, 16, 16, 0), 14);
    EXPECT_EQ(krait::conv2d_output_size(224, 3, 2, 1), 112);
    EXPECT_EQ(krait::conv2d_output_size(7, 3, 2, 1), 4);
    EXPECT_EQ(krait::conv2d_output_size(1, 1, 1, 0), 1);
    EXPECT_THROW(krait::conv2d_output_size(15, 16, 16, 0), krait::Error);  // image smaller than a patch
    EXPECT_THROW(krait::conv2d_output_size(0, 3, 1, 1), krait::Error);
    EXPECT_THROW(krait::conv2d_output_size(8, 3, 0, 1), krait::Error);

    krait::ThreadPool pool(1);
    std::vector<float> w(64), x(64), y(64), scratch;
    krait::Conv2dWeights conv{w.data(), nullptr, 6, 4, 1, 1, 1, 0, 4};  // 6 channels not divisible by 4 groups
    EXPECT_THROW(krait::run_conv2d(pool, conv, x.data(), 1, 2, 2, y.data(), scratch), krait::Error);
    conv = {nullptr, nullptr, 2, 2, 1, 1, 1, 0, 1};
    EXPECT_THROW(krait::run_conv2d(pool, conv, x.data(), 1, 2, 2, y.data(), scratch), krait::Error);
    conv = {w.data(), nullptr, 2, 2, 3, 3, 1, 0, 1};  // 2x2 image, 3x3 kernel, no padding
    EXPECT_THROW(krait::run_conv2d(pool, conv, x.data(), 1, 2, 2, y.data(), scratch), krait::Error);
    conv = {w.data(), nullptr, 2, 2, 3, 3, 1, 1, 1};
    EXPECT_THROW(krait::run_conv2d(pool, conv, x.data(), 1, 2, 2, x.data() + 3, scratch), krait::Error);  // overlap
    krait::run_conv2d(pool, conv, x.data(), 1, 2, 2, y.data(), scratch);  // the same call without overlap runs
}

TEST(FoldBatchNorm, EqualsConvThenBatchNorm) {
    std::mt19937 rng(53);
    for (bool conv_bias : {false, true}) {
        const ConvCase c{2, 4, 6, 9, 10, 3, 3, 1, 1, 1, conv_bias};
        auto x = random_vector(rng, c.batch * c.cin * c.h * c.w, -2.0f, 2.0f);
        auto w = random_vector(rng, c.cout * c.cin * 9, -0.5f, 0.5f), b = random_vector(rng, c.cout);
        auto gamma = random_vector(rng, c.cout, 0.5f, 1.5f), beta = random_vector(rng, c.cout);
        auto mean = random_vector(rng, c.cout), var = random_vector(rng, c.cout, 0.1f, 2.0f);
        const float eps = 1e-5f;
        auto want = conv_plain(c, x, w, conv_bias ? b.data() : nullptr);
        const int64_t plane = c.h * c.w;
        for (int64_t i = 0; i < static_cast<int64_t>(want.size()); ++i) {
            const int64_t oc = (i / plane) % c.cout;
            want[i] = static_cast<float>((want[i] - mean[oc]) / std::sqrt(double(var[oc]) + eps) * gamma[oc] + beta[oc]);
        }
        krait::Conv2dWeights conv{w.data(), conv_bias ? b.data() : nullptr, c.cin, c.cout, 3, 3, 1, 1, 1};
        std::vector<float> fw, fb;
        krait::fold_batch_norm(conv, gamma.data(), beta.data(), mean.data(), var.data(), eps, fw, fb);
        ASSERT_EQ(fw.size(), w.size());
        ASSERT_EQ(fb.size(), size_t(c.cout));
        krait::Conv2dWeights folded{fw.data(), fb.data(), c.cin, c.cout, 3, 3, 1, 1, 1};
        krait::ThreadPool pool(2);
        std::vector<float> got(want.size()), scratch;
        krait::run_conv2d(pool, folded, x.data(), c.batch, c.h, c.w, got.data(), scratch);
        EXPECT_TRUE(all_close(got.data(), want, kTol)) << (conv_bias ? "conv with bias" : "conv without bias");
    }
    std::vector<float> w(9), g(1, 1.0f), z(1, 0.0f), neg(1, -1.0f), fw, fb;
    krait::Conv2dWeights conv{w.data(), nullptr, 1, 1, 3, 3, 1, 1, 1};
    EXPECT_THROW(krait::fold_batch_norm(conv, g.data(), z.data(), z.data(), neg.data(), 1e-5f, fw, fb), krait::Error);
}

// ---------------------------------------------------------------------------------------------
// Against PyTorch (tests/fixtures/blocks/expected.safetensors, tools/gen_blocks_fixtures.py)
// ---------------------------------------------------------------------------------------------

class TorchReference : public ::testing::Test {
protected:
    krait::testing::Expected ref{krait::testing::fixture("blocks")};
    std::vector<float> f(const std::string& name) const { return ref.values<float>(name); }
    std::vector<int32_t> i(const std::string& name) const { return ref.values<int32_t>(name); }
    bool has(const std::string& name) const { return ref.file.tensors().count(name) != 0; }
    krait::ThreadPool pool{2};
};

TEST_F(TorchReference, LayerNorm) {
    for (const std::string c : {"odd", "vit"}) {
        const auto x = f("ln_" + c + "_x"), w = f("ln_" + c + "_weight"), b = f("ln_" + c + "_bias");
        const auto want = f("ln_" + c + "_y");
        const int64_t dim = static_cast<int64_t>(w.size()), rows = static_cast<int64_t>(x.size()) / dim;
        std::vector<float> got(x.size());
        krait::run_layer_norm(pool, {w.data(), b.data(), dim, f("ln_" + c + "_eps")[0]}, x.data(), rows, dim,
                              got.data(), dim);
        EXPECT_TRUE(all_close(got.data(), want, kTol)) << c;
    }
}

TEST_F(TorchReference, Activations) {
    const auto x = f("act_x");
    const std::pair<const char*, Activation> acts[] = {{"act_gelu_erf", Activation::GeluErf},
                                                       {"act_gelu_tanh", Activation::GeluTanh},
                                                       {"act_quick_gelu", Activation::QuickGelu},
                                                       {"act_silu", Activation::Silu},
                                                       {"act_relu", Activation::Relu}};
    for (const auto& [name, act] : acts) {
        auto got = x;
        krait::run_activation(pool, act, got.data(), static_cast<int64_t>(got.size()));
        EXPECT_TRUE(all_close(got.data(), f(name), kTol)) << name;
    }
}

TEST_F(TorchReference, ScaledDotProductAttention) {
    for (const std::string c : {"sep", "fused", "causal"}) {
        const std::string pre = "attn_" + c + "_";
        const auto shape = i(pre + "shape");  // S, T, heads, head_dim, causal
        const int64_t S = shape[0], T = shape[1], H = shape[2], hd = shape[3], dim = H * hd;
        std::vector<std::vector<float>> keep;
        auto lin = [&](const std::string& p) {
            keep.push_back(f(pre + p + "_weight"));
            const float* w = keep.back().data();
            const int64_t out = static_cast<int64_t>(keep.back().size()) / dim;
            const float* b = nullptr;
            if (has(pre + p + "_bias")) {
                keep.push_back(f(pre + p + "_bias"));
                b = keep.back().data();
            }
            return krait::Linear{w, b, dim, out};
        };
        keep.reserve(16);
        krait::AttentionWeights a;
        if (has(pre + "qkv_weight")) {
            a.qkv = lin("qkv");
        } else {
            a.q = lin("q");
            a.k = lin("k");
            a.v = lin("v");
        }
        a.out = lin("o");
        a.num_heads = H;
        a.head_dim = hd;
        a.causal = shape[4] != 0;
        const auto x = f(pre + "x");
        std::vector<float> got(x.size()), scratch;
        krait::run_self_attention(pool, a, x.data(), S, T, got.data(), false, scratch);
        EXPECT_TRUE(all_close(got.data(), f(pre + "y"), kTol)) << c;
    }
}

TEST_F(TorchReference, Conv2d) {
    for (const std::string c : {"grouped", "depthwise", "patch", "pointwise", "stem"}) {
        const std::string pre = "conv_" + c + "_";
        const auto& xi = ref.tensor(pre + "x");
        const auto& wi = ref.tensor(pre + "weight");
        const auto params = i(pre + "params");  // stride, padding, groups
        const auto x = f(pre + "x"), w = f(pre + "weight");
        const auto b = has(pre + "bias") ? f(pre + "bias") : std::vector<float>();
        krait::Conv2dWeights conv{w.data(), b.empty() ? nullptr : b.data(), xi.shape[1], wi.shape[0], wi.shape[2],
                                  wi.shape[3], params[0], params[1], params[2]};
        const auto want = f(pre + "y");
        std::vector<float> got(want.size()), scratch;
        krait::run_conv2d(pool, conv, x.data(), xi.shape[0], xi.shape[2], xi.shape[3], got.data(), scratch);
        EXPECT_TRUE(all_close(got.data(), want, kTol)) << c;
    }
}

TEST_F(TorchReference, ConvThenBatchNormFolded) {
    const auto& xi = ref.tensor("convbn_x");
    const auto x = f("convbn_x"), w = f("convbn_weight");
    const auto gamma = f("convbn_gamma"), beta = f("convbn_beta"), mean = f("convbn_mean"), var = f("convbn_var");
    const int64_t cout = static_cast<int64_t>(gamma.size());
    krait::Conv2dWeights conv{w.data(), nullptr, xi.shape[1], cout, 3, 3, 1, 1, 1};
    std::vector<float> fw, fb;
    krait::fold_batch_norm(conv, gamma.data(), beta.data(), mean.data(), var.data(), 1e-5f, fw, fb);
    conv.weight = fw.data();
    conv.bias = fb.data();
    const auto want = f("convbn_y");
    std::vector<float> got(want.size()), scratch;
    krait::run_conv2d(pool, conv, x.data(), xi.shape[0], xi.shape[2], xi.shape[3], got.data(), scratch);
    EXPECT_TRUE(all_close(got.data(), want, kTol));
}

}  // namespace
