// Elementwise ONNX operators (activations, arithmetic with numpy broadcasting, comparisons, Where,
// Clip, Cast), the trivial ones (Identity, Dropout at inference, Constant, ConstantOfShape, Range)
// and ReduceMean / Gelu. Float paths split over the pool in chunks of ~16K elements; broadcasting
// collapses the shapes first so the same-shape, scalar and row-broadcast cases reduce to one
// vectorisable inner loop.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cpu/activation_kernels.h"
#include "kernels/cpu/dispatch.h"
#include "sdk/core/error.h"
#include "sdk/onnx/onnx_ops.h"

namespace krait::onnx {

namespace {

constexpr int64_t kGrain = 16384;

const char* type_name(ElemType t) { return elem_type_name(static_cast<int32_t>(t)); }

const Tensor& input(const Node& node, const std::vector<const Tensor*>& inputs, size_t i) {
    if (i >= inputs.size() || !inputs[i] || !inputs[i]->defined())
        fail_node(node, "input " + std::to_string(i) + " is missing");
    return *inputs[i];
}

const Tensor* optional_input(const std::vector<const Tensor*>& inputs, size_t i) {
    return i < inputs.size() && inputs[i] && inputs[i]->defined() ? inputs[i] : nullptr;
}

void set_output(std::vector<Tensor>& outputs, size_t i, Tensor t) {
    if (i < outputs.size()) outputs[i] = std::move(t);
}

// Tensor::to_int64s without its memcpy of zero bytes from / to null pointers on an empty tensor
// (undefined behaviour that the sanitizer builds stop on).
std::vector<int64_t> int64_values(const Tensor& t) { return t.numel() == 0 ? std::vector<int64_t>{} : t.to_int64s(); }

bool is_numeric(ElemType t) { return t == ElemType::Float || t == ElemType::Int32 || t == ElemType::Int64; }

// Float -> integer as static_cast (truncation toward zero), saturating where static_cast would be
// undefined (NaN -> 0, out of range -> the nearest bound).
template <class I, class F>
I float_to_int(F v) {
    if (std::isnan(v)) return 0;
    if (v <= static_cast<F>(std::numeric_limits<I>::lowest())) return std::numeric_limits<I>::lowest();
    if (v >= static_cast<F>(std::numeric_limits<I>::max())) return std::numeric_limits<I>::max();
    return static_cast<I>(v);
}

// Value of a one-element tensor as T (types checked by the caller).
template <class T>
T scalar_value(const Tensor& t) {
    return t.data<T>()[0];
}

// ---- broadcasting ----------------------------------------------------------------------------

// N input shapes broadcast to `out_shape`, collapsed: adjacent dims merge where every input steps
// through them the same way. Strides are in elements; 0 where an input broadcasts. The innermost
// collapsed dim has stride 0 or 1 in every input.
template <size_t N>
struct Broadcast {
    Shape out_shape;
    int64_t numel = 0;
    std::vector<int64_t> dims;
    std::array<std::vector<int64_t>, N> strides;
    bool inner_contiguous(size_t k) const { return strides[k].back() != 0; }
};

template <size_t N>
Broadcast<N> plan_broadcast(const std::array<const Shape*, N>& shapes, const Node& node) {
    Broadcast<N> p;
    Shape out = *shapes[0];
    for (size_t k = 1; k < N; ++k) out = broadcast_shapes(out, *shapes[k], node);
    p.numel = shape_numel(out);
    const size_t r = out.size();
    std::array<std::vector<int64_t>, N> st;
    for (size_t k = 0; k < N; ++k) {
        const Shape& s = *shapes[k];
        st[k].assign(r, 0);
        const size_t off = r - s.size();
        int64_t acc = 1;
        for (size_t i = s.size(); i-- > 0;) {
            st[k][off + i] = s[i] == 1 ? 0 : acc;
            acc *= s[i];
        }
    }
    for (size_t i = 0; i < r; ++i) {
        if (out[i] == 1) continue;
        if (!p.dims.empty()) {
            bool merge = true;
            for (size_t k = 0; k < N; ++k)
                if (p.strides[k].back() != st[k][i] * out[i]) merge = false;
            if (merge) {
                p.dims.back() *= out[i];
                for (size_t k = 0; k < N; ++k) p.strides[k].back() = st[k][i];
                continue;
            }
        }
        p.dims.push_back(out[i]);
        for (size_t k = 0; k < N; ++k) p.strides[k].push_back(st[k][i]);
    }
    if (p.dims.empty()) {
        p.dims.push_back(1);
        for (size_t k = 0; k < N; ++k) p.strides[k].push_back(0);
    }
    p.out_shape = std::move(out);
    return p;
}

// Calls inner(offsets of the N inputs, output offset, count) over runs of the innermost dim,
// covering every output element once, split over the pool.
template <size_t N, class Inner>
void run_broadcast(const Broadcast<N>& p, ThreadPool& pool, const Inner& inner) {
    if (p.numel == 0) return;
    const size_t m = p.dims.size();
    const int64_t n_inner = p.dims.back();
    pool.parallel_for(p.numel, kGrain, [&](int64_t begin, int64_t end) {
        std::vector<int64_t> coord(m);
        int64_t rem = begin;
        for (size_t d = m; d-- > 0;) {
            coord[d] = rem % p.dims[d];
            rem /= p.dims[d];
        }
        std::array<int64_t, N> off{};
        for (size_t k = 0; k < N; ++k)
            for (size_t d = 0; d < m; ++d) off[k] += coord[d] * p.strides[k][d];
        int64_t pos = begin;
        while (pos < end) {
            const int64_t n = std::min(n_inner - coord[m - 1], end - pos);
            inner(off, pos, n);
            pos += n;
            if (pos >= end) break;
            coord[m - 1] += n;
            for (size_t k = 0; k < N; ++k) off[k] += n * p.strides[k][m - 1];
            if (coord[m - 1] < n_inner) continue;
            for (size_t k = 0; k < N; ++k) off[k] -= n_inner * p.strides[k][m - 1];
            coord[m - 1] = 0;
            for (size_t d = m - 1; d-- > 0;) {
                ++coord[d];
                for (size_t k = 0; k < N; ++k) off[k] += p.strides[k][d];
                if (coord[d] < p.dims[d]) break;
                for (size_t k = 0; k < N; ++k) off[k] -= p.dims[d] * p.strides[k][d];
                coord[d] = 0;
            }
        }
    });
}

template <class TA, class TB, class R, class F>
inline void loop_vv(const TA* __restrict a, const TB* __restrict b, R* __restrict o, int64_t n, const F& f) {
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i]);
}
template <class TA, class TB, class R, class F>
inline void loop_vs(const TA* __restrict a, TB b, R* __restrict o, int64_t n, const F& f) {
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b);
}
template <class TA, class TB, class R, class F>
inline void loop_sv(TA a, const TB* __restrict b, R* __restrict o, int64_t n, const F& f) {
    for (int64_t i = 0; i < n; ++i) o[i] = f(a, b[i]);
}

// out = f(a, b) with numpy broadcasting; out is allocated as `out_type`.
template <class TA, class TB, class R, class F>
Tensor binary_map(const Node& node, const Tensor& a, const Tensor& b, ElemType out_type, OpContext& ctx, const F& f) {
    const Broadcast<2> p = plan_broadcast<2>({&a.shape(), &b.shape()}, node);
    Tensor out = Tensor::allocate(out_type, p.out_shape);
    const TA* A = a.data<TA>();
    const TB* B = b.data<TB>();
    R* O = out.mutable_data<R>();
    const bool ca = p.inner_contiguous(0), cb = p.inner_contiguous(1);
    run_broadcast<2>(p, ctx.pool, [&](const std::array<int64_t, 2>& off, int64_t pos, int64_t n) {
        const TA* x = A + off[0];
        const TB* y = B + off[1];
        R* o = O + pos;
        if (ca && cb)
            loop_vv(x, y, o, n, f);
        else if (ca)
            loop_vs(x, *y, o, n, f);
        else if (cb)
            loop_sv(*x, y, o, n, f);
        else
            std::fill(o, o + n, static_cast<R>(f(*x, *y)));
    });
    return out;
}

// out = f(x) elementwise, same shape.
template <class T, class R, class F>
Tensor unary_map(const Tensor& x, ElemType out_type, OpContext& ctx, const F& f) {
    Tensor out = Tensor::allocate(out_type, x.shape());
    const T* X = x.data<T>();
    R* O = out.mutable_data<R>();
    ctx.pool.parallel_for(x.numel(), kGrain, [&](int64_t begin, int64_t end) {
        const T* __restrict xs = X + begin;
        R* __restrict os = O + begin;
        const int64_t n = end - begin;
        for (int64_t i = 0; i < n; ++i) os[i] = f(xs[i]);
    });
    return out;
}

// ---- activations -----------------------------------------------------------------------------

const Tensor& float_input(const Node& node, const std::vector<const Tensor*>& inputs, size_t i) {
    return require_input(node, inputs, i, ElemType::Float);
}

void run_relu(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
              OpContext& ctx) {
    const Tensor& x = input(node, inputs, 0);
    switch (x.type()) {
        case ElemType::Float:
            set_output(outputs, 0,
                       unary_map<float, float>(x, x.type(), ctx, [](float v) { return v > 0.0f ? v : 0.0f; }));
            break;
        case ElemType::Int32:
            set_output(outputs, 0,
                       unary_map<int32_t, int32_t>(x, x.type(), ctx, [](int32_t v) { return v > 0 ? v : 0; }));
            break;
        case ElemType::Int64:
            set_output(outputs, 0,
                       unary_map<int64_t, int64_t>(x, x.type(), ctx, [](int64_t v) { return v > 0 ? v : int64_t{0}; }));
            break;
        default: fail_node(node, std::string("Relu of a ") + type_name(x.type()) + " tensor is not supported");
    }
}

void run_sigmoid(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                 OpContext& ctx) {
    const Tensor& x = float_input(node, inputs, 0);
    set_output(outputs, 0, unary_map<float, float>(x, ElemType::Float, ctx, [](float v) {
                   // Split by sign so exp never overflows into inf/inf.
                   if (v >= 0.0f) return 1.0f / (1.0f + std::exp(-v));
                   const float e = std::exp(v);
                   return e / (1.0f + e);
               }));
}

void run_hard_sigmoid(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                      OpContext& ctx) {
    const Tensor& x = float_input(node, inputs, 0);
    const float alpha = node.attr_float("alpha", 0.2f), beta = node.attr_float("beta", 0.5f);
    set_output(outputs, 0, unary_map<float, float>(x, ElemType::Float, ctx, [alpha, beta](float v) {
                   return std::max(0.0f, std::min(1.0f, alpha * v + beta));
               }));
}

void run_hard_swish(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                    OpContext& ctx) {
    const Tensor& x = float_input(node, inputs, 0);
    set_output(outputs, 0, unary_map<float, float>(x, ElemType::Float, ctx, [](float v) {
                   return v * std::max(0.0f, std::min(1.0f, v * (1.0f / 6.0f) + 0.5f));
               }));
}

void run_erf(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, OpContext& ctx) {
    const Tensor& x = float_input(node, inputs, 0);
    set_output(outputs, 0, unary_map<float, float>(x, ElemType::Float, ctx, [](float v) { return std::erf(v); }));
}

void run_tanh(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
              OpContext& ctx) {
    const Tensor& x = float_input(node, inputs, 0);
    set_output(outputs, 0, unary_map<float, float>(x, ElemType::Float, ctx, [](float v) { return std::tanh(v); }));
}

// IsNaN: torch's dynamo exporter writes it around attention's softmax (masking NaN rows).
void run_is_nan(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                OpContext& ctx) {
    const Tensor& x = float_input(node, inputs, 0);
    set_output(outputs, 0, unary_map<float, uint8_t>(x, ElemType::Bool, ctx, [](float v) {
                   return static_cast<uint8_t>(std::isnan(v) ? 1 : 0);
               }));
}

void run_sqrt(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
              OpContext& ctx) {
    const Tensor& x = float_input(node, inputs, 0);
    set_output(outputs, 0, unary_map<float, float>(x, ElemType::Float, ctx, [](float v) { return std::sqrt(v); }));
}

void run_gelu(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
              OpContext& ctx) {
    const Tensor& x = float_input(node, inputs, 0);
    const std::string approx = node.attr_string("approximate", "none");
    kernels::ActivationKind kind;
    if (approx == "none")
        kind = kernels::ActivationKind::GeluErf;
    else if (approx == "tanh")
        kind = kernels::ActivationKind::GeluTanh;
    else
        fail_node(node, "approximate " + quote(approx) + " is not one of \"none\", \"tanh\"");
    Tensor out = Tensor::allocate(ElemType::Float, x.shape());
    const float* X = x.data<float>();
    float* O = out.mutable_data<float>();
    const auto& table = kernels::active();
    if (x.numel() > 0)
        ctx.pool.parallel_for(x.numel(), kGrain, [&](int64_t begin, int64_t end) {
            std::memcpy(O + begin, X + begin, static_cast<size_t>(end - begin) * sizeof(float));
            table.apply_activation(kind, O + begin, end - begin);
        });
    set_output(outputs, 0, std::move(out));
}

// ---- binary arithmetic -----------------------------------------------------------------------

enum class Arith { Add, Sub, Mul, Div };

template <class T>
T wrap_arith(Arith op, T a, T b) {
    using U = std::make_unsigned_t<T>;
    switch (op) {
        case Arith::Add: return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
        case Arith::Sub: return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
        case Arith::Mul: return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
        case Arith::Div:
            // b == 0 is rejected before; MIN / -1 wraps instead of trapping.
            return b == -1 ? static_cast<T>(U{0} - static_cast<U>(a)) : static_cast<T>(a / b);
    }
    return 0;
}

const Tensor& check_same_numeric(const Node& node, const std::vector<const Tensor*>& inputs, const Tensor** b_out) {
    const Tensor& a = input(node, inputs, 0);
    const Tensor& b = input(node, inputs, 1);
    if (!is_numeric(a.type()))
        fail_node(node, std::string("input 0 is ") + type_name(a.type()) + ", expected FLOAT, INT32 or INT64");
    if (b.type() != a.type())
        fail_node(node, std::string("inputs are ") + type_name(a.type()) + " and " + type_name(b.type()) +
                            ", expected the same type");
    *b_out = &b;
    return a;
}

template <class T>
Tensor int_arith(const Node& node, Arith op, const Tensor& a, const Tensor& b, OpContext& ctx) {
    if (op == Arith::Div) {
        const T* B = b.data<T>();
        for (int64_t i = 0; i < b.numel(); ++i)
            if (B[i] == 0) fail_node(node, "integer division by zero (divisor element " + std::to_string(i) + ")");
    }
    switch (op) {
        case Arith::Add:
            return binary_map<T, T, T>(node, a, b, a.type(), ctx,
                                       [](T x, T y) { return wrap_arith(Arith::Add, x, y); });
        case Arith::Sub:
            return binary_map<T, T, T>(node, a, b, a.type(), ctx,
                                       [](T x, T y) { return wrap_arith(Arith::Sub, x, y); });
        case Arith::Mul:
            return binary_map<T, T, T>(node, a, b, a.type(), ctx,
                                       [](T x, T y) { return wrap_arith(Arith::Mul, x, y); });
        case Arith::Div:
            return binary_map<T, T, T>(node, a, b, a.type(), ctx,
                                       [](T x, T y) { return wrap_arith(Arith::Div, x, y); });
    }
    return {};
}

template <Arith op>
void run_arith(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
               OpContext& ctx) {
    const Tensor* bp = nullptr;
    const Tensor& a = check_same_numeric(node, inputs, &bp);
    const Tensor& b = *bp;
    Tensor out;
    switch (a.type()) {
        case ElemType::Float:
            if constexpr (op == Arith::Add)
                out = binary_map<float, float, float>(node, a, b, ElemType::Float, ctx,
                                                      [](float x, float y) { return x + y; });
            else if constexpr (op == Arith::Sub)
                out = binary_map<float, float, float>(node, a, b, ElemType::Float, ctx,
                                                      [](float x, float y) { return x - y; });
            else if constexpr (op == Arith::Mul)
                out = binary_map<float, float, float>(node, a, b, ElemType::Float, ctx,
                                                      [](float x, float y) { return x * y; });
            else
                out = binary_map<float, float, float>(node, a, b, ElemType::Float, ctx,
                                                      [](float x, float y) { return x / y; });
            break;
        case ElemType::Int32: out = int_arith<int32_t>(node, op, a, b, ctx); break;
        case ElemType::Int64: out = int_arith<int64_t>(node, op, a, b, ctx); break;
        default: break;
    }
    set_output(outputs, 0, std::move(out));
}

// ---- Pow -------------------------------------------------------------------------------------

template <class T>
T int_pow(T base, int64_t e) {
    using U = std::make_unsigned_t<T>;
    if (e < 0) {
        // Truncated 1 / base^|e|.
        if (base == 1) return 1;
        if (base == -1) return (e % 2 == 0) ? 1 : -1;
        return 0;  // (base == 0 has no integer answer; 0 rather than a trap)
    }
    U result = 1, b = static_cast<U>(base);
    while (e > 0) {
        if (e & 1) result *= b;
        b *= b;
        e >>= 1;
    }
    return static_cast<T>(result);
}

template <class TB>
Tensor float_pow(const Node& node, const Tensor& a, const Tensor& b, OpContext& ctx) {
    // A one-element exponent whose rank does not exceed the base's leaves the base's shape.
    if (b.numel() == 1 && b.rank() <= a.rank()) {
        const double e = static_cast<double>(scalar_value<TB>(b));
        if (e == 2.0) return unary_map<float, float>(a, ElemType::Float, ctx, [](float v) { return v * v; });
        if (e == 3.0) return unary_map<float, float>(a, ElemType::Float, ctx, [](float v) { return v * v * v; });
        if (e == 0.5) return unary_map<float, float>(a, ElemType::Float, ctx, [](float v) { return std::sqrt(v); });
        if (e == 1.0) return unary_map<float, float>(a, ElemType::Float, ctx, [](float v) { return v; });
    }
    if constexpr (std::is_same_v<TB, float>)
        return binary_map<float, float, float>(node, a, b, ElemType::Float, ctx,
                                               [](float x, float y) { return std::pow(x, y); });
    else
        return binary_map<float, TB, float>(node, a, b, ElemType::Float, ctx, [](float x, TB y) {
            return static_cast<float>(std::pow(static_cast<double>(x), static_cast<double>(y)));
        });
}

template <class TA, class TB>
Tensor int_base_pow(const Node& node, const Tensor& a, const Tensor& b, OpContext& ctx) {
    if constexpr (std::is_same_v<TB, float>)
        return binary_map<TA, float, TA>(node, a, b, a.type(), ctx, [](TA x, float y) {
            return float_to_int<TA>(std::pow(static_cast<double>(x), static_cast<double>(y)));
        });
    else
        return binary_map<TA, TB, TA>(node, a, b, a.type(), ctx,
                                      [](TA x, TB y) { return int_pow<TA>(x, static_cast<int64_t>(y)); });
}

template <class TA>
Tensor pow_by_exponent(const Node& node, const Tensor& a, const Tensor& b, OpContext& ctx) {
    switch (b.type()) {
        case ElemType::Float:
            if constexpr (std::is_same_v<TA, float>)
                return float_pow<float>(node, a, b, ctx);
            else
                return int_base_pow<TA, float>(node, a, b, ctx);
        case ElemType::Int32:
            if constexpr (std::is_same_v<TA, float>)
                return float_pow<int32_t>(node, a, b, ctx);
            else
                return int_base_pow<TA, int32_t>(node, a, b, ctx);
        case ElemType::Int64:
            if constexpr (std::is_same_v<TA, float>)
                return float_pow<int64_t>(node, a, b, ctx);
            else
                return int_base_pow<TA, int64_t>(node, a, b, ctx);
        default: fail_node(node, std::string("exponent of type ") + type_name(b.type()) + " is not supported");
    }
}

void run_pow(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, OpContext& ctx) {
    const Tensor& a = input(node, inputs, 0);
    const Tensor& b = input(node, inputs, 1);
    Tensor out;
    switch (a.type()) {
        case ElemType::Float: out = pow_by_exponent<float>(node, a, b, ctx); break;
        case ElemType::Int32: out = pow_by_exponent<int32_t>(node, a, b, ctx); break;
        case ElemType::Int64: out = pow_by_exponent<int64_t>(node, a, b, ctx); break;
        default: fail_node(node, std::string("base of type ") + type_name(a.type()) + " is not supported");
    }
    set_output(outputs, 0, std::move(out));
}

// ---- Equal / Where ---------------------------------------------------------------------------

void run_equal(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
               OpContext& ctx) {
    const Tensor& a = input(node, inputs, 0);
    const Tensor& b = input(node, inputs, 1);
    if (a.type() != b.type())
        fail_node(node, std::string("inputs are ") + type_name(a.type()) + " and " + type_name(b.type()) +
                            ", expected the same type");
    Tensor out;
    switch (a.type()) {
        case ElemType::Float:
            out = binary_map<float, float, uint8_t>(node, a, b, ElemType::Bool, ctx,
                                                    [](float x, float y) { return static_cast<uint8_t>(x == y); });
            break;
        case ElemType::Int32:
            out = binary_map<int32_t, int32_t, uint8_t>(
                node, a, b, ElemType::Bool, ctx, [](int32_t x, int32_t y) { return static_cast<uint8_t>(x == y); });
            break;
        case ElemType::Int64:
            out = binary_map<int64_t, int64_t, uint8_t>(
                node, a, b, ElemType::Bool, ctx, [](int64_t x, int64_t y) { return static_cast<uint8_t>(x == y); });
            break;
        case ElemType::Bool:
            out = binary_map<uint8_t, uint8_t, uint8_t>(node, a, b, ElemType::Bool, ctx, [](uint8_t x, uint8_t y) {
                return static_cast<uint8_t>((x != 0) == (y != 0));
            });
            break;
        default: fail_node(node, std::string("inputs of type ") + type_name(a.type()) + " are not supported");
    }
    set_output(outputs, 0, std::move(out));
}

template <class T>
Tensor where_typed(const Node& node, const Tensor& c, const Tensor& x, const Tensor& y, OpContext& ctx) {
    const Broadcast<3> p = plan_broadcast<3>({&c.shape(), &x.shape(), &y.shape()}, node);
    Tensor out = Tensor::allocate(x.type(), p.out_shape);
    const uint8_t* C = c.data<uint8_t>();
    const T* X = x.data<T>();
    const T* Y = y.data<T>();
    T* O = out.mutable_data<T>();
    const int64_t sc = p.strides[0].back(), sx = p.strides[1].back(), sy = p.strides[2].back();
    run_broadcast<3>(p, ctx.pool, [&](const std::array<int64_t, 3>& off, int64_t pos, int64_t n) {
        const uint8_t* __restrict cc = C + off[0];
        const T* __restrict xx = X + off[1];
        const T* __restrict yy = Y + off[2];
        T* __restrict o = O + pos;
        if (sc && sx && sy) {
            for (int64_t i = 0; i < n; ++i) o[i] = cc[i] ? xx[i] : yy[i];
        } else {
            for (int64_t i = 0; i < n; ++i) o[i] = cc[i * sc] ? xx[i * sx] : yy[i * sy];
        }
    });
    return out;
}

void run_where(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
               OpContext& ctx) {
    const Tensor& c = require_input(node, inputs, 0, ElemType::Bool);
    const Tensor& x = input(node, inputs, 1);
    const Tensor& y = input(node, inputs, 2);
    if (x.type() != y.type())
        fail_node(node, std::string("X is ") + type_name(x.type()) + " and Y is " + type_name(y.type()) +
                            ", expected the same type");
    Tensor out;
    switch (elem_size(x.type())) {
        case 1: out = where_typed<uint8_t>(node, c, x, y, ctx); break;
        case 4: out = where_typed<uint32_t>(node, c, x, y, ctx); break;
        case 8: out = where_typed<uint64_t>(node, c, x, y, ctx); break;
        default: fail_node(node, std::string("inputs of type ") + type_name(x.type()) + " are not supported");
    }
    set_output(outputs, 0, std::move(out));
}

// ---- Clip ------------------------------------------------------------------------------------

template <class T>
Tensor clip_typed(const Node& node, const Tensor& x, const Tensor* lo_t, const Tensor* hi_t, OpContext& ctx) {
    auto bound = [&](const Tensor* t, const char* what, T fallback) {
        if (!t) return fallback;
        if (t->type() != x.type())
            fail_node(node, std::string(what) + " is " + type_name(t->type()) + ", expected " + type_name(x.type()));
        if (t->numel() != 1)
            fail_node(node, std::string(what) + " has shape " + shape_string(t->shape()) + ", expected a scalar");
        return scalar_value<T>(*t);
    };
    const T lo = bound(lo_t, "min", std::numeric_limits<T>::lowest());
    const T hi = bound(
        hi_t, "max", std::is_floating_point_v<T> ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max());
    // numpy.clip: minimum(maximum(x, lo), hi) -- hi wins when lo > hi; NaN stays NaN.
    return unary_map<T, T>(x, x.type(), ctx, [lo, hi](T v) {
        const T a = v < lo ? lo : v;
        return a > hi ? hi : a;
    });
}

void run_clip(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
              OpContext& ctx) {
    const Tensor& x = input(node, inputs, 0);
    const Tensor* lo = optional_input(inputs, 1);
    const Tensor* hi = optional_input(inputs, 2);
    Tensor out;
    switch (x.type()) {
        case ElemType::Float: out = clip_typed<float>(node, x, lo, hi, ctx); break;
        case ElemType::Int32: out = clip_typed<int32_t>(node, x, lo, hi, ctx); break;
        case ElemType::Int64: out = clip_typed<int64_t>(node, x, lo, hi, ctx); break;
        default: fail_node(node, std::string("input of type ") + type_name(x.type()) + " is not supported");
    }
    set_output(outputs, 0, std::move(out));
}

// ---- Cast ------------------------------------------------------------------------------------

template <class S, class D>
D convert(S v) {
    if constexpr (std::is_same_v<D, uint8_t>)
        return static_cast<uint8_t>(v != S(0));  // to Bool
    else if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D>)
        return float_to_int<D>(v);
    else
        return static_cast<D>(v);
}

template <class S>
Tensor cast_from(const Tensor& x, ElemType to, OpContext& ctx) {
    switch (to) {
        case ElemType::Float: return unary_map<S, float>(x, to, ctx, [](S v) { return convert<S, float>(v); });
        case ElemType::Int32: return unary_map<S, int32_t>(x, to, ctx, [](S v) { return convert<S, int32_t>(v); });
        case ElemType::Int64: return unary_map<S, int64_t>(x, to, ctx, [](S v) { return convert<S, int64_t>(v); });
        case ElemType::Bool: return unary_map<S, uint8_t>(x, to, ctx, [](S v) { return convert<S, uint8_t>(v); });
        default: return {};
    }
}

void run_cast(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
              OpContext& ctx) {
    const Tensor& x = input(node, inputs, 0);
    if (!node.has("to")) fail_node(node, "attribute 'to' is missing");
    const int64_t to_raw = node.attr_int("to", 0);
    if (to_raw < 0 || to_raw > std::numeric_limits<int32_t>::max() || !is_runnable_type(static_cast<int32_t>(to_raw)))
        fail_unsupported(node.describe() + ": Cast to " + elem_type_name(static_cast<int32_t>(to_raw)) +
                         " is not supported (Krait runs FLOAT, INT32, INT64 and BOOL)");
    const ElemType to = static_cast<ElemType>(to_raw);
    if (to == x.type()) {
        set_output(outputs, 0, x);
        return;
    }
    Tensor out;
    switch (x.type()) {
        case ElemType::Float: out = cast_from<float>(x, to, ctx); break;
        case ElemType::Int32: out = cast_from<int32_t>(x, to, ctx); break;
        case ElemType::Int64: out = cast_from<int64_t>(x, to, ctx); break;
        case ElemType::Bool: out = cast_from<uint8_t>(x, to, ctx); break;
        default: fail_node(node, std::string("input of type ") + type_name(x.type()) + " is not supported");
    }
    set_output(outputs, 0, std::move(out));
}

// ---- Identity / Dropout ----------------------------------------------------------------------

void run_identity(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                  OpContext&) {
    const Tensor& x = input(node, inputs, 0);
    set_output(outputs, 0, x.reshaped(x.shape()));
}

void run_dropout(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, OpContext&) {
    const Tensor& x = input(node, inputs, 0);
    if (const Tensor* ratio = optional_input(inputs, 1)) {
        if (ratio->type() != ElemType::Float || ratio->numel() != 1)
            fail_node(node, "ratio must be a FLOAT scalar, got " + std::string(type_name(ratio->type())) + " " +
                                shape_string(ratio->shape()));
    }
    if (const Tensor* training = optional_input(inputs, 2)) {
        if (training->type() != ElemType::Bool || training->numel() != 1)
            fail_node(node, "training_mode must be a BOOL scalar, got " + std::string(type_name(training->type())) +
                                " " + shape_string(training->shape()));
        if (training->data<uint8_t>()[0] != 0)
            fail_unsupported(node.describe() +
                             ": Dropout with training_mode true is not supported (Krait runs inference only)");
    }
    set_output(outputs, 0, x.reshaped(x.shape()));
    if (outputs.size() > 1 && (node.outputs.size() < 2 || node.outputs[1] >= 0)) {
        Tensor mask = Tensor::allocate(ElemType::Bool, x.shape());
        std::memset(mask.mutable_data<uint8_t>(), 1, mask.bytes());
        outputs[1] = std::move(mask);
    }
}

// ---- Constant / ConstantOfShape / Range ------------------------------------------------------

void run_constant(const Node& node, const std::vector<const Tensor*>&, std::vector<Tensor>& outputs, OpContext&) {
    static const char* const unsupported[] = {"sparse_value", "value_string", "value_strings"};
    for (const char* u : unsupported)
        if (node.has(u))
            fail_unsupported(node.describe() + ": Constant with attribute '" + u +
                             "' is not supported (Krait runs FLOAT, INT32, INT64 and BOOL tensors)");
    int count = 0;
    for (const char* k : {"value", "value_float", "value_floats", "value_int", "value_ints"})
        count += node.has(k) ? 1 : 0;
    if (count != 1)
        fail_node(node,
                  "expected exactly one of the attributes value, value_float, value_floats, value_int, value_ints");
    Tensor out;
    if (node.has("value")) {
        const Attribute& a = node.attributes.at("value");
        if (a.kind != Attribute::Kind::Tensor) fail_node(node, "attribute 'value' is not a tensor");
        if (!a.t.defined())
            fail_unsupported(node.describe() + ": Constant 'value' has an element type Krait does not run");
        out = a.t;
    } else if (node.has("value_float")) {
        out = Tensor::scalar_float(node.attr_float("value_float", 0.0f));
    } else if (node.has("value_floats")) {
        const std::vector<float> v = node.attr_floats("value_floats");
        out = v.empty() ? Tensor::allocate(ElemType::Float, {0})
                        : Tensor::from_floats({static_cast<int64_t>(v.size())}, v);
    } else if (node.has("value_int")) {
        out = Tensor::from_int64s({}, {node.attr_int("value_int", 0)});
    } else {
        const std::vector<int64_t> v = node.attr_ints("value_ints");
        out = v.empty() ? Tensor::allocate(ElemType::Int64, {0})
                        : Tensor::from_int64s({static_cast<int64_t>(v.size())}, v);
    }
    set_output(outputs, 0, std::move(out));
}

void run_constant_of_shape(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                           OpContext&) {
    const Tensor& s = require_input(node, inputs, 0, ElemType::Int64);
    if (s.rank() != 1) fail_node(node, "the shape input has shape " + shape_string(s.shape()) + ", expected 1-D");
    Shape shape = int64_values(s);
    for (int64_t d : shape)
        if (d < 0) fail_node(node, "shape " + shape_string(shape) + " has a negative dimension");
    Tensor value;
    if (node.has("value")) {
        const Attribute& a = node.attributes.at("value");
        if (a.kind != Attribute::Kind::Tensor) fail_node(node, "attribute 'value' is not a tensor");
        if (!a.t.defined())
            fail_unsupported(node.describe() + ": ConstantOfShape 'value' has an element type Krait does not run");
        if (a.t.numel() != 1)
            fail_node(node, "attribute 'value' has " + std::to_string(a.t.numel()) + " elements, expected one");
        value = a.t;
    } else {
        value = Tensor::scalar_float(0.0f);
    }
    Tensor out = Tensor::allocate(value.type(), std::move(shape));
    const size_t es = elem_size(value.type());
    uint8_t* o = out.mutable_data<uint8_t>();
    const auto* v = static_cast<const uint8_t*>(value.raw());
    bool all_zero = true;
    for (size_t b = 0; b < es; ++b)
        if (v[b] != 0) all_zero = false;
    if (all_zero || es == 1) {
        std::memset(o, all_zero ? 0 : v[0], out.bytes());
    } else {
        for (int64_t i = 0; i < out.numel(); ++i) std::memcpy(o + static_cast<size_t>(i) * es, v, es);
    }
    set_output(outputs, 0, std::move(out));
}

void run_range(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, OpContext&) {
    const Tensor& start = input(node, inputs, 0);
    const Tensor& limit = input(node, inputs, 1);
    const Tensor& delta = input(node, inputs, 2);
    const ElemType t = start.type();
    if (!is_numeric(t)) fail_node(node, std::string("inputs of type ") + type_name(t) + " are not supported");
    if (limit.type() != t || delta.type() != t) fail_node(node, "start, limit and delta must have the same type");
    for (const Tensor* s : {&start, &limit, &delta})
        if (s->numel() != 1) fail_node(node, "input of shape " + shape_string(s->shape()) + " is not a scalar");
    Tensor out;
    if (t == ElemType::Float) {
        const double a = scalar_value<float>(start), b = scalar_value<float>(limit), d = scalar_value<float>(delta);
        if (d == 0.0) fail_node(node, "delta is zero");
        if (!std::isfinite(a) || !std::isfinite(b) || !std::isfinite(d))
            fail_node(node, "start, limit and delta must be finite");
        const double count = std::max(std::ceil((b - a) / d), 0.0);
        if (count > static_cast<double>(int64_t{1} << 40)) fail_node(node, "the range has too many elements");
        const int64_t n = static_cast<int64_t>(count);
        out = Tensor::allocate(ElemType::Float, {n});
        float* o = out.mutable_data<float>();
        for (int64_t i = 0; i < n; ++i) o[i] = static_cast<float>(a + static_cast<double>(i) * d);
    } else {
        auto get = [&](const Tensor& x) -> int64_t {
            return t == ElemType::Int32 ? scalar_value<int32_t>(x) : scalar_value<int64_t>(x);
        };
        const __int128 a = get(start), b = get(limit), d = get(delta);
        if (d == 0) fail_node(node, "delta is zero");
        const __int128 diff = b - a;
        __int128 n = diff / d;
        if (diff % d != 0 && ((diff > 0) == (d > 0))) n += 1;  // ceil
        if (n < 0) n = 0;
        if (n > (static_cast<__int128>(1) << 40)) fail_node(node, "the range has too many elements");
        out = Tensor::allocate(t, {static_cast<int64_t>(n)});
        for (int64_t i = 0; i < static_cast<int64_t>(n); ++i) {
            const __int128 v = a + static_cast<__int128>(i) * d;
            if (t == ElemType::Int32)
                out.mutable_data<int32_t>()[i] = static_cast<int32_t>(v);
            else
                out.mutable_data<int64_t>()[i] = static_cast<int64_t>(v);
        }
    }
    set_output(outputs, 0, std::move(out));
}

// ---- ReduceMean ------------------------------------------------------------------------------

template <class T>
T from_mean(double v) {
    if constexpr (std::is_floating_point_v<T>)
        return static_cast<T>(v);
    else
        return float_to_int<T>(v);
}

template <class T>
Tensor reduce_mean_typed(const Tensor& x, const std::vector<char>& reduced, bool keepdims, OpContext& ctx) {
    const Shape& in = x.shape();
    const size_t r = in.size();
    Shape out_shape;
    for (size_t i = 0; i < r; ++i) {
        if (!reduced[i])
            out_shape.push_back(in[i]);
        else if (keepdims)
            out_shape.push_back(1);
    }
    Tensor out = Tensor::allocate(x.type(), out_shape);
    // Collapse runs of dims with the same flag (size-1 dims are dropped).
    std::vector<int64_t> dims, strides;
    std::vector<char> flags;
    {
        std::vector<int64_t> st(r);
        int64_t acc = 1;
        for (size_t i = r; i-- > 0;) {
            st[i] = acc;
            acc *= in[i];
        }
        for (size_t i = 0; i < r; ++i) {
            if (in[i] == 1) continue;
            if (!dims.empty() && flags.back() == reduced[i] && strides.back() == st[i] * in[i]) {
                dims.back() *= in[i];
                strides.back() = st[i];
                continue;
            }
            dims.push_back(in[i]);
            strides.push_back(st[i]);
            flags.push_back(reduced[i]);
        }
    }
    const int64_t n_out = out.numel();
    int64_t n_red = 1;
    for (size_t i = 0; i < r; ++i)
        if (reduced[i]) n_red *= in[i];
    T* O = out.mutable_data<T>();
    const T* X = x.data<T>();
    if (n_out == 0) return out;
    if (n_red == 0) {
        for (int64_t i = 0; i < n_out; ++i) O[i] = from_mean<T>(std::numeric_limits<double>::quiet_NaN());
        return out;
    }
    // Offsets of every reduced element relative to an output's base, and of each output's base.
    std::vector<int64_t> kept_dims, kept_strides, red_dims, red_strides;
    for (size_t i = 0; i < dims.size(); ++i) {
        if (flags[i]) {
            red_dims.push_back(dims[i]);
            red_strides.push_back(strides[i]);
        } else {
            kept_dims.push_back(dims[i]);
            kept_strides.push_back(strides[i]);
        }
    }
    auto offsets = [](const std::vector<int64_t>& d, const std::vector<int64_t>& s, int64_t count) {
        std::vector<int64_t> offs(static_cast<size_t>(count));
        std::vector<int64_t> coord(d.size(), 0);
        int64_t cur = 0;
        for (int64_t j = 0; j < count; ++j) {
            offs[static_cast<size_t>(j)] = cur;
            for (size_t k = d.size(); k-- > 0;) {
                cur += s[k];
                if (++coord[k] < d[k]) break;
                cur -= d[k] * s[k];
                coord[k] = 0;
            }
        }
        return offs;
    };
    const double inv = 1.0 / static_cast<double>(n_red);
    const bool inner_kept = !flags.empty() && !flags.back();
    if (inner_kept && !red_dims.empty()) {
        // Rows of K contiguous outputs: add the K-wide input rows of every reduced position.
        const int64_t K = dims.back();
        std::vector<int64_t> outer_dims(kept_dims.begin(), kept_dims.end() - 1);
        std::vector<int64_t> outer_strides(kept_strides.begin(), kept_strides.end() - 1);
        const int64_t n_rows = n_out / K;
        const std::vector<int64_t> row_base = offsets(outer_dims, outer_strides, n_rows);
        const std::vector<int64_t> red = offsets(red_dims, red_strides, n_red);
        ctx.pool.parallel_for(n_rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, K * n_red)),
                              [&](int64_t begin, int64_t end) {
                                  std::vector<double> acc(static_cast<size_t>(K));
                                  for (int64_t row = begin; row < end; ++row) {
                                      std::fill(acc.begin(), acc.end(), 0.0);
                                      const T* base = X + row_base[static_cast<size_t>(row)];
                                      for (int64_t off : red) {
                                          const T* src = base + off;
                                          for (int64_t k = 0; k < K; ++k)
                                              acc[static_cast<size_t>(k)] += static_cast<double>(src[k]);
                                      }
                                      T* o = O + row * K;
                                      for (int64_t k = 0; k < K; ++k)
                                          o[k] = from_mean<T>(acc[static_cast<size_t>(k)] * inv);
                                  }
                              });
    } else {
        // The innermost group, when reduced, is one contiguous run of L elements per offset.
        int64_t L = 1;
        if (!flags.empty() && flags.back()) {
            L = red_dims.back();
            red_dims.pop_back();
            red_strides.pop_back();
        }
        const std::vector<int64_t> base = offsets(kept_dims, kept_strides, n_out);
        const std::vector<int64_t> red = offsets(red_dims, red_strides, n_red / L);
        ctx.pool.parallel_for(n_out, std::max<int64_t>(1, kGrain / n_red), [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) {
                const T* b = X + base[static_cast<size_t>(i)];
                // Four partial sums: independent add chains (a double sum does not vectorise).
                double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
                for (int64_t off : red) {
                    const T* run = b + off;
                    int64_t l = 0;
                    for (; l + 4 <= L; l += 4) {
                        s0 += static_cast<double>(run[l]);
                        s1 += static_cast<double>(run[l + 1]);
                        s2 += static_cast<double>(run[l + 2]);
                        s3 += static_cast<double>(run[l + 3]);
                    }
                    for (; l < L; ++l) s0 += static_cast<double>(run[l]);
                }
                const double s = (s0 + s1) + (s2 + s3);
                O[i] = from_mean<T>(s * inv);
            }
        });
    }
    return out;
}

void run_reduce_mean(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                     OpContext& ctx) {
    const Tensor& x = input(node, inputs, 0);
    const bool keepdims = node.attr_int("keepdims", 1) != 0;
    const bool noop_empty = node.attr_int("noop_with_empty_axes", 0) != 0;
    std::vector<int64_t> axes;
    if (node.since_version >= 18) {
        if (const Tensor* a = optional_input(inputs, 1)) {
            if (a->type() != ElemType::Int64)
                fail_node(node, std::string("axes is ") + type_name(a->type()) + ", expected INT64");
            if (a->rank() > 1) fail_node(node, "axes has shape " + shape_string(a->shape()) + ", expected 1-D");
            axes = int64_values(*a);
        }
    } else {
        axes = node.attr_ints("axes");
    }
    if (axes.empty() && noop_empty) {
        set_output(outputs, 0, x.reshaped(x.shape()));
        return;
    }
    const int64_t r = x.rank();
    std::vector<char> reduced(static_cast<size_t>(r), axes.empty() ? 1 : 0);
    for (int64_t a : axes) {
        if (a < -r || a >= r)
            fail_node(node,
                      "axis " + std::to_string(a) + " is out of range for a rank-" + std::to_string(r) + " tensor");
        const int64_t n = a < 0 ? a + r : a;
        if (reduced[static_cast<size_t>(n)]) fail_node(node, "axis " + std::to_string(a) + " is listed twice");
        reduced[static_cast<size_t>(n)] = 1;
    }
    Tensor out;
    switch (x.type()) {
        case ElemType::Float: out = reduce_mean_typed<float>(x, reduced, keepdims, ctx); break;
        case ElemType::Int32: out = reduce_mean_typed<int32_t>(x, reduced, keepdims, ctx); break;
        case ElemType::Int64: out = reduce_mean_typed<int64_t>(x, reduced, keepdims, ctx); break;
        default: fail_node(node, std::string("input of type ") + type_name(x.type()) + " is not supported");
    }
    set_output(outputs, 0, std::move(out));
}

void reg(const char* op, std::vector<int64_t> versions, OpKernel run, int min_in, int max_in) {
    OpSchema s;
    s.domain = "";
    s.op_type = op;
    s.since_versions = std::move(versions);
    s.run = run;
    s.prepare = nullptr;
    s.min_inputs = min_in;
    s.max_inputs = max_in;
    s.foldable = true;
    register_op(std::move(s));
}

}  // namespace

void register_elementwise_ops() {
    reg("Relu", {6, 13, 14}, run_relu, 1, 1);
    reg("Sigmoid", {6, 13}, run_sigmoid, 1, 1);
    reg("HardSigmoid", {6, 22}, run_hard_sigmoid, 1, 1);
    reg("HardSwish", {14, 22}, run_hard_swish, 1, 1);
    reg("Erf", {9, 13}, run_erf, 1, 1);
    reg("Tanh", {6, 13}, run_tanh, 1, 1);
    reg("Sqrt", {6, 13}, run_sqrt, 1, 1);
    reg("IsNaN", {9, 13, 20}, run_is_nan, 1, 1);
    reg("Add", {7, 13, 14}, run_arith<Arith::Add>, 2, 2);
    reg("Sub", {7, 13, 14}, run_arith<Arith::Sub>, 2, 2);
    reg("Mul", {7, 13, 14}, run_arith<Arith::Mul>, 2, 2);
    reg("Div", {7, 13, 14}, run_arith<Arith::Div>, 2, 2);
    reg("Pow", {12, 13, 15}, run_pow, 2, 2);
    reg("Equal", {11, 13, 19}, run_equal, 2, 2);
    reg("Where", {9, 16}, run_where, 3, 3);
    reg("Clip", {12, 13}, run_clip, 1, 3);
    reg("Cast", {9, 13, 19, 21, 23, 24, 25, 28}, run_cast, 1, 1);
    reg("Identity", {1, 13, 14, 16, 19, 21, 23, 24, 25}, run_identity, 1, 1);
    reg("Dropout", {12, 13, 22}, run_dropout, 1, 3);
    reg("Constant", {12, 13, 19, 21, 23, 24, 25}, run_constant, 0, 0);
    reg("ConstantOfShape", {9, 20, 21, 23, 24, 25}, run_constant_of_shape, 1, 1);
    reg("Range", {11, 27}, run_range, 3, 3);
    reg("ReduceMean", {11, 13, 18}, run_reduce_mean, 1, 2);
    reg("Gelu", {20}, run_gelu, 1, 1);
}

}  // namespace krait::onnx
