// The model-family registry (sdk/models/registry.h) and the LanguageModel
// interface's sequence states (sdk/models/language_model.h), on Mamba.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "sdk/core/error.h"
#include "sdk/models/mamba.h"
#include "sdk/models/registry.h"

namespace {

namespace fs = std::filesystem;
using krait::LanguageModel;

// A scratch model directory holding only the given config.json text.
class ConfigDir {
public:
    explicit ConfigDir(const std::string& config) {
        dir_ = fs::temp_directory_path() / ("krait-registry-" + std::to_string(::getpid()) + "-" + std::to_string(next_++));
        fs::create_directories(dir_);
        std::ofstream(dir_ / "config.json") << config;
    }
    ~ConfigDir() { fs::remove_all(dir_); }
    std::string path() const { return dir_.string(); }

private:
    fs::path dir_;
    static inline int next_ = 0;
};

krait::Error error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const krait::Error& e) {
        return e;
    }
    ADD_FAILURE() << "no error";
    return krait::Error(KRAIT_OK, "");
}

TEST(Registry, EveryModelTypeBelongsToOneFamily) {
    std::set<std::string> seen;
    for (const auto& f : krait::model_families()) {
        EXPECT_FALSE(f.name.empty());
        // A family reads config.json model_types, or single files it claims (ONNX graphs), or both.
        EXPECT_TRUE(!f.model_types.empty() || f.claims_file) << f.name;
        for (const auto& t : f.model_types) EXPECT_TRUE(seen.insert(t).second) << t << " registered twice";
        if (f.load_image_encoder) {
            // An encoder-only family (a CLIP tower) serves no session kind: it has no session loader.
            EXPECT_FALSE(f.load_language_model || f.load_classifier || f.load_assistant) << f.name;
            continue;
        }
        if (f.kind == KRAIT_MODEL_SEQUENCE) {
            EXPECT_TRUE(f.load_language_model) << f.name;
        }
        if (f.kind == KRAIT_MODEL_CLASSIFIER) {
            EXPECT_TRUE(f.load_classifier) << f.name;
            EXPECT_TRUE(f.load_preprocess) << f.name;
        }
        if (f.kind == KRAIT_MODEL_ASSISTANT) {
            EXPECT_TRUE(f.load_assistant) << f.name;
        }
    }
    for (const char* t : {"mamba", "llama", "mistral", "qwen2", "vit", "mambavision", "llava", "krait_assistant",
                          "clip_vision_model", "siglip_vision_model"})
        EXPECT_TRUE(seen.count(t)) << t;
}

TEST(Registry, OnnxFilesGoToTheOnnxFamily) {
    EXPECT_EQ(krait::family_for_path("tests/fixtures/onnx/models/resnet_torchscript_opset17/model.onnx").name, "onnx");
    EXPECT_EQ(krait::family_for_path("tests/fixtures/vit/f32_base").name, "vit");
    try {
        krait::family_for_path("tests/fixtures/images/samples/photo_300x199.png");
        FAIL() << "a PNG was taken for a model";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_UNSUPPORTED);
    }
    try {
        krait::family_for_path("tests/fixtures/no/such/model.onnx");
        FAIL() << "a missing path was accepted";
    } catch (const krait::Error& e) {
        EXPECT_EQ(e.status(), KRAIT_ERR_IO);
    }
}

TEST(Registry, FindsTheFamilyOfEachFixture) {
    EXPECT_EQ(krait::family_for_dir("tests/fixtures/mamba/f32_tied").name, "mamba");
    EXPECT_EQ(krait::family_for_dir("tests/fixtures/mamba/original_layout").name, "mamba");  // no model_type: d_model
    EXPECT_EQ(krait::family_for_dir("tests/fixtures/vit/f32_base").name, "vit");
    EXPECT_EQ(krait::family_for_dir("models/mambavision-digits").kind, KRAIT_MODEL_CLASSIFIER);
}

TEST(Registry, RefusesWhatNoFamilyReads) {
    ConfigDir unknown(R"({"model_type": "mamba3"})");
    auto e = error_of([&] { krait::family_for_dir(unknown.path()); });
    EXPECT_EQ(e.status(), KRAIT_ERR_UNSUPPORTED);
    const std::string m = e.what();
    EXPECT_NE(m.find("'mamba3'"), std::string::npos) << m;
    EXPECT_NE(m.find("mambavision"), std::string::npos) << m;  // lists what this build reads

    ConfigDir untyped(R"({"hidden_size": 8})");
    e = error_of([&] { krait::family_for_dir(untyped.path()); });
    EXPECT_EQ(e.status(), KRAIT_ERR_FORMAT);
    EXPECT_NE(std::string(e.what()).find("model_type"), std::string::npos) << e.what();

    ConfigDir not_string(R"({"model_type": 7})");
    EXPECT_EQ(error_of([&] { krait::family_for_dir(not_string.path()); }).status(), KRAIT_ERR_FORMAT);
    ConfigDir not_json("{model_type: mamba");
    EXPECT_EQ(error_of([&] { krait::family_for_dir(not_json.path()); }).status(), KRAIT_ERR_FORMAT);
    EXPECT_EQ(error_of([&] { krait::family_for_dir("tests/fixtures/does_not_exist"); }).status(), KRAIT_ERR_IO);
}

// Prefill, snapshot, continue; then restore the snapshot and continue again:
// the same logits, bit for bit, and the token counts follow.
TEST(SequenceState, SnapshotRestoreGivesTheSameContinuation) {
    auto model = krait::MambaModel::load("tests/fixtures/mamba/f32_untied_odd");
    const LanguageModel& lm = *model;
    krait::ThreadPool pool(2);
    auto ws = lm.new_workspace();
    auto state = lm.new_state(lm.default_context_length());
    const int64_t V = lm.vocab_size();
    std::vector<int32_t> prompt = {1, 5, 9, 2, 7, 3};
    std::vector<float> first(V), second(V);
    lm.prefill(prompt.data(), 4, *state, nullptr, pool, *ws, nullptr, nullptr);
    EXPECT_EQ(state->n_tokens(), 4);
    const auto snap = state->snapshot();
    lm.prefill(prompt.data() + 4, 2, *state, first.data(), pool, *ws, nullptr, nullptr);
    EXPECT_EQ(state->n_tokens(), 6);
    state->restore(*snap);
    EXPECT_EQ(state->n_tokens(), 4);
    lm.prefill(prompt.data() + 4, 2, *state, second.data(), pool, *ws, nullptr, nullptr);
    EXPECT_EQ(first, second);

    // One decode step equals the last row of a full forward.
    std::vector<float> step(V), full(V * 7);
    lm.decode_step(11, *state, step.data(), pool, *ws, nullptr);
    std::vector<int32_t> all = prompt;
    all.push_back(11);
    auto fresh = lm.new_state(7);
    krait::SequenceState* f = fresh.get();
    lm.eval(all.data(), 1, 7, &f, LanguageModel::Logits::All, full.data(), pool, *ws, nullptr, nullptr);
    for (int64_t v = 0; v < V; ++v) EXPECT_NEAR(step[v], full[6 * V + v], 1e-5f * std::max(1.0f, std::abs(full[6 * V + v])));
}

TEST(SequenceState, RecurrentStateTruncatesOnlyToItsEnds) {
    auto model = krait::MambaModel::load("tests/fixtures/mamba/f32_tied");
    krait::ThreadPool pool(1);
    auto ws = model->new_workspace();
    auto state = static_cast<const LanguageModel&>(*model).new_state(16);
    EXPECT_EQ(state->capacity(), -1);
    std::vector<int32_t> ids = {3, 4, 5};
    model->prefill(ids.data(), 3, *state, nullptr, pool, *ws, nullptr, nullptr);
    state->truncate(3);  // no-op
    EXPECT_EQ(state->n_tokens(), 3);
    EXPECT_EQ(error_of([&] { state->truncate(1); }).status(), KRAIT_ERR_UNSUPPORTED);
    EXPECT_EQ(error_of([&] { state->truncate(4); }).status(), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(state->n_tokens(), 3);
    state->truncate(0);
    EXPECT_EQ(state->n_tokens(), 0);
}

TEST(SequenceState, AStateOfAnotherModelIsRefused) {
    auto small = krait::MambaModel::load("tests/fixtures/mamba/f32_tied");
    auto other = krait::MambaModel::load("tests/fixtures/mamba/f32_untied_odd");
    auto a = static_cast<const LanguageModel&>(*small).new_state(8);
    auto b = static_cast<const LanguageModel&>(*other).new_state(8);
    // Same family, other sizes: restore names the mismatch.
    EXPECT_EQ(error_of([&] { a->restore(*b); }).status(), KRAIT_ERR_INVALID_ARGUMENT);
    // Another kind of state entirely: a minimal foreign implementation.
    struct Foreign final : krait::SequenceState {
        int64_t capacity() const override { return 0; }
        void reset() override {}
        std::unique_ptr<SequenceState> snapshot() const override { return std::make_unique<Foreign>(); }
        void restore(const SequenceState&) override {}
        void truncate(int64_t) override {}
        size_t bytes() const override { return 0; }
        void export_data(std::vector<float>&) const override {}
        void import_data(const float*, size_t, int64_t) override {}
    } foreign;
    EXPECT_EQ(error_of([&] { a->restore(foreign); }).status(), KRAIT_ERR_INVALID_ARGUMENT);
    krait::ThreadPool pool(1);
    auto ws = small->new_workspace();
    int32_t id = 1;
    krait::SequenceState* s = &foreign;
    std::vector<float> logits(static_cast<size_t>(small->vocab_size()));
    EXPECT_EQ(error_of([&] {
                  static_cast<const LanguageModel&>(*small).eval(&id, 1, 1, &s, LanguageModel::Logits::Last,
                                                                 logits.data(), pool, *ws, nullptr, nullptr);
              }).status(),
              KRAIT_ERR_INVALID_ARGUMENT);
}

}  // namespace
