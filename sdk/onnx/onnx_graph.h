// The ONNX graph as Krait runs it: values (named edges), nodes in topological order, each node
// bound to the operator schema of the model's opset. Built from a ModelProto by onnx_loader,
// rewritten by the passes of onnx_passes (constant folding, dead nodes, fusions), run by
// onnx_executor. Independent of protobuf: the parsed protos are converted and dropped.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sdk/onnx/onnx_tensor.h"

namespace krait::onnx {

struct OpSchema;  // onnx_ops.h

struct Attribute {
    enum class Kind { Float, Int, String, Tensor, Floats, Ints, Strings, Graph, Other };
    Kind kind = Kind::Other;
    float f = 0.0f;
    int64_t i = 0;
    std::string s;
    std::vector<float> floats;
    std::vector<int64_t> ints;
    std::vector<std::string> strings;
    Tensor t;
};

// A value: a graph input, an initializer / constant, or a node output.
struct Value {
    std::string name;
    int32_t elem_type = 0;  // TensorProto.DataType as declared (0 = not declared)
    // Declared dims (graph inputs / outputs / value_info): -1 where symbolic or absent.
    std::vector<int64_t> declared_dims;
    std::vector<std::string> dim_params;  // the symbolic names ("batch"), "" where a number
    bool has_declared_shape = false;
    bool is_constant = false;  // an initializer or a folded result: `constant` holds it
    Tensor constant;
    int producer = -1;         // index of the node that writes it; -1 = graph input or constant
    // Filled by the shape-inference pass (the probe run): the shape at the probe batch.
    Shape probe_shape;
    bool probe_known = false;
};

struct Node {
    std::string name;     // as in the file ("" when unnamed: messages then name the node by index)
    std::string op_type;
    std::string domain;   // "" = ai.onnx; "krait" for Krait's fused ops
    int64_t opset = 0;    // the imported version of the node's domain
    int64_t since_version = 0;  // the schema version bound to it (largest <= opset)
    const OpSchema* schema = nullptr;
    std::vector<int> inputs;   // value indices; -1 = optional input left out
    std::vector<int> outputs;  // value indices; -1 = optional output not wanted
    std::map<std::string, Attribute> attributes;
    // Data an op prepares once at load (packed weights, folded BatchNorm, ...), owned here.
    std::shared_ptr<void> prepared;

    bool has(const std::string& attr) const { return attributes.count(attr) != 0; }
    int64_t attr_int(const std::string& attr, int64_t fallback) const;
    float attr_float(const std::string& attr, float fallback) const;
    std::string attr_string(const std::string& attr, const std::string& fallback) const;
    std::vector<int64_t> attr_ints(const std::string& attr, const std::vector<int64_t>& fallback = {}) const;
    std::vector<float> attr_floats(const std::string& attr) const;
    // "node 'name' (Conv)" or "node #12 (Conv)" for messages.
    std::string describe(int index = -1) const;
};

struct Graph {
    std::string path;  // the .onnx file, for messages
    int64_t ir_version = 0;
    std::string producer;        // producer_name + version
    std::map<std::string, int64_t> opsets;  // domain -> version ("" = ai.onnx)
    std::vector<Value> values;
    std::vector<Node> nodes;     // topological order once loaded
    std::vector<int> inputs;     // the graph's real inputs (initializers excluded)
    std::vector<int> outputs;
    std::vector<std::string> fusions;  // what the passes did, for krait info ("Conv+BatchNormalization x20")
    std::map<std::string, int> value_index;  // name -> index

    int value(const std::string& name) const;  // -1 when absent
    int add_value(const std::string& name);    // a new value (name made unique if taken)
    int64_t default_opset() const;
};

// Sorts nodes topologically (stable for nodes already in order) and sets Value::producer.
// Throws KRAIT_ERR_FORMAT naming the values of a cycle, a value written twice, or a node input
// that no node, initializer or graph input provides.
void sort_and_check(Graph& graph);

}  // namespace krait::onnx
