// The options' device and precision as LibTorch's, shared by the classifier and the segmenter.
#pragma once

#include <ATen/ATen.h>

#include "engine_error.h"
#include "evax/inference/compute_backend.h"
#include "evax/inference/engine.h"  // DeviceChoice, Precision

namespace evax::inference {

struct ResolvedDevice {
  at::Device device = at::Device(at::kCPU);
  std::string note;  // why `auto` chose the CPU; empty otherwise
};

// cuda needs a GPU this LibTorch can use, and fails naming why there is none; automatic takes
// CUDA when there is one and otherwise says why it runs on the CPU.
inline ResolvedDevice resolve_device(DeviceChoice choice) {
  if (choice == DeviceChoice::cpu) return {};
  const ComputeBackend backend = probe_compute_backend();
  if (backend.cuda_usable()) return {at::Device(at::kCUDA, 0), ""};
  if (choice == DeviceChoice::cuda) throw EngineError("device cuda was asked for, but CUDA cannot be used: " + backend.cuda_unusable_reason);
  return {at::Device(at::kCPU), "device auto runs on the CPU: " + backend.cuda_unusable_reason};
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
