// The operators Krait's ONNX importer runs: one OpSchema per op_type, registered by the op files
// (onnx_ops_*.cpp). A schema lists the since_versions of the ONNX operator it implements; a node
// binds to the largest since_version <= its domain's imported opset. Kernels take their inputs as
// Tensors, write fresh output Tensors, and split work over the session's ThreadPool.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "sdk/core/thread_pool.h"
#include "sdk/onnx/onnx_graph.h"
#include "sdk/onnx/onnx_tensor.h"

namespace krait::onnx {

// Per-call state an op may use: the pool and scratch space reused across calls.
struct OpContext {
    ThreadPool& pool;
    std::vector<float>& scratch;
    const std::atomic<bool>* abort = nullptr;
};

// inputs[i] is nullptr where an optional input is left out; outputs has one slot per node
// output (the op fills the ones whose Node::outputs entry is not -1; filling all is fine).
using OpKernel = void (*)(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                          OpContext& ctx);
// Called once at load, after shape inference, for nodes whose schema sets it: checks
// attributes, and may fill node.prepared from constant inputs (e.g. packed weights).
using OpPrepare = void (*)(Node& node, const Graph& graph);

struct OpSchema {
    std::string domain;  // "" = ai.onnx, "krait" = Krait's fused ops
    std::string op_type;
    std::vector<int64_t> since_versions;  // ascending; the versions whose semantics are implemented
    OpKernel run = nullptr;
    OpPrepare prepare = nullptr;
    int min_inputs = 0, max_inputs = 0;   // max -1 = variadic
    // May run at load on constant inputs (constant folding); false for ops with state or randomness.
    bool foldable = true;
};

// Adds a schema (the op files call this from their register_* function).
void register_op(OpSchema schema);
// The schema for (domain, op_type), or nullptr.
const OpSchema* find_op(const std::string& domain, const std::string& op_type);
// All schemas, sorted by domain then op_type (krait info, docs).
std::vector<const OpSchema*> all_ops();

// Binds node.schema / node.since_version for `opset`. Throws KRAIT_ERR_UNSUPPORTED naming the op,
// the node and the opset when the op is unknown, its domain is not imported, or the opset is
// older than every version implemented.
void bind_schema(Node& node, int index, const Graph& graph);

// Shared helpers for op files.
// Normalises a possibly negative axis for `rank` (KRAIT_ERR_FORMAT naming the node if out of range).
int64_t normalize_axis(int64_t axis, int64_t rank, const Node& node);
// Numpy-style broadcast of two shapes (KRAIT_ERR_FORMAT naming the node if incompatible).
Shape broadcast_shapes(const Shape& a, const Shape& b, const Node& node);
// Throws KRAIT_ERR_FORMAT "<node>: <what>".
[[noreturn]] void fail_node(const Node& node, const std::string& what);
// The input must be present and of `type`.
const Tensor& require_input(const Node& node, const std::vector<const Tensor*>& inputs, size_t i, ElemType type);

// The op files' registration functions (onnx_ops.cpp calls each once).
void register_elementwise_ops();
void register_shape_ops();
void register_nn_ops();
void register_fused_ops();

}  // namespace krait::onnx
