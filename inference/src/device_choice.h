// The options' device and precision as LibTorch's, shared by the classifier and the segmenter.
#pragma once

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include "engine_error.h"
#include "evax/inference/engine.h"  // DeviceChoice, Precision

namespace evax::inference {

// cuda needs a device LibTorch can see; automatic takes CUDA when there is one.
inline at::Device resolve_device(DeviceChoice choice) {
  const bool cuda = torch::cuda::is_available();
  if (choice == DeviceChoice::cuda && !cuda)
    throw EngineError("--device cuda was asked for, but this LibTorch sees no CUDA device");
  return (choice == DeviceChoice::cuda || (choice == DeviceChoice::automatic && cuda)) ? at::Device(at::kCUDA, 0)
                                                                                       : at::Device(at::kCPU);
}

inline at::ScalarType scalar_type(Precision precision) {
  switch (precision) {
    case Precision::bf16: return at::kBFloat16;
    case Precision::fp16: return at::kHalf;
    case Precision::fp32: break;
  }
  return at::kFloat;
}

}  // namespace evax::inference
