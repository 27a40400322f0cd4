#include "evax/inference/batcher.h"

namespace evax::inference {

namespace {

std::optional<LungModel> lung_model(const Segmenter* segmenter) {
  if (!segmenter) return std::nullopt;
  return LungModel(*segmenter);
}

}  // namespace

BatchingClassifier::BatchingClassifier(const Engine& engine, BatchingOptions options, const Segmenter* segmenter)
    : classifier_(engine),
      lungs_(lung_model(segmenter)),
      analysis_(classifier_, lungs_ ? &*lungs_ : nullptr),
      batcher_(analysis_, options) {}

}  // namespace evax::inference
