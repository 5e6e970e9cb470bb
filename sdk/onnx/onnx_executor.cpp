#include "sdk/onnx/onnx_executor.h"

#include "sdk/core/error.h"
#include "sdk/core/utf8.h"

namespace krait::onnx {

Executor::Executor(const Graph& graph) : graph_(graph) {
    uses_.assign(graph.values.size(), 0);
    keep_.assign(graph.values.size(), 0);
    for (const Node& n : graph.nodes)
        for (int v : n.inputs)
            if (v >= 0) ++uses_[static_cast<size_t>(v)];
    for (int v : graph.outputs) keep_[static_cast<size_t>(v)] = 1;
}

void Executor::check_input(size_t i, const Tensor& t) const {
    const Value& v = graph_.values[static_cast<size_t>(graph_.inputs[i])];
    if (!t.defined()) fail_argument("input " + quote(v.name) + " is missing");
    if (v.elem_type != 0 && static_cast<int32_t>(t.type()) != v.elem_type)
        fail_argument("input " + quote(v.name) + " is " + elem_type_name(static_cast<int32_t>(t.type())) +
                      ", the model declares " + elem_type_name(v.elem_type));
    if (!v.has_declared_shape) return;
    auto declared = [&] {
        std::string s = "[";
        for (size_t d = 0; d < v.declared_dims.size(); ++d)
            s += (d ? ", " : "") + (v.declared_dims[d] >= 0 ? std::to_string(v.declared_dims[d])
                                    : v.dim_params[d].empty() ? std::string("?") : v.dim_params[d]);
        return s + "]";
    };
    if (t.rank() != static_cast<int64_t>(v.declared_dims.size()))
        fail_argument("input " + quote(v.name) + " has shape " + shape_string(t.shape()) + ", the model declares " +
                      declared());
    for (size_t d = 0; d < v.declared_dims.size(); ++d)
        if (v.declared_dims[d] >= 0 && v.declared_dims[d] != t.shape()[d])
            fail_argument("input " + quote(v.name) + " has shape " + shape_string(t.shape()) + ", the model declares " +
                          declared());
}

std::vector<Tensor> Executor::run(const std::vector<Tensor>& inputs, OpContext& ctx,
                                  const std::function<void(int, const Tensor&)>& observe) const {
    if (inputs.size() != graph_.inputs.size())
        fail_argument("the model takes " + std::to_string(graph_.inputs.size()) + " inputs, got " +
                      std::to_string(inputs.size()));
    for (size_t i = 0; i < inputs.size(); ++i) check_input(i, inputs[i]);
    std::vector<Tensor> values(graph_.values.size());
    std::vector<int> remaining = uses_;
    for (size_t i = 0; i < inputs.size(); ++i) {
        values[static_cast<size_t>(graph_.inputs[i])] = inputs[i];
        if (observe) observe(graph_.inputs[i], inputs[i]);
    }
    std::vector<const Tensor*> in;
    std::vector<Tensor> out;
    for (size_t n = 0; n < graph_.nodes.size(); ++n) {
        if (ctx.abort && ctx.abort->load(std::memory_order_relaxed)) fail(KRAIT_ERR_ABORTED, "aborted");
        const Node& node = graph_.nodes[n];
        in.assign(node.inputs.size(), nullptr);
        for (size_t i = 0; i < node.inputs.size(); ++i) {
            const int v = node.inputs[i];
            if (v < 0) continue;
            const Value& val = graph_.values[static_cast<size_t>(v)];
            in[i] = val.is_constant ? &val.constant : &values[static_cast<size_t>(v)];
        }
        out.assign(node.outputs.size(), Tensor());
        node.schema->run(node, in, out, ctx);
        for (size_t o = 0; o < node.outputs.size(); ++o) {
            const int v = node.outputs[o];
            if (v < 0) continue;
            if (!out[o].defined()) fail(KRAIT_ERR_INTERNAL, node.describe(static_cast<int>(n)) + " produced no output " + std::to_string(o));
            if (observe) observe(v, out[o]);
            values[static_cast<size_t>(v)] = std::move(out[o]);
        }
        // Release what no later node reads.
        for (int v : node.inputs)
            if (v >= 0 && --remaining[static_cast<size_t>(v)] == 0 && !keep_[static_cast<size_t>(v)])
                values[static_cast<size_t>(v)] = Tensor();
    }
    std::vector<Tensor> result;
    result.reserve(graph_.outputs.size());
    for (int v : graph_.outputs) {
        const Value& val = graph_.values[static_cast<size_t>(v)];
        result.push_back(val.is_constant ? val.constant : values[static_cast<size_t>(v)]);
    }
    return result;
}

}  // namespace krait::onnx
