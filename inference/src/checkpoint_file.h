// Reads a weights file as published (a PyTorch zip checkpoint or .safetensors) into named
// tensors, without executing anything it contains. Stateless; thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

namespace evax::inference {

struct NamedTensors {
  std::string format;     // "pytorch-zip" or "safetensors"
  std::string wrapper;    // the top-level key the state dict was found under ("" if bare)
  std::vector<std::pair<std::string, at::Tensor>> tensors;  // in file order, dtype as stored
};

// Reads `path`. For a zip checkpoint the state dict is the first of `wrappers` present at the
// top level (or the top level itself when it holds tensors); non-tensor entries are skipped.
// Throws EngineError with a message fit for the user.
NamedTensors read_checkpoint_file(const std::string& path, const std::vector<std::string>& wrappers);

}  // namespace evax::inference
