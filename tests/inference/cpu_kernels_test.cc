// The engine's own CPU kernels against the LibTorch operations they replace, on shapes the
// models never use (odd sizes, batches of two, scale factors that are not powers of two).
#include <gtest/gtest.h>

#include <c10/core/InferenceMode.h>

#include "engine_error.h"
#include "rope_split.h"
#include "upsampled_conv.h"

namespace evax::inference {
namespace {

double relative_error(const at::Tensor& ours, const at::Tensor& reference) {
  return ((ours - reference).abs().max() / reference.abs().max()).item<double>();
}

TEST(UpsampledConv, EqualsAConvolutionOfTheUpsampledMap) {
  c10::InferenceMode inference;
  at::manual_seed(7);
  for (auto [h, w, height, width] : std::vector<std::array<int, 4>>{{5, 7, 13, 20}, {16, 16, 128, 128}, {3, 3, 3, 3}, {1, 2, 4, 9}}) {
    const at::Tensor y = at::randn({2, 6, h, w});
    const at::Tensor weight = at::randn({4, 6, 3, 3});
    const at::Tensor base = at::randn({2, 4, height, width});
    at::Tensor acc = base.contiguous(at::MemoryFormat::ChannelsLast);
    add_conv3x3_of_upsampled(acc, y, taps_matrix(weight));
    const at::Tensor upsampled = at::upsample_bilinear2d(y, {height, width}, /*align_corners=*/false, c10::nullopt, c10::nullopt);
    const at::Tensor expected = base + at::conv2d(upsampled, weight, {}, {1, 1}, {1, 1});
    EXPECT_LT(relative_error(acc, expected), 1e-5) << h << "x" << w << " -> " << height << "x" << width;
  }
}

TEST(UpsampledConv, RefusesWhatItCannotTake) {
  c10::InferenceMode inference;
  const at::Tensor y = at::randn({1, 6, 4, 4});
  at::Tensor not_channels_last = at::zeros({1, 4, 8, 8});
  EXPECT_THROW(add_conv3x3_of_upsampled(not_channels_last, y, taps_matrix(at::randn({4, 6, 3, 3}))), EngineError);
  at::Tensor acc = at::zeros({1, 4, 8, 8}).contiguous(at::MemoryFormat::ChannelsLast);
  EXPECT_THROW(add_conv3x3_of_upsampled(acc, y, taps_matrix(at::randn({5, 6, 3, 3}))), EngineError);  // 5 outputs, 4 channels
  EXPECT_THROW(add_conv3x3_of_upsampled(acc, y.to(at::kDouble), taps_matrix(at::randn({4, 6, 3, 3}))), EngineError);
}

TEST(RopeSplit, EqualsTheEagerRotationAndHeadSplit) {
  c10::InferenceMode inference;
  at::manual_seed(11);
  const std::int64_t batch = 2, tokens = 17, heads = 3;
  const at::Tensor qkv = at::randn({batch, tokens, 3 * heads * 64});
  const at::Tensor cos = at::randn({tokens, 64}), sin = at::randn({tokens, 64});
  const auto split = split_heads_with_rope(qkv, heads, cos, sin);
  // The eager form EvaXModel runs on a GPU: (3, B, H, T, 64), pairs swapped, signs in the sine table.
  const at::Tensor parts = qkv.view({batch, tokens, 3, heads, 64}).permute({2, 0, 3, 1, 4});
  const at::Tensor swapped = parts.reshape({3, batch, heads, tokens, 32, 2}).flip({-1}).reshape({3, batch, heads, tokens, 64});
  const at::Tensor rotated = parts * cos + swapped * sin;
  EXPECT_TRUE(split[0].is_contiguous() && split[1].is_contiguous() && split[2].is_contiguous());
  EXPECT_EQ(split[0].sizes(), (std::vector<std::int64_t>{batch, heads, tokens, 64}));
  EXPECT_LT((split[0] - rotated[0]).abs().max().item<double>(), 1e-6);
  EXPECT_LT((split[1] - rotated[1]).abs().max().item<double>(), 1e-6);
  EXPECT_TRUE(split[2].equal(parts[2]));
  EXPECT_THROW(split_heads_with_rope(qkv.to(at::kDouble), heads, cos, sin), EngineError);
}

}  // namespace
}  // namespace evax::inference
