// The lung segmentation model against the float64 reference of shared/fixtures/evax-seg (timm's
// Eva plus mmsegmentation 0.29.1's pyramid and UPerHead): every stage of the EVA-X-S UperNet at
// 512 with the deterministic weights, and the miniature model from both mmseg-layout checkpoints.
// Tolerances are the fixture README's for a float32 implementation.
#include <c10/core/InferenceMode.h>

#include "evax/inference/engine.h"
#include "evax/inference/segmenter.h"
#include "segmenter_internal.h"
#include "test_support.h"
#include "upernet_checkpoint.h"

namespace evax::inference {
namespace {

using testing::max_abs_difference;

using testing::grey_from;
using testing::main_ref;
using testing::seg_data;

std::map<std::string, at::Tensor> read_fixture(const std::string& name) { return testing::read_safetensors_file(seg_data(name)); }

std::unique_ptr<Segmenter> make_segmenter(const std::string& checkpoint, double threshold = 0.3) {
  SegmenterOptions options;
  options.checkpoint = checkpoint;
  options.device = DeviceChoice::cpu;
  options.threshold = threshold;
  auto segmenter = Segmenter::create(options);
  if (!segmenter) throw std::runtime_error(segmenter.error());
  return std::move(*segmenter);
}

// The 512 model and its stages on the fixture image, computed once for all tests.
struct MainRun {
  std::unique_ptr<Segmenter> segmenter = make_segmenter("demo");
  at::Tensor input = segmentation_input(grey_from(main_ref("image_u8")), 512);
  UperNetModel::Stages stages = SegmenterInternals::model(*segmenter).forward_stages(input.unsqueeze(0));
};
const MainRun& main_run() {
  static const MainRun run;
  return run;
}

TEST(SegmentationWeights, DemoWeightsFollowTheFixtureFormulaAndCount) {
  const UperNetWeights weights = demo_upernet_weights();
  auto first = [](const at::Tensor& t, int i) { return t.flatten()[i].item<double>(); };
  EXPECT_NEAR(first(weights.dense.at("backbone.fpn1.1.running_var"), 0), 0.93675315, 1e-7);
  EXPECT_NEAR(first(weights.dense.at("backbone.fpn1.1.running_mean"), 1), -0.0029671288, 1e-9);
  EXPECT_NEAR(first(weights.dense.at("decode_head.fpn_bottleneck.bn.running_var"), 3), 0.95566911, 1e-7);
  EXPECT_NEAR(first(weights.dense.at("backbone.fpn1.0.weight"), 2), -0.038307577, 1e-8);
  EXPECT_NEAR(first(weights.dense.at("decode_head.conv_seg.bias"), 0), 0.0076925587, 1e-9);
  // The backbone's values are keyed by `backbone.` + the timm name.
  EXPECT_NEAR(first(weights.backbone.tensors.at("blocks.0.mlp.fc1.weight"), 1), -0.07685171067714691, 1e-8);
  std::int64_t backbone = 0, head = 0;  // the fixture counts the pyramid as the backbone's
  for (const auto& [name, tensor] : weights.backbone.tensors) backbone += tensor.numel();
  for (const auto& [name, tensor] : weights.dense) (name.rfind("backbone.", 0) == 0 ? backbone : head) += tensor.numel();
  EXPECT_EQ(backbone, 23756544);
  EXPECT_EQ(head, 8073473);
}

TEST(SegmentationParity, InputIsTheReferenceNormalisation) {
  const at::Tensor& input = main_run().input;
  EXPECT_LT(max_abs_difference(input.narrow(0, 0, 1), main_ref("input_channel0")[0]), 1e-6);
  EXPECT_EQ(max_abs_difference(input[0], input[2]), 0.0);
}

TEST(SegmentationParity, BackboneAndPyramidWithin1e4) {
  const UperNetModel::Stages& s = main_run().stages;
  const double cls = max_abs_difference(s.tokens.select(1, 0), main_ref("vit_cls_out"));
  const double fpn1 = max_abs_difference(s.pyramid[0].narrow(1, 0, 32), main_ref("fpn1_c0_32"));
  const double fpn2 = max_abs_difference(s.pyramid[1].narrow(1, 0, 64), main_ref("fpn2_c0_64"));
  const double fpn3 = max_abs_difference(s.pyramid[2], main_ref("fpn3"));
  const double fpn4 = max_abs_difference(s.pyramid[3], main_ref("fpn4"));
  std::printf("max |error| cls %.2e fpn1 %.2e fpn2 %.2e fpn3 %.2e fpn4 %.2e\n", cls, fpn1, fpn2, fpn3, fpn4);
  EXPECT_EQ(s.pyramid[0].sizes(), (at::IntArrayRef{1, 384, 128, 128}));
  EXPECT_EQ(s.pyramid[1].sizes(), (at::IntArrayRef{1, 384, 64, 64}));
  EXPECT_LT(cls, 1e-4);
  EXPECT_LT(fpn1, 1e-4);
  EXPECT_LT(fpn2, 1e-4);
  EXPECT_LT(fpn3, 1e-4);
  EXPECT_LT(fpn4, 1e-4);
}

TEST(SegmentationParity, HeadStagesAndLogitsWithinTolerance) {
  const UperNetModel::Stages& s = main_run().stages;
  const double psp = max_abs_difference(s.psp_out, main_ref("head_psp_out"));
  const double fused = max_abs_difference(s.fused.narrow(1, 0, 8), main_ref("head_fused_c0_8"));
  const double logits = max_abs_difference(s.logits, main_ref("logits128"));
  std::printf("max |error| psp %.2e fused %.2e logits %.2e\n", psp, fused, logits);
  EXPECT_LT(psp, 1e-4);
  EXPECT_LT(fused, 1e-4);
  EXPECT_LT(logits, 5e-5);
}

TEST(SegmentationParity, ProbabilityMapAndMasksMatch) {
  const MainRun& run = main_run();
  const auto maps = run.segmenter->segment({grey_from(main_ref("image_u8"))}, /*keep_probability=*/true);
  ASSERT_TRUE(maps) << maps.error();
  const SegmentationMap& map = maps->front();
  ASSERT_EQ(map.probability.size(), 512u * 512u);
  const at::Tensor probability = at::from_blob(const_cast<float*>(map.probability.data()), {1, 1, 512, 512}, at::kFloat);
  const at::Tensor& expected = main_ref("prob512");
  const double error = max_abs_difference(probability, expected);
  std::printf("max |error| prob512 %.2e\n", error);
  EXPECT_LT(error, 1e-5);

  // mmseg's default 0.3 keeps every pixel here (the fixture says so), as ours does.
  const at::Tensor mask = at::from_blob(const_cast<std::uint8_t*>(map.mask.data()), {1, 512, 512}, at::kByte);
  EXPECT_TRUE(mask.equal(main_ref("mask512_thr0.3_u8")));

  // 0.95 splits the map about 60/40: the masks agree on every pixel not within 1e-5 of it.
  auto segmenter95 = make_segmenter("demo", 0.95);
  const auto maps95 = segmenter95->segment({grey_from(main_ref("image_u8"))});
  ASSERT_TRUE(maps95) << maps95.error();
  const at::Tensor ours = at::from_blob(const_cast<std::uint8_t*>(maps95->front().mask.data()), {1, 1, 512, 512}, at::kByte).to(at::kBool);
  const at::Tensor theirs = expected.gt(0.95);
  const at::Tensor decided = (expected - 0.95).abs().gt(1e-5);
  const double share = theirs.to(at::kDouble).mean().item<double>();
  EXPECT_GT(share, 0.55);
  EXPECT_LT(share, 0.65);
  EXPECT_EQ(decided.logical_not().sum().item<std::int64_t>(), 138);
  EXPECT_EQ(ours.ne(theirs).logical_and(decided).sum().item<std::int64_t>(), 0);
}

struct MiniCase {
  const char* checkpoint;
  friend void PrintTo(const MiniCase& c, std::ostream* os) { *os << c.checkpoint; }
};

class MiniCheckpoint : public ::testing::TestWithParam<MiniCase> {};

TEST_P(MiniCheckpoint, LoadsAndMatchesTheMiniReference) {
  const auto expected = read_fixture("mini_expected.safetensors");
  const auto segmenter = make_segmenter(seg_data(GetParam().checkpoint));
  const SegmenterInfo& info = segmenter->info();
  EXPECT_EQ(info.input_size, 64);
  EXPECT_EQ(info.embed_dim, 64);
  EXPECT_EQ(info.depth, 2);
  EXPECT_EQ(info.head_channels, 32);
  EXPECT_EQ(info.rope_reference_grid, 14);  // from the lowest frequency; acos at dim 32 would say 11

  const GreyImage image = grey_from(expected.at("image_u8"));
  const at::Tensor input = segmentation_input(image, 64).unsqueeze(0);
  EXPECT_LT(max_abs_difference(input, expected.at("input")), 1e-6);
  const UperNetModel::Stages s = SegmenterInternals::model(*segmenter).forward_stages(input);
  EXPECT_LT(max_abs_difference(s.tokens, expected.at("tokens")), 5e-5);
  for (int level = 0; level < 4; ++level)
    EXPECT_LT(max_abs_difference(s.pyramid[level], expected.at("fpn" + std::to_string(level + 1))), 5e-5) << "fpn" << level + 1;
  EXPECT_LT(max_abs_difference(s.psp_out, expected.at("head_psp_out")), 5e-5);
  EXPECT_LT(max_abs_difference(s.logits, expected.at("logits16")), 1e-5);

  const auto maps = segmenter->segment({image}, true);
  ASSERT_TRUE(maps) << maps.error();
  const at::Tensor probability = at::from_blob(const_cast<float*>(maps->front().probability.data()), {1, 1, 64, 64}, at::kFloat);
  EXPECT_LT(max_abs_difference(probability, expected.at("prob64")), 5e-6);
}

INSTANTIATE_TEST_SUITE_P(BothPalettes, MiniCheckpoint,
                         ::testing::Values(MiniCase{"mini_upernet_mmseg.pth"}, MiniCase{"mini_upernet_mmseg_npmeta.pth"}));

TEST(SegmentationCheckpoint, LoaderIgnoresCountersAndNotesWhatItRead) {
  const UperNetWeights weights = load_upernet_checkpoint(seg_data("mini_upernet_mmseg_npmeta.pth"));
  EXPECT_EQ(weights.format, "pytorch-zip");
  EXPECT_FALSE(weights.backbone.spec.has_fc_norm);
  EXPECT_EQ(weights.backbone.spec.mlp_hidden, 170);
  for (const auto& [name, tensor] : weights.dense) EXPECT_EQ(name.find("num_batches_tracked"), std::string::npos) << name;
  bool said_state_dict = false;
  for (const auto& note : weights.notes) said_state_dict |= note.find("'state_dict'") != std::string::npos;
  EXPECT_TRUE(said_state_dict);
}

TEST(SegmentationCheckpoint, AClassifierCheckpointIsRefusedWithAReason) {
  SegmenterOptions options;
  options.checkpoint = std::string(EVAX_TEST_DATA_DIR) + "/evax/minibase_ft.pth";
  options.device = DeviceChoice::cpu;
  const auto segmenter = Segmenter::create(options);
  ASSERT_FALSE(segmenter);
  EXPECT_NE(segmenter.error().find("neither backbone., decode_head. nor auxiliary_head."), std::string::npos) << segmenter.error();
}

TEST(SegmentationCheckpoint, ASegmentationCheckpointIsNotAClassifier) {
  EngineOptions options;
  options.checkpoint = seg_data("mini_upernet_mmseg.pth");
  options.device = DeviceChoice::cpu;
  const auto engine = Engine::create(options);
  ASSERT_FALSE(engine);
  EXPECT_NE(engine.error().find("fc_norm"), std::string::npos) << engine.error();
}

TEST(SegmentationCheckpoint, PickleGlobalsOutsideTheAllowListAreRefused) {
  SegmenterOptions options;
  options.checkpoint = std::string(EVAX_TEST_DATA_DIR) + "/evax/evil_reduce.pth";
  options.device = DeviceChoice::cpu;
  const auto segmenter = Segmenter::create(options);
  ASSERT_FALSE(segmenter);
  EXPECT_NE(segmenter.error().find("global"), std::string::npos) << segmenter.error();
}

TEST(Segmenter, MapsHaveTheImageSizeForAnyShapeAndOtherInputSizesResample) {
  SegmenterOptions options;
  options.checkpoint = seg_data("mini_upernet_mmseg.pth");
  options.device = DeviceChoice::cpu;
  options.input_size = 96;  // not the trained 64: pos_embed is resampled the legacy way
  auto segmenter = Segmenter::create(options);
  ASSERT_TRUE(segmenter) << segmenter.error();
  bool resampled = false;
  for (const auto& note : (*segmenter)->info().notes) resampled |= note.find("without antialias") != std::string::npos;
  EXPECT_TRUE(resampled);
  GreyImage wide{150, 70, std::vector<std::uint8_t>(150 * 70)};
  for (std::size_t i = 0; i < wide.pixels.size(); ++i) wide.pixels[i] = static_cast<std::uint8_t>(i * 7);
  const auto maps = (*segmenter)->segment({wide, GreyImage{30, 40, std::vector<std::uint8_t>(1200, 9)}});
  ASSERT_TRUE(maps) << maps.error();
  EXPECT_EQ((*maps)[0].width, 150);
  EXPECT_EQ((*maps)[0].mask.size(), 150u * 70u);
  EXPECT_EQ((*maps)[1].mask.size(), 30u * 40u);

  options.input_size = 80;  // a multiple of 16 but not of 32: the pyramid's half level would not exist
  const auto odd = Segmenter::create(options);
  ASSERT_FALSE(odd);
  EXPECT_NE(odd.error().find("multiple of 32"), std::string::npos) << odd.error();
  options.input_size = 64;
  options.threshold = 1.0;
  EXPECT_FALSE(Segmenter::create(options));
  const auto bad = make_segmenter(seg_data("mini_upernet_mmseg.pth"))->segment({GreyImage{10, 10, {}}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("image 0"), std::string::npos);
}

}  // namespace
}  // namespace evax::inference
