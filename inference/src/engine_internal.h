// What the in-module benchmark needs of an Engine beyond its public interface: the model, and
// the forward the engine itself runs (through a CUDA graph where one was captured).
#pragma once

#include <ATen/ATen.h>

#include "evax/inference/engine.h"
#include "evax_model.h"

namespace evax::inference {

struct EngineInternals {
  static const EvaXModel& model(const Engine& engine);
  // Logits (pooled features for a backbone) of a ready (B, 3, S, S) batch, in inference mode.
  static at::Tensor forward_head(const Engine& engine, const at::Tensor& images);
};

}  // namespace evax::inference
