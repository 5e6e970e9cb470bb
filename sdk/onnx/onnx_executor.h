// Runs an onnx::Graph: nodes in order, each value released after its last reader, graph inputs
// checked against the declared types and fixed dimensions. An Executor is immutable after
// construction and may run concurrently from several threads (each call has its own values).
#pragma once

#include <functional>
#include <vector>

#include "sdk/onnx/onnx_graph.h"
#include "sdk/onnx/onnx_ops.h"

namespace krait::onnx {

class Executor {
public:
    explicit Executor(const Graph& graph);  // the graph must outlive the executor

    // inputs: one per graph input, in order. Returns the graph outputs in order. Throws
    // KRAIT_ERR_INVALID_ARGUMENT for inputs of the wrong count, type or shape, and what the ops
    // throw (KRAIT_ERR_FORMAT naming the node for shapes the graph cannot take).
    // `observe`, when set, sees every value once computed (shape inference, debugging).
    std::vector<Tensor> run(const std::vector<Tensor>& inputs, OpContext& ctx,
                            const std::function<void(int value, const Tensor&)>& observe = {}) const;

    // Checks one input against the graph's declaration (type, rank, fixed dims).
    void check_input(size_t i, const Tensor& t) const;

private:
    const Graph& graph_;
    std::vector<int> uses_;          // per value: how many node inputs read it
    std::vector<char> keep_;         // per value: a graph output (never released)
};

}  // namespace krait::onnx
