// The demo adapters committed under models/ do in Krait what they did in the
// training script's PyTorch reference (tools/train_demo_lora.py, whose figures
// are in each adapter's README.md, copied here):
//  * models/mamba-demo-lora-licenses: greedy continuations of the demo prompt,
//    base and with the adapter, token for token, swapping on one session;
//  * models/mambavision-digits-lora-parity: the even/odd probabilities of the
//    sample pictures (within 2e-3: Krait's image decoding and resizing are
//    within 1/255 of PIL's, not bit-equal).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "krait/krait.hpp"

namespace {

std::vector<int32_t> greedy(krait::Session& session, const std::vector<int32_t>& prompt, int n) {
    krait::GenerateOptions opt;
    opt.max_new_tokens = n;
    opt.sampling.temperature = 0.0f;
    opt.stop_at_eos = false;
    session.reset();
    return session.generate(prompt, opt);
}

TEST(DemoAdapters, LicenceStyleAdapterGeneratesWhatTheReferenceDid) {
    krait::Model model = krait::Model::load("models/mamba-demo");
    krait::Adapter licences = krait::Adapter::load(model, "models/mamba-demo-lora-licenses");
    krait::Session session(model, 2);
    const std::vector<int32_t> prompt = {1242, 467, 1426};  // "This module provides"
    // From models/mamba-demo-lora-licenses/README.md (prompt ids dropped).
    const std::vector<int32_t> base = {262, 291, 396, 285, 1257, 64,  428, 14,  221, 410, 269, 291, 396, 285,
                                       1257, 64, 428, 311, 1068, 14, 313, 377, 834, 321, 458, 14,  23,  326,
                                       1862, 271, 325, 854, 10,  539, 14,  313, 377, 834, 321, 458};
    const std::vector<int32_t> adapted = {262, 1069, 2239, 395, 271, 199, 2178, 973, 12,  271, 291, 534, 285, 33,
                                          68,  512,  83,   400, 262, 199, 80,   1277, 76, 277, 1338, 317, 271, 776,
                                          358, 973,  12,   324, 271, 776, 358,  973,  311, 262, 199, 80};
    EXPECT_EQ(greedy(session, prompt, 40), base);
    session.set_adapters({{&licences, 1.0f}});
    EXPECT_EQ(greedy(session, prompt, 40), adapted);
    session.clear_adapters();
    EXPECT_EQ(greedy(session, prompt, 40), base);
}

TEST(DemoAdapters, ParityAdapterRelabelsTheSampleDigits) {
    krait::Model model = krait::Model::load("models/mambavision-digits");
    krait::Adapter parity = krait::Adapter::load(model, "models/mambavision-digits-lora-parity");
    EXPECT_EQ(parity.labels(), (std::vector<std::string>{"even", "odd"}));
    krait::Session session(model, 2);
    // digit, P(even) from models/mambavision-digits-lora-parity/README.md
    const std::vector<std::pair<int, float>> samples = {{0, 0.9773f}, {2, 0.9686f}, {3, 0.0164f},
                                                        {5, 0.0259f}, {7, 0.0227f}, {9, 0.0237f}};
    std::vector<std::string> paths;
    for (const auto& [digit, p] : samples) paths.push_back("models/samples/digit_" + std::to_string(digit) + ".png");

    const auto base = session.classify_files(paths, 1);
    session.set_adapters({{&parity, 1.0f}});
    const auto adapted = session.classify_files(paths, 2);
    session.clear_adapters();
    const auto again = session.classify_files(paths, 1);
    for (size_t i = 0; i < samples.size(); ++i) {
        const auto [digit, p_even] = samples[i];
        EXPECT_EQ(base[i][0].label, again[i][0].label);
        ASSERT_EQ(adapted[i].size(), 2u);
        EXPECT_EQ(adapted[i][0].label, digit % 2 ? "odd" : "even") << paths[i];
        const float got_even = adapted[i][0].label == "even" ? adapted[i][0].probability : adapted[i][1].probability;
        EXPECT_NEAR(got_even, p_even, 2e-3f) << paths[i];
    }
}

}  // namespace
