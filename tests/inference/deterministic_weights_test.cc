#include <gtest/gtest.h>

#include "deterministic_weights.h"

namespace evax::inference {
namespace {

TEST(DeterministicWeights, FnvOfClsTokenIsTheFixturesCheckValue) {
  EXPECT_EQ(fnv1a64("cls_token"), 4693054463627924889ULL);
}

TEST(DeterministicWeights, FirstQkvValuesAreTheFixturesCheckValues) {
  const at::Tensor t = deterministic_tensor("blocks.0.attn.qkv.weight", {6, 4});
  const float expected[] = {0.40470755f, -0.17163745f, 0.5636471f, -0.60088384f};
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(t.view(-1)[i].item<float>(), expected[i]) << i;
}

TEST(DeterministicWeights, RulesFollowNameAndRank) {
  // 1-D weights sit around one, biases and everything else near zero.
  const at::Tensor norm = deterministic_tensor("blocks.0.norm1.weight", {192});
  EXPECT_GE(norm.min().item<float>(), 0.9f);
  EXPECT_LE(norm.max().item<float>(), 1.1f);
  const at::Tensor bias = deterministic_tensor("blocks.0.norm1.bias", {192});
  EXPECT_LE(bias.abs().max().item<float>(), 0.02f);
}

TEST(DeterministicWeights, BatchNormStatisticsFollowTheSegmentationFixturesRule) {
  const at::Tensor var = deterministic_tensor("backbone.fpn1.1.running_var", {384});
  const float var_expected[] = {0.93675315f, 1.0470905f, 0.96372557f, 0.9259044f};
  const at::Tensor mean = deterministic_tensor("backbone.fpn1.1.running_mean", {384});
  const float mean_expected[] = {-0.012033205f, -0.0029671288f, -0.017883709f, 0.016112121f};
  for (int i = 0; i < 4; ++i) {
    EXPECT_FLOAT_EQ(var[i].item<float>(), var_expected[i]) << i;
    EXPECT_FLOAT_EQ(mean[i].item<float>(), mean_expected[i]) << i;
  }
}

}  // namespace
}  // namespace evax::inference
