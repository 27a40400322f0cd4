// Everything that needs a GPU (label `gpu`): parity of the classifier and the lung model on
// CUDA in fp32, bf16 and fp16, and CUDA graph replays against eager runs. Each test skips,
// visibly, where LibTorch sees no CUDA device; scripts/gpu_check.sh runs them on a GPU machine.
#include <c10/core/InferenceMode.h>
#include <torch/cuda.h>

#include <algorithm>

#include "evax/inference/engine.h"
#include "evax/inference/segmenter.h"
#include "evax_checkpoint.h"
#include "evax_model.h"
#include "segmenter_internal.h"
#include "test_support.h"
#include "upernet_model.h"

namespace evax::inference {
namespace {

using testing::grey_from;
using testing::main_ref;
using testing::max_abs_difference;
using testing::oracle_image;
using testing::reference;

// Every test here skips, visibly, where LibTorch sees no CUDA device.
class Cuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device in this run";
  }
};

struct SizeCase {
  const char* size;
  friend void PrintTo(const SizeCase& c, std::ostream* os) { *os << c.size; }
};

class CudaParity : public ::testing::TestWithParam<SizeCase> {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device in this run";
  }
  static EvaXModel on_cuda(const std::string& size, at::ScalarType dtype) {
    return EvaXModel(demo_evax_weights(size, 14), ModelOptions{.device = at::Device(at::kCUDA, 0), .dtype = dtype});
  }
  static at::Tensor logits(const EvaXModel& m, const at::Tensor& input) {
    c10::InferenceMode inference;
    return m.logits(m.pooled(m.forward_tokens(input.cuda()))).to(at::kFloat).cpu();
  }
};

TEST_P(CudaParity, Fp32LogitsAndGradCamWithin1e3) {
  const std::string size = GetParam().size;
  const EvaXModel m = on_cuda(size, at::kFloat);
  const double logits_error = max_abs_difference(logits(m, reference("input224")), reference(size + "_logits224"));
  const EvaXModel::GradCam cam = m.grad_cam(reference("input224").cuda(), {1});
  const at::Tensor raw = reference(size + "_gradcam_raw224_cls1");
  const double cam_error = max_abs_difference(cam.raw_maps.select(1, 0), raw) / raw.abs().max().item<double>();
  std::printf("%s cuda fp32: logits max |error| %.2e, Grad-CAM raw relative %.2e\n", size.c_str(), logits_error, cam_error);
  EXPECT_LT(logits_error, 1e-3);
  EXPECT_LT(cam_error, 1e-3);
}

TEST_P(CudaParity, Bf16AndFp16ProbabilitiesWithin2e2) {
  const std::string size = GetParam().size;
  const at::Tensor expected = reference(size + "_logits224").sigmoid();
  for (auto dtype : {at::kBFloat16, at::kHalf}) {
    const double error = max_abs_difference(logits(on_cuda(size, dtype), reference("input224")).sigmoid(), expected);
    std::printf("%s cuda %s: probabilities max |error| %.2e\n", size.c_str(), c10::toString(dtype), error);
    EXPECT_LT(error, 2e-2) << c10::toString(dtype);
  }
}

INSTANTIATE_TEST_SUITE_P(EvaX, CudaParity, ::testing::Values(SizeCase{"tiny"}, SizeCase{"small"}, SizeCase{"base"}),
                         [](const auto& info) { return std::string(info.param.size); });

TEST_F(Cuda, EngineGraphReplayGivesTheEagerProbabilities) {
  auto graphed = Engine::create({.checkpoint = "demo:small", .device = DeviceChoice::cuda, .cuda_graph_batches = {1, 2}});
  auto eager = Engine::create({.checkpoint = "demo:small", .device = DeviceChoice::cuda, .cuda_graph_batches = {}});
  ASSERT_TRUE(graphed && eager);
  const auto& notes = (*graphed)->info().notes;
  EXPECT_TRUE(std::any_of(notes.begin(), notes.end(), [](const std::string& n) { return n.find("CUDA graph") != std::string::npos; }));
  for (std::size_t batch : {1u, 2u, 3u}) {  // 3 has no graph and runs eagerly
    std::vector<ClassifyRequest> requests(batch, ClassifyRequest{oracle_image("image1_u8"), {}});
    requests.back().image = oracle_image("image2_u8");
    auto a = (*graphed)->classify(requests);
    auto b = (*eager)->classify(requests);
    ASSERT_TRUE(a && b);
    for (std::size_t i = 0; i < batch; ++i)
      for (int c = 0; c < 14; ++c) EXPECT_NEAR((*a)[i].findings[c].probability, (*b)[i].findings[c].probability, 1e-6);
  }
}

TEST_F(Cuda, SegmenterGraphReplayGivesTheEagerMaskAndProbabilities) {
  auto make = [](std::vector<int> graph_batches) {
    SegmenterOptions options{.checkpoint = "demo", .threshold = 0.95, .device = DeviceChoice::cuda, .precision = Precision::bf16};
    options.cuda_graph_batches = std::move(graph_batches);
    return Segmenter::create(options);
  };
  auto graphed = make({1});
  auto eager = make({});
  ASSERT_TRUE(graphed && eager);
  const auto& notes = (*graphed)->info().notes;
  EXPECT_TRUE(std::any_of(notes.begin(), notes.end(), [](const std::string& n) { return n.find("batch 1 runs as a captured CUDA graph") != std::string::npos; }));
  const GreyImage image = grey_from(main_ref("image_u8"));
  for (int round = 0; round < 2; ++round) {  // a second replay reuses the static buffers
    auto a = (*graphed)->segment({image}, true);
    auto b = (*eager)->segment({image}, true);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->front().mask, b->front().mask);
    double worst = 0;
    for (std::size_t p = 0; p < a->front().probability.size(); ++p)
      worst = std::max(worst, static_cast<double>(std::abs(a->front().probability[p] - b->front().probability[p])));
    EXPECT_LT(worst, 1e-6);
  }
}

// On a GPU: fp32 (TF32 off) within 1e-3 of the reference; bf16 and fp16 logits within 5e-2
// and their masks equal wherever the reference is at least 0.01 from the threshold 0.95.
TEST_F(Cuda, SegmentationPrecisionsStayCloseToTheReference) {
  const GreyImage image = grey_from(main_ref("image_u8"));
  const at::Tensor& expected = main_ref("prob512");
  for (auto precision : {Precision::fp32, Precision::bf16, Precision::fp16}) {
    SegmenterOptions options;
    options.checkpoint = "demo";
    options.device = DeviceChoice::cuda;
    options.precision = precision;
    options.threshold = 0.95;
    auto segmenter = Segmenter::create(options);
    ASSERT_TRUE(segmenter) << segmenter.error();
    const UperNetModel& model = SegmenterInternals::model(**segmenter);
    const at::Tensor logits = model.logits(segmentation_input(image, 512).unsqueeze(0).cuda()).to(at::kFloat).cpu();
    const double logit_error = max_abs_difference(logits, main_ref("logits128"));
    const auto maps = (*segmenter)->segment({image}, true);
    ASSERT_TRUE(maps) << maps.error();
    const at::Tensor probability = at::from_blob(const_cast<float*>(maps->front().probability.data()), {1, 1, 512, 512}, at::kFloat);
    const at::Tensor ours = at::from_blob(const_cast<std::uint8_t*>(maps->front().mask.data()), {1, 1, 512, 512}, at::kByte).to(at::kBool);
    const at::Tensor clear = (expected - 0.95).abs().ge(0.01);
    const auto mismatched = ours.ne(expected.gt(0.95)).logical_and(clear).sum().item<std::int64_t>();
    std::printf("%s: max |error| logits %.2e, probabilities %.2e, mask mismatches away from 0.95: %lld\n",
                std::string(precision_name(precision)).c_str(), logit_error, max_abs_difference(probability, expected),
                static_cast<long long>(mismatched));
    EXPECT_LT(logit_error, precision == Precision::fp32 ? 1e-3 : 5e-2);
    EXPECT_EQ(mismatched, 0);
  }
}

}  // namespace
}  // namespace evax::inference
