#include "sdk/onnx/onnx_passes.h"

#include "sdk/core/error.h"
#include "sdk/core/utf8.h"
#include "sdk/onnx/onnx_executor.h"
#include "sdk/onnx/onnx_ops.h"

namespace krait::onnx {

int fold_constants(Graph& g, ThreadPool& pool) {
    std::vector<float> scratch;
    OpContext ctx{pool, scratch, nullptr};
    std::vector<Node> kept;
    int folded = 0;
    for (size_t n = 0; n < g.nodes.size(); ++n) {
        Node& node = g.nodes[n];
        bool all_constant = node.schema && node.schema->foldable;
        for (int v : node.inputs)
            if (v >= 0 && !g.values[static_cast<size_t>(v)].is_constant) all_constant = false;
        if (!all_constant) {
            kept.push_back(std::move(node));
            continue;
        }
        std::vector<const Tensor*> in(node.inputs.size(), nullptr);
        for (size_t i = 0; i < node.inputs.size(); ++i)
            if (node.inputs[i] >= 0) in[i] = &g.values[static_cast<size_t>(node.inputs[i])].constant;
        std::vector<Tensor> out(node.outputs.size());
        node.schema->run(node, in, out, ctx);
        for (size_t o = 0; o < node.outputs.size(); ++o) {
            const int v = node.outputs[o];
            if (v < 0) continue;
            Value& val = g.values[static_cast<size_t>(v)];
            val.constant = std::move(out[o]);
            val.is_constant = true;
            val.elem_type = static_cast<int32_t>(val.constant.type());
            val.producer = -1;
        }
        ++folded;
    }
    g.nodes = std::move(kept);
    if (folded) g.fusions.push_back("constant folding: " + std::to_string(folded) + " nodes");
    sort_and_check(g);
    return folded;
}

int remove_dead_nodes(Graph& g) {
    std::vector<char> needed(g.values.size(), 0);
    for (int v : g.outputs) needed[static_cast<size_t>(v)] = 1;
    std::vector<char> live(g.nodes.size(), 0);
    for (size_t n = g.nodes.size(); n-- > 0;) {
        const Node& node = g.nodes[n];
        bool used = false;
        for (int v : node.outputs)
            if (v >= 0 && needed[static_cast<size_t>(v)]) used = true;
        if (!used) continue;
        live[n] = 1;
        for (int v : node.inputs)
            if (v >= 0) needed[static_cast<size_t>(v)] = 1;
    }
    std::vector<Node> kept;
    int removed = 0;
    for (size_t n = 0; n < g.nodes.size(); ++n) {
        if (live[n]) kept.push_back(std::move(g.nodes[n]));
        else ++removed;
    }
    g.nodes = std::move(kept);
    for (auto& v : g.values) v.producer = -1;
    for (size_t n = 0; n < g.nodes.size(); ++n)
        for (int v : g.nodes[n].outputs)
            if (v >= 0) g.values[static_cast<size_t>(v)].producer = static_cast<int>(n);
    // Constants no node reads any more free their memory.
    std::vector<char> read(g.values.size(), 0);
    for (const Node& node : g.nodes)
        for (int v : node.inputs)
            if (v >= 0) read[static_cast<size_t>(v)] = 1;
    for (int v : g.outputs) read[static_cast<size_t>(v)] = 1;
    for (size_t v = 0; v < g.values.size(); ++v)
        if (g.values[v].is_constant && !read[v]) g.values[v].constant = Tensor();
    return removed;
}

void infer_shapes(Graph& g, ThreadPool& pool, const std::vector<std::pair<std::string, int64_t>>& probe_dims,
                  int64_t probe_height, int64_t probe_width, const std::vector<Tensor>& probe_inputs) {
    std::vector<Tensor> inputs;
    if (!probe_inputs.empty()) {
        inputs = probe_inputs;
    } else {
        for (int vi : g.inputs) {
            const Value& v = g.values[static_cast<size_t>(vi)];
            if (!v.has_declared_shape)
                fail_unsupported(g.path + ": graph input " + quote(v.name) +
                                 " declares no shape (Krait needs its rank to prepare the graph)");
            Shape shape;
            for (size_t d = 0; d < v.declared_dims.size(); ++d) {
                int64_t dim = v.declared_dims[d];
                if (dim < 0) {
                    dim = 1;
                    bool named = false;
                    for (auto& [param, value] : probe_dims)
                        if (!v.dim_params[d].empty() && param == v.dim_params[d]) dim = value, named = true;
                    if (!named && v.declared_dims.size() == 4 && d == 2) dim = probe_height;
                    if (!named && v.declared_dims.size() == 4 && d == 3) dim = probe_width;
                }
                shape.push_back(dim);
            }
            inputs.push_back(Tensor::allocate_zeros(static_cast<ElemType>(v.elem_type), shape));
        }
    }
    for (auto& v : g.values) v.probe_known = false;
    for (auto& v : g.values)
        if (v.is_constant && v.constant.defined()) v.probe_shape = v.constant.shape(), v.probe_known = true;
    Executor exec(g);
    std::vector<float> scratch;
    OpContext ctx{pool, scratch, nullptr};
    try {
        exec.run(inputs, ctx, [&](int v, const Tensor& t) {
            g.values[static_cast<size_t>(v)].probe_shape = t.shape();
            g.values[static_cast<size_t>(v)].probe_known = true;
        });
    } catch (const Error& e) {
        if (e.status() == KRAIT_ERR_INVALID_ARGUMENT || e.status() == KRAIT_ERR_FORMAT)
            fail_format(g.path + ": shape inference: " + e.what());
        throw;
    }
    // Declared output shapes must agree with what the graph computes.
    for (int vi : g.outputs) {
        const Value& v = g.values[static_cast<size_t>(vi)];
        if (!v.has_declared_shape || !v.probe_known) continue;
        bool ok = v.declared_dims.size() == v.probe_shape.size();
        for (size_t d = 0; ok && d < v.declared_dims.size(); ++d)
            if (v.declared_dims[d] >= 0 && v.declared_dims[d] != v.probe_shape[d] && v.dim_params[d].empty()) ok = false;
        if (!ok)
            fail_format(g.path + ": graph output " + quote(v.name) + " is declared with " +
                        std::to_string(v.declared_dims.size()) + " dims " + shape_string(v.declared_dims) +
                        " but the graph computes " + shape_string(v.probe_shape));
    }
}

void prepare_nodes(Graph& g) {
    for (Node& node : g.nodes)
        if (node.schema && node.schema->prepare) node.schema->prepare(node, g);
}

void compact_values(Graph& g) {
    std::vector<char> used(g.values.size(), 0);
    for (const Node& n : g.nodes) {
        for (int v : n.inputs)
            if (v >= 0) used[static_cast<size_t>(v)] = 1;
        for (int v : n.outputs)
            if (v >= 0) used[static_cast<size_t>(v)] = 1;
    }
    for (int v : g.inputs) used[static_cast<size_t>(v)] = 1;
    for (int v : g.outputs) used[static_cast<size_t>(v)] = 1;
    std::vector<int> remap(g.values.size(), -1);
    std::vector<Value> kept;
    for (size_t v = 0; v < g.values.size(); ++v)
        if (used[v]) {
            remap[v] = static_cast<int>(kept.size());
            kept.push_back(std::move(g.values[v]));
        }
    g.values = std::move(kept);
    g.value_index.clear();
    for (size_t v = 0; v < g.values.size(); ++v) g.value_index[g.values[v].name] = static_cast<int>(v);
    auto fix = [&](std::vector<int>& list) {
        for (int& v : list)
            if (v >= 0) v = remap[static_cast<size_t>(v)];
    };
    for (Node& n : g.nodes) fix(n.inputs), fix(n.outputs);
    fix(g.inputs);
    fix(g.outputs);
}

}  // namespace krait::onnx
