// What the module's tests and benchmark need of a Segmenter beyond its public interface.
#pragma once

#include <ATen/ATen.h>

#include "evax/inference/grey_image.h"
#include "evax/inference/segmenter.h"
#include "upernet_model.h"

namespace evax::inference {

struct SegmenterInternals {
  static const UperNetModel& model(const Segmenter& segmenter);
  // The logits the segmenter itself computes for a ready batch (through a CUDA graph where one
  // was captured for its size).
  static at::Tensor logits(const Segmenter& segmenter, const at::Tensor& images);
};

// mmseg's test transform for one image: resized to the square network input as mmcv's cv2
// backend does (OpenCV's fixed-point INTER_LINEAR on 8 bits: opencv_resize_linear), then
// `(v - mean*255) / (std*255)` on each of 3 identical channels.
// (3, input_size, input_size) float32 on the CPU.
at::Tensor segmentation_input(const GreyImage& image, int input_size);

}  // namespace evax::inference
