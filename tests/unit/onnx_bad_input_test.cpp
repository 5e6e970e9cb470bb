// Bad .onnx input gets a status and a message that names the problem, never a crash: the
// deliberately broken graphs of tools/gen_onnx_fixtures.py (tests/fixtures/onnx/bad/), truncated
// and byte-mutated copies of real exports (a fuzz run, also under AddressSanitizer in CI), and
// bad calls on a loaded graph.
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "sdk/core/error.h"
#include "sdk/onnx/onnx_executor.h"
#include "sdk/onnx/onnx_loader.h"

namespace fs = std::filesystem;
using namespace krait;
using namespace krait::onnx;

namespace {

const std::string kBad = "tests/fixtures/onnx/bad/";

// Loads `path`; returns the error's status and message (KRAIT_OK and "" if it loaded).
std::pair<krait_status, std::string> try_load(const std::string& path) {
    ThreadPool pool(1);
    try {
        load_graph(path, pool);
        return {KRAIT_OK, ""};
    } catch (const Error& e) {
        return {e.status(), e.what()};
    }
}

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

TEST(OnnxBadInput, BrokenGraphsAreRefusedWithTheirProblemNamed) {
    struct Case {
        const char* file;
        krait_status status;
        const char* message_part;
    };
    const Case cases[] = {
        {"cycle.onnx", KRAIT_ERR_FORMAT, "cycle"},
        {"missing_initializer.onnx", KRAIT_ERR_FORMAT, "which no node, initializer or graph input provides"},
        {"shape_contradiction.onnx", KRAIT_ERR_FORMAT, "MatMul"},
        {"external_outside.onnx", KRAIT_ERR_FORMAT, "outside the model's folder"},
        {"external_past_end.onnx", KRAIT_ERR_FORMAT, "past the end"},
        {"unsupported_op.onnx", KRAIT_ERR_UNSUPPORTED, "NonMaxSuppression"},
        {"unsupported_opset.onnx", KRAIT_ERR_UNSUPPORTED, "opset 7"},
        {"custom_domain.onnx", KRAIT_ERR_UNSUPPORTED, "com.example"},
        {"truncated.onnx", KRAIT_ERR_FORMAT, "truncated"},
        {"not_onnx.onnx", KRAIT_ERR_FORMAT, "not a valid ONNX model"},
        {"does_not_exist.onnx", KRAIT_ERR_IO, "no such file"},
    };
    for (const Case& c : cases) {
        const auto [status, message] = try_load(kBad + c.file);
        EXPECT_EQ(status, c.status) << c.file << ": " << message;
        EXPECT_NE(message.find(c.message_part), std::string::npos) << c.file << ": " << message;
    }
}

TEST(OnnxBadInput, UnsupportedOpMessageNamesOpNodeAndOpset) {
    const auto [status, message] = try_load(kBad + "unsupported_op.onnx");
    EXPECT_EQ(status, KRAIT_ERR_UNSUPPORTED);
    EXPECT_NE(message.find("node"), std::string::npos) << message;
    EXPECT_NE(message.find("opset"), std::string::npos) << message;
}

TEST(OnnxBadInput, ExternalDataInsideTheFolderLoadsAndRuns) {
    ThreadPool pool(1);
    Graph g = load_graph(kBad + "external_ok.onnx", pool);
    Executor exec(g);
    std::vector<float> scratch;
    OpContext ctx{pool, scratch, nullptr};
    const Tensor in = read_tensor_file(kBad + "external_ok_input_0.pb");
    const Tensor want = read_tensor_file(kBad + "external_ok_output_0.pb");
    const auto got = exec.run({in}, ctx);
    ASSERT_EQ(got[0].shape(), want.shape());
    for (int64_t i = 0; i < want.numel(); ++i)
        EXPECT_NEAR(got[0].data<float>()[i], want.data<float>()[i], 1e-5f * (1 + std::fabs(want.data<float>()[i])));
}

// A weight 3 GB into its external file (a sparse copy made here): 64-bit offsets, a file over
// 2 GB mapped rather than read, and the same numbers as external_ok.
TEST(OnnxBadInput, ExternalDataPastTwoGigabytesLoads) {
    const fs::path dir = fs::temp_directory_path() / ("krait_onnx_far_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    fs::copy_file(kBad + "external_far.onnx", dir / "external_far.onnx", fs::copy_options::overwrite_existing);
    const std::string weights = read_bytes(kBad + "external_ok.weights").substr(16, 48);
    {
        std::ofstream out(dir / "external_far.weights", std::ios::binary);
        out.seekp(static_cast<std::streamoff>(3000000016LL));
        out.write(weights.data(), static_cast<std::streamsize>(weights.size()));
        ASSERT_TRUE(out.good());
    }
    ThreadPool pool(1);
    Graph g = load_graph((dir / "external_far.onnx").string(), pool);
    Executor exec(g);
    std::vector<float> scratch;
    OpContext ctx{pool, scratch, nullptr};
    const auto got = exec.run({read_tensor_file(kBad + "external_ok_input_0.pb")}, ctx);
    const Tensor want = read_tensor_file(kBad + "external_ok_output_0.pb");
    for (int64_t i = 0; i < want.numel(); ++i)
        EXPECT_NEAR(got[0].data<float>()[i], want.data<float>()[i], 1e-5f * (1 + std::fabs(want.data<float>()[i])));
    fs::remove_all(dir);
}

TEST(OnnxBadInput, WrongInputsAreInvalidArguments) {
    ThreadPool pool(1);
    Graph g = load_graph("tests/fixtures/onnx/models/resnet_torchscript_opset17/model.onnx", pool);
    Executor exec(g);
    std::vector<float> scratch;
    OpContext ctx{pool, scratch, nullptr};
    auto status_of = [&](const std::vector<Tensor>& inputs) {
        try {
            exec.run(inputs, ctx);
            return KRAIT_OK;
        } catch (const Error& e) {
            return e.status();
        }
    };
    EXPECT_EQ(status_of({}), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(status_of({Tensor::allocate_zeros(ElemType::Int64, {1, 3, 32, 32})}), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(status_of({Tensor::allocate_zeros(ElemType::Float, {1, 3, 32})}), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(status_of({Tensor::allocate_zeros(ElemType::Float, {1, 4, 32, 32})}), KRAIT_ERR_INVALID_ARGUMENT);
}

// Truncations at every length class and random byte mutations of real exports: each load either
// succeeds or throws krait::Error; nothing else escapes, nothing crashes (ASan checks the rest).
TEST(OnnxBadInput, FuzzedFilesNeverCrash) {
    const std::vector<std::string> seeds = {
        "tests/fixtures/onnx/models/resnet_torchscript_opset17/model.onnx",
        "tests/fixtures/onnx/models/hf_vit_dynamo_opset18/model.onnx",
        "tests/fixtures/onnx/models/mobilenet_v3_torchscript_opset17/model.onnx",
    };
    const fs::path dir = fs::temp_directory_path() / ("krait_onnx_fuzz_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::mt19937 rng(20261207);
    int loaded = 0, refused = 0;
    for (const auto& seed : seeds) {
        const std::string original = read_bytes(seed);
        ASSERT_FALSE(original.empty()) << seed;
        const std::string path = (dir / "mutant.onnx").string();
        for (int k = 0; k < 40; ++k) {  // truncations
            const size_t cut = std::uniform_int_distribution<size_t>(0, original.size() - 1)(rng);
            write_bytes(path, original.substr(0, cut));
            const auto [status, message] = try_load(path);
            (status == KRAIT_OK ? loaded : refused)++;
            if (status != KRAIT_OK) EXPECT_FALSE(message.empty());
        }
        for (int k = 0; k < 120; ++k) {  // 1 to 8 random bytes changed
            std::string bytes = original;
            const int flips = std::uniform_int_distribution<int>(1, 8)(rng);
            for (int f = 0; f < flips; ++f)
                bytes[std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(rng)] =
                    static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
            write_bytes(path, bytes);
            const auto [status, message] = try_load(path);
            (status == KRAIT_OK ? loaded : refused)++;
            if (status != KRAIT_OK) EXPECT_FALSE(message.empty());
        }
    }
    fs::remove_all(dir);
    EXPECT_GT(refused, 0);
    RecordProperty("loaded", loaded);
    RecordProperty("refused", refused);
}
