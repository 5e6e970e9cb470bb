// Shape and data-movement ONNX operators: Shape, Reshape, Flatten, Squeeze, Unsqueeze (views that
// share the input's buffer), Transpose, Concat, Expand, Gather, Slice, Split (copies). All of them
// run on every element type: they move elements as bytes of elem_size.
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "sdk/core/error.h"
#include "sdk/onnx/onnx_ops.h"

namespace krait::onnx {

namespace {

constexpr int64_t kGrain = 16384;

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

// An INT64 / INT32 tensor of rank <= 1 as int64 values (shapes, axes, starts, ...).
std::vector<int64_t> int_list(const Node& node, const Tensor& t, const char* what) {
    if (t.type() != ElemType::Int64 && t.type() != ElemType::Int32)
        fail_node(node, std::string(what) + " is " + elem_type_name(static_cast<int32_t>(t.type())) +
                            ", expected INT64 or INT32");
    if (t.rank() > 1) fail_node(node, std::string(what) + " has shape " + shape_string(t.shape()) + ", expected 1-D");
    return int64_values(t);
}

std::vector<int64_t> contiguous_strides(const Shape& s) {
    std::vector<int64_t> st(s.size());
    int64_t acc = 1;
    for (size_t i = s.size(); i-- > 0;) {
        st[i] = acc;
        acc *= s[i];
    }
    return st;
}

// Normalised, deduplicated axes for `rank` (each must be in [-rank, rank)).
std::vector<int64_t> normalize_axes(const Node& node, const std::vector<int64_t>& axes, int64_t rank) {
    std::vector<int64_t> out;
    std::vector<char> seen(static_cast<size_t>(std::max<int64_t>(rank, 0)), 0);
    for (int64_t a : axes) {
        if (a < -rank || a >= rank)
            fail_node(node,
                      "axis " + std::to_string(a) + " is out of range for a rank-" + std::to_string(rank) + " tensor");
        const int64_t n = a < 0 ? a + rank : a;
        if (seen[static_cast<size_t>(n)]) fail_node(node, "axis " + std::to_string(a) + " is listed twice");
        seen[static_cast<size_t>(n)] = 1;
        out.push_back(n);
    }
    return out;
}

template <class T>
void gather_run(const T* src, int64_t stride, T* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i * stride];
}

// dst (contiguous, out_shape) [coords] = src[base + sum(coord_d * in_strides[d])], strides in elements
// (zero for broadcast, negative for reversed slices).
void strided_copy(const Shape& out_shape, const std::vector<int64_t>& in_strides, int64_t base, size_t es,
                  const void* src_v, void* dst_v, ThreadPool& pool) {
    const int64_t numel = shape_numel(out_shape);
    if (numel == 0) return;
    std::vector<int64_t> dims, st;
    for (size_t i = 0; i < out_shape.size(); ++i) {
        if (out_shape[i] == 1) continue;
        if (!dims.empty() && st.back() == in_strides[i] * out_shape[i]) {
            dims.back() *= out_shape[i];
            st.back() = in_strides[i];
            continue;
        }
        dims.push_back(out_shape[i]);
        st.push_back(in_strides[i]);
    }
    if (dims.empty()) {
        dims.push_back(1);
        st.push_back(1);
    }
    const size_t m = dims.size();
    const int64_t n_inner = dims.back(), s_inner = st.back();
    const auto* src = static_cast<const uint8_t*>(src_v);
    auto* dst = static_cast<uint8_t*>(dst_v);
    pool.parallel_for(numel, kGrain, [&](int64_t begin, int64_t end) {
        std::vector<int64_t> coord(m);
        int64_t rem = begin, off = base;
        for (size_t d = m; d-- > 0;) {
            coord[d] = rem % dims[d];
            rem /= dims[d];
            off += coord[d] * st[d];
        }
        int64_t pos = begin;
        while (pos < end) {
            const int64_t n = std::min(n_inner - coord[m - 1], end - pos);
            const uint8_t* s = src + off * static_cast<int64_t>(es);
            uint8_t* d = dst + pos * static_cast<int64_t>(es);
            if (s_inner == 1) {
                std::memcpy(d, s, static_cast<size_t>(n) * es);
            } else {
                switch (es) {
                    case 1: gather_run(s, s_inner, d, n); break;
                    case 4:
                        gather_run(reinterpret_cast<const uint32_t*>(s), s_inner, reinterpret_cast<uint32_t*>(d), n);
                        break;
                    case 8:
                        gather_run(reinterpret_cast<const uint64_t*>(s), s_inner, reinterpret_cast<uint64_t*>(d), n);
                        break;
                    default:
                        for (int64_t i = 0; i < n; ++i)
                            std::memcpy(d + i * static_cast<int64_t>(es), s + i * s_inner * static_cast<int64_t>(es),
                                        es);
                }
            }
            pos += n;
            if (pos >= end) break;
            coord[m - 1] += n;
            off += n * s_inner;
            if (coord[m - 1] < n_inner) continue;
            off -= n_inner * s_inner;
            coord[m - 1] = 0;
            for (size_t dd = m - 1; dd-- > 0;) {
                ++coord[dd];
                off += st[dd];
                if (coord[dd] < dims[dd]) break;
                off -= dims[dd] * st[dd];
                coord[dd] = 0;
            }
        }
    });
}

// rows x cols blocks of outer contiguous copies: dst[o] (len bytes) = src[o * src_row + src_off].
void copy_blocks(const uint8_t* src, int64_t src_row, int64_t src_off, uint8_t* dst, int64_t dst_row, int64_t dst_off,
                 int64_t outer, int64_t len, ThreadPool& pool) {
    if (outer == 0 || len == 0) return;
    const int64_t grain = std::max<int64_t>(1, kGrain * 4 / std::max<int64_t>(len, 1));
    pool.parallel_for(outer, grain, [&](int64_t begin, int64_t end) {
        for (int64_t o = begin; o < end; ++o)
            std::memcpy(dst + o * dst_row + dst_off, src + o * src_row + src_off, static_cast<size_t>(len));
    });
}

// ---- Shape / Reshape / Flatten / Squeeze / Unsqueeze -----------------------------------------

void run_shape(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, OpContext&) {
    const Tensor& x = input(node, inputs, 0);
    const int64_t r = x.rank();
    int64_t start = 0, end = r;
    if (node.since_version >= 15) {
        auto clamp = [r](int64_t v) {
            if (v < 0) v += r;
            return std::clamp<int64_t>(v, 0, r);
        };
        start = clamp(node.attr_int("start", 0));
        end = node.has("end") ? clamp(node.attr_int("end", r)) : r;
    }
    const int64_t n = std::max<int64_t>(end - start, 0);
    Tensor out = Tensor::allocate(ElemType::Int64, {n});
    for (int64_t i = 0; i < n; ++i) out.mutable_data<int64_t>()[i] = x.dim(start + i);
    set_output(outputs, 0, std::move(out));
}

void run_reshape(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, OpContext&) {
    const Tensor& x = input(node, inputs, 0);
    const Tensor& s = require_input(node, inputs, 1, ElemType::Int64);
    if (s.rank() != 1) fail_node(node, "the shape input has shape " + shape_string(s.shape()) + ", expected 1-D");
    const std::vector<int64_t> req = int64_values(s);
    const bool allowzero = node.since_version >= 14 && node.attr_int("allowzero", 0) != 0;
    Shape shape(req.size());
    int64_t infer = -1, known = 1;
    bool has_zero = false;
    for (size_t i = 0; i < req.size(); ++i) {
        int64_t d = req[i];
        if (d == -1) {
            if (infer >= 0) fail_node(node, "shape " + shape_string(req) + " has more than one -1");
            infer = static_cast<int64_t>(i);
            continue;
        }
        if (d < -1) fail_node(node, "shape " + shape_string(req) + " has a negative dimension");
        if (d == 0) {
            has_zero = true;
            if (!allowzero) {
                if (static_cast<int64_t>(i) >= x.rank())
                    fail_node(node, "shape " + shape_string(req) + " copies dimension " + std::to_string(i) +
                                        " (0) of a rank-" + std::to_string(x.rank()) + " input");
                d = x.dim(static_cast<int64_t>(i));
            }
        }
        shape[i] = d;
        if (d != 0 && known > (int64_t{1} << 40) / d)
            fail_node(node, "shape " + shape_string(req) + " has too many elements");
        known *= d;
    }
    if (infer >= 0) {
        if (allowzero && has_zero)
            fail_node(node, "shape " + shape_string(req) + " has both -1 and 0 with allowzero set");
        if (known == 0 || x.numel() % known != 0)
            fail_node(node, "cannot reshape " + shape_string(x.shape()) + " to " + shape_string(req));
        shape[static_cast<size_t>(infer)] = x.numel() / known;
    } else if (known != x.numel()) {
        fail_node(node, "cannot reshape " + shape_string(x.shape()) + " (" + std::to_string(x.numel()) +
                            " elements) to " + shape_string(shape));
    }
    set_output(outputs, 0, x.reshaped(std::move(shape)));
}

void run_flatten(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, OpContext&) {
    const Tensor& x = input(node, inputs, 0);
    const int64_t r = x.rank();
    int64_t axis = node.attr_int("axis", 1);
    if (axis < -r || axis > r)
        fail_node(node,
                  "axis " + std::to_string(axis) + " is out of range for a rank-" + std::to_string(r) + " tensor");
    if (axis < 0) axis += r;
    int64_t a = 1, b = 1;
    for (int64_t i = 0; i < r; ++i) (i < axis ? a : b) *= x.dim(i);
    set_output(outputs, 0, x.reshaped({a, b}));
}

std::vector<int64_t> axes_argument(const Node& node, const std::vector<const Tensor*>& inputs, bool* given) {
    *given = false;
    if (node.since_version >= 13) {
        if (const Tensor* a = optional_input(inputs, 1)) {
            *given = true;
            return int_list(node, *a, "axes");
        }
        return {};
    }
    *given = node.has("axes");
    return node.attr_ints("axes");
}

void run_squeeze(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, OpContext&) {
    const Tensor& x = input(node, inputs, 0);
    bool given = false;
    const std::vector<int64_t> axes = axes_argument(node, inputs, &given);
    const int64_t r = x.rank();
    std::vector<char> drop(static_cast<size_t>(r), 0);
    if (axes.empty()) {
        for (int64_t i = 0; i < r; ++i) drop[static_cast<size_t>(i)] = x.dim(i) == 1;
    } else {
        for (int64_t a : normalize_axes(node, axes, r)) {
            if (x.dim(a) != 1)
                fail_node(node, "cannot squeeze axis " + std::to_string(a) + " of shape " + shape_string(x.shape()) +
                                    ": its size is not 1");
            drop[static_cast<size_t>(a)] = 1;
        }
    }
    Shape shape;
    for (int64_t i = 0; i < r; ++i)
        if (!drop[static_cast<size_t>(i)]) shape.push_back(x.dim(i));
    set_output(outputs, 0, x.reshaped(std::move(shape)));
}

void run_unsqueeze(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                   OpContext&) {
    const Tensor& x = input(node, inputs, 0);
    bool given = false;
    const std::vector<int64_t> axes = axes_argument(node, inputs, &given);
    if (!given) fail_node(node, "axes are missing");
    const int64_t r = x.rank() + static_cast<int64_t>(axes.size());
    std::vector<char> inserted(static_cast<size_t>(r), 0);
    for (int64_t a : normalize_axes(node, axes, r)) inserted[static_cast<size_t>(a)] = 1;
    Shape shape;
    int64_t k = 0;
    for (int64_t i = 0; i < r; ++i) shape.push_back(inserted[static_cast<size_t>(i)] ? 1 : x.dim(k++));
    set_output(outputs, 0, x.reshaped(std::move(shape)));
}

// ---- Transpose -------------------------------------------------------------------------------

// out[b][c][r] = in[b][r][c] for B matrices of R x C elements of T, in 32x32 tiles.
template <class T>
void batched_transpose(const T* in, T* out, int64_t B, int64_t R, int64_t C, ThreadPool& pool) {
    constexpr int64_t kTile = 32;
    const int64_t row_tiles = (R + kTile - 1) / kTile;
    const int64_t work = B * row_tiles;
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, kTile * C));
    pool.parallel_for(work, grain, [&](int64_t begin, int64_t end) {
        for (int64_t w = begin; w < end; ++w) {
            const int64_t b = w / row_tiles, r0 = (w % row_tiles) * kTile, r1 = std::min(R, r0 + kTile);
            const T* src = in + b * R * C;
            T* dst = out + b * R * C;
            for (int64_t c0 = 0; c0 < C; c0 += kTile) {
                const int64_t c1 = std::min(C, c0 + kTile);
                for (int64_t c = c0; c < c1; ++c)
                    for (int64_t r = r0; r < r1; ++r) dst[c * R + r] = src[r * C + c];
            }
        }
    });
}

void run_transpose(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                   OpContext& ctx) {
    const Tensor& x = input(node, inputs, 0);
    const int64_t r = x.rank();
    std::vector<int64_t> perm = node.attr_ints("perm");
    if (!node.has("perm")) {
        perm.resize(static_cast<size_t>(r));
        for (int64_t i = 0; i < r; ++i) perm[static_cast<size_t>(i)] = r - 1 - i;
    }
    if (static_cast<int64_t>(perm.size()) != r)
        fail_node(node,
                  "perm has " + std::to_string(perm.size()) + " entries for a rank-" + std::to_string(r) + " input");
    {
        std::vector<char> seen(static_cast<size_t>(r), 0);
        for (int64_t& p : perm) {
            if (p < -r || p >= r || seen[static_cast<size_t>(p < 0 ? p + r : p)])
                fail_node(node, "perm " + shape_string(perm) + " is not a permutation of 0.." + std::to_string(r - 1));
            if (p < 0) p += r;
            seen[static_cast<size_t>(p)] = 1;
        }
    }
    Shape out_shape(static_cast<size_t>(r));
    for (int64_t i = 0; i < r; ++i) out_shape[static_cast<size_t>(i)] = x.dim(perm[static_cast<size_t>(i)]);
    Tensor out = Tensor::allocate(x.type(), out_shape);
    const size_t es = elem_size(x.type());
    if (out.numel() == 0) {
        set_output(outputs, 0, std::move(out));
        return;
    }
    // Collapse: drop size-1 dims, then merge input dims that stay adjacent and in order in the output.
    std::vector<int64_t> new_index(static_cast<size_t>(r), -1);
    Shape in_dims;
    for (int64_t i = 0; i < r; ++i)
        if (x.dim(i) != 1) {
            new_index[static_cast<size_t>(i)] = static_cast<int64_t>(in_dims.size());
            in_dims.push_back(x.dim(i));
        }
    std::vector<int64_t> p2;
    for (int64_t p : perm)
        if (new_index[static_cast<size_t>(p)] >= 0) p2.push_back(new_index[static_cast<size_t>(p)]);
    // Groups of consecutive input dims, in output order.
    std::vector<std::pair<int64_t, int64_t>> groups;  // (first input dim, last input dim)
    for (int64_t p : p2) {
        if (!groups.empty() && groups.back().second + 1 == p)
            groups.back().second = p;
        else
            groups.push_back({p, p});
    }
    // Rank the groups by input position: the collapsed input shape and the collapsed perm.
    std::vector<size_t> order(groups.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return groups[a].first < groups[b].first; });
    std::vector<int64_t> cin(groups.size()), cperm(groups.size());
    for (size_t k = 0; k < order.size(); ++k) {
        const auto& g = groups[order[k]];
        int64_t n = 1;
        for (int64_t d = g.first; d <= g.second; ++d) n *= in_dims[static_cast<size_t>(d)];
        cin[k] = n;
        cperm[order[k]] = static_cast<int64_t>(k);
    }
    const size_t cr = cin.size();
    int64_t B = 0, R = 0, C = 0;
    if (cr <= 1) {
        std::memcpy(out.mutable_data<uint8_t>(), x.raw(), x.bytes());
        set_output(outputs, 0, std::move(out));
        return;
    }
    if (cr == 2) {  // (1, 0)
        B = 1, R = cin[0], C = cin[1];
    } else if (cr == 3 && cperm[0] == 0 && cperm[1] == 2 && cperm[2] == 1) {
        B = cin[0], R = cin[1], C = cin[2];
    }
    if (B > 0 && (es == 1 || es == 4 || es == 8)) {
        switch (es) {
            case 1: batched_transpose(x.data<uint8_t>(), out.mutable_data<uint8_t>(), B, R, C, ctx.pool); break;
            case 4: batched_transpose(x.data<uint32_t>(), out.mutable_data<uint32_t>(), B, R, C, ctx.pool); break;
            default: batched_transpose(x.data<uint64_t>(), out.mutable_data<uint64_t>(), B, R, C, ctx.pool); break;
        }
    } else {
        const std::vector<int64_t> in_st = contiguous_strides(cin);
        Shape c_out(cr);
        std::vector<int64_t> st(cr);
        for (size_t i = 0; i < cr; ++i) {
            c_out[i] = cin[static_cast<size_t>(cperm[i])];
            st[i] = in_st[static_cast<size_t>(cperm[i])];
        }
        strided_copy(c_out, st, 0, es, x.raw(), out.mutable_data<uint8_t>(), ctx.pool);
    }
    set_output(outputs, 0, std::move(out));
}

// ---- Concat ----------------------------------------------------------------------------------

void run_concat(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                OpContext& ctx) {
    if (inputs.empty()) fail_node(node, "has no inputs");
    const Tensor& first = input(node, inputs, 0);
    const int64_t r = first.rank();
    if (r == 0) fail_node(node, "cannot concatenate scalars");
    if (!node.has("axis")) fail_node(node, "attribute 'axis' is missing");
    const int64_t axis = normalize_axis(node.attr_int("axis", 0), r, node);
    Shape out_shape = first.shape();
    out_shape[static_cast<size_t>(axis)] = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
        const Tensor& t = input(node, inputs, i);
        if (t.type() != first.type())
            fail_node(node, "input " + std::to_string(i) + " is " + elem_type_name(static_cast<int32_t>(t.type())) +
                                ", input 0 is " + elem_type_name(static_cast<int32_t>(first.type())));
        bool ok = t.rank() == r;
        for (int64_t d = 0; ok && d < r; ++d)
            if (d != axis && t.dim(d) != first.dim(d)) ok = false;
        if (!ok)
            fail_node(node, "input " + std::to_string(i) + " has shape " + shape_string(t.shape()) +
                                ", which does not match input 0's " + shape_string(first.shape()) + " off axis " +
                                std::to_string(axis));
        out_shape[static_cast<size_t>(axis)] += t.dim(axis);
    }
    Tensor out = Tensor::allocate(first.type(), out_shape);
    const int64_t es = static_cast<int64_t>(elem_size(first.type()));
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= out_shape[static_cast<size_t>(d)];
    for (int64_t d = axis + 1; d < r; ++d) inner *= out_shape[static_cast<size_t>(d)];
    const int64_t out_row = out_shape[static_cast<size_t>(axis)] * inner * es;
    int64_t off = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
        const Tensor& t = *inputs[i];
        const int64_t len = t.dim(axis) * inner * es;
        copy_blocks(static_cast<const uint8_t*>(t.raw()), len, 0, out.mutable_data<uint8_t>(), out_row, off, outer, len,
                    ctx.pool);
        off += len;
    }
    set_output(outputs, 0, std::move(out));
}

// ---- Expand ----------------------------------------------------------------------------------

void run_expand(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                OpContext& ctx) {
    const Tensor& x = input(node, inputs, 0);
    const Tensor& s = require_input(node, inputs, 1, ElemType::Int64);
    if (s.rank() != 1) fail_node(node, "the shape input has shape " + shape_string(s.shape()) + ", expected 1-D");
    const Shape req = int64_values(s);
    for (int64_t d : req)
        if (d < 0) fail_node(node, "shape " + shape_string(req) + " has a negative dimension");
    const Shape out_shape = broadcast_shapes(x.shape(), req, node);
    Tensor out = Tensor::allocate(x.type(), out_shape);
    const size_t r = out_shape.size(), off = r - x.shape().size();
    const std::vector<int64_t> xs = contiguous_strides(x.shape());
    std::vector<int64_t> st(r, 0);
    for (size_t i = 0; i < x.shape().size(); ++i) st[off + i] = x.shape()[i] == 1 ? 0 : xs[i];
    strided_copy(out_shape, st, 0, elem_size(x.type()), x.raw(), out.mutable_data<uint8_t>(), ctx.pool);
    set_output(outputs, 0, std::move(out));
}

// ---- Gather ----------------------------------------------------------------------------------

void run_gather(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                OpContext& ctx) {
    const Tensor& x = input(node, inputs, 0);
    const Tensor& idx_t = input(node, inputs, 1);
    if (idx_t.type() != ElemType::Int64 && idx_t.type() != ElemType::Int32)
        fail_node(node, std::string("indices are ") + elem_type_name(static_cast<int32_t>(idx_t.type())) +
                            ", expected INT64 or INT32");
    const int64_t r = x.rank();
    if (r == 0) fail_node(node, "cannot gather from a scalar");
    const int64_t axis = normalize_axis(node.attr_int("axis", 0), r, node);
    const int64_t dim = x.dim(axis);
    std::vector<int64_t> idx = int64_values(idx_t);
    for (int64_t& i : idx) {
        if (i < -dim || i >= dim)
            fail_node(node, "index " + std::to_string(i) + " is out of range for axis " + std::to_string(axis) +
                                " of size " + std::to_string(dim));
        if (i < 0) i += dim;
    }
    Shape out_shape(x.shape().begin(), x.shape().begin() + axis);
    out_shape.insert(out_shape.end(), idx_t.shape().begin(), idx_t.shape().end());
    out_shape.insert(out_shape.end(), x.shape().begin() + axis + 1, x.shape().end());
    Tensor out = Tensor::allocate(x.type(), out_shape);
    const int64_t es = static_cast<int64_t>(elem_size(x.type()));
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
    for (int64_t d = axis + 1; d < r; ++d) inner *= x.dim(d);
    const int64_t n_idx = static_cast<int64_t>(idx.size());
    const int64_t block = inner * es;
    if (out.numel() == 0) {
        set_output(outputs, 0, std::move(out));
        return;
    }
    const auto* src = static_cast<const uint8_t*>(x.raw());
    uint8_t* dst = out.mutable_data<uint8_t>();
    const int64_t grain = std::max<int64_t>(1, kGrain * 4 / std::max<int64_t>(block, 1));
    ctx.pool.parallel_for(outer * n_idx, grain, [&](int64_t begin, int64_t end) {
        for (int64_t w = begin; w < end; ++w) {
            const int64_t o = w / n_idx, j = w % n_idx;
            std::memcpy(dst + w * block, src + (o * dim + idx[static_cast<size_t>(j)]) * block,
                        static_cast<size_t>(block));
        }
    });
    set_output(outputs, 0, std::move(out));
}

// ---- Slice -----------------------------------------------------------------------------------

void run_slice(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
               OpContext& ctx) {
    const Tensor& x = input(node, inputs, 0);
    const int64_t r = x.rank();
    std::vector<int64_t> starts, ends, axes, steps;
    if (node.since_version >= 10) {
        starts = int_list(node, input(node, inputs, 1), "starts");
        ends = int_list(node, input(node, inputs, 2), "ends");
        if (const Tensor* a = optional_input(inputs, 3))
            axes = int_list(node, *a, "axes");
        else
            for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
        if (const Tensor* s = optional_input(inputs, 4))
            steps = int_list(node, *s, "steps");
        else
            steps.assign(starts.size(), 1);
    } else {
        starts = node.attr_ints("starts");
        ends = node.attr_ints("ends");
        axes = node.attr_ints("axes");
        if (!node.has("axes"))
            for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
        steps.assign(starts.size(), 1);
    }
    if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
        fail_node(node, "starts, ends, axes and steps have " + std::to_string(starts.size()) + ", " +
                            std::to_string(ends.size()) + ", " + std::to_string(axes.size()) + " and " +
                            std::to_string(steps.size()) + " entries; they must match");
    const std::vector<int64_t> ax = normalize_axes(node, axes, r);
    Shape out_shape = x.shape();
    std::vector<int64_t> first(static_cast<size_t>(r), 0), step(static_cast<size_t>(r), 1);
    for (size_t i = 0; i < ax.size(); ++i) {
        const int64_t a = ax[i], dim = x.dim(a), st = steps[i];
        if (st == 0) fail_node(node, "step for axis " + std::to_string(a) + " is zero");
        int64_t s = starts[i], e = ends[i];
        // (Adding dim to a huge negative value cannot overflow: dim <= 2^40.)
        if (s < 0) s += dim;
        if (e < 0) e += dim;
        int64_t len;
        if (st > 0) {
            s = std::clamp<int64_t>(s, 0, dim);
            e = std::clamp<int64_t>(e, 0, dim);
            len = e > s ? (e - s - 1) / st + 1 : 0;
        } else {
            s = std::clamp<int64_t>(s, 0, dim - 1);
            e = std::clamp<int64_t>(e, -1, dim - 1);
            len = s > e ? (s - e - 1) / (-st) + 1 : 0;
        }
        out_shape[static_cast<size_t>(a)] = len;
        first[static_cast<size_t>(a)] = len > 0 ? s : 0;
        step[static_cast<size_t>(a)] = len > 1 ? st : 1;  // (a huge step on a length-1 slice never multiplies)
    }
    Tensor out = Tensor::allocate(x.type(), out_shape);
    const std::vector<int64_t> xs = contiguous_strides(x.shape());
    int64_t base = 0;
    std::vector<int64_t> st(static_cast<size_t>(r));
    for (size_t d = 0; d < static_cast<size_t>(r); ++d) {
        base += first[d] * xs[d];
        st[d] = xs[d] * step[d];
    }
    if (out.numel() > 0)
        strided_copy(out_shape, st, base, elem_size(x.type()), x.raw(), out.mutable_data<uint8_t>(), ctx.pool);
    set_output(outputs, 0, std::move(out));
}

// ---- Split -----------------------------------------------------------------------------------

void run_split(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
               OpContext& ctx) {
    const Tensor& x = input(node, inputs, 0);
    const int64_t r = x.rank();
    if (r == 0) fail_node(node, "cannot split a scalar");
    const int64_t axis = normalize_axis(node.attr_int("axis", 0), r, node);
    const int64_t dim = x.dim(axis);
    const int64_t n_out = static_cast<int64_t>(std::max(node.outputs.size(), outputs.size()));
    std::vector<int64_t> split;
    bool have_split = false;
    if (node.since_version >= 13) {
        if (const Tensor* s = optional_input(inputs, 1)) {
            if (s->type() != ElemType::Int64)
                fail_node(node, std::string("split is ") + elem_type_name(static_cast<int32_t>(s->type())) +
                                    ", expected INT64");
            split = int_list(node, *s, "split");
            have_split = true;
        }
    } else if (node.has("split")) {
        split = node.attr_ints("split");
        have_split = true;
    }
    if (n_out < 1) fail_node(node, "has no outputs");
    if (have_split) {
        if (node.since_version >= 18 && node.has("num_outputs"))
            fail_node(node, "both the split input and the num_outputs attribute are given");
        if (static_cast<int64_t>(split.size()) != n_out)
            fail_node(node, "split has " + std::to_string(split.size()) + " entries for " + std::to_string(n_out) +
                                " outputs");
        int64_t sum = 0;
        for (int64_t v : split) {
            if (v < 0) fail_node(node, "split " + shape_string(split) + " has a negative size");
            sum += v;
        }
        if (sum != dim)
            fail_node(node, "split " + shape_string(split) + " sums to " + std::to_string(sum) + ", but axis " +
                                std::to_string(axis) + " has size " + std::to_string(dim));
    } else {
        int64_t parts = n_out;
        if (node.since_version >= 18) {
            if (!node.has("num_outputs"))
                fail_node(node, "neither the split input nor the num_outputs attribute is given");
            parts = node.attr_int("num_outputs", 0);
            if (parts != n_out)
                fail_node(node, "num_outputs is " + std::to_string(parts) + ", but the node has " +
                                    std::to_string(n_out) + " outputs");
            // Chunks of ceil(dim / parts); the last one takes what is left.
            const int64_t chunk = (dim + parts - 1) / parts;
            int64_t left = dim;
            for (int64_t i = 0; i < parts; ++i) {
                const int64_t v = i + 1 < parts ? chunk : left;
                if (v < 0 || v > left)
                    fail_node(node, "axis " + std::to_string(axis) + " of size " + std::to_string(dim) +
                                        " cannot be split into " + std::to_string(parts) + " chunks of " +
                                        std::to_string(chunk));
                split.push_back(v);
                left -= v;
            }
        } else {
            if (dim % parts != 0)
                fail_node(node, "axis " + std::to_string(axis) + " of size " + std::to_string(dim) +
                                    " does not split evenly into " + std::to_string(parts) + " outputs");
            split.assign(static_cast<size_t>(parts), dim / parts);
        }
    }
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
    for (int64_t d = axis + 1; d < r; ++d) inner *= x.dim(d);
    const int64_t es = static_cast<int64_t>(elem_size(x.type()));
    const int64_t in_row = dim * inner * es;
    int64_t pos = 0;
    for (size_t i = 0; i < split.size(); ++i) {
        const int64_t len = split[i] * inner * es;
        if (i < outputs.size() && (i >= node.outputs.size() || node.outputs[i] >= 0)) {
            Shape shape = x.shape();
            shape[static_cast<size_t>(axis)] = split[i];
            Tensor out = Tensor::allocate(x.type(), std::move(shape));
            copy_blocks(static_cast<const uint8_t*>(x.raw()), in_row, pos, out.mutable_data<uint8_t>(), len, 0, outer,
                        len, ctx.pool);
            outputs[i] = std::move(out);
        }
        pos += len;
    }
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

void register_shape_ops() {
    reg("Shape", {1, 13, 15, 19, 21, 23, 24, 25}, run_shape, 1, 1);
    reg("Reshape", {5, 13, 14, 19, 21, 23, 24, 25}, run_reshape, 2, 2);
    reg("Flatten", {11, 13, 21, 23, 24, 25}, run_flatten, 1, 1);
    reg("Transpose", {1, 13, 21, 23, 24, 25}, run_transpose, 1, 1);
    reg("Concat", {11, 13}, run_concat, 1, -1);
    reg("Expand", {8, 13}, run_expand, 2, 2);
    reg("Gather", {11, 13}, run_gather, 2, 2);
    reg("Slice", {11, 13}, run_slice, 3, 5);
    reg("Split", {11, 13, 18}, run_split, 1, 2);
    reg("Squeeze", {11, 13, 21, 23, 24, 25}, run_squeeze, 1, 2);
    reg("Unsqueeze", {11, 13, 21, 23, 24, 25}, run_unsqueeze, 1, 2);
}

}  // namespace krait::onnx
