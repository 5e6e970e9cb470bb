// Reads a .onnx file into an onnx::Graph ready to run: parses the ModelProto (protobuf-lite),
// loads initializers (embedded, or external data files beside the model, memory-mapped in place
// when aligned), inlines model-local functions, binds every node to its operator schema, sorts
// the nodes, then runs the graph passes (onnx_passes.h).
#pragma once

#include <string>
#include <vector>

#include "sdk/core/thread_pool.h"
#include "sdk/onnx/onnx_graph.h"
#include "sdk/onnx/onnx_tensor.h"

namespace krait::onnx {

// The ai.onnx opsets and IR versions this importer reads.
inline constexpr int64_t kMinOpset = 13, kMaxOpset = 21;
inline constexpr int64_t kMinIrVersion = 3, kMaxIrVersion = 14;

struct GraphOptions {
    bool fold_constants = true;
    bool remove_dead_nodes = true;
    bool fuse = true;  // Krait's fused kernels (Conv+BN, MatMul+Add, GELU, LayerNorm, attention)
    // The probe run of shape inference: symbolic dimensions of the inputs are set to these
    // (by dim_param name; any other symbolic dimension is 1).
    std::vector<std::pair<std::string, int64_t>> probe_dims;
    // Symbolic height / width of a 4-D image input when the model does not fix them.
    int64_t probe_height = 224, probe_width = 224;
    // The probe's inputs themselves, when the caller has them (tests: the case's own inputs, so
    // data-dependent integer ops see real values); empty = zeros of the shapes above.
    std::vector<Tensor> probe_inputs;
};

// Parses, checks and prepares `path`. Throws krait::Error: KRAIT_ERR_IO (missing / unreadable
// files), KRAIT_ERR_FORMAT (not ONNX, truncated, lying sizes, cycles, missing values, shape
// contradictions, external data outside the model's folder or past a file's end),
// KRAIT_ERR_UNSUPPORTED (an op, domain, opset, IR version or element type Krait does not run,
// naming the op, its node and the opset).
Graph load_graph(const std::string& path, ThreadPool& pool, const GraphOptions& options = {});

// Parses only (no passes): for tests and tools that want the graph as written.
Graph parse_graph(const std::string& path);

// A serialized TensorProto (the .pb files of ONNX's test cases). Throws KRAIT_ERR_FORMAT.
Tensor read_tensor_file(const std::string& path, std::string* name = nullptr);

}  // namespace krait::onnx
