// The generic ModelBatcher against fake Models (no LibTorch): batching across callers, the
// waits, errors answered per batch, shutdown, and a second model type; then ClassifierWithLungs
// over fake classifier and lung models.
#include "evax/inference/model_batcher.h"

#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "evax/inference/node_models.h"

namespace evax::inference {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Doubles its inputs; refuses 0; fails a batch that holds a negative input; throws on 1000.
class Doubler final : public Model<int, int> {
 public:
  explicit Doubler(int max_batch = 0) : max_batch_(max_batch) {}
  std::string name() const override { return "doubler"; }
  ModelLimits limits() const override { return {max_batch_}; }
  std::optional<std::string> refusal(const int& input) const override {
    if (input == 0) return "zero is refused";
    return std::nullopt;
  }
  std::expected<std::vector<int>, std::string> run(Batch batch) const override {
    runs += 1;
    std::vector<int> out;
    for (const int* input : batch) {
      if (*input < 0) return std::unexpected("negative input " + std::to_string(*input));
      if (*input == 1000) throw std::runtime_error("the device fell over");
      out.push_back(*input * 2);
    }
    return out;
  }
  mutable std::atomic<int> runs{0};

 private:
  const int max_batch_;
};

TEST(ModelBatcher, CallersOnSeveralThreadsShareOneBatchAndGetTheirOwnAnswers) {
  Doubler model;
  // A long max_wait: the batch runs because it is full, not because the wait ran out.
  ModelBatcher<int, int> batcher(model, {.max_batch = 8, .max_wait = 30s});
  constexpr int kThreads = 4, kPerThread = 2;
  std::vector<std::vector<ModelBatcher<int, int>::Outcome>> answers(kThreads);
  const auto started = Clock::now();
  {
    std::vector<std::jthread> callers;
    for (int t = 0; t < kThreads; ++t)
      callers.emplace_back([&, t] {
        std::vector<std::future<ModelBatcher<int, int>::Outcome>> futures;
        for (int i = 0; i < kPerThread; ++i) futures.push_back(batcher.submit(1 + t * kPerThread + i));
        for (auto& f : futures) answers[t].push_back(f.get());
      });
  }
  EXPECT_LT(Clock::now() - started, 10s);
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kPerThread; ++i) {
      ASSERT_TRUE(answers[t][i]) << answers[t][i].error();
      EXPECT_EQ(*answers[t][i], 2 * (1 + t * kPerThread + i));
    }
  const BatchStats stats = batcher.stats();
  EXPECT_EQ(stats.batches, 1u);
  EXPECT_EQ(stats.images, 8u);
  EXPECT_EQ(stats.largest_batch, 8);
  EXPECT_EQ(stats.batches_by_size.at(8), 1u);
  EXPECT_EQ(stats.seconds_buckets.back(), 1u);  // every batch lands in the last (cumulative) bucket
}

TEST(ModelBatcher, ALoneRequestRunsWhenMaxWaitRunsOut) {
  Doubler model;
  ModelBatcher<int, int> batcher(model, {.max_batch = 8, .max_wait = 100ms});
  const auto started = Clock::now();
  auto answer = batcher.submit(21);
  ASSERT_EQ(answer.wait_for(10s), std::future_status::ready);
  const auto waited = Clock::now() - started;
  EXPECT_GE(waited, 100ms);  // it waited for company...
  EXPECT_LT(waited, 5s);     // ...but no longer than max_wait (with slack for a loaded machine)
  EXPECT_EQ(answer.get(), 42);
}

TEST(ModelBatcher, TheModelsOwnLimitCapsTheBatch) {
  Doubler model(/*max_batch=*/3);
  ModelBatcher<int, int> batcher(model, {.max_batch = 8, .max_wait = 50ms});
  EXPECT_EQ(batcher.max_batch(), 3);
  std::vector<std::future<ModelBatcher<int, int>::Outcome>> futures;
  for (int i = 1; i <= 7; ++i) futures.push_back(batcher.submit(i));
  for (auto& f : futures) ASSERT_TRUE(f.get());
  EXPECT_EQ(batcher.stats().largest_batch, 3);
  EXPECT_EQ(batcher.stats().batches, 3u);
}

TEST(ModelBatcher, RefusedInputsAreAnsweredAtOnceAndNeverBatched) {
  Doubler model;
  ModelBatcher<int, int> batcher(model, {.max_batch = 8, .max_wait = 30s});
  auto refused = batcher.submit(0);
  ASSERT_EQ(refused.wait_for(0s), std::future_status::ready);
  const auto answer = refused.get();
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error(), "zero is refused");
  EXPECT_EQ(batcher.stats().images, 0u);
}

TEST(ModelBatcher, AFailedBatchAnswersEachRequestOnItsOwn) {
  Doubler model;
  ModelBatcher<int, int> batcher(model, {.max_batch = 3, .max_wait = 30s});
  auto good = batcher.submit(1);
  auto bad = batcher.submit(-5);
  auto also_good = batcher.submit(2);
  EXPECT_EQ(good.get(), 2);
  const auto failed = bad.get();
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error(), "negative input -5");
  EXPECT_EQ(also_good.get(), 4);
  EXPECT_EQ(batcher.stats().batches, 1u);  // one batch, retried one by one after it failed
  EXPECT_EQ(model.runs.load(), 4);

  // A model that throws answers its batch with an error; the worker lives on.
  auto alone = ModelBatcher<int, int>::Outcome{};
  {
    ModelBatcher<int, int> quick(model, {.max_batch = 1, .max_wait = 0ms});
    auto crashed = quick.submit(1000).get();
    ASSERT_FALSE(crashed);
    EXPECT_EQ(crashed.error(), "doubler: the device fell over");
    alone = quick.submit(7).get();
  }
  ASSERT_TRUE(alone);
  EXPECT_EQ(*alone, 14);
}

TEST(ModelBatcher, DestructionServesWhatIsQueuedWithoutWaitingForMaxWait) {
  Doubler model;
  std::vector<std::future<ModelBatcher<int, int>::Outcome>> pending;
  const auto started = Clock::now();
  {
    ModelBatcher<int, int> batcher(model, {.max_batch = 2, .max_wait = 30s});
    for (int i = 1; i <= 5; ++i) pending.push_back(batcher.submit(i));
  }
  EXPECT_LT(Clock::now() - started, 10s);
  for (int i = 1; i <= 5; ++i) {
    auto& f = pending[static_cast<std::size_t>(i - 1)];
    ASSERT_EQ(f.wait_for(0s), std::future_status::ready);
    EXPECT_EQ(f.get(), 2 * i);
  }
}

// Another model type, with move-only inputs: the same batcher serves it unchanged, and hands the
// model the callers' own inputs (a batch copies nothing; a copy would not compile).
class Measurer final : public Model<std::unique_ptr<std::string>, std::size_t> {
 public:
  std::string name() const override { return "measurer"; }
  std::optional<std::string> refusal(const std::unique_ptr<std::string>& input) const override {
    if (!input) return "no text";
    return std::nullopt;
  }
  std::expected<std::vector<std::size_t>, std::string> run(Batch batch) const override {
    std::vector<std::size_t> lengths;
    for (const auto* input : batch) {
      seen.push_back(input->get());
      lengths.push_back((*input)->size());
    }
    return lengths;
  }
  mutable std::vector<const std::string*> seen;  // only the worker thread writes it
};

TEST(ModelBatcher, ASecondModelTypeNeedsNoBatcherChangeAndItsInputsAreNotCopied) {
  Measurer model;
  auto text = std::make_unique<std::string>("chest");
  const std::string* address = text.get();
  std::future<ModelBatcher<std::unique_ptr<std::string>, std::size_t>::Outcome> length;
  {
    ModelBatcher<std::unique_ptr<std::string>, std::size_t> batcher(model, {.max_batch = 4, .max_wait = 10ms});
    length = batcher.submit(std::move(text));
    EXPECT_FALSE(batcher.submit(nullptr).get());
  }
  EXPECT_EQ(length.get(), 5u);
  ASSERT_EQ(model.seen.size(), 1u);
  EXPECT_EQ(model.seen[0], address);
}

// ClassifierWithLungs over fakes: the lung model gets, as one batch, the very images of the
// requests that asked (not copies) and its maps land on those results.
class FakeClassifier final : public Model<ClassifyRequest, ImageResult> {
 public:
  std::string name() const override { return "classification"; }
  std::optional<std::string> refusal(const ClassifyRequest& request) const override {
    if (!request.image.valid()) return "bad image";
    return std::nullopt;
  }
  std::expected<std::vector<ImageResult>, std::string> run(Batch batch) const override {
    std::vector<ImageResult> results(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) results[i].findings.push_back({"width", static_cast<double>(batch[i]->image.width), {}});
    return results;
  }
};

class FakeLungs final : public Model<GreyImage, SegmentationMap> {
 public:
  std::string name() const override { return "lung segmentation"; }
  ModelLimits limits() const override { return {4}; }
  std::optional<std::string> refusal(const GreyImage&) const override { return std::nullopt; }
  std::expected<std::vector<SegmentationMap>, std::string> run(Batch batch) const override {
    if (fail) return std::unexpected(std::string("out of memory"));
    batches.emplace_back(batch.begin(), batch.end());
    std::vector<SegmentationMap> maps;
    for (const GreyImage* image : batch) maps.push_back({image->width, image->height, {}, {}});
    return maps;
  }
  bool fail = false;
  mutable std::vector<std::vector<const GreyImage*>> batches;
};

GreyImage blank(int width) { return {width, 2, std::vector<std::uint8_t>(static_cast<std::size_t>(width) * 2)}; }

TEST(ClassifierWithLungs, SegmentsOnlyTheImagesThatAskInOneBatch) {
  FakeClassifier classifier;
  FakeLungs lungs;
  const ClassifierWithLungs model(classifier, &lungs);
  EXPECT_EQ(model.limits().max_batch, 4);
  const std::vector<ClassifyRequest> requests = {{blank(3), {}, 0, true}, {blank(4), {}, 0, false}, {blank(5), {}, 0, true}};
  const std::vector<const ClassifyRequest*> batch = {&requests[0], &requests[1], &requests[2]};
  const auto results = model.run(batch);
  ASSERT_TRUE(results) << results.error();
  ASSERT_EQ(lungs.batches.size(), 1u);
  EXPECT_EQ(lungs.batches[0], (std::vector<const GreyImage*>{&requests[0].image, &requests[2].image}));
  ASSERT_TRUE((*results)[0].lungs);
  EXPECT_EQ((*results)[0].lungs->width, 3);
  EXPECT_FALSE((*results)[1].lungs);
  EXPECT_EQ((*results)[2].lungs->width, 5);
  EXPECT_EQ((*results)[1].findings.at(0).probability, 4.0);

  lungs.fail = true;
  const auto failed = model.run(batch);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error(), "lung segmentation: out of memory");
}

TEST(ClassifierWithLungs, AskingForLungsWithoutALungModelIsRefused) {
  FakeClassifier classifier;
  const ClassifierWithLungs model(classifier, nullptr);
  EXPECT_FALSE(model.refusal({blank(3), {}, 0, false}));
  const auto refused = model.refusal({blank(3), {}, 0, true});
  ASSERT_TRUE(refused);
  EXPECT_NE(refused->find("no segmentation model"), std::string::npos);
  EXPECT_TRUE(model.refusal({GreyImage{2, 2, {}}, {}, 0, false}));
}

}  // namespace
}  // namespace evax::inference
