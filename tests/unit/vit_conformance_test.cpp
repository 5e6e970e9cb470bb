// ViT against transformers' ViTForImageClassification on the fixtures made by
// tools/gen_vit_fixtures.py (tiny random configs: depths 1-4, hidden 8-48,
// 1-6 heads, patch 2/3/4, qkv_bias on and off, erf and tanh GELU, eps 1e-12
// and 1e-6, 1-11 labels with id2label names, batch 2-4, inputs at the trained
// size, larger, smaller and non-square (position embeddings interpolated;
// the reference ran with interpolate_pos_encoding=True), F32, F16 and BF16
// weights), plus broken model directories.
//
// Tolerance: logits within 1e-5 * max(1, max |reference logit|) — fp32
// rounding of differently ordered sums over a few layers.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>
#include <thread>
#include <unistd.h>

#include "sdk/core/error.h"
#include "sdk/models/classifier.h"
#include "sdk/models/vit.h"
#include "tests/common/fixtures.h"

namespace {

using krait::ViTModel;
using krait::testing::Expected;
using krait::testing::fixture;
using nlohmann::json;

constexpr float kTolerance = 1e-5f;

const json& manifest() {
    static const json m = [] {
        std::ifstream in(fixture("vit/manifest.json"));
        if (!in) throw std::runtime_error("tests/fixtures/vit/manifest.json missing: run tools/gen_vit_fixtures.py");
        return json::parse(in);
    }();
    return m;
}

json case_info(const std::string& name) {
    for (const auto& c : manifest()["cases"])
        if (c["name"] == name) return c;
    throw std::runtime_error("no case " + name + " in the ViT manifest");
}

std::vector<std::string> case_names() {
    std::vector<std::string> out;
    for (const auto& c : manifest()["cases"]) out.push_back(c["name"].get<std::string>());
    return out;
}

struct Sample {
    std::vector<float> pixels, want;
    int64_t B = 0, H = 0, W = 0;
};

Sample read_expected(const std::string& dir) {
    Expected e(dir);
    Sample r;
    const auto& shape = e.tensor("pixel_values").shape;
    r.B = shape[0], r.H = shape[2], r.W = shape[3];
    r.pixels = e.values<float>("pixel_values");
    r.want = e.values<float>("logits");
    return r;
}

class ViTConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(ViTConformance, LogitsMatchTransformers) {
    const std::string dir = fixture("vit/" + GetParam());
    auto model = ViTModel::load(dir);
    const Sample r = read_expected(dir);
    ASSERT_EQ(static_cast<int64_t>(r.want.size()), r.B * model->num_labels());
    for (int threads : {1, 2}) {
        krait::ThreadPool pool(threads);
        std::vector<float> logits(r.want.size());
        model->forward(r.pixels.data(), r.B, r.H, r.W, logits.data(), pool, nullptr);
        EXPECT_TRUE(krait::testing::all_close(logits.data(), r.want, kTolerance)) << "threads " << threads;
    }
}

TEST_P(ViTConformance, BatchRowsEqualSingleImages) {
    // Each image alone gives its row of the batched result (no cross-image leakage).
    const std::string dir = fixture("vit/" + GetParam());
    auto model = ViTModel::load(dir);
    const Sample r = read_expected(dir);
    const int64_t N = model->num_labels(), per_image = 3 * r.H * r.W;
    krait::ThreadPool pool(2);
    for (int64_t b = 0; b < r.B; ++b) {
        std::vector<float> logits(N);
        model->forward(r.pixels.data() + b * per_image, 1, r.H, r.W, logits.data(), pool, nullptr);
        std::vector<float> want(r.want.begin() + b * N, r.want.begin() + (b + 1) * N);
        EXPECT_TRUE(krait::testing::all_close(logits.data(), want, kTolerance)) << "image " << b;
    }
}

// One workspace reused over calls of other sizes (as a session does) gives the bits of a fresh one.
TEST_P(ViTConformance, ReusedWorkspaceGivesTheSameLogits) {
    const std::string dir = fixture("vit/" + GetParam());
    auto model = ViTModel::load(dir);
    const Sample r = read_expected(dir);
    const int64_t P = model->config().patch_size, N = model->num_labels();
    krait::ThreadPool pool(2);
    krait::ClassifierWorkspace ws;
    std::vector<float> other(static_cast<size_t>((r.B + 1) * 3 * (r.H + 2 * P) * (r.W + P)), 0.5f), sink((r.B + 1) * N);
    model->forward(other.data(), r.B + 1, r.H + 2 * P, r.W + P, sink.data(), pool, ws, nullptr);
    std::vector<float> reused(r.want.size(), NAN), fresh(r.want.size(), NAN);
    model->forward(r.pixels.data(), r.B, r.H, r.W, reused.data(), pool, ws, nullptr);
    model->forward(r.pixels.data(), r.B, r.H, r.W, fresh.data(), pool, nullptr);
    EXPECT_EQ(std::memcmp(reused.data(), fresh.data(), reused.size() * sizeof(float)), 0);
    EXPECT_TRUE(krait::testing::all_close(reused.data(), r.want, kTolerance));
}

// F16 / BF16 checkpoints load as stored (linears in F16 / BF16 packed panels, half the bytes) or upcast to F32
// (F32 panels). The panels widen exactly and sum in the same order, so both give the same logits bit for bit,
// within the fixture's tolerance of transformers; the stored model holds about half the weight bytes.
TEST(ViTStoredWeights, StoredEqualsUpcastBitwiseAndHoldsHalfTheBytes) {
    for (const char* name : {"bf16", "f16"}) {
        SCOPED_TRACE(name);
        const std::string dir = fixture(std::string("vit/") + name);
        auto stored = ViTModel::load(dir, nullptr, true);
        auto upcast = ViTModel::load(dir, nullptr, false);
        const Sample r = read_expected(dir);
        for (int threads : {1, 2}) {
            krait::ThreadPool pool(threads);
            std::vector<float> a(r.want.size(), NAN), b(r.want.size(), NAN);
            stored->forward(r.pixels.data(), r.B, r.H, r.W, a.data(), pool, nullptr);
            upcast->forward(r.pixels.data(), r.B, r.H, r.W, b.data(), pool, nullptr);
            EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << "threads " << threads;
            EXPECT_TRUE(krait::testing::all_close(a.data(), r.want, kTolerance)) << "threads " << threads;
            // One image: the head is an M = 1 GEMM (the few-row tiles).
            std::vector<float> one_a(static_cast<size_t>(stored->num_labels())), one_b(one_a.size());
            stored->forward(r.pixels.data(), 1, r.H, r.W, one_a.data(), pool, nullptr);
            upcast->forward(r.pixels.data(), 1, r.H, r.W, one_b.data(), pool, nullptr);
            EXPECT_EQ(std::memcmp(one_a.data(), one_b.data(), one_a.size() * sizeof(float)), 0);
        }
        // Linear weights: 2 bytes each stored, 4 upcast (hidden 16: whole panels of 32 pad to 32 columns).
        EXPECT_LT(stored->weight_bytes(), upcast->weight_bytes());
        EXPECT_GT(stored->weight_bytes(), upcast->weight_bytes() / 4);
        EXPECT_EQ(stored->source_dtype(), upcast->source_dtype());
    }
}

TEST_P(ViTConformance, MetadataMatchesConfig) {
    const json info = case_info(GetParam());
    auto model = krait::load_classifier(fixture("vit/" + GetParam()), nullptr);
    EXPECT_STREQ(model->architecture(), "vit");
    EXPECT_EQ(model->num_labels(), info["num_labels"].get<int64_t>());
    EXPECT_EQ(model->labels(), info["labels"].get<std::vector<std::string>>());
    EXPECT_EQ(model->image_height(), info["image_size"].get<int64_t>());
    EXPECT_EQ(model->image_width(), info["image_size"].get<int64_t>());
    EXPECT_EQ(model->num_parameters(), info["num_parameters"].get<int64_t>());
    const std::string dtype = info["dtype"];
    EXPECT_EQ(model->source_dtype(), dtype == "float32" ? "F32" : dtype == "float16" ? "F16" : "BF16");
    EXPECT_TRUE(krait::is_classifier_dir(fixture("vit/" + GetParam())));
}

INSTANTIATE_TEST_SUITE_P(Cases, ViTConformance, ::testing::ValuesIn(case_names()),
                         [](const auto& info) { return info.param; });

TEST(ViT, FixturesCoverWhatTheyClaim) {
    // Guards against a regenerated fixture set silently losing coverage.
    bool interp = false, no_qkv_bias = false, f16 = false, bf16 = false, non_square = false, batch = false;
    std::set<int64_t> depths, patches;
    for (const auto& c : manifest()["cases"]) {
        interp |= c["interpolate_pos_encoding"].get<bool>();
        no_qkv_bias |= !c["qkv_bias"].get<bool>();
        f16 |= c["dtype"] == "float16";
        bf16 |= c["dtype"] == "bfloat16";
        non_square |= c["input"][2] != c["input"][3];
        batch |= c["input"][0].get<int64_t>() > 1;
        depths.insert(c["num_hidden_layers"].get<int64_t>());
        patches.insert(c["patch_size"].get<int64_t>());
    }
    EXPECT_TRUE(interp && no_qkv_bias && f16 && bf16 && non_square && batch);
    EXPECT_GE(depths.size(), 3u);
    EXPECT_GE(patches.size(), 3u);
}

TEST(ViT, InputSizeMustBeAMultipleOfThePatch) {
    auto model = ViTModel::load(fixture("vit/f32_nonsquare_up"));  // patch 4
    EXPECT_NO_THROW(model->check_input_size(12, 12));
    EXPECT_NO_THROW(model->check_input_size(4, 28));
    for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{13, 12}, {12, 10}, {0, 12}, {-4, 8}, {2, 4}}) {
        try {
            model->check_input_size(h, w);
            ADD_FAILURE() << h << "x" << w << " accepted";
        } catch (const krait::Error& e) {
            EXPECT_EQ(e.status(), KRAIT_ERR_INVALID_ARGUMENT);
            EXPECT_NE(std::string(e.what()).find("patch size 4"), std::string::npos) << e.what();
        }
    }
    krait::ThreadPool pool(1);
    std::vector<float> pixels(3 * 13 * 12), logits(model->num_labels());
    try {
        model->forward(pixels.data(), 1, 13, 12, logits.data(), pool, nullptr);
        ADD_FAILURE() << "forward accepted 13x12";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_INVALID_ARGUMENT);
    }
}

TEST(ViT, ResizingTheGridToItsOwnSizeIsIdentity) {
    std::vector<float> grid(3 * 5 * 4), out(grid.size());
    for (size_t i = 0; i < grid.size(); ++i) grid[i] = static_cast<float>(i % 7) - 2.5f;
    krait::bicubic_resize_grid(grid.data(), 3, 5, 4, out.data(), 3, 5);
    EXPECT_EQ(out, grid);
}

TEST(ViT, ConcurrentCallsAtManySizesAgree) {
    // One shared model, two threads, more input sizes than the position cache
    // holds, so entries are computed, evicted and recomputed concurrently.
    auto model = ViTModel::load(fixture("vit/f32_base"));  // patch 2
    std::vector<std::pair<int64_t, int64_t>> sizes;
    for (int64_t h = 2; h <= 10; h += 2)
        for (int64_t w : {4, 8}) sizes.push_back({h, w});
    ASSERT_GT(sizes.size(), size_t{8});
    const int64_t N = model->num_labels();
    auto pixels_for = [](int64_t h, int64_t w) {
        std::vector<float> p(static_cast<size_t>(3 * h * w));
        for (size_t i = 0; i < p.size(); ++i) p[i] = std::sin(0.37f * static_cast<float>(i) + static_cast<float>(h));
        return p;
    };
    std::vector<std::vector<float>> want(sizes.size(), std::vector<float>(N));
    {
        krait::ThreadPool pool(1);
        for (size_t s = 0; s < sizes.size(); ++s)
            model->forward(pixels_for(sizes[s].first, sizes[s].second).data(), 1, sizes[s].first, sizes[s].second,
                           want[s].data(), pool, nullptr);
    }
    std::atomic<int> mismatches{0};
    auto worker = [&](int offset) {
        krait::ThreadPool pool(1);
        std::vector<float> got(N);
        for (int round = 0; round < 3; ++round)
            for (size_t i = 0; i < sizes.size(); ++i) {
                const size_t s = (i + offset) % sizes.size();
                const auto [h, w] = sizes[s];
                model->forward(pixels_for(h, w).data(), 1, h, w, got.data(), pool, nullptr);
                if (got != want[s]) ++mismatches;
            }
    };
    std::thread a(worker, 0), b(worker, 5);
    a.join();
    b.join();
    EXPECT_EQ(mismatches.load(), 0);
}

TEST(ViT, AbortAndCancel) {
    const std::string dir = fixture("vit/f32_base");
    auto model = ViTModel::load(dir);
    const Sample r = read_expected(dir);
    krait::ThreadPool pool(1);
    std::vector<float> logits(r.want.size());
    std::atomic<bool> abort{true};
    try {
        model->forward(r.pixels.data(), r.B, r.H, r.W, logits.data(), pool, &abort);
        ADD_FAILURE() << "abort ignored";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_ABORTED);
    }
    std::vector<float> seen;
    try {
        ViTModel::load(dir, [&](float f) {
            seen.push_back(f);
            return f < 0.5f;
        });
        ADD_FAILURE() << "cancel ignored";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_CANCELLED);
    }
    ViTModel::load(dir, [&](float f) {
        seen.push_back(f);
        return true;
    });
    EXPECT_EQ(seen.back(), 1.0f);
}

TEST(ViT, BrokenDirectoriesGiveClearErrors) {
    const auto& bad = manifest()["bad"];
    ASSERT_GE(bad.size(), 10u);
    for (const auto& entry : bad) {
        const std::string name = entry["name"], status = entry["status"], message = entry["message"];
        const krait_status want = status == "KRAIT_ERR_FORMAT"        ? KRAIT_ERR_FORMAT
                                  : status == "KRAIT_ERR_UNSUPPORTED" ? KRAIT_ERR_UNSUPPORTED
                                                                      : KRAIT_ERR_INTERNAL;
        try {
            krait::load_classifier(fixture("vit/bad/" + name), nullptr);
            ADD_FAILURE() << name << ": loaded";
        } catch (const krait::Error& e) {
            EXPECT_EQ(e.status(), want) << name << ": " << e.what();
            EXPECT_NE(std::string(e.what()).find(message), std::string::npos)
                << name << ": message \"" << e.what() << "\" does not mention " << message;
        }
    }
}

TEST(ViT, LabelsDefaultWhenConfigHasNone) {
    // Config without id2label/num_labels: the classifier's rows give the count, names LABEL_<i>.
    const auto cfg = krait::ViTConfig::from_json_text(
        R"({"model_type": "vit", "image_size": 8, "patch_size": 2, "hidden_size": 16, "num_attention_heads": 2})",
        "inline");
    EXPECT_EQ(cfg.num_labels, 0);
    EXPECT_TRUE(cfg.labels.empty());
    const auto cfg2 = krait::ViTConfig::from_json_text(R"({"model_type": "vit", "num_labels": 3})", "inline");
    EXPECT_EQ(cfg2.num_labels, 3);
    EXPECT_EQ(cfg2.image_size_h, 224);
    EXPECT_EQ(cfg2.patch_size, 16);
}

TEST(ViT, LoadWithoutId2labelNamesLabelsByIndex) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("krait_vit_nolabels_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    fs::copy_file(fixture("vit/f32_base/model.safetensors"), dir / "model.safetensors",
                  fs::copy_options::overwrite_existing);
    json cfg = json::parse(std::ifstream(fixture("vit/f32_base/config.json")));
    cfg.erase("id2label");
    cfg.erase("label2id");
    std::ofstream(dir / "config.json") << cfg.dump();
    auto model = ViTModel::load(dir.string());
    EXPECT_EQ(model->num_labels(), 5);
    EXPECT_EQ(model->labels(), (std::vector<std::string>{"LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3", "LABEL_4"}));
    model.reset();
    fs::remove_all(dir);
}

TEST(Classifier, DispatchOnModelType) {
    EXPECT_FALSE(krait::is_classifier_dir(fixture("mamba/f32_tied")));
    EXPECT_FALSE(krait::is_classifier_dir(fixture("vit/does_not_exist")));
    try {
        krait::load_classifier(fixture("mamba/f32_tied"), nullptr);
        ADD_FAILURE() << "a Mamba dir loaded as a classifier";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_UNSUPPORTED);
        EXPECT_NE(std::string(e.what()).find("'mamba'"), std::string::npos) << e.what();
    }
    try {
        krait::load_classifier(fixture("vit/does_not_exist"), nullptr);
        ADD_FAILURE() << "a missing dir loaded";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_IO);
    }
}

}  // namespace
