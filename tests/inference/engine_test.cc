// The public engine: from grey images to probabilities in label order, options and errors.
#include "evax/inference/engine.h"

#include <torch/cuda.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "test_support.h"

namespace evax::inference {
namespace {

using testing::generated_path;
using testing::oracle_image;
using testing::reference;

std::unique_ptr<Engine> make_engine(EngineOptions options) {
  options.device = DeviceChoice::cpu;
  auto engine = Engine::create(options);
  if (!engine) throw std::runtime_error(engine.error());
  return std::move(*engine);
}

std::string create_error(EngineOptions options) {
  auto engine = Engine::create(options);
  return engine ? "" : engine.error();
}

TEST(Engine, DemoTinyGivesSigmoidOfTimmLogitsFromGreyImages) {
  const auto engine = make_engine({.checkpoint = "demo:tiny"});
  const ModelInfo& info = engine->info();
  EXPECT_TRUE(info.demo);
  EXPECT_EQ(info.name, "EVA-X-Ti");
  EXPECT_EQ(info.task, Task::cxr14);
  EXPECT_EQ(info.input_size, 224);
  ASSERT_EQ(info.labels.size(), 14u);
  EXPECT_EQ(info.labels.front(), "Atelectasis");
  EXPECT_EQ(info.labels.back(), "Hernia");
  EXPECT_FALSE(info.notes.empty());
  EXPECT_NE(info.notes.front().find("UNTRAINED"), std::string::npos);

  auto results = engine->classify({{oracle_image("image1_u8"), {}}, {oracle_image("image2_u8"), {}}});
  ASSERT_TRUE(results) << results.error();
  const at::Tensor expected = reference("tiny_logits224").to(at::kDouble).sigmoid();
  for (int i = 0; i < 2; ++i) {
    const auto& findings = (*results)[i].findings;
    ASSERT_EQ(findings.size(), 14u);
    for (int c = 0; c < 14; ++c) {
      EXPECT_EQ(findings[c].label, info.labels[c]);
      EXPECT_NEAR(findings[c].probability, expected[i][c].item<double>(), 1e-5) << i << " " << c;
      EXPECT_FALSE(findings[c].cam.has_value());
    }
  }
  EXPECT_EQ((*results)[0].geometry.crop_left, 46);
}

TEST(Engine, CheckpointFileInfersTaskAndSize) {
  const auto engine = make_engine({.checkpoint = generated_path("tiny_cxr14_ft.pth")});
  EXPECT_FALSE(engine->info().demo);
  EXPECT_EQ(engine->info().task, Task::cxr14);
  EXPECT_EQ(engine->info().checkpoint_format, "pytorch-zip");
  EXPECT_EQ(engine->info().rope_reference_grid, 14);
}

TEST(Engine, CovidxDemoRunsAt480WithSoftmax) {
  const auto engine = make_engine({.checkpoint = "demo:tiny", .task = Task::covidx3});
  EXPECT_EQ(engine->info().input_size, 480);
  auto results = engine->classify({{oracle_image("image2_u8"), {}}});
  ASSERT_TRUE(results) << results.error();
  const auto& findings = results->front().findings;
  ASSERT_EQ(findings.size(), 3u);
  EXPECT_EQ(findings[2].label, "COVID-19");
  const double total = std::accumulate(findings.begin(), findings.end(), 0.0,
                                       [](double sum, const Finding& f) { return sum + f.probability; });
  EXPECT_NEAR(total, 1.0, 1e-9);
}

TEST(Engine, ExplicitInputSizeResamplesAndMatchesTimmAt480) {
  const auto engine = make_engine({.checkpoint = "demo:tiny", .input_size = 480});
  auto results = engine->classify({{oracle_image("image1_u8"), {}}});
  ASSERT_TRUE(results) << results.error();
  const at::Tensor expected = reference("tiny_logits480").to(at::kDouble).sigmoid();
  for (int c = 0; c < 14; ++c) EXPECT_NEAR(results->front().findings[c].probability, expected[0][c].item<double>(), 1e-5);
}

TEST(Engine, MimBackboneGivesFeatures) {
  const auto engine = make_engine({.checkpoint = generated_path("tiny_mim_fp16.pt")});
  EXPECT_EQ(engine->info().task, Task::features);
  auto results = engine->classify({{oracle_image("image1_u8"), {}}});
  ASSERT_TRUE(results) << results.error();
  EXPECT_TRUE(results->front().findings.empty());
  EXPECT_EQ(results->front().features.size(), 192u);
}

TEST(Engine, TaskThatDoesNotFitTheHeadIsRefused) {
  const std::string error = create_error({.checkpoint = generated_path("tiny_cxr14_ft.pth"), .task = Task::chexpert});
  EXPECT_NE(error.find("needs a head of 5 outputs"), std::string::npos) << error;
}

TEST(Engine, BadOptionsAreErrorValues) {
  EXPECT_NE(create_error({.checkpoint = "demo:huge"}).find("unknown demo model size"), std::string::npos);
  EXPECT_NE(create_error({.checkpoint = "demo:tiny", .input_size = 230}).find("multiple of the patch size"), std::string::npos);
  EXPECT_NE(create_error({.checkpoint = "demo:tiny", .device = DeviceChoice::cpu, .precision = Precision::bf16})
                .find("need a CUDA device"),
            std::string::npos);
}

TEST(Engine, InvalidImageIsAnErrorNotACrash) {
  const auto engine = make_engine({.checkpoint = "demo:tiny"});
  auto results = engine->classify({{GreyImage{4, 4, {1, 2, 3}}, {}}});
  ASSERT_FALSE(results);
  EXPECT_NE(results.error().find("image 0"), std::string::npos);
  auto bad_class = engine->classify({{oracle_image("image1_u8"), {14}}});
  ASSERT_FALSE(bad_class);
  EXPECT_NE(bad_class.error().find("class 14"), std::string::npos);
}

TEST(Engine, GradCamMapsComeWithTheRequestedFindingsOnly) {
  const auto engine = make_engine({.checkpoint = "demo:tiny"});
  auto results = engine->classify({{oracle_image("image1_u8"), {1, 2}}, {oracle_image("image2_u8"), {}}});
  ASSERT_TRUE(results) << results.error();
  const auto& explained = (*results)[0].findings;
  ASSERT_TRUE(explained[1].cam && explained[2].cam);
  EXPECT_FALSE(explained[0].cam);
  EXPECT_FALSE((*results)[1].findings[1].cam);
  EXPECT_EQ(explained[1].cam->grid_side, 14);
  // raw maps are timm's (image 0 of the fixture batch); the deterministic weights make them
  // all negative, so after ReLU the normalised map is flat zero
  const at::Tensor raw = at::tensor(explained[1].cam->raw).view({14, 14});
  EXPECT_LT((raw - reference("tiny_gradcam_raw224_cls1")[0]).abs().max().item<double>(), 1e-4);
  for (float v : explained[1].cam->normalised) EXPECT_EQ(v, 0.0f);
  // probabilities from the Grad-CAM path equal the plain path's
  const at::Tensor expected = reference("tiny_logits224").to(at::kDouble).sigmoid();
  EXPECT_NEAR(explained[5].probability, expected[0][5].item<double>(), 1e-5);
  EXPECT_NEAR((*results)[1].findings[5].probability, expected[1][5].item<double>(), 1e-5);
}

TEST(Engine, TopKGradCamExplainsEachImagesMostProbableFindingsInOnePass) {
  const auto engine = make_engine({.checkpoint = "demo:small"});
  ClassifyRequest first{oracle_image("image1_u8"), {}, 3};
  ClassifyRequest second{oracle_image("image2_u8"), {}, 3};
  auto top = engine->classify({first, second});
  ASSERT_TRUE(top) << top.error();
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& findings = (*top)[i].findings;
    std::vector<int> order(findings.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return findings[a].probability > findings[b].probability; });
    const std::vector<int> expected_classes(order.begin(), order.begin() + 3);
    for (std::size_t c = 0; c < findings.size(); ++c)
      EXPECT_EQ(findings[c].cam.has_value(), std::find(expected_classes.begin(), expected_classes.end(), c) != expected_classes.end())
          << "image " << i << " class " << c;
    // The same maps and probabilities as asking for those classes by name.
    ClassifyRequest explicit_request{i == 0 ? first.image : second.image, expected_classes, 0};
    auto named = engine->classify({explicit_request});
    ASSERT_TRUE(named) << named.error();
    for (int c : expected_classes) {
      ASSERT_TRUE((*named)[0].findings[c].cam);
      const auto& a = findings[c].cam->raw;
      const auto& b = (*named)[0].findings[c].cam->raw;
      ASSERT_EQ(a.size(), b.size());
      for (std::size_t p = 0; p < a.size(); ++p) EXPECT_NEAR(a[p], b[p], 1e-5 * (1 + std::abs(b[p])));
      EXPECT_NEAR(findings[c].probability, (*named)[0].findings[c].probability, 1e-6);
    }
  }
  EXPECT_FALSE(engine->classify({{first.image, {1}, 2}}));  // both ways at once: an error value
}

TEST(RenderCam, UpsamplesOverTheCropAndLeavesTheRestBlack) {
  // A 2x2 map whose right column is hot, over a 100x50 image whose crop is the middle 50x50.
  CamMap cam{2, {0, 1, 0, 1}, {0.0f, 1.0f, 0.0f, 1.0f}};
  CropGeometry g{.image_width = 100, .image_height = 50, .resized_width = 100, .resized_height = 50,
                 .crop_left = 25, .crop_top = 0, .crop_size = 50};
  const auto pixels = render_cam(cam, g);
  ASSERT_EQ(pixels.size(), 5000u);
  EXPECT_EQ(pixels[10 * 100 + 5], 0);     // left of the crop
  EXPECT_EQ(pixels[10 * 100 + 95], 0);    // right of the crop
  EXPECT_EQ(pixels[10 * 100 + 26], 0);    // the crop's cold edge
  EXPECT_EQ(pixels[10 * 100 + 73], 255);  // the crop's hot edge
  // x = 50 is crop position 25.5, grid coordinate 25.5 / 25 - 0.5 = 0.52: 0.52 * 255 = 132.6
  EXPECT_EQ(pixels[10 * 100 + 50], 133);
}

}  // namespace
}  // namespace evax::inference
