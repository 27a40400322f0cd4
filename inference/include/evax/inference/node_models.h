// The node's Models: the classifier engine and the lung segmenter as Models, and their
// combination the analysis batches run (each image classified with its Grad-CAM maps, and
// segmented when it asks, in the same batch). Each is a view of a model that must outlive it.
#pragma once

#include "evax/inference/engine.h"
#include "evax/inference/model.h"
#include "evax/inference/segmenter.h"

namespace evax::inference {

class ClassifierModel final : public Model<ClassifyRequest, ImageResult> {
 public:
  explicit ClassifierModel(const Engine& engine) : engine_(engine) {}
  std::string name() const override { return "classification"; }
  // A bad image or a Grad-CAM class the head lacks (segment_lungs is not its concern).
  std::optional<std::string> refusal(const ClassifyRequest& request) const override;
  std::expected<std::vector<ImageResult>, std::string> run(Batch batch) const override;

 private:
  const Engine& engine_;
};

class LungModel final : public Model<GreyImage, SegmentationMap> {
 public:
  explicit LungModel(const Segmenter& segmenter) : segmenter_(segmenter) {}
  std::string name() const override { return "lung segmentation"; }
  std::optional<std::string> refusal(const GreyImage& image) const override;
  std::expected<std::vector<SegmentationMap>, std::string> run(Batch batch) const override;

 private:
  const Segmenter& segmenter_;
};

// Classifies the whole batch, then segments, as one batch, the images that asked for their lungs.
// Without a lung model (null), a request that asks for the lungs is refused.
class ClassifierWithLungs final : public Model<ClassifyRequest, ImageResult> {
 public:
  ClassifierWithLungs(const Model<ClassifyRequest, ImageResult>& classifier, const Model<GreyImage, SegmentationMap>* lungs)
      : classifier_(classifier), lungs_(lungs) {}
  std::string name() const override { return classifier_.name(); }
  ModelLimits limits() const override;
  std::optional<std::string> refusal(const ClassifyRequest& request) const override;
  std::expected<std::vector<ImageResult>, std::string> run(Batch batch) const override;

 private:
  const Model<ClassifyRequest, ImageResult>& classifier_;
  const Model<GreyImage, SegmentationMap>* const lungs_;
};

}  // namespace evax::inference
