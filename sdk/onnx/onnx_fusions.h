// Fusion of ONNX subgraphs into Krait's kernels (domain "krait" ops).
#pragma once

#include <string>
#include <vector>

#include "sdk/onnx/onnx_graph.h"
#include "sdk/onnx/onnx_ops.h"

namespace krait::onnx {

// Rewrites the patterns Krait has fused kernels for; appends what it did to `applied`
// ("Conv+BatchNormalization x20"). Runs after constant folding, dead-node removal and shape inference.
void fuse_graph(Graph& graph, std::vector<std::string>& applied);

// Shared between onnx_ops_nn.cpp (which implements them) and onnx_fusions.cpp (which registers the
// "krait" ops on them). Not a public API.
namespace nn_detail {

// Element-wise activations a fused op applies to its output, read from node attributes
// "<prefix>act" (int, ActKind), "<prefix>act_a", "<prefix>act_b" (floats).
enum class ActKind : int64_t { None = 0, Relu, Clip, HardSigmoid, HardSwish, Sigmoid, Silu, GeluErf, GeluTanh, LeakyRelu };
struct Act {
    ActKind kind = ActKind::None;
    float a = 0.0f, b = 0.0f;
};
Act read_act(const Node& node, const std::string& prefix);
void write_act(Node& node, const std::string& prefix, const Act& act);
// In place over n contiguous values.
void apply_act(const Act& act, float* x, int64_t n);

// Conv and krait.FusedConv (inputs X, W, [B], [residual]; Conv's attributes plus "act" applied
// before the residual is added and "post_" applied after).
void conv_prepare(Node& node, const Graph& graph);
void conv_run(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, OpContext& ctx);
// MatMul and krait.Linear (inputs X, W [K, N] constant, [bias [N]]; "act").
void matmul_prepare(Node& node, const Graph& graph);
void matmul_run(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs, OpContext& ctx);
// LayerNormalization and krait.LayerNorm (axis, epsilon).
void layer_norm_run(const Node& node, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                    OpContext& ctx);

}  // namespace nn_detail

}  // namespace krait::onnx
