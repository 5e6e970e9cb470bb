// The classifier half of the C ABI, through the public headers only:
//  * krait_session_classifier_forward equals the transformers reference logits
//    of the ViT fixtures (tests/fixtures/vit, tools/gen_vit_fixtures.py);
//  * krait_session_classify_* equal forward + a plain softmax on the tensors
//    Hugging Face's image processor made from the same files
//    (tests/fixtures/images/preprocess), and the three input kinds agree;
//  * every error path returns its status and a message naming the problem,
//    and leaves out-parameters untouched (except *n_out on BUFFER_TOO_SMALL).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "krait/krait.h"
#include "krait/krait.hpp"
#include "tests/common/reference_tensors.h"

namespace {

namespace fs = std::filesystem;
const std::string kVit = "tests/fixtures/vit/f32_base";  // 5 labels cat_0..otter_4, 8x8, patch 2
const std::string kTied = "tests/fixtures/mamba/f32_tied";
const std::string kImages = "tests/fixtures/images";
const std::string kSamples = kImages + "/samples";
// The preprocessing case used for the end-to-end checks: ViTImageProcessor,
// bilinear resize to 48 x 48 (a multiple of the fixture's patch size).
const std::string kCase = "vit_bilinear_48";
const std::vector<std::string> kCaseSamples = {"photo_300x199.png", "rgb_37x53.png", "gray_13x7.png",
                                               "rgba_41x29.png"};

using krait::testing::read_file;
using krait::testing::read_tensor;

// The fixture ViT with a preprocessor_config.json (in a temporary directory).
std::string vit_with_preprocessing(const std::string& case_name) {
    const fs::path dir = fs::temp_directory_path() / ("krait_cls_abi_" + case_name + "_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    for (const char* f : {"config.json", "model.safetensors"})
        fs::copy_file(fs::path(kVit) / f, dir / f, fs::copy_options::overwrite_existing);
    fs::copy_file(fs::path(kImages) / "preprocess" / case_name / "preprocessor_config.json",
                  dir / "preprocessor_config.json", fs::copy_options::overwrite_existing);
    return dir.string();
}

struct Handles {
    krait_model* model = nullptr;
    krait_session* session = nullptr;
    explicit Handles(const std::string& dir, const krait_session_params* params = nullptr) {
        if (krait_model_load(dir.c_str(), nullptr, &model) != KRAIT_OK) throw std::runtime_error(krait_last_error());
        if (krait_session_create(model, params, &session) != KRAIT_OK) throw std::runtime_error(krait_last_error());
    }
    ~Handles() {
        krait_session_free(session);
        krait_model_free(model);
    }
};

std::string last_error() { return krait_last_error(); }

bool mentions(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

// softmax(logits row) in double.
std::vector<double> softmax(const float* logits, size_t n) {
    const float m = *std::max_element(logits, logits + n);
    std::vector<double> p(n);
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += p[i] = std::exp(static_cast<double>(logits[i]) - m);
    for (double& v : p) v /= sum;
    return p;
}

// One image's top-k is right for reference probabilities `ref`: each probability
// matches within tol, the order is descending, and no class left out is more
// probable (by more than tol) than one returned.
void expect_top_k(const krait_classification* got, size_t k, const std::vector<double>& ref, double tol,
                  const std::string& what) {
    SCOPED_TRACE(what);
    std::set<int32_t> chosen;
    for (size_t r = 0; r < k; ++r) {
        const int32_t id = got[r].label_id;
        ASSERT_GE(id, 0);
        ASSERT_LT(static_cast<size_t>(id), ref.size());
        chosen.insert(id);
        EXPECT_NEAR(got[r].probability, ref[static_cast<size_t>(id)], tol) << "rank " << r;
        if (r > 0) {
            EXPECT_GE(got[r - 1].probability, got[r].probability) << "rank " << r;
        }
    }
    EXPECT_EQ(chosen.size(), k) << "a label appears twice";
    double min_chosen = 1, max_other = 0;
    for (size_t id = 0; id < ref.size(); ++id) {
        if (chosen.count(static_cast<int32_t>(id))) min_chosen = std::min(min_chosen, ref[id]);
        else max_other = std::max(max_other, ref[id]);
    }
    EXPECT_GE(min_chosen + tol, max_other);
}

const krait_classification kSentinel{-7, -7.0f, nullptr};

// ---- loading and facts ---------------------------------------------------------------

TEST(ClassifierInfo, DescribesTheModel) {
    Handles h(kVit);
    krait_model_info info;
    std::memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    ASSERT_EQ(krait_model_get_info(h.model, &info), KRAIT_OK) << last_error();
    EXPECT_EQ(info.kind, KRAIT_MODEL_CLASSIFIER);
    EXPECT_STREQ(info.architecture, "vit");
    EXPECT_EQ(info.num_labels, 5);
    EXPECT_EQ(info.image_height, 8);
    EXPECT_EQ(info.image_width, 8);
    EXPECT_EQ(info.vocab_size, 0);
    EXPECT_EQ(info.bos_token_id, -1);
    EXPECT_EQ(info.eos_token_id, -1);
    EXPECT_STREQ(info.source_dtype, "F32");
    EXPECT_EQ(info.num_parameters, 4533);  // tests/fixtures/vit/manifest.json (PyTorch's count)
    // The linears are held packed only (output features rounded up to 32 per panel), the rest in place.
    EXPECT_GE(info.weight_bytes, 4 * info.num_parameters);
    EXPECT_LT(info.weight_bytes, 3 * 4 * info.num_parameters);

    // A caller built against the 1.0 header (struct without the classifier
    // fields) gets the old fields and nothing written past its struct.
    struct {
        krait_model_info info;
        char guard[sizeof(int64_t) * 3];
    } old;
    std::memset(&old, 0x5a, sizeof old);
    old.info.struct_size = offsetof(krait_model_info, num_labels);
    ASSERT_EQ(krait_model_get_info(h.model, &old.info), KRAIT_OK);
    EXPECT_EQ(old.info.struct_size, offsetof(krait_model_info, num_labels));
    EXPECT_EQ(old.info.kind, KRAIT_MODEL_CLASSIFIER);
    const auto* tail = reinterpret_cast<const unsigned char*>(&old.info) + offsetof(krait_model_info, num_labels);
    for (size_t i = 0; i < sizeof(krait_model_info) - offsetof(krait_model_info, num_labels); ++i)
        EXPECT_EQ(tail[i], 0x5a) << "byte " << i << " past the caller's struct was written";

    const krait_tokenizer* tok = nullptr;
    EXPECT_EQ(krait_model_get_tokenizer(h.model, &tok), KRAIT_ERR_UNSUPPORTED);
}

TEST(ClassifierInfo, MambaVisionLoadsAsAClassifier) {
    // Hub layout (weights prefixed model.), 7 labels without id2label, trained at 64 x 64.
    Handles h("tests/fixtures/mambavision/odd_even_pad_hub");
    krait_model_info info;
    std::memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    ASSERT_EQ(krait_model_get_info(h.model, &info), KRAIT_OK) << last_error();
    EXPECT_EQ(info.kind, KRAIT_MODEL_CLASSIFIER);
    EXPECT_STREQ(info.architecture, "mambavision");
    EXPECT_EQ(info.num_labels, 7);
    EXPECT_EQ(info.image_height, 64);
    EXPECT_EQ(info.image_width, 64);
    const char* name = nullptr;
    ASSERT_EQ(krait_model_get_label(h.model, 6, &name), KRAIT_OK);
    EXPECT_STREQ(name, "LABEL_6");
    // A photo, resized and center-cropped to 64 x 64 per timm's transform, runs.
    const std::string photo = kSamples + "/photo_300x199.jpg";
    const char* paths[] = {photo.c_str()};
    krait_classification out[3];
    size_t n = 0;
    ASSERT_EQ(krait_session_classify_files(h.session, paths, 1, 3, out, 3, &n), KRAIT_OK) << last_error();
    EXPECT_EQ(n, 3u);
    EXPECT_GE(out[0].probability, out[1].probability);
}

TEST(ClassifierInfo, SequenceModelsReportNoClassifierFacts) {
    Handles h(kTied);
    krait_model_info info;
    std::memset(&info, 0x5a, sizeof info);
    info.struct_size = sizeof info;
    ASSERT_EQ(krait_model_get_info(h.model, &info), KRAIT_OK);
    EXPECT_EQ(info.kind, KRAIT_MODEL_SEQUENCE);
    EXPECT_EQ(info.num_labels, 0);
    EXPECT_EQ(info.image_height, 0);
    EXPECT_EQ(info.image_width, 0);
}

TEST(ClassifierLabels, NamesFromConfigAndErrors) {
    Handles h(kVit);
    const std::vector<std::string> want = {"cat_0", "dog_1", "heron_2", "newt_3", "otter_4"};
    for (int32_t id = 0; id < 5; ++id) {
        const char* name = nullptr;
        ASSERT_EQ(krait_model_get_label(h.model, id, &name), KRAIT_OK) << last_error();
        EXPECT_EQ(name, want[static_cast<size_t>(id)]);
    }
    const char* untouched = "untouched";
    const char* out = untouched;
    EXPECT_EQ(krait_model_get_label(h.model, 5, &out), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(last_error(), "5")) << last_error();
    EXPECT_EQ(krait_model_get_label(h.model, -1, &out), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_model_get_label(nullptr, 0, &out), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_model_get_label(h.model, 0, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(out, untouched);
    Handles seq(kTied);
    EXPECT_EQ(krait_model_get_label(seq.model, 0, &out), KRAIT_ERR_WRONG_KIND);
    EXPECT_EQ(out, untouched);
}

TEST(ClassifierLoad, BadModelDirectoriesFailCleanly) {
    // Every broken ViT fixture (tests/fixtures/vit/bad) fails with a message and no model.
    size_t seen = 0;
    for (const auto& entry : fs::directory_iterator("tests/fixtures/vit/bad")) {
        if (!entry.is_directory()) continue;
        ++seen;
        krait_model* model = reinterpret_cast<krait_model*>(0x1);
        const krait_status s = krait_model_load(entry.path().c_str(), nullptr, &model);
        EXPECT_NE(s, KRAIT_OK) << entry.path();
        EXPECT_NE(s, KRAIT_ERR_INTERNAL) << entry.path() << ": " << last_error();
        EXPECT_FALSE(last_error().empty()) << entry.path();
        EXPECT_EQ(model, reinterpret_cast<krait_model*>(0x1));
    }
    EXPECT_GT(seen, 5u);
}

TEST(ClassifierSession, ParamsAreValidatedAndOldStructsWork) {
    krait_model* model = nullptr;
    ASSERT_EQ(krait_model_load(kVit.c_str(), nullptr, &model), KRAIT_OK) << last_error();
    krait_session_params p;
    krait_session_params_init(&p);
    EXPECT_EQ(p.max_image_pixels, KRAIT_DEFAULT_MAX_IMAGE_PIXELS);
    EXPECT_EQ(p.max_batch, 32);
    krait_session* session = reinterpret_cast<krait_session*>(0x1);
    p.max_image_pixels = 0;
    EXPECT_EQ(krait_session_create(model, &p, &session), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(last_error(), "max_image_pixels")) << last_error();
    krait_session_params_init(&p);
    p.max_batch = -1;
    EXPECT_EQ(krait_session_create(model, &p, &session), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(last_error(), "max_batch")) << last_error();
    EXPECT_EQ(session, reinterpret_cast<krait_session*>(0x1));
    // A 1.0 caller's struct (struct_size 8, garbage after it) gets the defaults.
    struct {
        uint32_t struct_size;
        int32_t n_threads;
        int64_t garbage[2];
    } old{8, 1, {-1, -1}};
    session = nullptr;
    ASSERT_EQ(krait_session_create(model, reinterpret_cast<const krait_session_params*>(&old), &session), KRAIT_OK)
        << last_error();
    krait_session_free(session);
    krait_model_free(model);
}

// ---- wrong kind ----------------------------------------------------------------------

TEST(ClassifierKind, SequenceCallsOnAClassifierAreRefused) {
    Handles h(kVit);
    int32_t ids[2] = {1, 2};
    float logits[512];
    size_t n = 77;
    EXPECT_EQ(krait_session_forward(h.session, ids, 1, 2, logits, 512, &n), KRAIT_ERR_WRONG_KIND);
    EXPECT_TRUE(mentions(last_error(), "krait_session_forward")) << last_error();
    EXPECT_EQ(n, 77u);
    EXPECT_EQ(krait_session_append(h.session, ids, 2, logits, 512), KRAIT_ERR_WRONG_KIND);
    EXPECT_EQ(krait_session_reset(h.session), KRAIT_ERR_WRONG_KIND);
    int32_t out[4];
    EXPECT_EQ(krait_session_generate(h.session, ids, 2, nullptr, out, 4, &n), KRAIT_ERR_WRONG_KIND);
    EXPECT_EQ(n, 77u);
    EXPECT_EQ(krait_session_set_threads(h.session, 1), KRAIT_OK);  // common to both kinds
}

TEST(ClassifierKind, ClassifierCallsOnASequenceModelAreRefused) {
    Handles h(kTied);
    std::vector<float> pixels(3 * 8 * 8, 0.0f);
    std::vector<float> logits(16, -3.0f);
    size_t n = 77;
    EXPECT_EQ(krait_session_classifier_forward(h.session, pixels.data(), 1, 8, 8, logits.data(), logits.size(), &n),
              KRAIT_ERR_WRONG_KIND);
    EXPECT_TRUE(mentions(last_error(), "krait_session_classifier_forward")) << last_error();
    EXPECT_EQ(n, 77u);
    EXPECT_EQ(logits[0], -3.0f);
    const std::string path = kSamples + "/rgb_37x53.png";
    const char* paths[] = {path.c_str()};
    krait_classification out[5] = {kSentinel, kSentinel, kSentinel, kSentinel, kSentinel};
    EXPECT_EQ(krait_session_classify_files(h.session, paths, 1, 5, out, 5, &n), KRAIT_ERR_WRONG_KIND);
    const std::string bytes = read_file(path);
    const void* data[] = {bytes.data()};
    const size_t sizes[] = {bytes.size()};
    EXPECT_EQ(krait_session_classify_encoded(h.session, data, sizes, 1, 5, out, 5, &n), KRAIT_ERR_WRONG_KIND);
    const uint8_t px[12] = {};
    krait_image im{sizeof(krait_image), px, 2, 2, 0, 3};
    EXPECT_EQ(krait_session_classify_pixels(h.session, &im, 1, 5, out, 5, &n), KRAIT_ERR_WRONG_KIND);
    EXPECT_EQ(n, 77u);
    EXPECT_EQ(out[0].label_id, -7);
}

// ---- forward on ready tensors --------------------------------------------------------

TEST(ClassifierForward, MatchesTransformersOnEveryFixture) {
    const auto manifest = nlohmann::json::parse(read_file("tests/fixtures/vit/manifest.json"));
    const float tolerance = 1e-5f;  // manifest: logits within 1e-5 * max(1, max |ref|)
    for (const auto& c : manifest["cases"]) {
        const std::string dir = "tests/fixtures/vit/" + c["name"].get<std::string>();
        SCOPED_TRACE(dir);
        Handles h(dir);
        std::vector<int64_t> shape;
        const auto pixels = read_tensor<float>(dir + "/expected.safetensors", "pixel_values", &shape);
        const auto want = read_tensor<float>(dir + "/expected.safetensors", "logits");
        ASSERT_EQ(shape.size(), 4u);
        size_t needed = 0;
        ASSERT_EQ(krait_session_classifier_forward(h.session, pixels.data(), shape[0], shape[2], shape[3], nullptr, 0,
                                                   &needed),
                  KRAIT_OK)
            << last_error();
        ASSERT_EQ(needed, want.size());
        std::vector<float> logits(needed);
        size_t n = 0;
        ASSERT_EQ(krait_session_classifier_forward(h.session, pixels.data(), shape[0], shape[2], shape[3],
                                                   logits.data(), logits.size(), &n),
                  KRAIT_OK)
            << last_error();
        EXPECT_EQ(n, needed);
        float worst = 0, scale = 1;
        for (size_t i = 0; i < want.size(); ++i) {
            worst = std::max(worst, std::fabs(logits[i] - want[i]));
            scale = std::max(scale, std::fabs(want[i]));
        }
        EXPECT_LE(worst, tolerance * scale);
    }
}

TEST(ClassifierForward, ErrorsAndBufferProtocol) {
    Handles h(kVit);
    std::vector<float> pixels(2 * 3 * 8 * 8, 0.25f);
    std::vector<float> logits(10, -3.0f);
    size_t n = 77;
    auto forward = [&](krait_session* s, const float* px, int64_t b, int64_t hh, int64_t ww, float* out, size_t cap,
                       size_t* n_out) { return krait_session_classifier_forward(s, px, b, hh, ww, out, cap, n_out); };
    EXPECT_EQ(forward(nullptr, pixels.data(), 2, 8, 8, logits.data(), 10, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(forward(h.session, nullptr, 2, 8, 8, logits.data(), 10, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(last_error(), "pixels")) << last_error();
    EXPECT_EQ(forward(h.session, pixels.data(), 2, 8, 8, logits.data(), 10, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(forward(h.session, pixels.data(), 0, 8, 8, logits.data(), 10, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(forward(h.session, pixels.data(), 2, -8, 8, logits.data(), 10, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(forward(h.session, pixels.data(), 2, 8, 0, logits.data(), 10, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(forward(h.session, pixels.data(), 2, 8, 8, nullptr, 10, &n), KRAIT_ERR_INVALID_ARGUMENT);
    // A size the model cannot run: not a multiple of the patch size (2).
    EXPECT_EQ(forward(h.session, pixels.data(), 1, 7, 8, logits.data(), 10, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(last_error(), "7")) << last_error();
    // Sizes whose product overflows are refused, not computed.
    EXPECT_EQ(forward(h.session, pixels.data(), int64_t(1) << 40, int64_t(1) << 20, int64_t(1) << 20, logits.data(),
                      10, &n),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(n, 77u);
    EXPECT_EQ(logits[0], -3.0f);
    // Buffer too small: status, size needed, nothing written.
    EXPECT_EQ(forward(h.session, pixels.data(), 2, 8, 8, logits.data(), 9, &n), KRAIT_ERR_BUFFER_TOO_SMALL);
    EXPECT_EQ(n, 10u);
    EXPECT_EQ(logits[0], -3.0f);
    EXPECT_TRUE(mentions(last_error(), "10")) << last_error();
    // Size query, then the call; larger inputs than trained (16 x 12) run too.
    n = 0;
    ASSERT_EQ(forward(h.session, pixels.data(), 2, 8, 8, nullptr, 0, &n), KRAIT_OK);
    EXPECT_EQ(n, 10u);
    ASSERT_EQ(forward(h.session, pixels.data(), 2, 8, 8, logits.data(), 10, &n), KRAIT_OK) << last_error();
    for (float v : logits) EXPECT_TRUE(std::isfinite(v));
    std::vector<float> big(3 * 16 * 12, 0.5f);
    ASSERT_EQ(forward(h.session, big.data(), 1, 16, 12, logits.data(), 10, &n), KRAIT_OK) << last_error();
    EXPECT_EQ(n, 5u);
}

// ---- classify: correctness -------------------------------------------------------------

class Classify : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = vit_with_preprocessing(kCase);
        for (const auto& s : kCaseSamples) paths_.push_back(kSamples + "/" + s);
        for (const auto& p : paths_) path_ptrs_.push_back(p.c_str());
    }

    // Reference: the fixture's HF-preprocessed tensors through classifier_forward, then softmax.
    std::vector<std::vector<double>> reference(krait_session* session) {
        std::vector<std::vector<double>> out;
        for (const auto& s : kCaseSamples) {
            std::vector<int64_t> shape;
            const auto px = read_tensor<float>(kImages + "/preprocess/expected.safetensors", kCase + "/" + s, &shape);
            std::vector<float> logits(5);
            size_t n = 0;
            EXPECT_EQ(krait_session_classifier_forward(session, px.data(), 1, shape[1], shape[2], logits.data(), 5, &n),
                      KRAIT_OK)
                << last_error();
            out.push_back(softmax(logits.data(), 5));
        }
        return out;
    }

    std::string dir_;
    std::vector<std::string> paths_;
    std::vector<const char*> path_ptrs_;
};

// Against HF's preprocessing the probabilities agree within 1e-3: Krait's
// resampling is within one uint8 level (1/255) of Pillow's on some pixels (the
// issue's allowance; the upscaled rgb_37x53.png has ~1600 such values at 48 x 48),
// which moves these logits by up to ~1e-4. Exact agreement of classify with
// forward + softmax is checked by PixelsMatchForwardPlusSoftmaxExactly.
constexpr double kProbTol = 1e-3;

TEST_F(Classify, PixelsMatchForwardPlusSoftmaxExactly) {
    // Images already at the model's input size (48 x 48): the resize is the
    // identity (as Pillow's), so the model input is HF's rescale + normalize,
    // computed here: float32(double(v) * (1/255)), then (x - 0.5) / 0.5. Random
    // RGB catches a wrong channel order or layout; gray and RGBA copies are
    // replicated / stripped to the same RGB.
    Handles h(dir_);
    constexpr int32_t S = 48;
    uint32_t seed = 12345;
    auto next = [&seed] { return static_cast<uint8_t>((seed = seed * 1664525u + 1013904223u) >> 24); };
    std::vector<std::vector<uint8_t>> rgb(3, std::vector<uint8_t>(S * S * 3));
    for (auto& im : rgb)
        for (auto& v : im) v = next();
    for (size_t p = 0; p < static_cast<size_t>(S * S); ++p)  // image 2 gray: R = G = B
        rgb[2][p * 3 + 1] = rgb[2][p * 3 + 2] = rgb[2][p * 3];
    std::vector<uint8_t> gray(S * S), rgba(S * S * 4);
    for (size_t p = 0; p < static_cast<size_t>(S * S); ++p) {
        gray[p] = rgb[2][p * 3];
        std::memcpy(&rgba[p * 4], &rgb[1][p * 3], 3);
        rgba[p * 4 + 3] = next();
    }
    // As given: RGB 0, RGBA (of 1), gray (of 2), RGB 2.
    const std::vector<krait_image> images = {{sizeof(krait_image), rgb[0].data(), S, S, 0, 3},
                                             {sizeof(krait_image), rgba.data(), S, S, 0, 4},
                                             {sizeof(krait_image), gray.data(), S, S, 0, 1},
                                             {sizeof(krait_image), rgb[2].data(), S, S, 0, 3}};
    const std::vector<size_t> source = {0, 1, 2, 2};

    std::vector<float> tensor(images.size() * 3 * S * S);
    for (size_t b = 0; b < images.size(); ++b)
        for (int c = 0; c < 3; ++c)
            for (size_t p = 0; p < static_cast<size_t>(S * S); ++p) {
                const float r = static_cast<float>(static_cast<double>(rgb[source[b]][p * 3 + c]) * (1.0 / 255.0));
                tensor[(b * 3 + c) * S * S + p] = (r - 0.5f) / 0.5f;
            }
    std::vector<float> logits(images.size() * 5);
    size_t n = 0;
    ASSERT_EQ(krait_session_classifier_forward(h.session, tensor.data(), static_cast<int64_t>(images.size()), S, S,
                                               logits.data(), logits.size(), &n),
              KRAIT_OK)
        << last_error();
    std::vector<krait_classification> out(images.size() * 5, kSentinel);
    ASSERT_EQ(krait_session_classify_pixels(h.session, images.data(), images.size(), 5, out.data(), out.size(), &n),
              KRAIT_OK)
        << last_error();
    ASSERT_EQ(n, images.size() * 5);
    for (size_t b = 0; b < images.size(); ++b) {
        const auto ref = softmax(logits.data() + b * 5, 5);
        expect_top_k(out.data() + b * 5, 5, ref, 1e-6, "image " + std::to_string(b));
        // The full order, ties (none here) aside: exactly the sorted reference.
        std::vector<int32_t> want = {0, 1, 2, 3, 4};
        std::stable_sort(want.begin(), want.end(), [&](int32_t a, int32_t c) { return ref[a] > ref[c]; });
        for (size_t r = 0; r < 5; ++r) EXPECT_EQ(out[b * 5 + r].label_id, want[r]) << "image " << b << " rank " << r;
    }
    // Images 2 and 3 are the same picture as gray and as RGB.
    for (size_t r = 0; r < 5; ++r) EXPECT_EQ(out[2 * 5 + r].label_id, out[3 * 5 + r].label_id);
}

TEST_F(Classify, FilesMatchForwardPlusSoftmaxOnHfPreprocessedTensors) {
    Handles h(dir_);
    const auto ref = reference(h.session);
    const size_t n = paths_.size();
    for (int32_t top_k : {1, 3, 5, 100}) {
        SCOPED_TRACE("top_k " + std::to_string(top_k));
        const size_t k = std::min<size_t>(static_cast<size_t>(top_k), 5);
        size_t needed = 0;
        ASSERT_EQ(krait_session_classify_files(h.session, path_ptrs_.data(), n, top_k, nullptr, 0, &needed), KRAIT_OK)
            << last_error();
        ASSERT_EQ(needed, n * k);
        std::vector<krait_classification> out(needed, kSentinel);
        size_t got = 0;
        ASSERT_EQ(krait_session_classify_files(h.session, path_ptrs_.data(), n, top_k, out.data(), out.size(), &got),
                  KRAIT_OK)
            << last_error();
        EXPECT_EQ(got, needed);
        for (size_t i = 0; i < n; ++i) {
            expect_top_k(out.data() + i * k, k, ref[i], kProbTol, paths_[i]);
            for (size_t r = 0; r < k; ++r) {
                const char* name = nullptr;
                ASSERT_EQ(krait_model_get_label(h.model, out[i * k + r].label_id, &name), KRAIT_OK);
                EXPECT_EQ(out[i * k + r].label, name);  // the model's own string: valid as long as the model
            }
        }
        if (k == 5)
            for (size_t i = 0; i < n; ++i) {
                double sum = 0;
                for (size_t r = 0; r < k; ++r) sum += out[i * k + r].probability;
                EXPECT_NEAR(sum, 1.0, 1e-5);
            }
    }
}

TEST_F(Classify, EncodedAndPixelInputsAgreeWithFiles) {
    Handles h(dir_);
    const size_t n = paths_.size();
    std::vector<krait_classification> from_files(n * 5);
    size_t got = 0;
    ASSERT_EQ(krait_session_classify_files(h.session, path_ptrs_.data(), n, 5, from_files.data(), n * 5, &got),
              KRAIT_OK)
        << last_error();

    // The same bytes from memory: the same decode, the same batch: identical results.
    std::vector<std::string> bytes;
    std::vector<const void*> data;
    std::vector<size_t> sizes;
    for (const auto& p : paths_) bytes.push_back(read_file(p));
    for (const auto& b : bytes) {
        data.push_back(b.data());
        sizes.push_back(b.size());
    }
    std::vector<krait_classification> from_bytes(n * 5);
    ASSERT_EQ(krait_session_classify_encoded(h.session, data.data(), sizes.data(), n, 5, from_bytes.data(), n * 5, &got),
              KRAIT_OK)
        << last_error();
    for (size_t i = 0; i < n * 5; ++i) {
        EXPECT_EQ(from_bytes[i].label_id, from_files[i].label_id) << i;
        EXPECT_EQ(from_bytes[i].probability, from_files[i].probability) << i;
    }

    // PIL's decoded RGB (tests/fixtures/images/decoded.safetensors) as raw pixels,
    // in a padded buffer (row_stride > width * 3) for the first image, and as
    // RGBA / gray copies: the PNGs are lossless, so the results are identical.
    std::vector<std::vector<uint8_t>> buffers;
    std::vector<krait_image> images;
    for (size_t i = 0; i < n; ++i) {
        std::vector<int64_t> shape;
        const auto rgb = read_tensor<uint8_t>(kImages + "/decoded.safetensors", kCaseSamples[i], &shape);
        const int32_t hgt = static_cast<int32_t>(shape[0]), wid = static_cast<int32_t>(shape[1]);
        krait_image im{sizeof(krait_image), nullptr, wid, hgt, 0, 3};
        if (i == 0) {  // padded rows
            const int64_t stride = wid * 3 + 5;
            std::vector<uint8_t> padded(static_cast<size_t>(stride * hgt), 0xee);
            for (int32_t y = 0; y < hgt; ++y)
                std::memcpy(padded.data() + y * stride, rgb.data() + static_cast<size_t>(y) * wid * 3,
                            static_cast<size_t>(wid) * 3);
            buffers.push_back(std::move(padded));
            im.row_stride = stride;
        } else if (i == 3) {  // RGBA with an alpha that must be ignored
            std::vector<uint8_t> rgba(static_cast<size_t>(wid) * hgt * 4);
            for (size_t p = 0; p < static_cast<size_t>(wid) * hgt; ++p) {
                std::memcpy(&rgba[p * 4], &rgb[p * 3], 3);
                rgba[p * 4 + 3] = static_cast<uint8_t>(p * 37);
            }
            buffers.push_back(std::move(rgba));
            im.channels = 4;
        } else if (kCaseSamples[i].rfind("gray", 0) == 0) {  // R = G = B: one channel
            std::vector<uint8_t> gray(static_cast<size_t>(wid) * hgt);
            for (size_t p = 0; p < gray.size(); ++p) gray[p] = rgb[p * 3];
            buffers.push_back(std::move(gray));
            im.channels = 1;
        } else {
            buffers.push_back(rgb);
        }
        images.push_back(im);
    }
    for (size_t i = 0; i < n; ++i) images[i].pixels = buffers[i].data();
    std::vector<krait_classification> from_pixels(n * 5);
    ASSERT_EQ(krait_session_classify_pixels(h.session, images.data(), n, 5, from_pixels.data(), n * 5, &got), KRAIT_OK)
        << last_error();
    for (size_t i = 0; i < n * 5; ++i) {
        EXPECT_EQ(from_pixels[i].label_id, from_files[i].label_id) << i;
        EXPECT_EQ(from_pixels[i].probability, from_files[i].probability) << i;
    }
}

TEST_F(Classify, BatchSizeDoesNotChangeResults) {
    // The images run in passes of max_batch: 1 (one per pass), 3 (a full and a
    // partial pass) and 0 (all at once) agree within float rounding of the GEMMs.
    std::vector<std::vector<krait_classification>> results;
    for (int32_t max_batch : {1, 3, 0}) {
        krait_session_params p;
        krait_session_params_init(&p);
        p.max_batch = max_batch;
        p.n_threads = 2;
        Handles h(dir_, &p);
        std::vector<krait_classification> out(paths_.size() * 5);
        size_t got = 0;
        ASSERT_EQ(krait_session_classify_files(h.session, path_ptrs_.data(), paths_.size(), 5, out.data(), out.size(), &got),
                  KRAIT_OK)
            << last_error();
        results.push_back(out);
    }
    for (size_t b = 1; b < results.size(); ++b)
        for (size_t i = 0; i < results[0].size(); ++i) {
            EXPECT_EQ(results[b][i].label_id, results[0][i].label_id) << i;
            EXPECT_NEAR(results[b][i].probability, results[0][i].probability, 1e-6) << i;
        }
}

TEST_F(Classify, EveryDecodableSampleClassifies) {
    // All committed samples (GIF, BMP, JPEG, gray, palette, alpha) in one call.
    Handles h(dir_);
    std::vector<std::string> all;
    for (const auto& e : fs::directory_iterator(kSamples)) all.push_back(e.path().string());
    std::sort(all.begin(), all.end());
    std::vector<const char*> ptrs;
    for (const auto& p : all) ptrs.push_back(p.c_str());
    std::vector<krait_classification> out(all.size() * 2, kSentinel);
    size_t got = 0;
    ASSERT_EQ(krait_session_classify_files(h.session, ptrs.data(), ptrs.size(), 2, out.data(), out.size(), &got),
              KRAIT_OK)
        << last_error();
    EXPECT_EQ(got, all.size() * 2);
    for (const auto& c : out) {
        EXPECT_GE(c.label_id, 0);
        EXPECT_LT(c.label_id, 5);
        EXPECT_GT(c.probability, 0.0f);
        EXPECT_LE(c.probability, 1.0f);
        EXPECT_NE(c.label, nullptr);
    }
}

TEST_F(Classify, SessionsOnOneModelRunConcurrently) {
    // The model is shared and immutable (krait.h): two threads, one session each,
    // classify at the same time and get what one session gets alone.
    krait_model* model = nullptr;
    ASSERT_EQ(krait_model_load(dir_.c_str(), nullptr, &model), KRAIT_OK) << last_error();
    krait_session_params p;
    krait_session_params_init(&p);
    p.n_threads = 2;
    auto run = [&](std::vector<krait_classification>& out, krait_status& status) {
        krait_session* s = nullptr;
        status = krait_session_create(model, &p, &s);
        if (status != KRAIT_OK) return;
        out.assign(paths_.size() * 5, kSentinel);
        size_t n = 0;
        for (int rep = 0; rep < 3 && status == KRAIT_OK; ++rep)
            status = krait_session_classify_files(s, path_ptrs_.data(), paths_.size(), 5, out.data(), out.size(), &n);
        krait_session_free(s);
    };
    std::vector<krait_classification> alone, a, b;
    krait_status s_alone, s_a, s_b;
    run(alone, s_alone);
    ASSERT_EQ(s_alone, KRAIT_OK);
    std::thread ta([&] { run(a, s_a); });
    std::thread tb([&] { run(b, s_b); });
    ta.join();
    tb.join();
    ASSERT_EQ(s_a, KRAIT_OK);
    ASSERT_EQ(s_b, KRAIT_OK);
    for (size_t i = 0; i < alone.size(); ++i) {
        EXPECT_EQ(a[i].label_id, alone[i].label_id);
        EXPECT_EQ(a[i].probability, alone[i].probability);
        EXPECT_EQ(b[i].label_id, alone[i].label_id);
        EXPECT_EQ(b[i].probability, alone[i].probability);
    }
    krait_model_free(model);
}

// ---- classify: errors ------------------------------------------------------------------

TEST_F(Classify, ArgumentErrorsLeaveOutputsUntouched) {
    Handles h(dir_);
    std::vector<krait_classification> out(20, kSentinel);
    size_t n = 77;
    const char* const* paths = path_ptrs_.data();
    EXPECT_EQ(krait_session_classify_files(nullptr, paths, 1, 5, out.data(), 20, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_classify_files(h.session, nullptr, 1, 5, out.data(), 20, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_classify_files(h.session, paths, 1, 5, out.data(), 20, nullptr), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_classify_files(h.session, paths, 0, 5, out.data(), 20, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_classify_files(h.session, paths, 1, 0, out.data(), 20, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(last_error(), "top_k")) << last_error();
    EXPECT_EQ(krait_session_classify_files(h.session, paths, 1, -3, out.data(), 20, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_classify_files(h.session, paths, 1, 5, nullptr, 20, &n), KRAIT_ERR_INVALID_ARGUMENT);
    const char* with_null[] = {paths[0], nullptr};
    EXPECT_EQ(krait_session_classify_files(h.session, with_null, 2, 5, out.data(), 20, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(last_error(), "paths[1]")) << last_error();
    const void* data[] = {nullptr};
    const size_t sizes[] = {10};
    EXPECT_EQ(krait_session_classify_encoded(h.session, nullptr, sizes, 1, 5, out.data(), 20, &n),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_classify_encoded(h.session, data, nullptr, 1, 5, out.data(), 20, &n),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_classify_encoded(h.session, data, sizes, 1, 5, out.data(), 20, &n),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(last_error(), "data[0]")) << last_error();
    EXPECT_EQ(krait_session_classify_pixels(h.session, nullptr, 1, 5, out.data(), 20, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(n, 77u);
    for (const auto& c : out) EXPECT_EQ(c.label_id, -7);
}

TEST_F(Classify, BufferTooSmallWritesNothingAndReportsTheSize) {
    Handles h(dir_);
    std::vector<krait_classification> out(7, kSentinel);
    size_t n = 0;
    EXPECT_EQ(krait_session_classify_files(h.session, path_ptrs_.data(), 4, 2, out.data(), 7, &n),
              KRAIT_ERR_BUFFER_TOO_SMALL);
    EXPECT_EQ(n, 8u);
    EXPECT_TRUE(mentions(last_error(), "8")) << last_error();
    for (const auto& c : out) EXPECT_EQ(c.label_id, -7);
}

TEST_F(Classify, BadImageFilesAndBytesFailWithTheirStatus) {
    Handles h(dir_);
    const auto manifest = nlohmann::json::parse(read_file(kImages + "/manifest.json"));
    const std::map<std::string, krait_status> by_name = {{"FORMAT", KRAIT_ERR_FORMAT},
                                                         {"INVALID_ARGUMENT", KRAIT_ERR_INVALID_ARGUMENT},
                                                         {"UNSUPPORTED", KRAIT_ERR_UNSUPPORTED},
                                                         {"IO", KRAIT_ERR_IO}};
    ASSERT_FALSE(manifest["bad"].empty());
    for (const auto& [file, status_name] : manifest["bad"].items()) {
        SCOPED_TRACE(file);
        const krait_status want = by_name.at(status_name.get<std::string>());
        // The bad image second, after a good one: the error names image 1, and
        // nothing is written although image 0 was fine.
        const std::string bad = kImages + "/bad/" + file;
        const char* paths[] = {path_ptrs_[1], bad.c_str()};
        std::vector<krait_classification> out(10, kSentinel);
        size_t n = 77;
        EXPECT_EQ(krait_session_classify_files(h.session, paths, 2, 5, out.data(), 10, &n), want);
        EXPECT_TRUE(mentions(last_error(), "image 1")) << last_error();
        EXPECT_EQ(n, 77u);
        EXPECT_EQ(out[0].label_id, -7);

        const std::string good_bytes = read_file(paths_[1]), bad_bytes = read_file(bad);
        if (bad_bytes.empty()) {
            // An empty buffer is caught before decoding (sizes[1] == 0).
            const void* data[] = {good_bytes.data(), good_bytes.data()};
            const size_t sizes[] = {good_bytes.size(), 0};
            EXPECT_EQ(krait_session_classify_encoded(h.session, data, sizes, 2, 5, out.data(), 10, &n),
                      KRAIT_ERR_INVALID_ARGUMENT);
        } else {
            const void* data[] = {good_bytes.data(), bad_bytes.data()};
            const size_t sizes[] = {good_bytes.size(), bad_bytes.size()};
            EXPECT_EQ(krait_session_classify_encoded(h.session, data, sizes, 2, 5, out.data(), 10, &n), want);
        }
        EXPECT_TRUE(mentions(last_error(), "image 1")) << last_error();
        EXPECT_EQ(n, 77u);
        EXPECT_EQ(out[0].label_id, -7);
    }
    // A missing file: IO, naming the path.
    const char* missing[] = {"tests/fixtures/images/no-such-image.png"};
    size_t n = 77;
    krait_classification out[5];
    EXPECT_EQ(krait_session_classify_files(h.session, missing, 1, 5, out, 5, &n), KRAIT_ERR_IO);
    EXPECT_TRUE(mentions(last_error(), "no-such-image.png")) << last_error();
}

TEST_F(Classify, ImagesAboveMaxImagePixelsAreRefused) {
    krait_session_params p;
    krait_session_params_init(&p);
    p.max_image_pixels = 300 * 199 - 1;  // one pixel short of the photo
    Handles h(dir_, &p);
    const std::string photo = kSamples + "/photo_300x199.png";
    const char* paths[] = {photo.c_str()};
    std::vector<krait_classification> out(5, kSentinel);
    size_t n = 77;
    EXPECT_EQ(krait_session_classify_files(h.session, paths, 1, 5, out.data(), 5, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(last_error(), std::to_string(300 * 199 - 1))) << last_error();
    const std::string bytes = read_file(photo);
    const void* data[] = {bytes.data()};
    const size_t sizes[] = {bytes.size()};
    EXPECT_EQ(krait_session_classify_encoded(h.session, data, sizes, 1, 5, out.data(), 5, &n),
              KRAIT_ERR_INVALID_ARGUMENT);
    std::vector<uint8_t> px(300 * 199 * 3, 128);
    krait_image im{sizeof(krait_image), px.data(), 300, 199, 0, 3};
    EXPECT_EQ(krait_session_classify_pixels(h.session, &im, 1, 5, out.data(), 5, &n), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions(last_error(), "max_image_pixels")) << last_error();
    EXPECT_EQ(n, 77u);
    EXPECT_EQ(out[0].label_id, -7);
    // One pixel fewer passes.
    im.height = 198;
    ASSERT_EQ(krait_session_classify_pixels(h.session, &im, 1, 5, out.data(), 5, &n), KRAIT_OK) << last_error();
    EXPECT_EQ(n, 5u);
}

TEST_F(Classify, BadPixelDescriptionsAreRefused) {
    Handles h(dir_);
    std::vector<uint8_t> px(64 * 64 * 4, 9);
    const krait_image good{sizeof(krait_image), px.data(), 16, 12, 0, 3};
    struct Case {
        const char* what;
        krait_image image;
        const char* mention;
    };
    std::vector<Case> cases;
    auto with = [&](auto change) {
        krait_image im = good;
        change(im);
        return im;
    };
    cases.push_back({"struct_size 0", with([](krait_image& im) { im.struct_size = 0; }), "struct_size"});
    cases.push_back({"pixels NULL", with([](krait_image& im) { im.pixels = nullptr; }), "pixels"});
    cases.push_back({"width 0", with([](krait_image& im) { im.width = 0; }), "width"});
    cases.push_back({"height -1", with([](krait_image& im) { im.height = -1; }), "height"});
    cases.push_back({"channels 2", with([](krait_image& im) { im.channels = 2; }), "channels"});
    cases.push_back({"row_stride too small", with([](krait_image& im) { im.row_stride = 16 * 3 - 1; }), "row_stride"});
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        // The bad one second: the message names image 1.
        const krait_image images[] = {good, c.image};
        std::vector<krait_classification> out(10, kSentinel);
        size_t n = 77;
        if (c.image.struct_size == 0) {
            // struct_size is read from images[0] as the array's stride.
            const krait_image first_bad[] = {c.image, good};
            EXPECT_EQ(krait_session_classify_pixels(h.session, first_bad, 2, 5, out.data(), 10, &n),
                      KRAIT_ERR_INVALID_ARGUMENT);
        } else {
            EXPECT_EQ(krait_session_classify_pixels(h.session, images, 2, 5, out.data(), 10, &n),
                      KRAIT_ERR_INVALID_ARGUMENT);
            EXPECT_TRUE(mentions(last_error(), "image 1")) << last_error();
        }
        EXPECT_TRUE(mentions(last_error(), c.mention)) << last_error();
        EXPECT_EQ(n, 77u);
        EXPECT_EQ(out[0].label_id, -7);
    }
}

// ---- the C++ layer ------------------------------------------------------------------------

TEST_F(Classify, CppWrapperClassifiesAndThrows) {
    const krait::Model model = krait::Model::load(dir_);
    EXPECT_EQ(model.labels(), (std::vector<std::string>{"cat_0", "dog_1", "heron_2", "newt_3", "otter_4"}));
    krait::Session session(model, 1);
    const krait::Classifications got = session.classify_files(paths_, 3);
    ASSERT_EQ(got.size(), paths_.size());
    const auto ref = reference(session.get());
    for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i].size(), 3u);
        for (const auto& c : got[i]) {
            EXPECT_NEAR(c.probability, ref[i][static_cast<size_t>(c.label_id)], kProbTol);
            EXPECT_EQ(c.label, model.label(c.label_id));
        }
    }
    const std::string bytes = read_file(paths_[0]);
    const auto from_bytes = session.classify_encoded({bytes}, 3);
    ASSERT_EQ(from_bytes.size(), 1u);
    EXPECT_EQ(from_bytes[0][0].label_id, got[0][0].label_id);
    std::vector<float> pixels(3 * 8 * 8, 0.1f);
    EXPECT_EQ(session.classifier_forward(pixels.data(), 1, 8, 8).size(), 5u);
    try {
        session.classify_files({"tests/fixtures/images/bad/garbage.png"});
        ADD_FAILURE() << "no exception";
    } catch (const krait::Exception& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_FORMAT);
        EXPECT_TRUE(mentions(e.what(), "image 0")) << e.what();
    }
    try {
        session.reset();
        ADD_FAILURE() << "no exception";
    } catch (const krait::Exception& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_WRONG_KIND);
    }
}

}  // namespace
