// ONNX graphs (sdk/onnx: the ModelProto parse by protobuf-lite, opset / IR / domain checks,
// initializers and their sizes, external data references, model functions inlined, schema binding,
// then the passes: constant folding, dead nodes, shape inference by a probe run of the graph, the
// fusions). The input is written to <scratch>/model.onnx and loaded as krait_model_load loads it,
// with a small probe picture (32 x 32) so that the probe run of a valid graph stays cheap.
#include "fuzz_common.h"
#include "sdk/core/thread_pool.h"
#include "sdk/onnx/onnx_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static krait::ThreadPool pool(1);
    static const std::string path = krait_fuzz::scratch_dir() + "/model.onnx";
    krait_fuzz::write_file(path, data, size);
    krait_fuzz::run("onnx", [&] {
        krait::onnx::GraphOptions options;
        options.probe_height = options.probe_width = 32;
        krait::onnx::Graph graph = krait::onnx::load_graph(path, pool, options);
        (void)graph;
    });
    return 0;
}
