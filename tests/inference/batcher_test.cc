// Batching across callers: requests from many threads share engine batches and each caller
// gets its own image's answer.
#include "evax/inference/batcher.h"

#include <thread>

#include "test_support.h"

namespace evax::inference {
namespace {

using testing::oracle_image;

std::unique_ptr<Engine> tiny_engine() {
  auto engine = Engine::create({.checkpoint = "demo:tiny", .device = DeviceChoice::cpu});
  if (!engine) throw std::runtime_error(engine.error());
  return std::move(*engine);
}

TEST(Batcher, ConcurrentCallersShareBatchesAndGetTheirOwnAnswers) {
  const auto engine = tiny_engine();
  const GreyImage images[2] = {oracle_image("image1_u8"), oracle_image("image2_u8")};
  auto direct = engine->classify({{images[0], {}}, {images[1], {}}});
  ASSERT_TRUE(direct);

  BatchingClassifier batcher(*engine, {.max_batch = 8, .max_wait = std::chrono::milliseconds(200)});
  constexpr int kThreads = 4, kPerThread = 2;
  std::vector<std::thread> callers;
  std::vector<std::vector<BatchingClassifier::Outcome>> answers(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    callers.emplace_back([&, t] {
      std::vector<std::future<BatchingClassifier::Outcome>> futures;
      for (int i = 0; i < kPerThread; ++i) futures.push_back(batcher.submit({images[(t + i) % 2], {}}));
      for (auto& f : futures) answers[t].push_back(f.get());
    });
  }
  for (auto& c : callers) c.join();

  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      const auto& answer = answers[t][i];
      ASSERT_TRUE(answer) << answer.error();
      const auto& expected = (*direct)[(t + i) % 2].findings;
      for (std::size_t c = 0; c < expected.size(); ++c)
        EXPECT_NEAR(answer->findings[c].probability, expected[c].probability, 1e-6);
    }
  }
  const auto stats = batcher.stats();
  EXPECT_EQ(stats.images, static_cast<std::uint64_t>(kThreads * kPerThread));
  EXPECT_GT(stats.largest_batch, 1);
  EXPECT_LT(stats.batches, static_cast<std::uint64_t>(kThreads * kPerThread));
}

TEST(Batcher, BatchesNeverExceedMaxBatch) {
  const auto engine = tiny_engine();
  const GreyImage image = oracle_image("image1_u8");
  BatchingClassifier batcher(*engine, {.max_batch = 2, .max_wait = std::chrono::milliseconds(100)});
  std::vector<std::future<BatchingClassifier::Outcome>> futures;
  for (int i = 0; i < 5; ++i) futures.push_back(batcher.submit({image, {}}));
  for (auto& f : futures) ASSERT_TRUE(f.get());
  EXPECT_EQ(batcher.stats().largest_batch, 2);
  EXPECT_EQ(batcher.stats().batches, 3u);
}

TEST(Batcher, BadRequestsAreAnsweredAtOnceAndDoNotPoisonOthers) {
  const auto engine = tiny_engine();
  BatchingClassifier batcher(*engine, {.max_batch = 4, .max_wait = std::chrono::milliseconds(50)});
  auto bad_image = batcher.submit({GreyImage{2, 2, {}}, {}});
  auto bad_class = batcher.submit({oracle_image("image1_u8"), {99}});
  auto good = batcher.submit({oracle_image("image1_u8"), {3}});
  ASSERT_EQ(bad_image.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  EXPECT_FALSE(bad_image.get());
  EXPECT_FALSE(bad_class.get());
  auto answer = good.get();
  ASSERT_TRUE(answer) << answer.error();
  EXPECT_TRUE(answer->findings[3].cam.has_value());
}

TEST(Batcher, DestructionServesWhatIsQueued) {
  const auto engine = tiny_engine();
  std::future<BatchingClassifier::Outcome> pending;
  {
    BatchingClassifier batcher(*engine, {.max_batch = 8, .max_wait = std::chrono::seconds(30)});
    pending = batcher.submit({oracle_image("image2_u8"), {}});
  }  // must not wait 30 s, and must not drop the request
  ASSERT_EQ(pending.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  EXPECT_TRUE(pending.get());
}

}  // namespace
}  // namespace evax::inference

namespace evax::inference {
namespace {

// With a Segmenter, the images that ask for their lungs get a map the size of the image, in the
// same batch as their classification; the others get none.
TEST(Batcher, TheImagesThatAskAreSegmentedInTheirBatch) {
  const auto engine = tiny_engine();
  SegmenterOptions options;
  options.checkpoint = std::string(EVAX_TEST_DATA_DIR).append("/evax-seg/mini_upernet_mmseg.pth");
  options.device = DeviceChoice::cpu;
  auto segmenter = Segmenter::create(options);
  ASSERT_TRUE(segmenter) << segmenter.error();
  BatchingClassifier batcher(*engine, {.max_batch = 4, .max_wait = std::chrono::milliseconds(200)}, segmenter->get());
  GreyImage image{90, 70, std::vector<std::uint8_t>(90 * 70)};
  for (std::size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<std::uint8_t>(i * 13);
  auto with = batcher.submit({image, {}, 0, /*segment_lungs=*/true});
  auto without = batcher.submit({image, {}, 0, false});
  const auto segmented = with.get();
  const auto plain = without.get();
  ASSERT_TRUE(segmented) << segmented.error();
  ASSERT_TRUE(plain) << plain.error();
  ASSERT_TRUE(segmented->lungs);
  EXPECT_EQ(segmented->lungs->width, 90);
  EXPECT_EQ(segmented->lungs->mask.size(), 90u * 70u);
  EXPECT_FALSE(plain->lungs);
  EXPECT_EQ(segmented->findings.size(), 14u);
  EXPECT_EQ(batcher.stats().batches, 1u);  // both in one batch

  // Without a Segmenter, asking for lungs is an answer at once, not a silent omission.
  BatchingClassifier classifier_only(*engine, {});
  const auto refused = classifier_only.submit({image, {}, 0, true}).get();
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("no segmentation model"), std::string::npos);
}

}  // namespace
}  // namespace evax::inference
