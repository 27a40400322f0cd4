// EvaXModel against timm's float64 answers (shared/fixtures/evax/oracle.safetensors) for the
// deterministic Ti, S and B weights: tokens, pooled features, logits, Grad-CAM.
#include <c10/core/InferenceMode.h>

#include "evax_checkpoint.h"
#include "evax_model.h"
#include "test_support.h"

namespace evax::inference {
namespace {

using testing::max_abs_difference;
using testing::reference;

struct SizeCase {
  const char* size;
  friend void PrintTo(const SizeCase& c, std::ostream* os) { *os << c.size; }
};

class ModelParity : public ::testing::TestWithParam<SizeCase> {
 protected:
  static const EvaXModel& model(const std::string& size) {
    static std::map<std::string, std::unique_ptr<EvaXModel>> cache;
    auto& slot = cache[size];
    if (!slot) slot = std::make_unique<EvaXModel>(demo_evax_weights(size, 14), ModelOptions{});
    return *slot;
  }
};

TEST_P(ModelParity, TokensPooledAndLogitsMatchTimmWithin1e4) {
  const std::string size = GetParam().size;
  const EvaXModel& m = model(size);
  c10::InferenceMode inference;
  const at::Tensor tokens = m.forward_tokens(reference("input224"));
  const at::Tensor pooled = m.pooled(tokens);
  const at::Tensor logits = m.logits(pooled);
  const double tokens_error = max_abs_difference(tokens, reference(size + "_tokens224"));
  const double pooled_error = max_abs_difference(pooled, reference(size + "_pooled224"));
  const double logits_error = max_abs_difference(logits, reference(size + "_logits224"));
  std::printf("%s: max |error| tokens %.2e, pooled %.2e, logits %.2e\n", size.c_str(), tokens_error, pooled_error,
              logits_error);
  EXPECT_LT(tokens_error, 1e-4);
  EXPECT_LT(pooled_error, 1e-4);
  EXPECT_LT(logits_error, 1e-4);
}

TEST_P(ModelParity, GradCamWeightsAndRawMapsMatchTimmWithin1e5Relative) {
  const std::string size = GetParam().size;
  const EvaXModel::GradCam cam = model(size).grad_cam(reference("input224"), {1, 2});
  for (int k = 0; k < 2; ++k) {
    const std::string suffix = "224_cls" + std::to_string(k + 1);
    const at::Tensor weights = reference(size + "_gradcam_weights" + suffix);
    const at::Tensor raw = reference(size + "_gradcam_raw" + suffix);
    const double weight_scale = weights.abs().max().item<double>();
    const double raw_scale = raw.abs().max().item<double>();
    const double weights_error = max_abs_difference(cam.weights.select(1, k), weights) / weight_scale;
    const double raw_error = max_abs_difference(cam.raw_maps.select(1, k), raw) / raw_scale;
    std::printf("%s %s: relative error weights %.2e, raw map %.2e\n", size.c_str(), suffix.c_str(), weights_error, raw_error);
    EXPECT_LT(weights_error, 1e-5) << suffix;
    EXPECT_LT(raw_error, 1e-5) << suffix;
  }
  EXPECT_LT(max_abs_difference(cam.logits, reference(size + "_logits224")), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(EvaX, ModelParity, ::testing::Values(SizeCase{"tiny"}, SizeCase{"small"}, SizeCase{"base"}),
                         [](const auto& info) { return std::string(info.param.size); });

TEST(ModelAt480, ResampledPosEmbedAndLogitsMatchTimm) {
  ModelOptions options;
  options.input_size = 480;
  const EvaXModel m(demo_evax_weights("tiny", 14), options);
  EXPECT_EQ(m.grid_side(), 30);
  EXPECT_LT(max_abs_difference(m.pos_embed(), reference("tiny_pos_embed480")), 1e-5);
  c10::InferenceMode inference;
  EXPECT_LT(max_abs_difference(m.logits(m.pooled(m.forward_tokens(reference("input480")))), reference("tiny_logits480")), 1e-4);
}

TEST(ModelAt480, LegacyResamplingDiffersFromTimmsAntialiasedOne) {
  const at::Tensor pos = demo_evax_weights("tiny", 14).tensors.at("pos_embed");
  const at::Tensor legacy = resample_pos_embed(pos, 30, /*antialias=*/false);
  EXPECT_EQ(legacy.sizes(), reference("tiny_pos_embed480").sizes());
  EXPECT_GT(max_abs_difference(legacy, reference("tiny_pos_embed480")), 1e-4);
  // the cls entry is carried over untouched either way
  EXPECT_EQ(max_abs_difference(legacy.narrow(1, 0, 1), pos.narrow(1, 0, 1)), 0.0);
}

}  // namespace
}  // namespace evax::inference
