// CudaGraphForward: the model's plain forward (tokens, pooling, head) for one fixed batch
// size captured once as a CUDA graph and replayed, which removes the ~100 kernel launches
// that make batch 1 launch-bound on a GPU. Only in builds against a CUDA LibTorch with
// EVAX_CUDA_GRAPHS on. Not thread-safe: one replay at a time (the engine serialises them).
#pragma once

#include <memory>

#include <ATen/ATen.h>

#include "evax_model.h"

namespace evax::inference {

class CudaGraphForward {
 public:
  // Whether this build can capture CUDA graphs at all.
  static bool available();

  // Captures `model` (which must live on CUDA and outlive this object) for `batch` images.
  // Throws c10::Error or EngineError when capture is impossible.
  CudaGraphForward(const EvaXModel& model, int batch);
  ~CudaGraphForward();
  CudaGraphForward(const CudaGraphForward&) = delete;
  CudaGraphForward& operator=(const CudaGraphForward&) = delete;

  int batch() const;
  // `images` (batch, 3, S, S) on any device; returns the head's logits (or pooled features for
  // a backbone) as a fresh tensor on the model's device.
  at::Tensor run(const at::Tensor& images);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace evax::inference
