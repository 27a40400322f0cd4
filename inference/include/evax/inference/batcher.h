// BatchingClassifier: the node's analysis batcher. A ModelBatcher over ClassifierWithLungs:
// classification requests from many callers share engine batches (images of different studies
// in one forward pass) and, with a Segmenter, the images of a batch that ask for it are
// segmented as one batch right after their classification. Owns one worker thread (the
// ModelBatcher's), joined on destruction after the queued requests are served. Thread-safe:
// submit() from any thread.
#pragma once

#include <future>
#include <optional>
#include <string>

#include "evax/inference/engine.h"
#include "evax/inference/model_batcher.h"
#include "evax/inference/node_models.h"
#include "evax/inference/segmenter.h"

namespace evax::inference {

class BatchingClassifier {
 public:
  using Outcome = ModelBatcher<ClassifyRequest, ImageResult>::Outcome;
  using Stats = BatchStats;  // wall time per batch: classification, Grad-CAM and segmentation

  // `engine` (and `segmenter`, which may be null) must outlive this object.
  BatchingClassifier(const Engine& engine, BatchingOptions options, const Segmenter* segmenter = nullptr);

  // Queues one image. A request the models could never serve (bad image, unknown class, lungs
  // without a Segmenter) is answered at once; otherwise the future is fulfilled when its batch has run.
  std::future<Outcome> submit(ClassifyRequest request) { return batcher_.submit(std::move(request)); }

  Stats stats() const { return batcher_.stats(); }

 private:
  const ClassifierModel classifier_;
  const std::optional<LungModel> lungs_;
  const ClassifierWithLungs analysis_;
  ModelBatcher<ClassifyRequest, ImageResult> batcher_;  // last: its worker stops before the models go
};

}  // namespace evax::inference
