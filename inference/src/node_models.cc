#include "evax/inference/node_models.h"

#include <algorithm>

namespace evax::inference {

namespace {

std::optional<std::string> image_refusal(const GreyImage& image) {
  if (image.valid()) return std::nullopt;
  return "image is empty or its pixel buffer does not match its size";
}

}  // namespace

std::optional<std::string> ClassifierModel::refusal(const ClassifyRequest& request) const {
  if (auto refused = image_refusal(request.image)) return refused;
  const int classes = static_cast<int>(engine_.info().labels.size());
  for (int c : request.cam_classes)
    if (c < 0 || c >= classes) return "Grad-CAM class " + std::to_string(c) + " is not an output of this head";
  return std::nullopt;
}

std::expected<std::vector<ImageResult>, std::string> ClassifierModel::run(Batch batch) const { return engine_.classify(batch); }

std::optional<std::string> LungModel::refusal(const GreyImage& image) const { return image_refusal(image); }

std::expected<std::vector<SegmentationMap>, std::string> LungModel::run(Batch batch) const { return segmenter_.segment(batch); }

ModelLimits ClassifierWithLungs::limits() const {
  const int classifier = classifier_.limits().max_batch;
  const int lungs = lungs_ ? lungs_->limits().max_batch : 0;
  if (classifier == 0 || lungs == 0) return {std::max(classifier, lungs)};
  return {std::min(classifier, lungs)};
}

std::optional<std::string> ClassifierWithLungs::refusal(const ClassifyRequest& request) const {
  if (auto refused = classifier_.refusal(request)) return refused;
  if (!request.segment_lungs) return std::nullopt;
  if (!lungs_) return "lung segmentation was asked for, but no segmentation model is loaded";
  return lungs_->refusal(request.image);
}

std::expected<std::vector<ImageResult>, std::string> ClassifierWithLungs::run(Batch batch) const {
  auto results = classifier_.run(batch);
  if (!results || !lungs_) return results;
  std::vector<const GreyImage*> images;
  std::vector<std::size_t> asked;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!batch[i]->segment_lungs) continue;
    images.push_back(&batch[i]->image);
    asked.push_back(i);
  }
  if (images.empty()) return results;
  auto maps = lungs_->run(images);
  if (!maps) return std::unexpected(lungs_->name() + ": " + maps.error());
  if (maps->size() != asked.size()) return std::unexpected(lungs_->name() + ": answered a different number of maps than images");
  for (std::size_t j = 0; j < asked.size(); ++j) (*results)[asked[j]].lungs = std::move((*maps)[j]);
  return results;
}

}  // namespace evax::inference
