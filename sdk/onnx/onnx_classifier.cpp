#include "sdk/onnx/onnx_classifier.h"

#include <filesystem>

#include "sdk/core/error.h"
#include "sdk/core/json.h"
#include "sdk/core/text_file.h"
#include "sdk/core/utf8.h"
#include "sdk/image/preprocess.h"

namespace krait {

namespace fs = std::filesystem;

namespace {

// config.json beside the model (an HF export): id2label, and the image size when the graph leaves it open.
nlohmann::json sibling_config(const std::string& path) {
    const fs::path cfg = fs::path(path).parent_path() / "config.json";
    std::error_code ec;
    if (!fs::is_regular_file(cfg, ec)) return nlohmann::json::object();
    return parse_json_object(read_text_file(cfg.string(), cfg.string() + ": unreadable"), cfg.string());
}

}  // namespace

std::unique_ptr<OnnxClassifier> OnnxClassifier::load(const std::string& path, const LoadOptions& options,
                                                     const onnx::GraphOptions& graph_options) {
    auto m = std::unique_ptr<OnnxClassifier>(new OnnxClassifier());
    const nlohmann::json config = sibling_config(path);
    const std::string cfg_origin = (fs::path(path).parent_path() / "config.json").string();
    int64_t cfg_size = 0;
    if (config.contains("image_size") && config["image_size"].is_number_integer())
        cfg_size = config["image_size"].get<int64_t>();

    // The graph as written first: its input decides the probe shape.
    onnx::Graph parsed = onnx::parse_graph(path);
    if (parsed.inputs.size() != 1)
        fail_unsupported(path + ": an image classifier takes one input (pixels), this graph takes " +
                         std::to_string(parsed.inputs.size()));
    const onnx::Value& in = parsed.values[static_cast<size_t>(parsed.inputs[0])];
    if (in.elem_type != static_cast<int32_t>(onnx::ElemType::Float) || !in.has_declared_shape ||
        in.declared_dims.size() != 4 || (in.declared_dims[1] >= 0 && in.declared_dims[1] != 3))
        fail_unsupported(path + ": input " + quote(in.name) +
                         " is not float pixels [batch, 3, height, width]: not an image classifier");
    m->fixed_batch_ = in.declared_dims[0];
    m->fixed_h_ = in.declared_dims[2] >= 0;
    m->fixed_w_ = in.declared_dims[3] >= 0;
    m->image_h_ = m->fixed_h_ ? in.declared_dims[2] : cfg_size > 0 ? cfg_size : 224;
    m->image_w_ = m->fixed_w_ ? in.declared_dims[3] : cfg_size > 0 ? cfg_size : 224;
    if (options.progress && !options.progress(0.1f)) fail(KRAIT_ERR_CANCELLED, "load cancelled");

    onnx::GraphOptions go = graph_options;
    go.probe_height = m->image_h_;
    go.probe_width = m->image_w_;
    ThreadPool pool(1);
    m->graph_ = onnx::load_graph(path, pool, go);
    const onnx::Value& out = m->graph_.values[static_cast<size_t>(m->graph_.outputs[0])];
    if (!out.probe_known || out.probe_shape.size() != 2 || out.probe_shape[1] < 1)
        fail_unsupported(path + ": output " + quote(out.name) + " is " + onnx::shape_string(out.probe_shape) +
                         ", not logits [batch, classes]: not an image classifier");
    m->num_labels_ = out.probe_shape[1];
    if (config.contains("id2label") && config["id2label"].is_object()) {
        m->labels_ = parse_id2label(config["id2label"], cfg_origin, 1 << 24);
        if (static_cast<int64_t>(m->labels_.size()) != m->num_labels_)
            fail_format(cfg_origin + ": 'id2label' has " + std::to_string(m->labels_.size()) + " labels but " + path +
                        " computes " + std::to_string(m->num_labels_) + " logits");
    } else {
        for (int64_t i = 0; i < m->num_labels_; ++i) m->labels_.push_back("LABEL_" + std::to_string(i));
    }
    for (const auto& v : m->graph_.values)
        if (v.is_constant && v.constant.defined()) {
            if (v.constant.type() == onnx::ElemType::Float) m->num_parameters_ += v.constant.numel();
            m->weight_bytes_ += static_cast<int64_t>(v.constant.bytes());
        }
    m->executor_ = std::make_unique<onnx::Executor>(m->graph_);
    if (options.progress && !options.progress(1.0f)) fail(KRAIT_ERR_CANCELLED, "load cancelled");
    return m;
}

void OnnxClassifier::check_input_size(int64_t height, int64_t width) const {
    if (height < 1 || width < 1)
        fail_argument("onnx classifier: image size " + std::to_string(height) + "x" + std::to_string(width) +
                      " must be positive");
    if ((fixed_h_ && height != image_h_) || (fixed_w_ && width != image_w_))
        fail_argument("onnx classifier: the graph takes " + std::to_string(image_h_) + "x" + std::to_string(image_w_) +
                      " images, got " + std::to_string(height) + "x" + std::to_string(width));
}

void OnnxClassifier::forward(const float* pixels, int64_t batch, int64_t height, int64_t width, float* logits,
                             ThreadPool& pool, ClassifierWorkspace& ws, const std::atomic<bool>* abort,
                             const LoraSet* lora) const {
    if (!pixels || !logits) fail_argument("onnx forward: null pixels or logits buffer");
    if (batch < 1) fail_argument("onnx forward: batch must be >= 1, got " + std::to_string(batch));
    check_input_size(height, width);
    // A graph exported for a fixed batch runs the images in groups of that size.
    const int64_t step = fixed_batch_ > 0 ? fixed_batch_ : batch;
    if (batch % step != 0)
        fail_argument("onnx forward: the graph takes batches of " + std::to_string(step) + " images, got " +
                      std::to_string(batch));
    const int64_t image = 3 * height * width;
    onnx::OpContext ctx{pool, ws.scratch, abort};
    // The workspace keeps the buffers of this call's tensors for the next call (no fresh pages).
    if (!ws.graph_buffers) ws.graph_buffers = std::make_shared<onnx::BufferPool>();
    const onnx::BufferPoolScope buffers(static_cast<onnx::BufferPool*>(ws.graph_buffers.get()));
    for (int64_t b0 = 0; b0 < batch; b0 += step) {
        const onnx::Tensor in = onnx::Tensor::view(onnx::ElemType::Float, {step, 3, height, width},
                                                   pixels + b0 * image, nullptr);
        const std::vector<onnx::Tensor> out = executor_->run({in}, ctx);
        const onnx::Tensor& y = out[0];
        if (y.type() != onnx::ElemType::Float || y.rank() != 2 || y.dim(0) != step || y.dim(1) != num_labels_)
            fail_format(graph_.path + ": the graph computed " + onnx::shape_string(y.shape()) + " for " +
                        std::to_string(step) + " images, expected [" + std::to_string(step) + ", " +
                        std::to_string(num_labels_) + "]");
        std::copy(y.data<float>(), y.data<float>() + y.numel(), logits + b0 * num_labels_);
    }
}

void OnnxClassifier::encode(const float* pixels, int64_t batch, int64_t height, int64_t width, float* features,
                            ThreadPool& pool, ClassifierWorkspace& ws, const std::atomic<bool>* abort,
                            const LoraSet* lora) const {
    forward(pixels, batch, height, width, features, pool, ws, abort, lora);
}

std::string OnnxClassifier::describe() const {
    auto dims = [](const onnx::Value& v) {
        std::string s = "[";
        for (size_t d = 0; d < v.declared_dims.size(); ++d)
            s += (d ? ", " : "") + (v.declared_dims[d] >= 0 ? std::to_string(v.declared_dims[d])
                                    : v.dim_params[d].empty() ? std::string("?") : v.dim_params[d]);
        return s + "]";
    };
    std::string s;
    for (int v : graph_.inputs) s += "input " + graph_.values[static_cast<size_t>(v)].name + " " + dims(graph_.values[static_cast<size_t>(v)]) + "\n";
    for (int v : graph_.outputs) s += "output " + graph_.values[static_cast<size_t>(v)].name + " " + dims(graph_.values[static_cast<size_t>(v)]) + "\n";
    s += "opsets";
    for (auto& [d, ver] : graph_.opsets) s += " " + (d.empty() ? std::string("ai.onnx") : d) + "=" + std::to_string(ver);
    s += "\nnodes " + std::to_string(graph_.nodes.size()) + "\n";
    for (const auto& f : graph_.fusions) s += "pass " + f + "\n";
    return s;
}

ModelFamily onnx_family() {
    ModelFamily f;
    f.name = "onnx";
    f.kind = KRAIT_MODEL_CLASSIFIER;
    f.claims_file = [](const std::string& path) {
        const std::string ext = fs::path(path).extension().string();
        return ext == ".onnx" || ext == ".ONNX";
    };
    f.load_classifier = [](const std::string& path, const LoadOptions& options) -> std::unique_ptr<ClassifierModel> {
        return OnnxClassifier::load(path, options);
    };
    f.load_preprocess = [](const std::string& path, const ClassifierModel& model) {
        return load_preprocess_config(fs::path(path).parent_path().string(), PreprocessSource::HfImageProcessor,
                                      model.image_height(), model.image_width());
    };
    return f;
}

}  // namespace krait
