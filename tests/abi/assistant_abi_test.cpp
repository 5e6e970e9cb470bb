// The assistant C ABI (since 1.5) on the tiny LLaVA checkpoints of tools/gen_llava_fixtures.py,
// against transformers' outputs stored with them: forward logits (1e-5 relative, as the SDK
// conformance test), projected image features, greedy continuations after a prompt with an image
// (exact), the image processor's output (1e-6: the same Pillow-exact resize, float32 rounding of
// rescale/normalize), and bad input: wrong image counts and sizes, wrong kinds, NULLs, a context
// with images saved to a file; the session usable after each refusal.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "krait/krait.h"
#include "tests/abi/demo_handles.h"
#include "tests/common/reference_tensors.h"

namespace {

using krait::testing::read_tensor;
using krait_test::Model;
using krait_test::Session;

std::string fixture(const std::string& relative) { return "tests/fixtures/" + relative; }

// A case's expected.safetensors (transformers' outputs).
struct Expected {
    explicit Expected(const std::string& dir) : file(dir + "/expected.safetensors") {}
    template <class T>
    std::vector<T> values(const std::string& name, std::vector<int64_t>* shape = nullptr) const {
        return read_tensor<T>(file, name, shape);
    }
    std::string file;
};

// max |got - want| <= rel * max(1, max |want|).
::testing::AssertionResult all_close(const float* got, const std::vector<float>& want, float rel) {
    float scale = 1.0f, worst = 0.0f;
    for (float w : want) scale = std::max(scale, std::fabs(w));
    for (size_t i = 0; i < want.size(); ++i) {
        if (!std::isfinite(got[i])) return ::testing::AssertionFailure() << "non-finite value at " << i;
        worst = std::max(worst, std::fabs(got[i] - want[i]));
    }
    if (worst <= rel * scale) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "max difference " << worst << ", allowed " << rel * scale;
}

const char* const kCases[] = {"llava_clip_llama", "llava_legacy", "llava_layers_full", "llava_siglip_qwen2"};
const std::string kPhoto = fixture("images/samples/photo_300x199.png");

krait_model_info info_of(const krait_model* m) {
    krait_model_info info{};
    info.struct_size = sizeof info;
    EXPECT_EQ(krait_model_get_info(m, &info), KRAIT_OK);
    return info;
}

std::vector<int32_t> greedy(krait_session* s, int32_t n) {
    krait_generate_params gp;
    krait_generate_params_init(&gp);
    gp.max_new_tokens = n;
    gp.stop_at_eos = 0;
    gp.sampling.temperature = 0.0f;
    std::vector<int32_t> out(static_cast<size_t>(n));
    size_t got = 0;
    EXPECT_EQ(krait_session_generate(s, nullptr, 0, &gp, out.data(), out.size(), &got), KRAIT_OK) << krait_last_error();
    out.resize(got);
    return out;
}

class AssistantAbi : public ::testing::TestWithParam<const char*> {
protected:
    std::string dir() const { return fixture(std::string("llava/") + GetParam()); }
};

TEST_P(AssistantAbi, ForwardLogitsMatchTransformers) {
    Model m(dir().c_str());
    Session s(m.model);
    const Expected e(dir());
    std::vector<int64_t> ids_shape, px;
    const auto ids = e.values<int32_t>("input_ids", &ids_shape);
    const int64_t B = ids_shape[0], L = ids_shape[1];
    const auto pixels = e.values<float>("pixel_values", &px);
    const auto want = e.values<float>("logits");
    size_t n = 0;
    ASSERT_EQ(krait_session_assistant_forward(s.session, ids.data(), B, L, pixels.data(), px[0], px[2],
                                              px[3], nullptr, 0, &n),
              KRAIT_OK);  // size query
    ASSERT_EQ(n, want.size());
    std::vector<float> got(n);
    ASSERT_EQ(krait_session_assistant_forward(s.session, ids.data(), B, L, pixels.data(), px[0], px[2],
                                              px[3], got.data(), got.size(), &n),
              KRAIT_OK)
        << krait_last_error();
    EXPECT_TRUE(all_close(got.data(), want, 1e-5f));
}

TEST_P(AssistantAbi, GreedyAfterAPromptWithAnImageMatchesTransformers) {
    Model m(dir().c_str());
    Session s(m.model);
    const Expected e(dir());
    const auto prompt = e.values<int32_t>("prompt");
    const auto want = e.values<int32_t>("greedy");
    std::vector<int64_t> px;
    const auto pixels = e.values<float>("pixel_values", &px);  // image 0 is the prompt's
    ASSERT_EQ(krait_session_append_images(s.session, prompt.data(), prompt.size(), pixels.data(), 1, px[2],
                                          px[3], nullptr, 0),
              KRAIT_OK)
        << krait_last_error();
    EXPECT_EQ(greedy(s.session, static_cast<int32_t>(want.size())), want);

    // A snapshot keeps the image rows: restored, the same continuation again.
    ASSERT_EQ(krait_session_reset(s.session), KRAIT_OK);
    ASSERT_EQ(krait_session_append_images(s.session, prompt.data(), prompt.size(), pixels.data(), 1, px[2],
                                          px[3], nullptr, 0),
              KRAIT_OK);
    krait_state* snap = nullptr;
    ASSERT_EQ(krait_session_snapshot(s.session, &snap), KRAIT_OK);
    greedy(s.session, 3);
    ASSERT_EQ(krait_session_restore(s.session, snap), KRAIT_OK);
    krait_state_free(snap);
    EXPECT_EQ(greedy(s.session, static_cast<int32_t>(want.size())), want);
}

TEST_P(AssistantAbi, EncodedImagesAreTheProjectedFeatures) {
    Model m(dir().c_str());
    Session s(m.model);
    const Expected e(dir());
    std::vector<int64_t> px;
    const auto pixels = e.values<float>("pixel_values", &px);
    const auto want = e.values<float>("features");
    std::vector<float> got(want.size());
    size_t n = 0;
    ASSERT_EQ(krait_session_encode_images(s.session, pixels.data(), px[0], px[2], px[3], got.data(),
                                          got.size(), &n),
              KRAIT_OK)
        << krait_last_error();
    EXPECT_EQ(n, want.size());
    EXPECT_TRUE(all_close(got.data(), want, 1e-5f));
}

TEST_P(AssistantAbi, ImagesArePreprocessedAsTransformersProcessorDoes) {
    Model m(dir().c_str());
    const Expected e(dir());
    const auto want = e.values<float>("processed");
    size_t n = 0;
    ASSERT_EQ(krait_model_preprocess_image_file(m.model, kPhoto.c_str(), nullptr, 0, &n), KRAIT_OK);
    ASSERT_EQ(n, want.size());
    std::vector<float> from_file(n), from_bytes(n);
    ASSERT_EQ(krait_model_preprocess_image_file(m.model, kPhoto.c_str(), from_file.data(), n, &n), KRAIT_OK)
        << krait_last_error();
    float worst = 0.0f;
    for (size_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(from_file[i] - want[i]));
    EXPECT_LE(worst, 1e-6f);
    std::ifstream f(kPhoto, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    ASSERT_EQ(krait_model_preprocess_image_encoded(m.model, bytes.data(), bytes.size(), from_bytes.data(), n, &n),
              KRAIT_OK);
    EXPECT_EQ(from_bytes, from_file);
}

INSTANTIATE_TEST_SUITE_P(Cases, AssistantAbi, ::testing::ValuesIn(kCases));

TEST(AssistantAbiInfo, DescribesTheAssistant) {
    Model m(fixture("llava/llava_clip_llama").c_str());
    const krait_model_info info = info_of(m.model);
    EXPECT_EQ(info.kind, KRAIT_MODEL_ASSISTANT);
    EXPECT_STREQ(info.architecture, "llava");
    EXPECT_EQ(info.vocab_size, 120);
    EXPECT_EQ(info.image_token_id, 119);
    EXPECT_EQ(info.image_rows, 25);
    EXPECT_EQ(info.image_height, 30);
    EXPECT_EQ(info.image_width, 30);
    Model mamba("models/mamba-demo");
    EXPECT_EQ(info_of(mamba.model).image_token_id, -1);
    EXPECT_EQ(info_of(mamba.model).image_rows, 0);
}

class AssistantAbiBadInput : public ::testing::Test {
protected:
    AssistantAbiBadInput() : m(fixture("llava/llava_clip_llama").c_str()), s(m.model), e(fixture("llava/llava_clip_llama")) {
        prompt = e.values<int32_t>("prompt");
        pixels = e.values<float>("pixel_values");
        want = e.values<int32_t>("greedy");
    }
    // After a refusal the session still gives transformers' continuation.
    void expect_usable() {
        ASSERT_EQ(krait_session_reset(s.session), KRAIT_OK);
        ASSERT_EQ(krait_session_append_images(s.session, prompt.data(), prompt.size(), pixels.data(), 1, 30, 30,
                                              nullptr, 0),
                  KRAIT_OK)
            << krait_last_error();
        EXPECT_EQ(greedy(s.session, static_cast<int32_t>(want.size())), want);
    }
    Model m;
    Session s;
    Expected e;
    std::vector<int32_t> prompt, want;
    std::vector<float> pixels;
};

TEST_F(AssistantAbiBadInput, MoreOrFewerImagesThanTheirTokensAreRefusedNamingBothCounts) {
    for (int64_t n_images : {0, 2}) {
        EXPECT_EQ(krait_session_append_images(s.session, prompt.data(), prompt.size(), n_images ? pixels.data() : nullptr,
                                              n_images, 30, 30, nullptr, 0),
                  KRAIT_ERR_INVALID_ARGUMENT);
        const std::string msg = krait_last_error();
        EXPECT_NE(msg.find("holds 1 image"), std::string::npos) << msg;
        EXPECT_NE(msg.find(std::to_string(n_images) + " image"), std::string::npos) << msg;
        std::vector<int32_t> held(4);
        size_t n = 0;
        ASSERT_EQ(krait_session_get_tokens(s.session, held.data(), held.size(), &n), KRAIT_OK);
        EXPECT_EQ(n, 0u) << "the refused prompt reached the context";
    }
    std::vector<int32_t> cut = prompt;
    cut.erase(std::find(cut.begin(), cut.end(), 119));  // 24 image tokens: not a whole image
    EXPECT_EQ(krait_session_append_images(s.session, cut.data(), cut.size(), pixels.data(), 1, 30, 30, nullptr, 0),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("24 image tokens"), std::string::npos) << krait_last_error();
    expect_usable();
}

TEST_F(AssistantAbiBadInput, ImagesOfAnotherSizeAndNullsAreRefused) {
    EXPECT_EQ(krait_session_append_images(s.session, prompt.data(), prompt.size(), pixels.data(), 1, 32, 32, nullptr, 0),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("32x32"), std::string::npos) << krait_last_error();
    EXPECT_EQ(krait_session_append_images(s.session, prompt.data(), prompt.size(), nullptr, 1, 30, 30, nullptr, 0),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_append_images(nullptr, prompt.data(), prompt.size(), pixels.data(), 1, 30, 30, nullptr, 0),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_session_append_images(s.session, nullptr, 3, pixels.data(), 1, 30, 30, nullptr, 0),
              KRAIT_ERR_INVALID_ARGUMENT);
    size_t n = 0;
    EXPECT_EQ(krait_session_encode_images(s.session, pixels.data(), 0, 30, 30, nullptr, 0, &n), KRAIT_ERR_INVALID_ARGUMENT);
    std::vector<int32_t> bad = prompt;
    bad[0] = 120;  // out of the vocabulary
    EXPECT_EQ(krait_session_append_images(s.session, bad.data(), bad.size(), pixels.data(), 1, 30, 30, nullptr, 0),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_model_preprocess_image_file(m.model, "no/such/image.png", nullptr, 0, &n), KRAIT_ERR_IO);
    const char junk[] = "not an image";
    EXPECT_EQ(krait_model_preprocess_image_encoded(m.model, junk, sizeof junk, nullptr, 0, &n), KRAIT_ERR_FORMAT);
    expect_usable();
}

// A prompt with an image that does not fit the session's context: refused before anything runs, naming
// both sizes; the context stays as it was and the session keeps working.
TEST_F(AssistantAbiBadInput, AContextOverflowIsRefusedNamingBothSizesAndChangesNothing) {
    krait_session_params p;
    krait_session_params_init(&p);
    p.n_threads = 2;
    p.context_length = static_cast<int64_t>(prompt.size()) + 2;
    krait_session* small = nullptr;
    ASSERT_EQ(krait_session_create(m.model, &p, &small), KRAIT_OK) << krait_last_error();
    const int32_t text[] = {5, 6, 7};
    ASSERT_EQ(krait_session_append(small, text, 3, nullptr, 0), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(krait_session_append_images(small, prompt.data(), prompt.size(), pixels.data(), 1, 30, 30, nullptr, 0),
              KRAIT_ERR_INVALID_ARGUMENT);
    const std::string msg = krait_last_error();
    EXPECT_NE(msg.find(std::to_string(p.context_length)), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::to_string(prompt.size() + 3)), std::string::npos) << msg;
    std::vector<int32_t> held(8);
    size_t n = 0;
    ASSERT_EQ(krait_session_get_tokens(small, held.data(), held.size(), &n), KRAIT_OK);
    EXPECT_EQ(n, 3u) << "the refused prompt changed the context";
    // The same prompt fits once the context is reset.
    ASSERT_EQ(krait_session_reset(small), KRAIT_OK);
    EXPECT_EQ(krait_session_append_images(small, prompt.data(), prompt.size(), pixels.data(), 1, 30, 30, nullptr, 0),
              KRAIT_OK)
        << krait_last_error();
    krait_session_free(small);
    expect_usable();
}

// A picture file cut short, and one whose header claims 100000 x 100000 pixels: refused with a status and a
// message, nothing decoded past the header, the session unchanged.
TEST_F(AssistantAbiBadInput, TruncatedAndHugePicturesAreRefused) {
    std::ifstream f(kPhoto, std::ios::binary);
    const std::vector<char> png((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    ASSERT_GT(png.size(), 1000u);
    size_t n = 0;
    std::vector<float> out(3 * 30 * 30);
    for (size_t keep : {png.size() / 2, size_t{40}, size_t{8}}) {
        SCOPED_TRACE("first " + std::to_string(keep) + " bytes");
        const krait_status st = krait_model_preprocess_image_encoded(m.model, png.data(), keep, out.data(), out.size(), &n);
        EXPECT_EQ(st, KRAIT_ERR_FORMAT) << krait_last_error();
        EXPECT_FALSE(std::string(krait_last_error()).empty());
    }
    // PNG signature + an IHDR chunk of 100000 x 100000 RGB (CRC left zero: the size check comes first).
    std::vector<unsigned char> huge = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    for (uint32_t v : {100000u, 100000u})
        for (int shift : {24, 16, 8, 0}) huge.push_back(static_cast<unsigned char>(v >> shift));
    for (unsigned char b : {8, 2, 0, 0, 0, 0, 0, 0, 0}) huge.push_back(b);
    const krait_status st = krait_model_preprocess_image_encoded(m.model, huge.data(), huge.size(), out.data(), out.size(), &n);
    EXPECT_TRUE(st == KRAIT_ERR_INVALID_ARGUMENT || st == KRAIT_ERR_FORMAT) << st << ": " << krait_last_error();
    EXPECT_NE(std::string(krait_last_error()).find("100000"), std::string::npos) << krait_last_error();
    expect_usable();
}

TEST_F(AssistantAbiBadInput, AContextWithImagesIsNotSavedToAFile) {
    ASSERT_EQ(krait_session_append_images(s.session, prompt.data(), prompt.size(), pixels.data(), 1, 30, 30, nullptr, 0),
              KRAIT_OK);
    const std::string path = ::testing::TempDir() + "assistant_state.bin";
    EXPECT_EQ(krait_session_save_state(s.session, path.c_str()), KRAIT_ERR_UNSUPPORTED);
    EXPECT_NE(std::string(krait_last_error()).find("image features"), std::string::npos) << krait_last_error();
    // Text only (no image rows) saves as on a sequence model.
    ASSERT_EQ(krait_session_reset(s.session), KRAIT_OK);
    const int32_t text[] = {5, 6, 7};
    ASSERT_EQ(krait_session_append(s.session, text, 3, nullptr, 0), KRAIT_OK);
    EXPECT_EQ(krait_session_save_state(s.session, path.c_str()), KRAIT_OK) << krait_last_error();
    expect_usable();
}

TEST(AssistantAbiKinds, AssistantAndClassifierCallsRefuseTheOtherKinds) {
    Model llava(fixture("llava/llava_clip_llama").c_str());
    Session s(llava.model);
    std::vector<float> pixels(3 * 30 * 30, 0.0f), logits(16);
    size_t n = 0;
    EXPECT_EQ(krait_session_classifier_forward(s.session, pixels.data(), 1, 30, 30, logits.data(), logits.size(), &n),
              KRAIT_ERR_WRONG_KIND);
    Model mamba("models/mamba-demo");
    Session ms(mamba.model);
    const int32_t ids[] = {1, 2, 3};
    EXPECT_EQ(krait_session_append_images(ms.session, ids, 3, nullptr, 0, 0, 0, nullptr, 0), KRAIT_ERR_WRONG_KIND);
    EXPECT_NE(std::string(krait_last_error()).find("needs a vision-language assistant"), std::string::npos)
        << krait_last_error();
    EXPECT_EQ(krait_model_preprocess_image_file(mamba.model, kPhoto.c_str(), nullptr, 0, &n), KRAIT_ERR_WRONG_KIND);
    // Text calls work on the assistant's language model.
    ASSERT_EQ(krait_session_append(s.session, ids, 3, nullptr, 0), KRAIT_OK) << krait_last_error();
}

}  // namespace

// ---- conversations with pictures (llava_chat: a tokenizer and a LLaVA-1.5-style template) ------------

class AssistantAbiChat : public ::testing::Test {
protected:
    AssistantAbiChat() : m(fixture("llava/llava_chat").c_str()), s(m.model), e(fixture("llava/llava_chat")) {
        std::vector<int64_t> shape;
        const auto rgb = e.values<uint8_t>("image", &shape);
        krait_image im{};
        im.struct_size = sizeof im;
        im.pixels = rgb.data();
        im.height = static_cast<int32_t>(shape[0]);
        im.width = static_cast<int32_t>(shape[1]);
        im.channels = 3;
        pixels.resize(3 * 30 * 30);
        size_t n = 0;
        EXPECT_EQ(krait_model_preprocess_image_pixels(m.model, &im, pixels.data(), pixels.size(), &n), KRAIT_OK)
            << krait_last_error();
        krait_generate_params_init(&gp);
        gp.max_new_tokens = 8;
        gp.sampling.temperature = 0.0f;
    }
    std::vector<int32_t> held() {
        size_t n = 0;
        EXPECT_EQ(krait_session_get_tokens(s.session, nullptr, 0, &n), KRAIT_OK);
        std::vector<int32_t> ids(n);
        EXPECT_EQ(krait_session_get_tokens(s.session, ids.data(), ids.size(), &n), KRAIT_OK);
        return ids;
    }
    std::vector<int32_t> expected_turn(int turn) {
        const std::string t = "turn" + std::to_string(turn);
        std::vector<int32_t> ids = e.values<int32_t>(t + "_ids");
        const auto reply = e.values<int32_t>(t + "_reply");
        ids.insert(ids.end(), reply.begin(), reply.end());
        return ids;
    }
    static constexpr const char* kQuestion1 = "What colour is the big shape in this picture?";
    static constexpr const char* kQuestion2 = "And how many shapes are there?";
    Model m;
    Session s;
    Expected e;
    std::vector<float> pixels;
    krait_generate_params gp;
};

TEST_F(AssistantAbiChat, TwoTurnsAboutAPictureMatchTransformersAndTheSecondDoesNotRunTheImageAgain) {
    krait_conversation* conv = nullptr;
    ASSERT_EQ(krait_conversation_create(s.session, nullptr, nullptr, nullptr, &conv), KRAIT_OK) << krait_last_error();
    ASSERT_EQ(krait_conversation_say_images(conv, kQuestion1, pixels.data(), 1, 30, 30, &gp), KRAIT_OK)
        << krait_last_error();
    EXPECT_EQ(held(), expected_turn(1));  // LlavaProcessor's prompt + transformers' greedy reply
    const size_t first_prompt = e.values<int32_t>("turn1_ids").size();

    ASSERT_EQ(krait_conversation_say(conv, kQuestion2, &gp), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(held(), expected_turn(2));
    krait_conversation_stats st{};
    st.struct_size = sizeof st;
    ASSERT_EQ(krait_conversation_get_stats(conv, &st), KRAIT_OK);
    // The first prompt is kept (its last token runs again: a KV cache cut after a prefix recomputes the
    // token before the cut to have its logits; the reply's tokens re-tokenize differently here).
    EXPECT_GE(st.reused_tokens, static_cast<int64_t>(first_prompt) - 1) << "the picture's rows were computed again";

    // Regenerate: the same greedy reply, from the state of the prompt (no image rows run again).
    ASSERT_EQ(krait_conversation_regenerate(conv, &gp), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(held(), expected_turn(2));
    ASSERT_EQ(krait_conversation_get_stats(conv, &st), KRAIT_OK);
    EXPECT_LT(st.prefilled_tokens, 25) << "regenerate ran the image again";

    // Saved with its picture (since 1.7) and loaded on a fresh session: the same messages and state,
    // and the next turn reuses it all (the picture is not run again) and equals the original's.
    const std::string path = ::testing::TempDir() + "assistant_conversation.bin";
    ASSERT_EQ(krait_conversation_save(conv, path.c_str()), KRAIT_OK) << krait_last_error();
    Session fresh(m.model);
    krait_conversation* loaded = nullptr;
    ASSERT_EQ(krait_conversation_load(fresh.session, path.c_str(), nullptr, nullptr, &loaded), KRAIT_OK)
        << krait_last_error();
    std::vector<int32_t> fresh_ids(held().size() + 64);
    size_t n = 0;
    ASSERT_EQ(krait_session_get_tokens(fresh.session, fresh_ids.data(), fresh_ids.size(), &n), KRAIT_OK);
    fresh_ids.resize(n);
    EXPECT_EQ(fresh_ids, expected_turn(2));
    ASSERT_EQ(krait_conversation_say(conv, kQuestion1, &gp), KRAIT_OK);
    ASSERT_EQ(krait_conversation_get_stats(conv, &st), KRAIT_OK);
    const int64_t original_reuse = st.reused_tokens;
    ASSERT_EQ(krait_conversation_say(loaded, kQuestion1, &gp), KRAIT_OK) << krait_last_error();
    ASSERT_EQ(krait_conversation_get_stats(loaded, &st), KRAIT_OK);
    EXPECT_EQ(st.images_encoded + st.images_cached, 0) << "the loaded picture's rows were computed again";
    EXPECT_EQ(st.reused_tokens, original_reuse) << "the loaded state was not reused as the original's";
    EXPECT_GT(st.reused_tokens, 25) << "the picture's rows were not reused";
    fresh_ids.assign(held().size() + 64, 0);
    ASSERT_EQ(krait_session_get_tokens(fresh.session, fresh_ids.data(), fresh_ids.size(), &n), KRAIT_OK);
    fresh_ids.resize(n);
    EXPECT_EQ(fresh_ids, held());
    // Its pictures come back with the messages: a regenerated reply needs them.
    ASSERT_EQ(krait_conversation_regenerate(loaded, &gp), KRAIT_OK) << krait_last_error();
    krait_conversation_free(loaded);
    // A session state alone still cannot identify image rows.
    EXPECT_EQ(krait_session_save_state(s.session, path.c_str()), KRAIT_ERR_UNSUPPORTED);
    // Nor can a text model's conversation load a file with pictures.
    Model mamba("models/mamba-demo");
    Session ms(mamba.model);
    EXPECT_NE(krait_conversation_load(ms.session, path.c_str(), nullptr, nullptr, &loaded), KRAIT_OK);
    krait_conversation_free(conv);
}

TEST_F(AssistantAbiChat, AnotherPictureIsNotMistakenForTheFirst) {
    krait_conversation* conv = nullptr;
    ASSERT_EQ(krait_conversation_create(s.session, nullptr, nullptr, nullptr, &conv), KRAIT_OK);
    std::vector<float> other(pixels.size());
    for (size_t i = 0; i < other.size(); ++i) other[i] = -pixels[i];
    ASSERT_EQ(krait_conversation_say_images(conv, kQuestion1, other.data(), 1, 30, 30, &gp), KRAIT_OK);
    // Same text, the real picture: nothing of the other picture's rows may be reused.
    ASSERT_EQ(krait_conversation_undo(conv), KRAIT_OK);
    ASSERT_EQ(krait_conversation_say_images(conv, kQuestion1, pixels.data(), 1, 30, 30, &gp), KRAIT_OK);
    EXPECT_EQ(held(), expected_turn(1));
    krait_conversation_stats st{};
    st.struct_size = sizeof st;
    ASSERT_EQ(krait_conversation_get_stats(conv, &st), KRAIT_OK);
    EXPECT_GE(st.prefilled_tokens, 25) << "the other picture's rows were reused";
    krait_conversation_free(conv);
}

TEST_F(AssistantAbiChat, ImagesTheTemplateDoesNotWriteAreRefused) {
    krait_conversation* conv = nullptr;
    // A caller's template that drops image parts: 0 image tokens for 1 image.
    const char* text_only = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] if m['content'] is string "
                            "else m['content'][-1]['text'] }}\n{% endfor %}ASSISTANT:";
    ASSERT_EQ(krait_conversation_create(s.session, nullptr, text_only, nullptr, &conv), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(krait_conversation_say_images(conv, kQuestion1, pixels.data(), 1, 30, 30, &gp), KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(krait_last_error()).find("wrote 0 image tokens"), std::string::npos) << krait_last_error();
    size_t n = 0;
    ASSERT_EQ(krait_conversation_get_n_messages(conv, &n), KRAIT_OK);
    EXPECT_EQ(n, 0u) << "the refused message was kept";
    EXPECT_EQ(krait_conversation_say_images(conv, kQuestion1, pixels.data(), 1, 32, 32, &gp), KRAIT_ERR_INVALID_ARGUMENT);
    krait_conversation_free(conv);
    // Pictures on a text model's conversation: the wrong kind.
    Model mamba("models/mamba-demo");
    Session ms(mamba.model);
    ASSERT_EQ(krait_conversation_create(ms.session, nullptr, "{{ messages[0]['content'] }}", nullptr, &conv), KRAIT_OK)
        << krait_last_error();
    EXPECT_EQ(krait_conversation_say_images(conv, "hi", pixels.data(), 1, 30, 30, &gp), KRAIT_ERR_WRONG_KIND);
    krait_conversation_free(conv);
}

// ---- LoRA on the language model of an assistant (peft on transformers 5's LLaVA) -------------------------

// peft LoRA adapters on transformers 5's LLaVA (tools/gen_llava_fixtures.py): on the language model
// (lora_lm), on the tower and the projector (lora_vision), on all three in one file (lora_all) and the
// same file named as peft names modules on transformers 4's LLaVA (lora_all_v4); forward logits of
// the batch against peft's, 1e-5 relative.
class AssistantAbiAdapters : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(AssistantAbiAdapters, PeftLoraMatchesPeft) {
    const auto [adapter_dir, expected_name] = GetParam();
    const std::string dir = fixture("llava/llava_clip_llama");
    Model m(dir.c_str());
    Session s(m.model);
    const Expected e(dir);
    std::vector<int64_t> ids_shape, px;
    const auto ids = e.values<int32_t>("input_ids", &ids_shape);
    const auto pixels = e.values<float>("pixel_values", &px);
    const auto want = e.values<float>(expected_name);
    const auto base = e.values<float>("logits");
    krait_adapter* adapter = nullptr;
    ASSERT_EQ(krait_adapter_load(m.model, (dir + "/" + adapter_dir).c_str(), nullptr, &adapter), KRAIT_OK)
        << krait_last_error();
    const krait_adapter* active[] = {adapter};
    const float scales[] = {1.0f};
    ASSERT_EQ(krait_session_set_adapters(s.session, active, scales, 1), KRAIT_OK) << krait_last_error();
    std::vector<float> got(want.size());
    size_t n = 0;
    ASSERT_EQ(krait_session_assistant_forward(s.session, ids.data(), ids_shape[0], ids_shape[1], pixels.data(), px[0],
                                              px[2], px[3], got.data(), got.size(), &n),
              KRAIT_OK)
        << krait_last_error();
    EXPECT_TRUE(all_close(got.data(), want, 1e-5f));
    EXPECT_FALSE(all_close(got.data(), base, 1e-3f)) << "the adapter changed nothing";
    // Off again: the base model's logits.
    ASSERT_EQ(krait_session_set_adapters(s.session, nullptr, nullptr, 0), KRAIT_OK);
    ASSERT_EQ(krait_session_assistant_forward(s.session, ids.data(), ids_shape[0], ids_shape[1], pixels.data(), px[0],
                                              px[2], px[3], got.data(), got.size(), &n),
              KRAIT_OK);
    EXPECT_TRUE(all_close(got.data(), base, 1e-5f));
    krait_adapter_free(adapter);
}

INSTANTIATE_TEST_SUITE_P(Adapters, AssistantAbiAdapters,
                         ::testing::Values(std::make_pair("lora_lm", "lora_logits"),
                                           std::make_pair("lora_vision", "lora_vision_logits"),
                                           std::make_pair("lora_all", "lora_all_logits"),
                                           std::make_pair("lora_all_v4", "lora_all_logits")));

// An adapter on the tower changes the picture's rows: the session's image cache must not hand back
// the rows computed without it (nor those computed with it once it is off). Each append is compared
// with the same append on a fresh session (an empty cache).
TEST(AssistantAbiAdapterCache, RowsOfAnotherAdapterAreNotTakenFromTheImageCache) {
    const std::string dir = fixture("llava/llava_clip_llama");
    Model m(dir.c_str());
    const Expected e(dir);
    std::vector<int64_t> px;
    const auto pixels = e.values<float>("pixel_values", &px);
    krait_model_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(krait_model_get_info(m.model, &info), KRAIT_OK);
    std::vector<int32_t> ids(static_cast<size_t>(info.image_rows), info.image_token_id);
    ids.push_back(5);
    krait_adapter* adapter = nullptr;
    ASSERT_EQ(krait_adapter_load(m.model, (dir + "/lora_vision").c_str(), nullptr, &adapter), KRAIT_OK);
    const krait_adapter* active[] = {adapter};
    const float scales[] = {1.0f};
    auto append = [&](krait_session* session) {
        std::vector<float> logits(static_cast<size_t>(info.vocab_size));
        EXPECT_EQ(krait_session_reset(session), KRAIT_OK);
        EXPECT_EQ(krait_session_append_images(session, ids.data(), ids.size(), pixels.data(), 1, px[2], px[3],
                                              logits.data(), logits.size()),
                  KRAIT_OK)
            << krait_last_error();
        return logits;
    };
    Session s(m.model);
    const std::vector<float> plain = append(s.session);  // fills the cache
    ASSERT_EQ(krait_session_set_adapters(s.session, active, scales, 1), KRAIT_OK);
    const std::vector<float> adapted = append(s.session);
    Session fresh(m.model);
    ASSERT_EQ(krait_session_set_adapters(fresh.session, active, scales, 1), KRAIT_OK);
    EXPECT_EQ(adapted, append(fresh.session)) << "the rows without the adapter came from the cache";
    EXPECT_NE(adapted, plain);
    ASSERT_EQ(krait_session_set_adapters(s.session, nullptr, nullptr, 0), KRAIT_OK);
    EXPECT_EQ(append(s.session), plain) << "the rows with the adapter came from the cache";
    krait_adapter_free(adapter);
}

TEST_F(AssistantAbiChat, APictureSeenAgainComesFromTheImageCache) {
    krait_conversation* conv = nullptr;
    ASSERT_EQ(krait_conversation_create(s.session, nullptr, nullptr, nullptr, &conv), KRAIT_OK);
    krait_conversation_stats st{};
    st.struct_size = sizeof st;
    ASSERT_EQ(krait_conversation_say_images(conv, kQuestion1, pixels.data(), 1, 30, 30, &gp), KRAIT_OK);
    ASSERT_EQ(krait_conversation_get_stats(conv, &st), KRAIT_OK);
    EXPECT_EQ(st.images_encoded, 1);
    EXPECT_EQ(st.images_cached, 0);
    // Edit the first turn's text: the picture's rows sit at other positions and run again through the
    // language model, but the encoder does not run: they come from the cache. The reply is the one a
    // fresh session gives (the fixture's first turn, asked with the same text).
    ASSERT_EQ(krait_conversation_undo(conv), KRAIT_OK);
    ASSERT_EQ(krait_conversation_add_message(conv, "system", "Look closely."), KRAIT_OK);
    ASSERT_EQ(krait_conversation_undo(conv), KRAIT_ERR_INVALID_ARGUMENT);  // no user message left to undo
    krait_conversation_free(conv);
    ASSERT_EQ(krait_conversation_create(s.session, nullptr, nullptr, nullptr, &conv), KRAIT_OK);
    ASSERT_EQ(krait_session_reset(s.session), KRAIT_OK);
    ASSERT_EQ(krait_conversation_say_images(conv, kQuestion1, pixels.data(), 1, 30, 30, &gp), KRAIT_OK);
    ASSERT_EQ(krait_conversation_get_stats(conv, &st), KRAIT_OK);
    EXPECT_EQ(st.images_encoded, 0);
    EXPECT_EQ(st.images_cached, 1);
    EXPECT_EQ(held(), expected_turn(1));
    krait_conversation_free(conv);

    // Without a cache (image_cache_bytes 0) the encoder runs each time.
    krait_session_params sp;
    krait_session_params_init(&sp);
    EXPECT_EQ(sp.image_cache_bytes, KRAIT_DEFAULT_IMAGE_CACHE_BYTES);
    sp.image_cache_bytes = 0;
    krait_session* plain = nullptr;
    ASSERT_EQ(krait_session_create(m.model, &sp, &plain), KRAIT_OK);
    for (int i = 0; i < 2; ++i) {
        ASSERT_EQ(krait_conversation_create(plain, nullptr, nullptr, nullptr, &conv), KRAIT_OK);
        ASSERT_EQ(krait_session_reset(plain), KRAIT_OK);
        ASSERT_EQ(krait_conversation_say_images(conv, kQuestion1, pixels.data(), 1, 30, 30, &gp), KRAIT_OK);
        ASSERT_EQ(krait_conversation_get_stats(conv, &st), KRAIT_OK);
        EXPECT_EQ(st.images_encoded, 1);
        EXPECT_EQ(st.images_cached, 0);
        krait_conversation_free(conv);
    }
    krait_session_free(plain);
    sp.image_cache_bytes = -1;
    EXPECT_EQ(krait_session_create(m.model, &sp, &plain), KRAIT_ERR_INVALID_ARGUMENT);
}

TEST_F(AssistantAbiChat, AReplayedHistoryWithAPictureGivesTheSameSecondTurn) {
    // The first reply's text as transformers decoded it (skip_special_tokens), from the model's tokenizer.
    const krait_tokenizer* tok = nullptr;
    ASSERT_EQ(krait_model_get_tokenizer(m.model, &tok), KRAIT_OK);
    const auto reply1 = e.values<int32_t>("turn1_reply");
    size_t n = 0;
    ASSERT_EQ(krait_tokenizer_decode_v2(tok, reply1.data(), reply1.size(), 1, nullptr, 0, &n), KRAIT_OK);
    std::string text(n, '\0');
    ASSERT_EQ(krait_tokenizer_decode_v2(tok, reply1.data(), reply1.size(), 1, text.data(), n, &n), KRAIT_OK);
    text.resize(n);

    krait_conversation* conv = nullptr;
    ASSERT_EQ(krait_conversation_create(s.session, nullptr, nullptr, nullptr, &conv), KRAIT_OK);
    ASSERT_EQ(krait_conversation_add_message_images(conv, "user", kQuestion1, pixels.data(), 1, 30, 30), KRAIT_OK)
        << krait_last_error();
    ASSERT_EQ(krait_conversation_add_message(conv, "assistant", text.c_str()), KRAIT_OK);
    ASSERT_EQ(krait_conversation_say(conv, kQuestion2, &gp), KRAIT_OK) << krait_last_error();
    EXPECT_EQ(held(), expected_turn(2));
    // Pictures of another size, or on a NULL conversation, are refused.
    EXPECT_EQ(krait_conversation_add_message_images(conv, "user", "x", pixels.data(), 1, 29, 29),
              KRAIT_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(krait_conversation_add_message_images(nullptr, "user", "x", pixels.data(), 1, 30, 30),
              KRAIT_ERR_INVALID_ARGUMENT);
    krait_conversation_free(conv);
}

TEST_F(AssistantAbiChat, TheRenderedPromptShowsThePictureSlots) {
    krait_conversation* conv = nullptr;
    ASSERT_EQ(krait_conversation_create(s.session, nullptr, nullptr, nullptr, &conv), KRAIT_OK);
    ASSERT_EQ(krait_conversation_add_message_images(conv, "user", kQuestion1, pixels.data(), 1, 30, 30), KRAIT_OK);
    size_t n = 0;
    ASSERT_EQ(krait_conversation_render(conv, 1, nullptr, 0, &n), KRAIT_OK);
    std::string text(n + 1, '\0');
    ASSERT_EQ(krait_conversation_render(conv, 1, text.data(), text.size(), &n), KRAIT_OK);
    text.resize(n);
    // The fixture's LLaVA-1.5-style template: the picture's slot, then the text, then the assistant's header.
    EXPECT_EQ(text, std::string("USER: <image>\n") + kQuestion1 + "\nASSISTANT:");
    EXPECT_EQ(krait_conversation_render(conv, 1, nullptr, 4, &n), KRAIT_ERR_INVALID_ARGUMENT);
    krait_conversation_free(conv);
}
