// The ImageEncoder interface of ViT and MambaVision: encode() fills exactly
// [batch, num_tokens, feature_dim], and a classifier is that encoder plus its
// head (the first token or the mean of the tokens, then the linear layer).
#include <gtest/gtest.h>

#include <cmath>

#include "sdk/models/classifier.h"
#include "sdk/models/mambavision.h"
#include "sdk/models/vit.h"
#include "tests/common/fixtures.h"

namespace {

using krait::ClassifierModel;
using krait::testing::Expected;
using krait::testing::fixture;

void check_encoder_and_head(const ClassifierModel& model, const std::string& dir) {
    Expected expected(dir);
    const auto& px = expected.tensor("pixel_values");
    const int64_t B = px.shape[0], H = px.shape[2], W = px.shape[3];
    const auto pixels = expected.values<float>("pixel_values");
    const int64_t T = model.num_tokens(H, W), F = model.feature_dim();
    ASSERT_GT(T, 0);
    krait::ThreadPool pool(2);
    krait::ClassifierWorkspace ws;
    constexpr float kCanary = 12345.0f;
    std::vector<float> features(static_cast<size_t>(B * T * F + 16), kCanary);
    model.encode(pixels.data(), B, H, W, features.data(), pool, ws, nullptr);
    for (int64_t i = 0; i < B * T * F; ++i) ASSERT_TRUE(std::isfinite(features[i])) << i;
    for (size_t i = static_cast<size_t>(B * T * F); i < features.size(); ++i)
        ASSERT_EQ(features[i], kCanary) << "encode wrote past [batch, num_tokens, feature_dim]";

    // The head by hand on the pooled features equals forward().
    const krait::Linear& head = model.head();
    ASSERT_EQ(head.in_features, F);
    // The classifiers hold their linears packed only (PackedStore::pack_replacing): read W[c, f] from the panels.
    ASSERT_TRUE(head.weight || head.packed);
    auto weight = [&](int64_t c, int64_t f) -> double {
        if (head.weight) return head.weight[c * F + f];
        return head.packed->panel(c / krait::kernels::kGemmNR)[f * krait::kernels::kGemmNR + c % krait::kernels::kGemmNR];
    };
    std::vector<float> logits(static_cast<size_t>(B * head.out_features));
    model.forward(pixels.data(), B, H, W, logits.data(), pool, nullptr);
    for (int64_t b = 0; b < B; ++b) {
        std::vector<double> pooled(static_cast<size_t>(F), 0.0);
        for (int64_t f = 0; f < F; ++f) {
            if (model.pooling() == ClassifierModel::Pooling::FirstToken) {
                pooled[f] = features[b * T * F + f];
            } else {
                for (int64_t t = 0; t < T; ++t) pooled[f] += features[(b * T + t) * F + f];
                pooled[f] /= static_cast<double>(T);
            }
        }
        for (int64_t c = 0; c < head.out_features; ++c) {
            double y = head.bias ? head.bias[c] : 0.0;
            for (int64_t f = 0; f < F; ++f) y += pooled[f] * weight(c, f);
            EXPECT_NEAR(logits[b * head.out_features + c], y, 1e-4 * std::max(1.0, std::fabs(y))) << b << "," << c;
        }
    }
}

TEST(ImageEncoder, VitTokensAreClsPlusPatches) {
    const std::string dir = fixture("vit/f32_nonsquare_up");
    auto model = krait::ViTModel::load(dir);
    const int64_t P = model->config().patch_size;
    EXPECT_EQ(model->num_tokens(4 * P, 3 * P), 1 + 12);
    EXPECT_EQ(model->feature_dim(), model->config().hidden_size);
    EXPECT_EQ(model->pooling(), ClassifierModel::Pooling::FirstToken);
    check_encoder_and_head(*model, dir);
}

TEST(ImageEncoder, MambaVisionTokensAreTheLastMapsPositions) {
    const std::string dir = fixture("mambavision/odd_even_pad_hub");
    auto model = krait::MambaVisionModel::load(dir);
    // 64 x 96: the stem halves twice (16 x 24), three downsamples (2 x 3).
    EXPECT_EQ(model->num_tokens(64, 96), 2 * 3);
    EXPECT_EQ(model->num_tokens(33, 17), 2 * 1);  // odd sizes round up at each stride-2 conv
    EXPECT_EQ(model->pooling(), ClassifierModel::Pooling::MeanOfTokens);
    check_encoder_and_head(*model, dir);
}

}  // namespace
