// Reads .safetensors files (8-byte little-endian header length, JSON header, raw data).
// Stateless; thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

namespace evax::inference {

// `bytes` is the whole file. Returns the tensors in file order (CPU, dtype as stored).
// Throws EngineError on any malformed header or out-of-range data offset.
std::vector<std::pair<std::string, at::Tensor>> read_safetensors(const std::string& bytes);

// Whether `bytes` starts like a safetensors file (a plausible header length, then '{').
bool looks_like_safetensors(const std::string& bytes);

}  // namespace evax::inference
