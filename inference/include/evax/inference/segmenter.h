// Segmenter: the paper's lung segmentation model (UperNet on an EVA-X backbone), loaded from an
// mmsegmentation checkpoint a site trained, or the untrained demo weights. It takes 8-bit grey
// images and returns, per image, the lung probability map's threshold mask at the image's own
// size, computed the way mmsegmentation 0.29.1 infers: resize to the square network input,
// logits resized to the input and then to the image, sigmoid, threshold. LibTorch stays behind
// this header. Thread-safe: segment() may be called from several threads at once.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "evax/inference/engine.h"  // DeviceChoice, Precision
#include "evax/inference/grey_image.h"
#include "evax/inference/segmentation_map.h"

namespace evax::inference {

struct SegmenterOptions {
  std::string checkpoint;          // an mmseg checkpoint path, or "demo"
  std::optional<int> input_size;   // default: the checkpoint's training size (pos_embed grid x 16)
  double threshold = 0.3;          // on the sigmoid; 0.3 is mmsegmentation's default for one output
  DeviceChoice device = DeviceChoice::automatic;
  Precision precision = Precision::fp32;  // bf16 / fp16 need CUDA
  // On CUDA, batch sizes whose forward is captured as a CUDA graph at start-up (batch 1 is
  // launch-bound without one). Ignored on CPU; a capture that fails falls back to eager.
  std::vector<int> cuda_graph_batches = {1};
};

struct SegmenterInfo {
  std::string name;               // "EVA-X-S UperNet"
  std::string checkpoint;         // as given
  std::string checkpoint_format;  // "pytorch-zip", "safetensors" or "demo"
  bool demo = false;
  int input_size = 512;
  int embed_dim = 0, depth = 0, head_channels = 0;
  int rope_reference_grid = 14;
  double threshold = 0.3;
  std::string device;
  std::string device_note;        // why device auto runs on the CPU ("" when it was not asked to choose)
  Precision precision = Precision::fp32;
  std::vector<std::string> notes;
};

class Segmenter {
 public:
  static std::expected<std::unique_ptr<Segmenter>, std::string> create(const SegmenterOptions& options);
  ~Segmenter();
  Segmenter(const Segmenter&) = delete;
  Segmenter& operator=(const Segmenter&) = delete;

  const SegmenterInfo& info() const;

  // One batch. An invalid image or a runtime failure is an error value for the batch.
  std::expected<std::vector<SegmentationMap>, std::string> segment(const std::vector<GreyImage>& images,
                                                                  bool keep_probability = false) const;
  // The same over the callers' images where they lie (a batcher's queue: nothing is copied).
  std::expected<std::vector<SegmentationMap>, std::string> segment(std::span<const GreyImage* const> images,
                                                                  bool keep_probability = false) const;

  void warm_up(int max_batch) const;

 private:
  friend struct SegmenterInternals;
  struct Impl;
  explicit Segmenter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace evax::inference
