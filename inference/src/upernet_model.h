// UperNetModel: the EVA-X lung segmentation network of the paper's segmentation code, as plain
// LibTorch operations: the EVA-X backbone's last block -> the simple feature pyramid (4x, 2x,
// 1x, 0.5x) -> mmsegmentation's UPerHead (PPM, lateral and FPN convolutions, bottlenecks) ->
// one logit map at a quarter of the input. Every eval-mode BatchNorm is folded into the
// convolution before it at load; maps and convolution weights are channels-last (oneDNN and
// cuDNN both run NHWC without reordering). Immutable after construction; thread-safe.
#pragma once

#include <array>
#include <functional>
#include <memory>

#include <ATen/ATen.h>

#include "evax_model.h"
#include "upernet_checkpoint.h"

namespace evax::inference {

class UperNetModel {
 public:
  UperNetModel(const UperNetWeights& weights, const ModelOptions& options);

  const EvaXModel& backbone() const { return *backbone_; }
  const UperNetSpec& head_spec() const { return head_spec_; }
  int input_size() const { return backbone_->options().input_size; }

  // Every stage, for parity tests against the reference.
  struct Stages {
    at::Tensor tokens;                  // (B, 1 + S*S, D), the last block's output
    std::array<at::Tensor, 4> pyramid;  // (B, D, 4S, 4S), (B, D, 2S, 2S), (B, D, S, S), (B, D, S/2, S/2)
    at::Tensor psp_out;                 // (B, C, S/2, S/2): the PPM bottleneck
    at::Tensor fused;                   // (B, C, 4S, 4S): fpn_bottleneck's output
    at::Tensor logits;                  // (B, 1, 4S, 4S)
  };
  Stages forward_stages(const at::Tensor& images) const;

  // Called at the end of each stage with its name ("backbone", "pyramid", "ppm", "laterals",
  // "fpn_convs", "fpn_bottleneck", "conv_seg"): the benchmark's per-layer profile.
  using StageMark = std::function<void(const char* stage)>;

  // (B, 3, input, input) normalised -> (B, 1, input/4, input/4) logits, in the model's dtype.
  at::Tensor logits(const at::Tensor& images, const StageMark& mark = {}) const;

 private:
  struct Conv {  // a convolution with its BatchNorm folded in
    at::Tensor weight, bias;
    std::int64_t padding = 0;
  };
  struct Pyramid {
    at::Tensor up4_first_weight, up4_first_bias, up4_second_weight, up4_second_bias, up2_weight, up2_bias;
  };

  Conv conv_module(const UperNetWeights& weights, const std::string& name, std::int64_t padding) const;
  std::array<at::Tensor, 4> pyramid(const at::Tensor& tokens) const;
  at::Tensor apply(const Conv& conv, const at::Tensor& x) const;  // conv + ReLU
  at::Tensor decode(const std::array<at::Tensor, 4>& levels, at::Tensor* psp_out, at::Tensor* fused, const StageMark& mark) const;

  std::unique_ptr<EvaXModel> backbone_;
  UperNetSpec head_spec_;
  at::TensorOptions target_;
  Pyramid pyramid_;
  std::vector<Conv> psp_;
  Conv bottleneck_, fpn_bottleneck_;
  std::array<Conv, 3> lateral_, fpn_;
  at::Tensor seg_weight_, seg_bias_;
  // On the CPU in float32, fpn_bottleneck runs as a convolution of its first (full-size) input
  // plus, for the three upsampled ones, their taps mixed at their own size (upsampled_conv.h).
  bool upsampled_taps_ = false;
  Conv fpn_bottleneck_first_;
  std::array<at::Tensor, 3> fpn_bottleneck_taps_;
};

// mmseg's `resize(..., mode='bilinear', align_corners=False)`: F.interpolate without antialias.
at::Tensor resize_bilinear(const at::Tensor& x, std::int64_t height, std::int64_t width);

}  // namespace evax::inference
