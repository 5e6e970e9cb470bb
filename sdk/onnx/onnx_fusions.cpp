// Fusions of exported subgraphs into Krait's kernels (domain "krait"):
//   Conv [+ BatchNormalization] [+ act] [+ residual Add [+ act]]  -> krait.FusedConv
//   GELU (Erf and Tanh forms, as exporters write them)           -> krait.Gelu
//   MatMul(x, constant W) + Add(constant bias) [+ krait.Gelu]     -> krait.Linear
//   ReduceMean / Sub / Pow / ReduceMean / Add / Sqrt / Div [/ Mul / Add] -> krait.LayerNorm
//   MatMul(Q, K^T) [scale] -> Softmax -> MatMul(., V)             -> krait.Attention
// Each fused node keeps the value names of the pattern's inputs and final output; the nodes it
// replaces are dropped (their intermediate values had no other readers).
#include "sdk/onnx/onnx_fusions.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "kernels/cpu/dispatch.h"
#include "sdk/core/error.h"
#include "sdk/onnx/onnx_ops.h"

namespace krait::onnx {

using namespace nn_detail;

namespace {

// ---------------------------------------------------------------- kernels

void gelu_run(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, OpContext& ctx) {
    const Tensor& X = require_input(node, inputs, 0, ElemType::Float);
    const Act act = read_act(node, "");
    Tensor Y = Tensor::allocate(ElemType::Float, X.shape());
    const float* x = X.data<float>();
    float* y = Y.mutable_data<float>();
    ctx.pool.parallel_for(X.numel(), 16384, [&](int64_t b, int64_t e) {
        std::memcpy(y + b, x + b, sizeof(float) * static_cast<size_t>(e - b));
        apply_act(act, y + b, e - b);
    });
    outputs[0] = std::move(Y);
}

// q, k, v as 4-D tensors read through "q_dims" / "k_dims" / "v_dims": the source axes of the logical
// (batch, head, token, head_dim) axes (head_dim must be the source's last axis). Output [B, H, T, hd].
struct HeadView {
    const float* data;
    int64_t B, H, T, D, sb, sh, st;
};

HeadView head_view(const Node& node, const Tensor& t, const char* attr) {
    const auto dims = node.attr_ints(attr, {0, 1, 2, 3});
    if (t.rank() != 4 || dims.size() != 4 || dims[3] != 3) fail_node(node, std::string("bad ") + attr);
    int64_t stride[4];
    stride[3] = 1;
    for (int d = 2; d >= 0; --d) stride[d] = stride[d + 1] * t.dim(d + 1);
    return {t.data<float>(), t.dim(dims[0]), t.dim(dims[1]), t.dim(dims[2]), t.dim(dims[3]),
            stride[dims[0]], stride[dims[1]], stride[dims[2]]};
}

void attention_run(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                   OpContext& ctx) {
    const HeadView q = head_view(node, require_input(node, inputs, 0, ElemType::Float), "q_dims");
    const HeadView k = head_view(node, require_input(node, inputs, 1, ElemType::Float), "k_dims");
    const HeadView v = head_view(node, require_input(node, inputs, 2, ElemType::Float), "v_dims");
    if (k.B != q.B || v.B != q.B || k.H != q.H || v.H != q.H || k.D != q.D || v.D != q.D || v.T != k.T)
        fail_node(node, "query, key and value shapes do not match");
    const float scale = node.attr_float("scale", 1.0f);
    Tensor Y = Tensor::allocate(ElemType::Float, {q.B, q.H, q.T, q.D});
    float* y = Y.mutable_data<float>();
    const int64_t items = q.B * q.H;
    if (items == 0 || q.T == 0 || q.D == 0) {
        outputs[0] = std::move(Y);
        return;
    }
    if (k.T == 0) {
        std::fill(y, y + Y.numel(), 0.0f);
        outputs[0] = std::move(Y);
        return;
    }
    const int64_t slots = std::min<int64_t>(ctx.pool.size(), items);
    const int64_t per = kernels::attention_scratch_floats(q.T, k.T) + kernels::kAttentionRowPad;
    if (static_cast<int64_t>(ctx.scratch.size()) < slots * per) ctx.scratch.resize(static_cast<size_t>(slots * per));
    float* scratch = ctx.scratch.data();
    ctx.pool.parallel_for(slots, 1, [&](int64_t s0, int64_t s1) {
        for (int64_t slot = s0; slot < s1; ++slot)
            for (int64_t it = items * slot / slots; it < items * (slot + 1) / slots; ++it) {
                const int64_t b = it / q.H, h = it % q.H;
                kernels::AttentionParams p;
                p.tokens = q.T;
                p.keys = k.T;
                p.head_dim = q.D;
                p.q = q.data + b * q.sb + h * q.sh;
                p.q_stride = q.st;
                p.k = k.data + b * k.sb + h * k.sh;
                p.k_stride = k.st;
                p.v = v.data + b * v.sb + h * v.sh;
                p.v_stride = v.st;
                p.out = y + it * q.T * q.D;
                p.out_stride = q.D;
                p.scale = scale;
                kernels::active().attention(p, scratch + slot * per);
            }
    });
    outputs[0] = std::move(Y);
}

// ---------------------------------------------------------------- pattern matching

struct Fuser {
    Graph& g;
    std::vector<int> producer;
    std::vector<std::vector<int>> consumers;
    std::vector<char> is_output;
    std::vector<char> dead;
    std::map<std::string, int> counts;
    std::vector<std::string> order;

    explicit Fuser(Graph& graph) : g(graph) { rebuild(); }

    void rebuild() {
        // Drop the nodes fused away so far.
        std::vector<Node> kept;
        for (size_t n = 0; n < g.nodes.size(); ++n)
            if (n >= dead.size() || !dead[n]) kept.push_back(std::move(g.nodes[n]));
        g.nodes = std::move(kept);
        dead.assign(g.nodes.size(), 0);
        producer.assign(g.values.size(), -1);
        consumers.assign(g.values.size(), {});
        is_output.assign(g.values.size(), 0);
        for (int v : g.outputs) is_output[static_cast<size_t>(v)] = 1;
        for (size_t n = 0; n < g.nodes.size(); ++n) {
            for (int v : g.nodes[n].outputs)
                if (v >= 0) producer[static_cast<size_t>(v)] = static_cast<int>(n);
            for (int v : g.nodes[n].inputs)
                if (v >= 0) consumers[static_cast<size_t>(v)].push_back(static_cast<int>(n));
        }
    }

    void note(const std::string& label) {
        if (!counts.count(label)) order.push_back(label);
        ++counts[label];
    }

    // The node of op `op` (ai.onnx) writing v, or nullptr.
    Node* made_by(int v, const char* op) {
        if (v < 0 || static_cast<size_t>(v) >= producer.size()) return nullptr;
        const int n = producer[static_cast<size_t>(v)];
        if (n < 0 || dead[static_cast<size_t>(n)]) return nullptr;
        Node& node = g.nodes[static_cast<size_t>(n)];
        return node.op_type == op && node.domain.empty() ? &node : nullptr;
    }
    int index_of(const Node* node) const { return static_cast<int>(node - g.nodes.data()); }
    // v's only reader (not a graph output), or nullptr.
    Node* only_reader(int v) {
        if (v < 0 || is_output[static_cast<size_t>(v)]) return nullptr;
        const auto& c = consumers[static_cast<size_t>(v)];
        if (c.size() != 1 || dead[static_cast<size_t>(c[0])]) return nullptr;
        return &g.nodes[static_cast<size_t>(c[0])];
    }
    bool is(const Node* n, const char* op) const { return n && n->op_type == op && n->domain.empty(); }
    const Tensor* constant(int v) const {
        if (v < 0) return nullptr;
        const Value& val = g.values[static_cast<size_t>(v)];
        return val.is_constant && val.constant.defined() && val.constant.type() == ElemType::Float ? &val.constant
                                                                                                   : nullptr;
    }
    bool scalar(int v, float& out) const {
        const Tensor* t = constant(v);
        if (!t || t->numel() != 1) return false;
        out = t->data<float>()[0];
        return true;
    }
    bool scalar_near(int v, float want, float tol = 1e-4f) const {
        float f;
        return scalar(v, f) && std::fabs(f - want) <= tol * std::max(1.0f, std::fabs(want));
    }
    // For a binary node with one scalar-constant operand: the other operand, the constant in `c`.
    int other_of_scalar(const Node* n, float& c) const {
        if (!n || n->inputs.size() != 2) return -1;
        if (scalar(n->inputs[1], c)) return n->inputs[0];
        if (scalar(n->inputs[0], c)) return n->inputs[1];
        return -1;
    }
    int other_input(const Node* n, int v) const {
        if (!n || n->inputs.size() != 2) return -1;
        if (n->inputs[0] == v) return n->inputs[1];
        if (n->inputs[1] == v) return n->inputs[0];
        return -1;
    }
    const Value& val(int v) const { return g.values[static_cast<size_t>(v)]; }

    int add_constant(const std::string& name, Tensor t) {
        const int v = g.add_value(name);
        Value& nv = g.values[static_cast<size_t>(v)];
        nv.elem_type = 1;
        nv.is_constant = true;
        nv.probe_shape = t.shape();
        nv.probe_known = true;
        nv.constant = std::move(t);
        producer.push_back(-1);
        consumers.emplace_back();
        is_output.push_back(0);
        return v;
    }

    // Rewrites node `at` (the pattern's last node) into a krait op; marks `drop` dead.
    void emit(int at, const std::string& op, std::vector<int> inputs, int output,
              std::map<std::string, Attribute> attrs, const std::vector<int>& drop) {
        Node& n = g.nodes[static_cast<size_t>(at)];
        n.op_type = op;
        n.domain = "krait";
        n.inputs = std::move(inputs);
        n.outputs = {output};
        n.attributes = std::move(attrs);
        n.prepared.reset();
        n.schema = find_op("krait", op);
        if (!n.schema) fail(KRAIT_ERR_INTERNAL, "fusion: krait." + op + " is not registered");
        n.since_version = 1;
        for (int d : drop)
            if (d != at) dead[static_cast<size_t>(d)] = 1;
        for (int v : n.inputs)
            if (v >= 0) consumers[static_cast<size_t>(v)].push_back(at);
        producer[static_cast<size_t>(output)] = at;
    }

    // ------------------------------------------------------------ activations

    // An activation node reading v alone: its Act, the nodes and output; false when none.
    bool match_act(int v, Act& act, std::vector<int>& nodes, int& out, std::string& label) {
        const auto& c = consumers[static_cast<size_t>(v)];
        if (is_output[static_cast<size_t>(v)]) return false;
        if (c.size() == 1 && !dead[static_cast<size_t>(c[0])]) {
            Node& n = g.nodes[static_cast<size_t>(c[0])];
            if (!n.domain.empty() || n.inputs.empty() || n.inputs[0] != v) return false;
            Act a;
            if (n.op_type == "Relu") a.kind = ActKind::Relu;
            else if (n.op_type == "HardSwish") a.kind = ActKind::HardSwish;
            else if (n.op_type == "Sigmoid") a.kind = ActKind::Sigmoid;
            else if (n.op_type == "HardSigmoid") {
                a.kind = ActKind::HardSigmoid;
                a.a = n.attr_float("alpha", 0.2f);
                a.b = n.attr_float("beta", 0.5f);
            } else if (n.op_type == "LeakyRelu") {
                a.kind = ActKind::LeakyRelu;
                a.a = n.attr_float("alpha", 0.01f);
            } else if (n.op_type == "Clip") {
                a.kind = ActKind::Clip;
                a.a = -INFINITY;
                a.b = INFINITY;
                if (n.inputs.size() > 1 && n.inputs[1] >= 0 && !scalar(n.inputs[1], a.a)) return false;
                if (n.inputs.size() > 2 && n.inputs[2] >= 0 && !scalar(n.inputs[2], a.b)) return false;
            } else {
                return false;
            }
            if (n.outputs.size() != 1) return false;
            act = a;
            nodes.push_back(c[0]);
            out = n.outputs[0];
            label = n.op_type;
            return true;
        }
        // SiLU: x * Sigmoid(x)
        if (c.size() == 2) {
            Node* s = nullptr;
            Node* m = nullptr;
            for (int i : c) {
                if (dead[static_cast<size_t>(i)]) return false;
                Node& n = g.nodes[static_cast<size_t>(i)];
                if (is(&n, "Sigmoid")) s = &n;
                else if (is(&n, "Mul")) m = &n;
            }
            if (!s || !m || s->outputs.size() != 1) return false;
            if (other_input(m, v) != s->outputs[0] || only_reader(s->outputs[0]) != m) return false;
            act.kind = ActKind::Silu;
            nodes.push_back(index_of(s));
            nodes.push_back(index_of(m));
            out = m->outputs[0];
            label = "SiLU";
            return true;
        }
        return false;
    }

    // ------------------------------------------------------------ 1. conv

    void fuse_conv() {
        for (size_t ci = 0; ci < g.nodes.size(); ++ci) {
            if (dead[ci]) continue;
            Node& conv = g.nodes[ci];
            if (!is(&conv, "Conv") || conv.outputs.size() != 1) continue;
            const Tensor* w = constant(conv.inputs[1]);
            if (!w || (w->rank() != 4 && w->rank() != 3)) continue;
            const bool has_bias = conv.inputs.size() > 2 && conv.inputs[2] >= 0;
            if (has_bias && !constant(conv.inputs[2])) continue;
            std::vector<int> drop{static_cast<int>(ci)};
            std::string label = "Conv";
            int cur = conv.outputs[0];
            int weight = conv.inputs[1], bias = has_bias ? conv.inputs[2] : -1;
            // BatchNormalization folded into the weights.
            Node* bn = only_reader(cur);
            if (is(bn, "BatchNormalization") && bn->inputs.size() == 5 && bn->inputs[0] == cur &&
                bn->attr_int("training_mode", 0) == 0 && bn->outputs.size() >= 1 &&
                std::all_of(bn->outputs.begin() + 1, bn->outputs.end(), [](int o) { return o < 0; })) {
                const Tensor *gm = constant(bn->inputs[1]), *bt = constant(bn->inputs[2]), *mn = constant(bn->inputs[3]),
                             *vr = constant(bn->inputs[4]);
                const int64_t M = w->dim(0);
                if (gm && bt && mn && vr && gm->numel() == M && bt->numel() == M && mn->numel() == M && vr->numel() == M) {
                    const float eps = bn->attr_float("epsilon", 1e-5f);
                    const int64_t per = w->numel() / M;
                    std::vector<float> fw(static_cast<size_t>(w->numel())), fb(static_cast<size_t>(M));
                    const float* wd = w->data<float>();
                    const float* bd = has_bias ? constant(conv.inputs[2])->data<float>() : nullptr;
                    bool ok = true;
                    for (int64_t o = 0; o < M; ++o) {
                        const double var = vr->data<float>()[o];
                        if (!(var + eps > 0)) ok = false;
                        const double s = gm->data<float>()[o] / std::sqrt(var + eps);
                        for (int64_t i = 0; i < per; ++i)
                            fw[static_cast<size_t>(o * per + i)] = static_cast<float>(wd[o * per + i] * s);
                        const double b0 = bd ? bd[o] : 0.0;
                        fb[static_cast<size_t>(o)] = static_cast<float>((b0 - mn->data<float>()[o]) * s + bt->data<float>()[o]);
                    }
                    if (ok) {
                        const std::string base = conv.name.empty() ? val(cur).name : conv.name;
                        weight = add_constant(base + "_bn_weight", Tensor::from_floats(w->shape(), fw));
                        bias = add_constant(base + "_bn_bias", Tensor::from_floats({M}, fb));
                        drop.push_back(index_of(bn));
                        cur = bn->outputs[0];
                        label += "+BatchNormalization";
                    }
                }
            }
            Act pre, post;
            std::string al;
            int out = -1;
            if (match_act(cur, pre, drop, out, al)) {
                cur = out;
                label += "+" + al;
            }
            int residual = -1;
            Node* add = only_reader(cur);
            if (is(add, "Add") && add->outputs.size() == 1) {
                const int r = other_input(add, cur);
                const Value& rv = val(std::max(r, 0));
                const Value& cv = val(cur);
                if (r >= 0 && r != cur && rv.probe_known && cv.probe_known && rv.probe_shape == cv.probe_shape &&
                    (rv.elem_type == 0 || rv.elem_type == 1) && !constant(r)) {
                    residual = r;
                    drop.push_back(index_of(add));
                    cur = add->outputs[0];
                    label += "+Add";
                    if (match_act(cur, post, drop, out, al)) {
                        cur = out;
                        label += "+" + al;
                    }
                }
            }
            if (drop.size() == 1) continue;  // a plain Conv: the Conv op itself is as fast
            std::map<std::string, Attribute> attrs = conv.attributes;
            const std::vector<int> inputs{conv.inputs[0], weight, bias, residual};
            Node tmp;
            tmp.attributes = attrs;
            write_act(tmp, "", pre);
            write_act(tmp, "post_", post);
            const int at = producer[static_cast<size_t>(cur)];
            emit(at, "FusedConv", inputs, cur, tmp.attributes, drop);
            note(label);
        }
    }

    // ------------------------------------------------------------ 3. GELU

    // From a (1 + erf/tanh(...)) value `a` and the input x: the final Mul of x * a * 0.5 in its
    // three orders; appends the nodes and returns the output value, or -1.
    int gelu_tail(int a, int x, std::vector<int>& nodes) {
        Node* c1 = only_reader(a);
        if (!is(c1, "Mul")) return -1;
        const int other = other_input(c1, a);
        float c;
        if (scalar_near(other, 0.5f)) {  // (a * 0.5) * x
            Node* c2 = only_reader(c1->outputs[0]);
            if (!is(c2, "Mul") || other_input(c2, c1->outputs[0]) != x) return -1;
            nodes.push_back(index_of(c1));
            nodes.push_back(index_of(c2));
            return c2->outputs[0];
        }
        if (other == x) {  // (x * a) * 0.5
            Node* c2 = only_reader(c1->outputs[0]);
            if (!is(c2, "Mul") || other_of_scalar(c2, c) != c1->outputs[0] || std::fabs(c - 0.5f) > 1e-6f) return -1;
            nodes.push_back(index_of(c1));
            nodes.push_back(index_of(c2));
            return c2->outputs[0];
        }
        Node* h = made_by(other, "Mul");  // (x * 0.5) * a
        if (h && other_of_scalar(h, c) == x && std::fabs(c - 0.5f) <= 1e-6f && only_reader(other) == c1) {
            nodes.push_back(index_of(h));
            nodes.push_back(index_of(c1));
            return c1->outputs[0];
        }
        return -1;
    }

    // `t` (Erf or Tanh output) -> Add 1 -> tail.
    int gelu_after(int t, int x, std::vector<int>& nodes) {
        Node* add = only_reader(t);
        float c;
        if (!is(add, "Add") || other_of_scalar(add, c) != t || std::fabs(c - 1.0f) > 1e-6f) return -1;
        nodes.push_back(index_of(add));
        return gelu_tail(add->outputs[0], x, nodes);
    }

    void fuse_gelu() {
        const size_t n_nodes = g.nodes.size();
        for (size_t i = 0; i < n_nodes; ++i) {
            if (dead[i]) continue;
            Node& e = g.nodes[i];
            std::vector<int> nodes{static_cast<int>(i)};
            int x = -1;
            Act act;
            float c;
            if (is(&e, "Erf")) {
                const int d = e.inputs[0];
                Node* dn = made_by(d, "Div");
                Node* mn = made_by(d, "Mul");
                if (dn && only_reader(d) == &e && scalar_near(dn->inputs[1], 1.4142135f)) {
                    x = dn->inputs[0];
                    nodes.push_back(index_of(dn));
                } else if (mn && only_reader(d) == &e && (x = other_of_scalar(mn, c)) >= 0 &&
                           std::fabs(c - 0.70710677f) <= 1e-5f) {
                    nodes.push_back(index_of(mn));
                } else {
                    continue;
                }
                act.kind = ActKind::GeluErf;
            } else if (is(&e, "Tanh")) {
                // tanh(0.7978845608 * (x + 0.044715 * x^3))
                const int s = e.inputs[0];
                Node* m1 = made_by(s, "Mul");
                if (!m1 || only_reader(s) != &e) continue;
                const int inner = other_of_scalar(m1, c);
                if (inner < 0 || std::fabs(c - 0.7978846f) > 1e-4f) continue;
                Node* add = made_by(inner, "Add");
                if (!add || only_reader(inner) != m1 || add->inputs.size() != 2) continue;
                bool found = false;
                for (int side = 0; side < 2 && !found; ++side) {
                    const int cand_x = add->inputs[static_cast<size_t>(side)], cube_s = add->inputs[static_cast<size_t>(1 - side)];
                    Node* m2 = made_by(cube_s, "Mul");
                    if (!m2 || only_reader(cube_s) != add) continue;
                    const int cube = other_of_scalar(m2, c);
                    if (cube < 0 || std::fabs(c - 0.044715f) > 1e-5f) continue;
                    Node* pw = made_by(cube, "Pow");
                    if (!pw || only_reader(cube) != m2 || pw->inputs[0] != cand_x || !scalar_near(pw->inputs[1], 3.0f))
                        continue;
                    x = cand_x;
                    nodes.insert(nodes.end(), {index_of(m1), index_of(add), index_of(m2), index_of(pw)});
                    found = true;
                }
                if (!found) continue;
                act.kind = ActKind::GeluTanh;
            } else {
                continue;
            }
            const int out = gelu_after(e.outputs[0], x, nodes);
            if (out < 0) continue;
            Node tmp;
            write_act(tmp, "", act);
            emit(producer[static_cast<size_t>(out)], "Gelu", {x}, out, tmp.attributes, nodes);
            note(act.kind == ActKind::GeluErf ? "Gelu(Erf)" : "Gelu(Tanh)");
        }
    }

    // ------------------------------------------------------------ 2. Linear

    void fuse_linear() {
        for (size_t i = 0; i < g.nodes.size(); ++i) {
            if (dead[i]) continue;
            Node& mm = g.nodes[i];
            if (!is(&mm, "MatMul") || mm.outputs.size() != 1) continue;
            const Tensor* w = constant(mm.inputs[1]);
            if (!w || w->rank() != 2) continue;
            const Value& xv = val(mm.inputs[0]);
            if (!xv.probe_known || xv.probe_shape.empty()) continue;
            const int64_t N = w->dim(1);
            std::vector<int> drop{static_cast<int>(i)};
            std::string label = "MatMul";
            int cur = mm.outputs[0], bias = -1;
            Node* add = only_reader(cur);
            if (is(add, "Add") && add->outputs.size() == 1) {
                const int b = other_input(add, cur);
                const Tensor* bt = constant(b);
                if (bt && bt->numel() == N && (bt->rank() == 1 || (bt->rank() >= 1 && bt->shape().back() == N)) &&
                    val(add->outputs[0]).probe_known && val(cur).probe_known &&
                    val(add->outputs[0]).probe_shape == val(cur).probe_shape) {
                    bias = b;
                    drop.push_back(index_of(add));
                    cur = add->outputs[0];
                    label += "+Add";
                }
            }
            Act act;
            Node* ge = only_reader(cur);
            if (ge && ge->domain == "krait" && ge->op_type == "Gelu" && ge->inputs[0] == cur) {
                act = read_act(*ge, "");
                drop.push_back(index_of(ge));
                cur = ge->outputs[0];
                label += "+Gelu";
            } else if (ge && is(ge, "Relu")) {
                act.kind = ActKind::Relu;
                drop.push_back(index_of(ge));
                cur = ge->outputs[0];
                label += "+Relu";
            }
            if (drop.size() == 1) continue;
            Node tmp;
            write_act(tmp, "", act);
            emit(producer[static_cast<size_t>(cur)], "Linear", {mm.inputs[0], mm.inputs[1], bias}, cur, tmp.attributes,
                 drop);
            note(label);
        }
    }

    // ------------------------------------------------------------ 4. LayerNorm

    bool last_axis_mean(const Node* n, int x) const {
        if (!is(n, "ReduceMean") || n->inputs.empty() || n->inputs[0] != x) return false;
        if (n->attr_int("keepdims", 1) != 1) return false;
        const Value& xv = val(x);
        if (!xv.probe_known || xv.probe_shape.empty()) return false;
        const int64_t rank = static_cast<int64_t>(xv.probe_shape.size());
        std::vector<int64_t> axes = n->attr_ints("axes", {});
        if (n->inputs.size() > 1 && n->inputs[1] >= 0) {
            const Value& av = val(n->inputs[1]);
            if (!av.is_constant) return false;
            axes = av.constant.to_int64s();
        }
        return axes.size() == 1 && (axes[0] == -1 || axes[0] == rank - 1);
    }

    void fuse_layer_norm() {
        for (size_t i = 0; i < g.nodes.size(); ++i) {
            if (dead[i]) continue;
            Node& r1 = g.nodes[i];
            if (!is(&r1, "ReduceMean") || r1.inputs.empty()) continue;
            const int x = r1.inputs[0];
            if (!last_axis_mean(&r1, x)) continue;
            Node* sub = only_reader(r1.outputs[0]);
            if (!is(sub, "Sub") || sub->inputs[0] != x || sub->inputs[1] != r1.outputs[0]) continue;
            const int d = sub->outputs[0];
            if (is_output[static_cast<size_t>(d)] || consumers[static_cast<size_t>(d)].size() != 2) continue;
            Node *sq = nullptr, *dv = nullptr;
            for (int c : consumers[static_cast<size_t>(d)]) {
                Node& n = g.nodes[static_cast<size_t>(c)];
                if (dead[static_cast<size_t>(c)]) sq = dv = nullptr;
                else if (is(&n, "Pow") && n.inputs[0] == d && scalar_near(n.inputs[1], 2.0f)) sq = &n;
                else if (is(&n, "Mul") && n.inputs[0] == d && n.inputs[1] == d) sq = &n;
                else if (is(&n, "Div") && n.inputs[0] == d) dv = &n;
            }
            if (!sq || !dv) continue;
            Node* r2 = only_reader(sq->outputs[0]);
            if (!last_axis_mean(r2, sq->outputs[0])) continue;
            Node* ae = only_reader(r2->outputs[0]);
            float eps;
            if (!is(ae, "Add") || other_of_scalar(ae, eps) != r2->outputs[0]) continue;
            Node* sr = only_reader(ae->outputs[0]);
            if (!is(sr, "Sqrt") || only_reader(sr->outputs[0]) != dv || dv->inputs[1] != sr->outputs[0]) continue;
            std::vector<int> drop{static_cast<int>(i), index_of(sub), index_of(sq), index_of(r2), index_of(ae),
                                  index_of(sr), index_of(dv)};
            const int64_t dim = val(x).probe_shape.back();
            int cur = dv->outputs[0], scale = -1, bias = -1;
            Node* ms = only_reader(cur);
            if (is(ms, "Mul")) {
                const int s = other_input(ms, cur);
                const Tensor* st = constant(s);
                if (st && st->numel() == dim && st->shape().back() == dim) {
                    scale = s;
                    drop.push_back(index_of(ms));
                    cur = ms->outputs[0];
                    Node* ab = only_reader(cur);
                    if (is(ab, "Add")) {
                        const int b = other_input(ab, cur);
                        const Tensor* bt = constant(b);
                        if (bt && bt->numel() == dim && bt->shape().back() == dim) {
                            bias = b;
                            drop.push_back(index_of(ab));
                            cur = ab->outputs[0];
                        }
                    }
                }
            }
            std::map<std::string, Attribute> attrs;
            Attribute ax;
            ax.kind = Attribute::Kind::Int;
            ax.i = -1;
            attrs["axis"] = ax;
            Attribute ep;
            ep.kind = Attribute::Kind::Float;
            ep.f = eps;
            attrs["epsilon"] = ep;
            emit(producer[static_cast<size_t>(cur)], "LayerNorm", {x, scale, bias}, cur, attrs, drop);
            note("LayerNorm");
        }
    }

    // ------------------------------------------------------------ 5. attention

    // Follows `v` back through 4-D Transposes; dims maps the logical axes to v's axes and is
    // rewritten to the source's.
    int trace_transposes(int v, std::vector<int64_t>& dims) {
        for (;;) {
            Node* t = made_by(v, "Transpose");
            if (!t) return v;
            const auto perm = t->attr_ints("perm", {});
            if (perm.size() != 4) return v;
            for (auto& d : dims) d = perm[static_cast<size_t>(d)];
            v = t->inputs[0];
        }
    }

    void fuse_attention() {
        for (size_t i = 0; i < g.nodes.size(); ++i) {
            if (dead[i]) continue;
            Node& sm = g.nodes[i];
            if (!is(&sm, "Softmax")) continue;
            const Value& sv = val(sm.inputs[0]);
            if (!sv.probe_known || sv.probe_shape.size() != 4) continue;
            const int64_t axis = sm.attr_int("axis", sm.since_version < 13 ? 1 : -1);
            if (!(axis == -1 || axis == 3)) continue;
            std::vector<int> drop{static_cast<int>(i)};
            float scale = 1.0f, c;
            int s = sm.inputs[0];
            if (only_reader(s) != &sm) continue;
            Node* mm = made_by(s, "MatMul");
            if (!mm) {
                Node* sc = made_by(s, "Mul");
                Node* dv = made_by(s, "Div");
                int inner = -1;
                if (sc && (inner = other_of_scalar(sc, c)) >= 0) {
                    scale *= c;
                    drop.push_back(index_of(sc));
                } else if (dv && scalar(dv->inputs[1], c) && c != 0.0f) {
                    inner = dv->inputs[0];
                    scale /= c;
                    drop.push_back(index_of(dv));
                } else {
                    continue;
                }
                if (only_reader(inner) != (sc ? sc : dv)) continue;
                mm = made_by(inner, "MatMul");
                if (!mm) continue;
            }
            drop.push_back(index_of(mm));
            int q = mm->inputs[0], kt = mm->inputs[1];
            if (Node* mq = made_by(q, "Mul"); mq && only_reader(q) == mm) {
                const int o = other_of_scalar(mq, c);
                if (o >= 0) {
                    scale *= c;
                    drop.push_back(index_of(mq));
                    q = o;
                }
            }
            if (Node* mk = made_by(kt, "Mul"); mk && only_reader(kt) == mm) {
                const int o = other_of_scalar(mk, c);
                if (o >= 0) {
                    scale *= c;
                    drop.push_back(index_of(mk));
                    kt = o;
                }
            }
            int probs = sm.outputs[0];
            Node* pv = only_reader(probs);
            if (!pv) {
                // torch's dynamo exporter: Where(IsNaN(p), 0, p) between the Softmax and the MatMul, which
                // zeroes the rows a full mask turns into NaN. Without a mask input a row is NaN only when
                // its scores already are (NaN / inf in the inputs), where the fused kernel gives NaN too.
                const auto& readers = consumers[static_cast<size_t>(probs)];
                if (readers.size() != 2 || is_output[static_cast<size_t>(probs)]) continue;
                Node* a = &g.nodes[static_cast<size_t>(readers[0])];
                Node* b = &g.nodes[static_cast<size_t>(readers[1])];
                if (is(b, "IsNaN")) std::swap(a, b);
                if (!is(a, "IsNaN") || !is(b, "Where") || dead[static_cast<size_t>(index_of(a))] ||
                    dead[static_cast<size_t>(index_of(b))])
                    continue;
                if (b->inputs.size() != 3 || b->inputs[0] != a->outputs[0] || b->inputs[2] != probs ||
                    only_reader(a->outputs[0]) != b || !scalar_near(b->inputs[1], 0.0f, 0.0f))
                    continue;
                drop.push_back(index_of(a));
                drop.push_back(index_of(b));
                probs = b->outputs[0];
                pv = only_reader(probs);
            }
            if (!is(pv, "MatMul") || pv->inputs[0] != probs) continue;
            int v = pv->inputs[1];
            std::vector<int64_t> qd{0, 1, 2, 3}, kd{0, 1, 3, 2}, vd{0, 1, 2, 3};
            q = trace_transposes(q, qd);
            kt = trace_transposes(kt, kd);
            v = trace_transposes(v, vd);
            if (qd[3] != 3 || kd[3] != 3 || vd[3] != 3) continue;
            const Value &qv = val(q), &kv = val(kt), &vv = val(v);
            if (!qv.probe_known || !kv.probe_known || !vv.probe_known || qv.probe_shape.size() != 4 ||
                kv.probe_shape.size() != 4 || vv.probe_shape.size() != 4)
                continue;
            auto dimv = [](const Value& x, const std::vector<int64_t>& d, int i) {
                return x.probe_shape[static_cast<size_t>(d[static_cast<size_t>(i)])];
            };
            bool ok = true;
            for (int a : {0, 1, 3}) ok = ok && dimv(qv, qd, a) == dimv(kv, kd, a) && dimv(qv, qd, a) == dimv(vv, vd, a);
            ok = ok && dimv(kv, kd, 2) == dimv(vv, vd, 2);
            const Value& ov = val(pv->outputs[0]);
            ok = ok && ov.probe_known &&
                 ov.probe_shape == Shape{dimv(qv, qd, 0), dimv(qv, qd, 1), dimv(qv, qd, 2), dimv(qv, qd, 3)};
            if (!ok) continue;
            drop.push_back(index_of(pv));
            std::map<std::string, Attribute> attrs;
            auto ints = [&](const char* name, const std::vector<int64_t>& d) {
                Attribute a;
                a.kind = Attribute::Kind::Ints;
                a.ints = d;
                attrs[name] = a;
            };
            ints("q_dims", qd);
            ints("k_dims", kd);
            ints("v_dims", vd);
            Attribute sa;
            sa.kind = Attribute::Kind::Float;
            sa.f = scale;
            attrs["scale"] = sa;
            emit(index_of(pv), "Attention", {q, kt, v}, pv->outputs[0], attrs, drop);
            note("Attention");
        }
    }
};

}  // namespace

void register_fused_ops() {
    register_op({"krait", "FusedConv", {1}, conv_run, conv_prepare, 2, 4, false});
    register_op({"krait", "Linear", {1}, matmul_run, matmul_prepare, 2, 3, false});
    register_op({"krait", "Gelu", {1}, gelu_run, nullptr, 1, 1, false});
    register_op({"krait", "LayerNorm", {1}, layer_norm_run, nullptr, 1, 3, false});
    register_op({"krait", "Attention", {1}, attention_run, nullptr, 3, 3, false});
}

void fuse_graph(Graph& graph, std::vector<std::string>& applied) {
    Fuser f(graph);
    f.fuse_conv();
    f.rebuild();
    f.fuse_gelu();
    f.rebuild();
    f.fuse_linear();
    f.rebuild();
    f.fuse_layer_norm();
    f.rebuild();
    f.fuse_attention();
    f.rebuild();
    for (const auto& label : f.order) applied.push_back(label + " x" + std::to_string(f.counts[label]));
}

}  // namespace krait::onnx
