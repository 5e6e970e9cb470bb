// Graph passes run at load (in this order): constant folding, dead-node removal, shape inference
// (a probe run at a representative input shape that records every value's shape and so finds
// shape contradictions at load), fusion into Krait's kernels (onnx_fusions.h), then each op's
// prepare step (packing constant weights).
#pragma once

#include <string>
#include <vector>

#include "sdk/core/thread_pool.h"
#include "sdk/onnx/onnx_graph.h"

namespace krait::onnx {

// Runs every node whose inputs are all constant, at load, and makes its outputs constants.
// Returns the number of nodes folded.
int fold_constants(Graph& graph, ThreadPool& pool);
// Removes nodes none of whose outputs reach a graph output. Returns the number removed.
int remove_dead_nodes(Graph& graph);
// The probe run: inputs of the declared shapes (symbolic dims from `probe_dims`, else 1; a 4-D
// image input's symbolic height / width from probe_height / probe_width), zeros; sets
// probe_shape / probe_known on every value reached.
void infer_shapes(Graph& graph, ThreadPool& pool, const std::vector<std::pair<std::string, int64_t>>& probe_dims,
                  int64_t probe_height, int64_t probe_width, const std::vector<Tensor>& probe_inputs = {});
// Calls schema->prepare for the nodes whose schema has one.
void prepare_nodes(Graph& graph);
// Drops values no node or output refers to any more (after fusions) and re-indexes.
void compact_values(Graph& graph);

}  // namespace krait::onnx
