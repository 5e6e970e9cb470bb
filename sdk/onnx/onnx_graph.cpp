#include "sdk/onnx/onnx_graph.h"

#include <algorithm>

#include "sdk/core/error.h"
#include "sdk/core/utf8.h"

namespace krait::onnx {

namespace {
const Attribute* find_attr(const Node& n, const std::string& name, Attribute::Kind kind) {
    auto it = n.attributes.find(name);
    if (it == n.attributes.end()) return nullptr;
    if (it->second.kind != kind) fail_format(n.describe() + ": attribute " + quote(name) + " has the wrong type");
    return &it->second;
}
}  // namespace

int64_t Node::attr_int(const std::string& attr, int64_t fallback) const {
    const Attribute* a = find_attr(*this, attr, Attribute::Kind::Int);
    return a ? a->i : fallback;
}
float Node::attr_float(const std::string& attr, float fallback) const {
    const Attribute* a = find_attr(*this, attr, Attribute::Kind::Float);
    return a ? a->f : fallback;
}
std::string Node::attr_string(const std::string& attr, const std::string& fallback) const {
    const Attribute* a = find_attr(*this, attr, Attribute::Kind::String);
    return a ? a->s : fallback;
}
std::vector<int64_t> Node::attr_ints(const std::string& attr, const std::vector<int64_t>& fallback) const {
    const Attribute* a = find_attr(*this, attr, Attribute::Kind::Ints);
    return a ? a->ints : fallback;
}
std::vector<float> Node::attr_floats(const std::string& attr) const {
    const Attribute* a = find_attr(*this, attr, Attribute::Kind::Floats);
    return a ? a->floats : std::vector<float>{};
}

std::string Node::describe(int index) const {
    std::string who = !name.empty() ? "node " + quote(name) : index >= 0 ? "node #" + std::to_string(index) : "node";
    return who + " (" + (domain.empty() ? "" : domain + ".") + op_type + ")";
}

int Graph::value(const std::string& name) const {
    auto it = value_index.find(name);
    return it == value_index.end() ? -1 : it->second;
}

int Graph::add_value(const std::string& name) {
    std::string unique = name;
    for (int k = 1; value_index.count(unique); ++k) unique = name + "__" + std::to_string(k);
    Value v;
    v.name = unique;
    values.push_back(std::move(v));
    const int index = static_cast<int>(values.size()) - 1;
    value_index[unique] = index;
    return index;
}

int64_t Graph::default_opset() const {
    auto it = opsets.find("");
    return it == opsets.end() ? 0 : it->second;
}

void sort_and_check(Graph& g) {
    const size_t V = g.values.size(), N = g.nodes.size();
    std::vector<int> producer(V, -1);
    for (size_t n = 0; n < N; ++n)
        for (int v : g.nodes[n].outputs) {
            if (v < 0) continue;
            if (g.values[static_cast<size_t>(v)].is_constant || producer[static_cast<size_t>(v)] >= 0)
                fail_format(g.path + ": value " + quote(g.values[static_cast<size_t>(v)].name) +
                            " is written twice (by " + g.nodes[n].describe(static_cast<int>(n)) + " and another)");
            producer[static_cast<size_t>(v)] = static_cast<int>(n);
        }
    std::vector<char> is_input(V, 0);
    for (int v : g.inputs) is_input[static_cast<size_t>(v)] = 1;
    // Every input must come from somewhere.
    for (size_t n = 0; n < N; ++n)
        for (int v : g.nodes[n].inputs)
            if (v >= 0 && producer[static_cast<size_t>(v)] < 0 && !is_input[static_cast<size_t>(v)] &&
                !g.values[static_cast<size_t>(v)].is_constant)
                fail_format(g.path + ": " + g.nodes[n].describe(static_cast<int>(n)) + " reads " +
                            quote(g.values[static_cast<size_t>(v)].name) +
                            ", which no node, initializer or graph input provides");
    for (int v : g.outputs)
        if (producer[static_cast<size_t>(v)] < 0 && !is_input[static_cast<size_t>(v)] &&
            !g.values[static_cast<size_t>(v)].is_constant)
            fail_format(g.path + ": graph output " + quote(g.values[static_cast<size_t>(v)].name) +
                        " is not computed by any node");
    // Kahn's algorithm, taking ready nodes in file order.
    std::vector<int> pending(N, 0);
    std::vector<std::vector<int>> consumers(V);
    for (size_t n = 0; n < N; ++n)
        for (int v : g.nodes[n].inputs)
            if (v >= 0 && producer[static_cast<size_t>(v)] >= 0) {
                ++pending[n];
                consumers[static_cast<size_t>(v)].push_back(static_cast<int>(n));
            }
    std::vector<int> order;
    order.reserve(N);
    std::vector<char> done(N, 0);
    size_t scan = 0;
    std::vector<int> ready;
    for (size_t n = 0; n < N; ++n)
        if (pending[n] == 0) ready.push_back(static_cast<int>(n));
    while (!ready.empty()) {
        std::sort(ready.begin(), ready.end(), std::greater<int>());
        const int n = ready.back();
        ready.pop_back();
        order.push_back(n);
        done[static_cast<size_t>(n)] = 1;
        for (int v : g.nodes[static_cast<size_t>(n)].outputs) {
            if (v < 0) continue;
            for (int c : consumers[static_cast<size_t>(v)])
                if (--pending[static_cast<size_t>(c)] == 0) ready.push_back(c);
        }
    }
    (void)scan;
    if (order.size() != N) {
        std::string names;
        int shown = 0;
        for (size_t n = 0; n < N && shown < 4; ++n)
            if (!done[n]) names += std::string(shown++ ? ", " : "") + g.nodes[n].describe(static_cast<int>(n));
        fail_format(g.path + ": the graph has a cycle (nodes that wait on each other: " + names + ")");
    }
    std::vector<Node> sorted;
    sorted.reserve(N);
    for (int n : order) sorted.push_back(std::move(g.nodes[static_cast<size_t>(n)]));
    g.nodes = std::move(sorted);
    for (auto& v : g.values) v.producer = -1;
    for (size_t n = 0; n < N; ++n)
        for (int v : g.nodes[n].outputs)
            if (v >= 0) g.values[static_cast<size_t>(v)].producer = static_cast<int>(n);
}

}  // namespace krait::onnx
