// The paper's evaluation transform, from an 8-bit grey image to a normalised model input:
// shorter side to 256 (224 models) or to the input size (larger models) with PIL's
// antialiased bicubic, reproduced bit for bit; centre crop; /255; normalise. Thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "evax/inference/engine.h"  // CropGeometry
#include "evax/inference/grey_image.h"

namespace evax::inference {

// PIL's Image.resize(size, BICUBIC) for mode "L" (Pillow 9/10 fixed-point arithmetic).
GreyImage pil_resize_bicubic(const GreyImage& image, int width, int height);

// Where the model's square input lies in the image.
CropGeometry evaluation_geometry(int width, int height, int input_size);

// (3, input_size, input_size) float32 on the CPU; `geometry` receives where the crop lies.
at::Tensor preprocess(const GreyImage& image, int input_size, CropGeometry* geometry = nullptr);

inline constexpr float kPixelMean = 0.49185243f;
inline constexpr float kPixelStd = 0.28509309f;

}  // namespace evax::inference
