// A 3x3 convolution of a bilinearly upsampled map, computed without upsampling the map's
// channels: UPerHead's fpn_bottleneck convolves 1024 channels at a quarter of the input size,
// but three quarters of them are bilinear upsamplings (2x, 4x, 8x) of smaller maps. Channel
// mixing commutes with the (per-channel) upsampling, so for each of the 9 taps the mixing runs
// at the small map's size, and only the mixed taps are upsampled, shifted and summed at the
// large size: for the 8x level, 1/64 of the multiply-adds. Same arithmetic as
// conv2d(upsample_bilinear2d(y, align_corners=False), w, padding=1), reassociated.
#pragma once

#include <ATen/ATen.h>

namespace evax::inference {

// (9 * out, in) for at::linear: row k * out + o holds weight[o, :, k / 3, k % 3].
at::Tensor taps_matrix(const at::Tensor& weight);

// Adds conv2d(upsample_bilinear2d(y, {H, W}), weight, padding 1) to `acc` in place.
// acc: (N, out, H, W) float32 on the CPU in channels-last memory; y: (N, in, h, w) float32 on
// the CPU, any memory format; taps: taps_matrix(weight). Throws EngineError on other layouts.
void add_conv3x3_of_upsampled(at::Tensor& acc, const at::Tensor& y, const at::Tensor& taps);

}  // namespace evax::inference
