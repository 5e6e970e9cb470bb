// ONNX's own backend node tests for every operator Krait runs: the cases of
// onnx.backend.test (onnx 1.23) whose ops Krait supports, materialised by
// tools/gen_onnx_fixtures.py under tests/fixtures/onnx/node/<case>/ as ONNX
// lays them out (model.onnx, test_data_set_0/input_N.pb and output_N.pb, made
// by onnx's reference implementation). tests/fixtures/onnx/manifest.json lists
// the cases left out, each with its reason (an element type Krait does not run,
// training mode, an opset outside 13..21; cases ONNX writes at opsets 22+ run converted to opset 21 as <case>_opset21); docs/ONNX.md has the table per op.
//
// Each case loads through the full pipeline (folding, shape inference with the
// case's own inputs, fusions, prepare) and must match the reference outputs:
// float32 within rel 1e-5 + abs 1e-6 (a few transcendental ops: see kLooseOps),
// integers and booleans exactly.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sdk/core/error.h"
#include "sdk/onnx/onnx_executor.h"
#include "sdk/onnx/onnx_loader.h"

namespace fs = std::filesystem;
using namespace krait;
using namespace krait::onnx;

namespace {

const char* kNodeDir = "tests/fixtures/onnx/node";

// Cases whose reference outputs ONNX wrote by hand, rounded to 4 decimals (not computed by its
// reference implementation): compared at abs 1e-4, the rounding of the written values.
bool has_rounded_reference(const std::string& name) {
    return name.rfind("test_averagepool_2d_ceil_last_window_starts_on_pad", 0) == 0;
}

std::vector<std::string> node_cases() {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(kNodeDir, ec))
        if (e.is_directory()) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
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

}  // namespace

// Compares `got` to `want` as ONNX's reference made it; returns "" or what differs.
std::string compare_tensors(const Tensor& got, const Tensor& want, double rtol, double atol) {
    if (got.type() != want.type())
        return std::string("type ") + elem_type_name(static_cast<int32_t>(got.type())) + ", expected " +
               elem_type_name(static_cast<int32_t>(want.type()));
    if (got.shape() != want.shape()) return "shape " + shape_string(got.shape()) + ", expected " + shape_string(want.shape());
    const int64_t n = want.numel();
    if (want.type() == ElemType::Float) {
        const float* a = got.data<float>();
        const float* b = want.data<float>();
        for (int64_t i = 0; i < n; ++i) {
            if (std::isnan(b[i]) && std::isnan(a[i])) continue;
            if (std::isinf(b[i]) && a[i] == b[i]) continue;
            const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
            if (!(d <= atol + rtol * std::fabs(static_cast<double>(b[i]))))
                return "element " + std::to_string(i) + ": " + std::to_string(a[i]) + ", expected " + std::to_string(b[i]);
        }
        return "";
    }
    const auto a = got.to_int64s(), b = want.to_int64s();
    for (int64_t i = 0; i < n; ++i)
        if (a[static_cast<size_t>(i)] != b[static_cast<size_t>(i)])
            return "element " + std::to_string(i) + ": " + std::to_string(a[static_cast<size_t>(i)]) + ", expected " +
                   std::to_string(b[static_cast<size_t>(i)]);
    return "";
}

class OnnxNodeCase : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxNodeCase, MatchesOnnxReference) {
    const fs::path dir = fs::path(kNodeDir) / GetParam();
    const auto inputs = read_set(dir / "test_data_set_0", "input");
    const auto outputs = read_set(dir / "test_data_set_0", "output");
    ASSERT_FALSE(outputs.empty()) << "no reference outputs in " << dir;
    ThreadPool pool(2);
    for (bool fuse : {true, false}) {
        GraphOptions options;
        options.fuse = fuse;
        options.probe_inputs = inputs;
        Graph graph;
        try {
            graph = load_graph((dir / "model.onnx").string(), pool, options);
        } catch (const Error& e) {
            FAIL() << "load: " << e.what();
        }
        Executor exec(graph);
        std::vector<float> scratch;
        OpContext ctx{pool, scratch, nullptr};
        std::vector<Tensor> got;
        try {
            got = exec.run(inputs, ctx);
        } catch (const Error& e) {
            FAIL() << "run: " << e.what();
        }
        ASSERT_EQ(got.size(), outputs.size());
        for (size_t o = 0; o < outputs.size(); ++o)
            EXPECT_EQ(compare_tensors(got[o], outputs[o], 1e-5, has_rounded_reference(GetParam()) ? 1e-4 : 1e-6), "") << "output " << o << (fuse ? " (fused)" : "");
    }
}

INSTANTIATE_TEST_SUITE_P(Onnx, OnnxNodeCase, ::testing::ValuesIn(node_cases()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// Every case the generator lists is here (a generator bug or a lost folder fails this).
TEST(OnnxNodeManifest, EveryListedCaseIsPresent) {
    std::ifstream in("tests/fixtures/onnx/manifest.json");
    ASSERT_TRUE(in.good());
    const auto manifest = nlohmann::json::parse(in);
    const auto cases = node_cases();
    ASSERT_GT(cases.size(), 100u);
    for (const auto& c : manifest["node"]["cases"])
        EXPECT_TRUE(std::binary_search(cases.begin(), cases.end(), c["name"].get<std::string>())) << c["name"];
}
