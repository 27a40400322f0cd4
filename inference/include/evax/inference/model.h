// Model: what a ModelBatcher needs of a model, whatever it computes. A model takes one batch of
// inputs and answers one output per input, in order, or one error for the batch. Classifier
// (ClassifierModel), lung segmenter (LungModel) and their combination (ClassifierWithLungs) are
// Models; adding a model type means one more implementation, not a change to the batcher.
// Implementations must be thread-safe for run() and refusal().
#pragma once

#include <expected>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace evax::inference {

struct ModelLimits {
  int max_batch = 0;  // the most inputs one run() takes; 0: no limit of the model's own
};

template <typename In, typename Out>
class Model {
 public:
  using Input = In;
  using Output = Out;
  // A batch is a view of the callers' inputs (pointers: a batch copies no image).
  using Batch = std::span<const In* const>;

  virtual ~Model() = default;

  // For messages and logs: "classification", "lung segmentation".
  virtual std::string name() const = 0;
  virtual ModelLimits limits() const { return {}; }
  // Why this input could never run (answered at once, never batched); nothing if it may.
  virtual std::optional<std::string> refusal(const In& input) const = 0;
  // One batch: one output per input, in order; a failure is an error value for the batch.
  virtual std::expected<std::vector<Out>, std::string> run(Batch batch) const = 0;
};

}  // namespace evax::inference
