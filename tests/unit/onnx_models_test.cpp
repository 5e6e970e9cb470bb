// Real exported classifiers through Krait's ONNX importer, against onnxruntime:
// tiny random-weight configurations of HF ViT, torchvision ResNet (BasicBlock
// and Bottleneck), MobileNetV3, EfficientNet and ConvNeXt, each exported by
// torch.onnx's TorchScript and dynamo exporters at opsets 17 / 18 with a dynamic
// batch, and the onnx wheel's "light" model-zoo graphs
// (tools/gen_onnx_fixtures.py; expected outputs by onnxruntime, inputs of
// batch 2 and more in test_data_set_0 / _1). Tolerance: rel 1e-4 of the
// output's largest magnitude plus the manifest's atol, as the issue states.
//
// Each model runs fused (Krait's kernels) and unfused (the plain ops), and
// both must match; the classifier path (OnnxClassifier, what krait_model_load
// gives) must give the executor's numbers.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sdk/core/error.h"
#include "sdk/models/classifier.h"
#include "sdk/models/registry.h"
#include "sdk/onnx/onnx_classifier.h"
#include "sdk/onnx/onnx_executor.h"
#include "sdk/onnx/onnx_loader.h"

namespace fs = std::filesystem;
using namespace krait;
using namespace krait::onnx;

namespace {

const char* kModelsDir = "tests/fixtures/onnx/models";

std::vector<std::string> model_cases() {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(kModelsDir, ec))
        if (fs::exists(e.path() / "model.onnx")) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

nlohmann::json manifest_entry(const std::string& name) {
    std::ifstream in("tests/fixtures/onnx/manifest.json");
    const auto m = nlohmann::json::parse(in);
    for (const auto& e : m["models"])
        if (e.value("name", "") == name) return e;
    return nlohmann::json::object();
}

std::vector<Tensor> read_set(const fs::path& dir, const char* prefix) {
    std::vector<Tensor> out;
    for (int i = 0;; ++i) {
        const fs::path p = dir / (std::string(prefix) + "_" + std::to_string(i) + ".pb");
        if (!fs::exists(p)) break;
        out.push_back(read_tensor_file(p.string()));
    }
    return out;
}

// max |a - b| / max |b| over the tensor (relative to the output's scale, as logits are compared).
double scaled_error(const Tensor& a, const Tensor& b) {
    double err = 0, scale = 1e-30;
    for (int64_t i = 0; i < b.numel(); ++i) {
        err = std::max(err, std::fabs(static_cast<double>(a.data<float>()[i]) - b.data<float>()[i]));
        scale = std::max(scale, std::fabs(static_cast<double>(b.data<float>()[i])));
    }
    return err / scale;
}

}  // namespace

class OnnxModel : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxModel, MatchesOnnxruntimeFusedAndUnfused) {
    const fs::path dir = fs::path(kModelsDir) / GetParam();
    const nlohmann::json entry = manifest_entry(GetParam());
    const double rtol = entry.value("rtol", 1e-4);
    ThreadPool pool(2);
    for (bool fuse : {true, false}) {
        GraphOptions options;
        options.fuse = fuse;
        Graph graph = load_graph((dir / "model.onnx").string(), pool, options);
        if (fuse) {
            std::string passes;
            for (const auto& f : graph.fusions) passes += f + "; ";
            RecordProperty("passes", passes);
        }
        Executor exec(graph);
        std::vector<float> scratch;
        OpContext ctx{pool, scratch, nullptr};
        int sets = 0;
        for (const auto& set : fs::directory_iterator(dir)) {
            if (!set.is_directory() || set.path().filename().string().rfind("test_data_set_", 0) != 0) continue;
            const auto inputs = read_set(set.path(), "input");
            const auto expected = read_set(set.path(), "output");
            const auto got = exec.run(inputs, ctx);
            ASSERT_EQ(got.size(), expected.size());
            for (size_t o = 0; o < expected.size(); ++o) {
                ASSERT_EQ(got[o].shape(), expected[o].shape()) << set.path();
                EXPECT_LE(scaled_error(got[o], expected[o]), rtol)
                    << set.path() << " output " << o << (fuse ? " fused" : " unfused");
            }
            ++sets;
        }
        EXPECT_GE(sets, 1);
    }
}

INSTANTIATE_TEST_SUITE_P(Onnx, OnnxModel, ::testing::ValuesIn(model_cases()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// The fusions fire where the architecture has the pattern (a regression that silently stops
// fusing would otherwise only show in benchmarks).
TEST(OnnxModelPasses, FusionsApplyToTheirArchitectures) {
    ThreadPool pool(1);
    auto passes = [&](const std::string& name) {
        Graph g = load_graph(std::string(kModelsDir) + "/" + name + "/model.onnx", pool);
        std::string all;
        for (const auto& f : g.fusions) all += f + "; ";
        return all;
    };
    // resnet_torchscript_opset17 is exported without constant folding, so its BatchNorms are there
    // to fold; torchscript@18 has them folded by the exporter already.
    const std::string resnet = passes("resnet_torchscript_opset17");
    EXPECT_NE(resnet.find("Conv+BatchNormalization+Relu"), std::string::npos) << resnet;
    EXPECT_NE(resnet.find("Conv+BatchNormalization+Add+Relu"), std::string::npos) << resnet;
    const std::string resnet18 = passes("resnet_torchscript_opset18");
    EXPECT_NE(resnet18.find("Conv+Add+Relu"), std::string::npos) << resnet18;
    const std::string mobilenet = passes("mobilenet_v3_torchscript_opset17");
    EXPECT_NE(mobilenet.find("HardSwish"), std::string::npos) << mobilenet;
    // HF ViT exports LayerNormalization natively (no pattern to fuse); attention and GELU are patterns.
    const std::string vit = passes("hf_vit_torchscript_opset17");
    EXPECT_NE(vit.find("Attention"), std::string::npos) << vit;
    EXPECT_NE(vit.find("MatMul+Add+Gelu"), std::string::npos) << vit;
}

// The classifier session path: labels from config.json, logits as the executor's.
TEST(OnnxClassifierModel, HfVitExportClassifiesLikeItsSafetensors) {
    const std::string onnx_path = std::string(kModelsDir) + "/hf_vit_torchscript_opset17/model.onnx";
    LoadOptions options;
    auto onnx_model = OnnxClassifier::load(onnx_path, options);
    EXPECT_STREQ(onnx_model->architecture(), "onnx");
    EXPECT_EQ(onnx_model->num_labels(), 5);
    auto st_model = load_classifier(std::string(kModelsDir) + "/hf_vit_safetensors", {});
    ASSERT_EQ(st_model->labels(), onnx_model->labels());
    const int64_t H = onnx_model->image_height(), W = onnx_model->image_width();
    ASSERT_EQ(H, st_model->image_height());
    std::vector<float> pixels(static_cast<size_t>(3 * 3 * H * W));
    uint32_t state = 12345;
    for (float& p : pixels) {
        state = state * 1664525u + 1013904223u;
        p = static_cast<float>(state >> 8) / 16777216.0f * 4.0f - 2.0f;
    }
    ThreadPool pool(2);
    std::vector<float> a(15), b(15);
    onnx_model->forward_batch(pixels.data(), 3, H, W, a.data(), pool, nullptr);
    st_model->forward_batch(pixels.data(), 3, H, W, b.data(), pool, nullptr);
    double err = 0, scale = 0;
    for (size_t i = 0; i < a.size(); ++i) err = std::max(err, double(std::fabs(a[i] - b[i]))), scale = std::max(scale, double(std::fabs(b[i])));
    EXPECT_LE(err, 1e-4 * scale) << ::testing::PrintToString(a) << " vs " << ::testing::PrintToString(b);
    EXPECT_NE(onnx_model->describe().find("opsets ai.onnx=17"), std::string::npos) << onnx_model->describe();
}
