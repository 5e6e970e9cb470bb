// MambaVision against the project's PyTorch reference (tools/mambavision_ref.py, which follows the upstream
// NVlabs forward and loads the upstream weight layout) on the fixtures made by tools/gen_mambavision_fixtures.py:
// tiny random configs with odd and even depths (both attention/mixer splits), windows that need zero padding
// (and one larger than the whole map), layer scale on and off, non-square and non-224 inputs, batch 2-3, hub
// (`model.`) and NVlabs (unprefixed) layouts, id2label present and absent, BF16 weights.
//
// Tolerance: logits within 1e-5 * max(1, max |reference logit|). The nets are tiny but deep (stem, 2-3 conv
// blocks, up to 5 windowed blocks with a 49-196-step scan), every weight perturbed; what remains is fp32
// rounding of differently ordered sums (BatchNorm folded into the convs, Winograd convs, packed GEMMs, SIMD exp;
// observed: max differences 0.9e-6 to 1.7e-6 on logits of magnitude 1-3).
// The generator proves the fixtures can catch the upstream dt-bias quirk: counting dt_proj.bias once instead
// of twice moves the logits by 0.013-0.09, hundreds to thousands of times this tolerance.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <unistd.h>

#include "kernels/cpu/dispatch.h"
#include "sdk/core/error.h"
#include "sdk/models/mambavision.h"
#include "tests/common/fixtures.h"

namespace {

namespace fs = std::filesystem;
using krait::MambaVisionModel;
using krait::testing::Expected;
using krait::testing::fixture;

constexpr float kTolerance = 1e-5f;

// ---------------------------------------------------------------------------------------------------------------
// The non-causal depthwise conv kernel

TEST(SameConv1d, HandComputedValues) {
    // L = 4, C = 1, K = 3: y[t] = w0 x[t-1] + w1 x[t] + w2 x[t+1], zeros outside.
    const float x[4] = {1, 2, 3, 4}, wt[3] = {0.5f, -1.0f, 2.0f};
    float y[4];
    krait::kernels::SameConv1dParams p;
    p.length = 4, p.channels = 1, p.kernel = 3, p.x = x, p.x_stride = 1, p.weight = wt, p.silu = false, p.y = y,
    p.y_stride = 1;
    krait::kernels::active().same_conv1d(p, 0, 1);
    EXPECT_FLOAT_EQ(y[0], -1 + 4);
    EXPECT_FLOAT_EQ(y[1], 0.5f - 2 + 6);
    EXPECT_FLOAT_EQ(y[2], 1 - 3 + 8);
    EXPECT_FLOAT_EQ(y[3], 1.5f - 4);
    // Even K: PyTorch pads (K-1)/2 = 1 on the left and 2 on the right.
    const float w4[4] = {1, 10, 100, 1000};
    p.kernel = 4, p.weight = w4;
    krait::kernels::same_conv1d_ref(p);
    EXPECT_FLOAT_EQ(y[0], 10 * 1 + 100 * 2 + 1000 * 3);
    EXPECT_FLOAT_EQ(y[3], 1 * 3 + 10 * 4);
}

TEST(SameConv1d, OptimizedMatchesReference) {
    std::mt19937 rng(7);
    std::normal_distribution<float> nd;
    for (int64_t K : {1, 2, 3, 4, 5})
        for (int64_t L : {1, 2, 7, 49}) {
            const int64_t C = 37, xs = 45, ys = 41;
            std::vector<float> x(L * xs), w(C * K), y1(L * ys, -9.0f), y2(L * ys, -9.0f);
            for (auto& v : x) v = nd(rng);
            for (auto& v : w) v = nd(rng);
            krait::kernels::SameConv1dParams p;
            p.length = L, p.channels = C, p.kernel = K, p.x = x.data(), p.x_stride = xs, p.weight = w.data();
            p.silu = true, p.y_stride = ys;
            p.y = y1.data();
            krait::kernels::same_conv1d_ref(p);
            p.y = y2.data();
            krait::kernels::active().same_conv1d(p, 0, 16);
            krait::kernels::active().same_conv1d(p, 16, C);
            for (int64_t t = 0; t < L; ++t)
                for (int64_t c = 0; c < ys; ++c) {
                    const float a = y1[t * ys + c], b = y2[t * ys + c];
                    if (c >= C) {
                        EXPECT_EQ(b, -9.0f) << "wrote outside the channels";
                        continue;
                    }
                    EXPECT_NEAR(a, b, 1e-6f * std::max(1.0f, std::fabs(a))) << "K " << K << " L " << L;
                }
        }
}

// ---------------------------------------------------------------------------------------------------------------
// Conformance with the PyTorch reference

class MambaVisionConformance : public ::testing::TestWithParam<const char*> {};

// A fixture's model, its input [B, 3, H, W] and the reference logits [B, K].
struct Sample {
    std::unique_ptr<MambaVisionModel> model;
    int64_t B = 0, H = 0, W = 0, K = 0;
    std::vector<float> pixels, want;
};

Sample load_sample(const char* name) {
    const std::string dir = fixture(std::string("mambavision/") + name);
    Sample s;
    s.model = MambaVisionModel::load(dir);
    Expected expected(dir);
    const auto& px = expected.tensor("pixel_values");
    if (px.shape.size() != 4) throw std::runtime_error(dir + ": pixel_values is not [B, 3, H, W]");
    s.B = px.shape[0], s.H = px.shape[2], s.W = px.shape[3], s.K = s.model->num_labels();
    s.pixels = expected.values<float>("pixel_values");
    s.want = expected.values<float>("logits");
    if (static_cast<int64_t>(s.want.size()) != s.B * s.K) throw std::runtime_error(dir + ": logits are not [B, K]");
    return s;
}

TEST_P(MambaVisionConformance, LogitsMatchReference) {
    const Sample s = load_sample(GetParam());
    EXPECT_STREQ(s.model->architecture(), "mambavision");
    EXPECT_GT(s.model->num_parameters(), 0);
    for (int threads : {1, 3}) {
        krait::ThreadPool pool(threads);
        std::vector<float> logits(s.want.size(), NAN);
        s.model->forward(s.pixels.data(), s.B, s.H, s.W, logits.data(), pool, nullptr);
        EXPECT_TRUE(krait::testing::all_close(logits.data(), s.want, kTolerance)) << "threads " << threads;
    }
}

TEST_P(MambaVisionConformance, EachImageAloneEqualsItsBatchRow) {
    const Sample s = load_sample(GetParam());
    const auto& model = s.model;
    const auto& pixels = s.pixels;
    const int64_t B = s.B, H = s.H, W = s.W, K = s.K;
    krait::ThreadPool pool(2);
    std::vector<float> all(B * K);
    model->forward(pixels.data(), B, H, W, all.data(), pool, nullptr);
    for (int64_t b = 0; b < B; ++b) {
        std::vector<float> one(K);
        model->forward(pixels.data() + b * 3 * H * W, 1, H, W, one.data(), pool, nullptr);
        const std::vector<float> row(all.begin() + b * K, all.begin() + (b + 1) * K);
        EXPECT_TRUE(krait::testing::all_close(one.data(), row, 1e-6f)) << "image " << b;
    }
}

// A session reuses one workspace for all its calls: buffers left over from a larger call (stale values
// where this call's windows need zero padding) must not change the result. Each call through a reused
// workspace equals a call with a fresh one, bit for bit, and the reference logits.
TEST_P(MambaVisionConformance, ReusedWorkspaceGivesTheSameLogits) {
    const Sample s = load_sample(GetParam());
    const auto& model = s.model;
    const auto& pixels = s.pixels;
    const auto& want = s.want;
    const int64_t B = s.B, H = s.H, W = s.W, K = s.K;
    krait::ThreadPool pool(2);
    krait::ClassifierWorkspace ws;
    // Other sizes first (different padding, filled with non-zero activations), then the fixture's.
    std::vector<float> other(static_cast<size_t>(B * 3 * (H + 37) * (W + 21)), 0.75f), sink(B * K);
    model->forward(other.data(), B, H + 37, W + 21, sink.data(), pool, ws, nullptr);
    for (int round = 0; round < 2; ++round) {
        std::vector<float> reused(B * K, NAN), fresh(B * K, NAN);
        model->forward(pixels.data(), B, H, W, reused.data(), pool, ws, nullptr);
        model->forward(pixels.data(), B, H, W, fresh.data(), pool, nullptr);
        EXPECT_EQ(std::memcmp(reused.data(), fresh.data(), reused.size() * sizeof(float)), 0) << "round " << round;
        EXPECT_TRUE(krait::testing::all_close(reused.data(), want, kTolerance));
        model->forward(other.data(), 1, H + 37, W + 21, sink.data(), pool, ws, nullptr);
    }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, MambaVisionConformance,
                         ::testing::Values("odd_even_pad_hub", "layer_scale_nvlabs", "big_window_labels",
                                           "no_pad_square", "bf16_weights"));

TEST(MambaVision, LabelsAndSizesFromConfig) {
    auto with_labels = MambaVisionModel::load(fixture("mambavision/big_window_labels"));
    ASSERT_EQ(with_labels->num_labels(), 5);
    EXPECT_EQ(with_labels->labels()[0], "class_0");
    EXPECT_EQ(with_labels->labels()[4], "class_4");
    EXPECT_EQ(with_labels->image_height(), 56);
    EXPECT_EQ(with_labels->image_width(), 56);
    auto plain = MambaVisionModel::load(fixture("mambavision/layer_scale_nvlabs"));
    ASSERT_EQ(plain->num_labels(), 10);
    EXPECT_EQ(plain->labels()[9], "LABEL_9");
    EXPECT_TRUE(plain->config().layer_scale);
    EXPECT_TRUE(plain->config().layer_scale_conv);
    EXPECT_EQ(plain->image_height(), 80);
    EXPECT_EQ(plain->source_dtype(), "F32");
    EXPECT_EQ(MambaVisionModel::load(fixture("mambavision/bf16_weights"))->source_dtype(), "BF16");
}

// A BF16 checkpoint loads as stored (linears in BF16 packed panels) or upcast to F32 (F32 panels): the panels
// widen exactly and sum in the same order, so the logits are the same bits; the stored model holds fewer bytes.
TEST(MambaVision, StoredBf16EqualsUpcastBitwise) {
    const std::string dir = fixture("mambavision/bf16_weights");
    auto stored = MambaVisionModel::load(dir, nullptr, true);
    auto upcast = MambaVisionModel::load(dir, nullptr, false);
    const int64_t H = stored->image_height(), W = stored->image_width(), K = stored->num_labels();
    std::vector<float> pixels(static_cast<size_t>(2 * 3 * H * W));
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<float>((i * 7919) % 255) / 127.0f - 1.0f;
    krait::ThreadPool pool(2);
    for (int64_t B : {1, 2}) {
        std::vector<float> a(static_cast<size_t>(B * K), NAN), b(static_cast<size_t>(B * K), NAN);
        stored->forward(pixels.data(), B, H, W, a.data(), pool, nullptr);
        upcast->forward(pixels.data(), B, H, W, b.data(), pool, nullptr);
        EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << "batch " << B;
    }
    EXPECT_LT(stored->weight_bytes(), upcast->weight_bytes());
}

TEST(MambaVision, AttentionSplitFollowsDepthParity) {
    EXPECT_EQ(krait::first_attention_block(1), 1);  // a single block is a mixer
    EXPECT_EQ(krait::first_attention_block(2), 1);
    EXPECT_EQ(krait::first_attention_block(3), 2);
    EXPECT_EQ(krait::first_attention_block(8), 4);   // MambaVision-T level 2
    EXPECT_EQ(krait::first_attention_block(5), 3);   // MambaVision-B level 3
    EXPECT_EQ(krait::first_attention_block(10), 5);  // MambaVision-B level 2
}

// ---------------------------------------------------------------------------------------------------------------
// Bad input

krait_status status_of(const std::function<void()>& fn, std::string* message = nullptr) {
    try {
        fn();
    } catch (const krait::Error& e) {
        if (message) *message = e.what();
        return e.status();
    }
    return KRAIT_OK;
}

// A copy of a fixture model directory with config.json edited by `edit`.
class ModelCopy {
public:
    ModelCopy(const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
        static int counter = 0;
        dir_ = fs::temp_directory_path() /
               ("krait_mv_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::create_directories(dir_);
        const fs::path src = fixture("mambavision/" + name);
        fs::copy_file(src / "model.safetensors", dir_ / "model.safetensors");
        std::ifstream in(src / "config.json");
        nlohmann::json j = nlohmann::json::parse(in);
        edit(j);
        std::ofstream(dir_ / "config.json") << j.dump(2);
    }
    ~ModelCopy() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    std::string dir() const { return dir_.string(); }
    fs::path path() const { return dir_; }

private:
    fs::path dir_;
};

struct BadConfig {
    const char* what;
    const char* fixture;
    std::function<void(nlohmann::json&)> edit;
    const char* message_part;  // the field the message must name
};

TEST(MambaVisionBadInput, ImpossibleOrMismatchedConfigsAreFormatErrors) {
    using J = nlohmann::json;
    const std::vector<BadConfig> cases = {
        {"three levels", "odd_even_pad_hub", [](J& j) { j["depths"] = {1, 1, 3}; }, "depths"},
        {"depth not an integer", "odd_even_pad_hub", [](J& j) { j["depths"] = {1, 1, "3", 2}; }, "depths"},
        {"negative depth", "odd_even_pad_hub", [](J& j) { j["depths"] = {1, -1, 3, 2}; }, "depths[1]"},
        {"window size 0", "odd_even_pad_hub", [](J& j) { j["window_size"] = {4, 4, 0, 2}; }, "window_size[2]"},
        {"zero heads", "odd_even_pad_hub", [](J& j) { j["num_heads"] = {1, 2, 2, 0}; }, "num_heads[3]"},
        {"heads do not divide", "odd_even_pad_hub", [](J& j) { j["num_heads"] = {1, 2, 3, 4}; }, "num_heads[2]"},
        {"dim 0", "odd_even_pad_hub", [](J& j) { j["dim"] = 0; }, "dim"},
        {"dim a string", "odd_even_pad_hub", [](J& j) { j["dim"] = "8"; }, "dim"},
        {"in_dim negative", "odd_even_pad_hub", [](J& j) { j["in_dim"] = -8; }, "in_dim"},
        {"mlp_ratio negative", "odd_even_pad_hub", [](J& j) { j["mlp_ratio"] = -2; }, "mlp_ratio"},
        {"layer_scale a string", "odd_even_pad_hub", [](J& j) { j["layer_scale"] = "1e-5"; }, "layer_scale"},
        {"resolution 0", "odd_even_pad_hub", [](J& j) { j["resolution"] = 0; }, "resolution"},
        {"four channels", "odd_even_pad_hub", [](J& j) { j["in_chans"] = 4; }, "in_chans"},
        {"id2label vs num_classes", "big_window_labels", [](J& j) { j["num_classes"] = 6; }, "id2label"},
        {"id2label bad key", "big_window_labels", [](J& j) { j["id2label"]["x"] = "y"; }, "id2label"},
        {"num_classes vs head", "odd_even_pad_hub", [](J& j) { j["num_classes"] = 8; }, "head.weight"},
        // Weights that do not fit the config.
        {"gammas missing", "odd_even_pad_hub", [](J& j) { j["layer_scale"] = 1e-5; }, "gamma_1"},
        {"conv gamma missing", "odd_even_pad_hub", [](J& j) { j["layer_scale_conv"] = 1e-5; }, "gamma"},
        {"gammas not enabled", "layer_scale_nvlabs", [](J& j) { j["layer_scale"] = nullptr; }, "layer_scale"},
        {"conv gammas not enabled", "layer_scale_nvlabs", [](J& j) { j.erase("layer_scale_conv"); },
         "layer_scale_conv"},
        {"block missing", "odd_even_pad_hub", [](J& j) { j["depths"] = {1, 1, 4, 2}; }, "levels.2.blocks.3"},
        {"width mismatch", "odd_even_pad_hub", [](J& j) { j["dim"] = 16; }, "patch_embed"},
        {"mlp width mismatch", "odd_even_pad_hub", [](J& j) { j["mlp_ratio"] = 4; }, "mlp.fc1"},
        // A level-2 block that is attention in the weights read as a mixer (depth 2 -> 1 mixer + 1 attention).
        {"split mismatch", "no_pad_square", [](J& j) { j["depths"] = {1, 1, 3, 1}; }, "levels.2.blocks"},
    };
    for (const auto& c : cases) {
        ModelCopy copy(c.fixture, c.edit);
        std::string msg;
        EXPECT_EQ(status_of([&] { MambaVisionModel::load(copy.dir()); }, &msg), KRAIT_ERR_FORMAT) << c.what << ": "
                                                                                                  << msg;
        EXPECT_NE(msg.find(c.message_part), std::string::npos) << c.what << ": message '" << msg << "'";
    }
}

TEST(MambaVisionBadInput, MissingOrBrokenFiles) {
    std::string msg;
    EXPECT_EQ(status_of([] { MambaVisionModel::load("tests/fixtures/mambavision/does_not_exist"); }, &msg),
              KRAIT_ERR_IO);
    EXPECT_NE(msg.find("config.json"), std::string::npos) << msg;

    {  // other architecture
        ModelCopy copy("odd_even_pad_hub", [](nlohmann::json& j) { j["model_type"] = "vit"; });
        EXPECT_EQ(status_of([&] { MambaVisionModel::load(copy.dir()); }), KRAIT_ERR_UNSUPPORTED);
    }
    {  // config not JSON
        ModelCopy copy("odd_even_pad_hub", [](nlohmann::json&) {});
        std::ofstream(copy.path() / "config.json") << "{\"depths\": [1, 1,";
        EXPECT_EQ(status_of([&] { MambaVisionModel::load(copy.dir()); }), KRAIT_ERR_FORMAT);
    }
    {  // no weights at all
        ModelCopy copy("odd_even_pad_hub", [](nlohmann::json&) {});
        fs::remove(copy.path() / "model.safetensors");
        msg.clear();
        EXPECT_NE(status_of([&] { MambaVisionModel::load(copy.dir()); }, &msg), KRAIT_OK);
        EXPECT_FALSE(msg.empty());
    }
    {  // truncated weights
        ModelCopy copy("odd_even_pad_hub", [](nlohmann::json&) {});
        fs::resize_file(copy.path() / "model.safetensors", fs::file_size(copy.path() / "model.safetensors") / 2);
        EXPECT_EQ(status_of([&] { MambaVisionModel::load(copy.dir()); }), KRAIT_ERR_FORMAT);
    }
}

TEST(MambaVisionBadInput, WrongSizesAbortAndCancel) {
    auto model = MambaVisionModel::load(fixture("mambavision/no_pad_square"));
    krait::ThreadPool pool(2);
    std::vector<float> pixels(2 * 3 * 32 * 32, 0.1f), logits(2 * 3);
    EXPECT_EQ(status_of([&] { model->check_input_size(0, 32); }), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(status_of([&] { model->check_input_size(32, -1); }), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(status_of([&] { model->check_input_size(MambaVisionModel::kMaxSide + 1, 32); }),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(status_of([&] { model->check_input_size(1, 1); }), KRAIT_OK);  // tiny inputs run (stride-2 rounds up)
    EXPECT_EQ(status_of([&] { model->forward(pixels.data(), 0, 32, 32, logits.data(), pool, nullptr); }),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(status_of([&] { model->forward(pixels.data(), 1, 0, 32, logits.data(), pool, nullptr); }),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(status_of([&] { model->forward(pixels.data(), 1, 1, 1, logits.data(), pool, nullptr); }), KRAIT_OK);
    EXPECT_TRUE(std::all_of(logits.begin(), logits.begin() + 3, [](float v) { return std::isfinite(v); }));

    std::atomic<bool> abort{true};
    EXPECT_EQ(status_of([&] { model->forward(pixels.data(), 2, 32, 32, logits.data(), pool, &abort); }),
              KRAIT_ERR_ABORTED);

    int calls = 0;
    EXPECT_EQ(status_of([&] {
                  MambaVisionModel::load(fixture("mambavision/no_pad_square"), [&](float) { return ++calls < 3; });
              }),
              KRAIT_ERR_CANCELLED);
    EXPECT_EQ(calls, 3);
    float last = -1.0f;
    bool monotone = true;
    MambaVisionModel::load(fixture("mambavision/no_pad_square"), [&](float f) {
        monotone = monotone && f >= last;
        last = f;
        return true;
    });
    EXPECT_TRUE(monotone);
    EXPECT_FLOAT_EQ(last, 1.0f);
}

}  // namespace
