#include "sdk/onnx/onnx_ops.h"

#include <algorithm>
#include <map>
#include <mutex>

#include "sdk/core/error.h"
#include "sdk/core/utf8.h"

namespace krait::onnx {

namespace {
struct OpTable {
    std::map<std::pair<std::string, std::string>, OpSchema> ops;
};

OpTable& table_unlocked() {
    static OpTable t;
    return t;
}

// The op files register on first use (no static-initialisation order games).
OpTable& table() {
    static std::once_flag once;
    std::call_once(once, [] {
        register_elementwise_ops();
        register_shape_ops();
        register_nn_ops();
        register_fused_ops();
    });
    return table_unlocked();
}
}  // namespace

void register_op(OpSchema schema) {
    std::sort(schema.since_versions.begin(), schema.since_versions.end());
    table_unlocked().ops[{schema.domain, schema.op_type}] = std::move(schema);
}

const OpSchema* find_op(const std::string& domain, const std::string& op_type) {
    const std::string d = domain == "ai.onnx" ? "" : domain;
    auto& ops = table().ops;
    auto it = ops.find({d, op_type});
    return it == ops.end() ? nullptr : &it->second;
}

std::vector<const OpSchema*> all_ops() {
    std::vector<const OpSchema*> out;
    for (auto& [key, s] : table().ops) out.push_back(&s);
    return out;
}

void bind_schema(Node& node, int index, const Graph& graph) {
    const std::string domain = node.domain == "ai.onnx" ? "" : node.domain;
    if (domain != "" && domain != "krait")
        fail_unsupported(graph.path + ": " + node.describe(index) + " is in operator domain " + quote(domain) +
                         ", which Krait does not run (only the default ai.onnx domain)");
    const OpSchema* s = find_op(domain, node.op_type);
    auto op = graph.opsets.find(domain);
    const int64_t opset = op == graph.opsets.end() ? 0 : op->second;
    if (!s)
        fail_unsupported(graph.path + ": " + node.describe(index) + ": operator " + quote(node.op_type) +
                         " (opset " + std::to_string(opset) + ") is not supported by Krait");
    if (domain == "krait") {
        node.schema = s;
        node.since_version = 1;
        return;
    }
    int64_t bound = 0;
    for (int64_t v : s->since_versions)
        if (v <= opset) bound = v;
    if (bound == 0)
        fail_unsupported(graph.path + ": " + node.describe(index) + ": " + node.op_type + " of opset " +
                         std::to_string(opset) + " is older than the versions Krait implements (since " +
                         std::to_string(s->since_versions.front()) + ")");
    node.schema = s;
    node.opset = opset;
    node.since_version = bound;
    const int n_in = static_cast<int>(node.inputs.size());
    if (n_in < s->min_inputs || (s->max_inputs >= 0 && n_in > s->max_inputs))
        fail_format(graph.path + ": " + node.describe(index) + " has " + std::to_string(n_in) + " inputs, " +
                    node.op_type + " takes " + std::to_string(s->min_inputs) +
                    (s->max_inputs < 0 ? " or more" : " to " + std::to_string(s->max_inputs)));
}

int64_t normalize_axis(int64_t axis, int64_t rank, const Node& node) {
    if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
        fail_node(node, "axis " + std::to_string(axis) + " is out of range for a rank-" + std::to_string(rank) +
                            " tensor");
    return axis < 0 ? axis + rank : axis;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const Node& node) {
    const size_t r = std::max(a.size(), b.size());
    Shape out(r);
    for (size_t i = 0; i < r; ++i) {
        const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
        const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
        if (da != db && da != 1 && db != 1)
            fail_node(node, "shapes " + shape_string(a) + " and " + shape_string(b) + " do not broadcast");
        out[i] = da == 1 ? db : da;
    }
    return out;
}

void fail_node(const Node& node, const std::string& what) { fail_format(node.describe() + ": " + what); }

const Tensor& require_input(const Node& node, const std::vector<const Tensor*>& inputs, size_t i, ElemType type) {
    if (i >= inputs.size() || !inputs[i] || !inputs[i]->defined())
        fail_node(node, "input " + std::to_string(i) + " is missing");
    if (inputs[i]->type() != type)
        fail_node(node, "input " + std::to_string(i) + " is " + elem_type_name(static_cast<int32_t>(inputs[i]->type())) +
                            ", expected " + elem_type_name(static_cast<int32_t>(type)));
    return *inputs[i];
}

}  // namespace krait::onnx
