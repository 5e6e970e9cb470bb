// ONNX classifiers through the public C ABI (since 1.8): krait_model_load on a .onnx file gives a
// classifier model whose sessions forward and classify as a safetensors model does. The fixture
// is tools/gen_onnx_fixtures.py's tiny HF ViT, exported by torch.onnx (TorchScript exporter,
// opset 17) and saved as safetensors from the same weights, with config.json (labels) and
// preprocessor_config.json beside both.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "krait/krait.h"
#include "krait/krait.hpp"

namespace {

const std::string kOnnx = "tests/fixtures/onnx/models/hf_vit_torchscript_opset17/model.onnx";
const std::string kSafetensors = "tests/fixtures/onnx/models/hf_vit_safetensors";
const std::string kImage = "tests/fixtures/images/samples/photo_300x199.png";

std::vector<float> random_pixels(size_t n) {
    std::vector<float> v(n);
    uint32_t s = 7;
    for (float& x : v) {
        s = s * 1664525u + 1013904223u;
        x = static_cast<float>(s >> 8) / 16777216.0f * 4.0f - 2.0f;
    }
    return v;
}

}  // namespace

TEST(OnnxAbi, LoadsAsAClassifierWithTheLabelsBesideIt) {
    const krait::Model onnx = krait::Model::load(kOnnx);
    const krait_model_info i = onnx.info();
    EXPECT_EQ(i.kind, KRAIT_MODEL_CLASSIFIER);
    EXPECT_STREQ(i.architecture, "onnx");
    const krait::Model st = krait::Model::load(kSafetensors);
    EXPECT_EQ(onnx.labels(), st.labels());
    EXPECT_EQ(i.image_height, st.info().image_height);
    EXPECT_GT(i.num_parameters, 0);
    const std::string described = onnx.describe();
    EXPECT_NE(described.find("opsets ai.onnx=17"), std::string::npos) << described;
    EXPECT_NE(described.find("input "), std::string::npos) << described;
    EXPECT_EQ(st.describe(), "");  // other families describe nothing (yet)
}

TEST(OnnxAbi, ForwardAndClassifyMatchTheSafetensorsModel) {
    krait_model *onnx = nullptr, *st = nullptr;
    ASSERT_EQ(krait_model_load(kOnnx.c_str(), nullptr, &onnx), KRAIT_OK) << krait_last_error();
    ASSERT_EQ(krait_model_load(kSafetensors.c_str(), nullptr, &st), KRAIT_OK) << krait_last_error();
    krait_session *so = nullptr, *ss = nullptr;
    ASSERT_EQ(krait_session_create(onnx, nullptr, &so), KRAIT_OK);
    ASSERT_EQ(krait_session_create(st, nullptr, &ss), KRAIT_OK);
    krait_model_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(krait_model_get_info(onnx, &info), KRAIT_OK);
    const int64_t B = 3, H = info.image_height, W = info.image_width, C = info.num_labels;
    const std::vector<float> pixels = random_pixels(static_cast<size_t>(B * 3 * H * W));
    std::vector<float> a(static_cast<size_t>(B * C)), b(a.size());
    size_t n = 0;
    ASSERT_EQ(krait_session_classifier_forward(so, pixels.data(), B, H, W, a.data(), a.size(), &n), KRAIT_OK)
        << krait_last_error();
    ASSERT_EQ(krait_session_classifier_forward(ss, pixels.data(), B, H, W, b.data(), b.size(), &n), KRAIT_OK);
    float scale = 0, err = 0;
    for (size_t k = 0; k < a.size(); ++k) scale = std::max(scale, std::fabs(b[k])), err = std::max(err, std::fabs(a[k] - b[k]));
    EXPECT_LE(err, 1e-4f * scale);
    // An image file: the same preprocessing (preprocessor_config.json beside each), the same classes.
    krait_classification ca[5], cb[5];
    const char* paths[] = {kImage.c_str()};
    ASSERT_EQ(krait_session_classify_files(so, paths, 1, 5, ca, 5, &n), KRAIT_OK) << krait_last_error();
    ASSERT_EQ(krait_session_classify_files(ss, paths, 1, 5, cb, 5, &n), KRAIT_OK);
    for (int k = 0; k < 5; ++k) {
        EXPECT_EQ(ca[k].label_id, cb[k].label_id);
        EXPECT_NEAR(ca[k].probability, cb[k].probability, 1e-4f);
    }
    // The graph takes only its own image size: another size is refused, naming both.
    EXPECT_EQ(krait_session_classifier_forward(so, pixels.data(), 1, H + 1, W, a.data(), a.size(), &n),
              KRAIT_ERR_INVALID_ARGUMENT);
    krait_session_free(so);
    krait_session_free(ss);
    krait_model_free(onnx);
    krait_model_free(st);
}

TEST(OnnxAbi, BadFilesReturnTheirStatusAndMessage) {
    krait_model* m = nullptr;
    EXPECT_EQ(krait_model_load("tests/fixtures/onnx/bad/unsupported_op.onnx", nullptr, &m), KRAIT_ERR_UNSUPPORTED);
    EXPECT_NE(std::string(krait_last_error()).find("NonMaxSuppression"), std::string::npos) << krait_last_error();
    EXPECT_EQ(m, nullptr);
    EXPECT_EQ(krait_model_load("tests/fixtures/onnx/bad/truncated.onnx", nullptr, &m), KRAIT_ERR_FORMAT);
    EXPECT_EQ(krait_model_load("tests/fixtures/onnx/bad/missing.onnx", nullptr, &m), KRAIT_ERR_IO);
    // A graph that is not an image classifier (its input is not pixels) is refused as such.
    EXPECT_EQ(krait_model_load("tests/fixtures/onnx/bad/external_ok.onnx", nullptr, &m), KRAIT_ERR_UNSUPPORTED);
    EXPECT_NE(std::string(krait_last_error()).find("not an image classifier"), std::string::npos) << krait_last_error();
    // A file of another kind is not taken for a model.
    EXPECT_EQ(krait_model_load("tests/fixtures/images/samples/photo_300x199.png", nullptr, &m), KRAIT_ERR_UNSUPPORTED);
    size_t n = 0;
    EXPECT_EQ(krait_model_describe(nullptr, nullptr, 0, &n), KRAIT_ERR_INVALID_ARGUMENT);
}

// krait_model_params.preprocessor_config (1.8) replaces the files' preprocessing: here rescale only
// (mean 0, std 1), so a white picture becomes all ones where the files' mean = std = 0.5 give ones too,
// and a mid-gray one 128/255 instead of (128/255 - 0.5) / 0.5.
TEST(OnnxAbi, CallerPreprocessingReplacesTheFiles) {
    const char* json = R"({"image_mean": [0, 0, 0], "image_std": [1, 1, 1], "size": {"height": 32, "width": 32}})";
    krait_model_params params;
    krait_model_params_init(&params);
    params.preprocessor_config = json;
    krait_model *given = nullptr, *files = nullptr;
    ASSERT_EQ(krait_model_load(kOnnx.c_str(), &params, &given), KRAIT_OK) << krait_last_error();
    ASSERT_EQ(krait_model_load(kOnnx.c_str(), nullptr, &files), KRAIT_OK);
    std::vector<uint8_t> gray(8 * 8 * 3, 128);
    krait_image image{};
    image.struct_size = sizeof image;
    image.pixels = gray.data();
    image.width = image.height = 8;
    image.channels = 3;
    std::vector<float> a(3 * 32 * 32), b(a.size());
    size_t n = 0;
    ASSERT_EQ(krait_model_preprocess_image_pixels(given, &image, a.data(), a.size(), &n), KRAIT_OK) << krait_last_error();
    ASSERT_EQ(krait_model_preprocess_image_pixels(files, &image, b.data(), b.size(), &n), KRAIT_OK);
    EXPECT_NEAR(a[0], 128.0f / 255.0f, 1e-6f);
    EXPECT_NEAR(b[0], (128.0f / 255.0f - 0.5f) / 0.5f, 1e-6f);
    krait_model_free(given);
    krait_model_free(files);

    krait_model* m = nullptr;
    params.preprocessor_config = "{not json";
    EXPECT_EQ(krait_model_load(kOnnx.c_str(), &params, &m), KRAIT_ERR_FORMAT);
    EXPECT_NE(std::string(krait_last_error()).find("preprocessor_config"), std::string::npos) << krait_last_error();
    params.preprocessor_config = json;
    EXPECT_EQ(krait_model_load("tests/fixtures/mamba/f32_tied", &params, &m), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(m, nullptr);
}
