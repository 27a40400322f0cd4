// What this build's LibTorch can compute on, and why not on a GPU when it cannot: the answer
// behind `--version`, `model.device` checks and the auto fallback's log line and /readyz detail.
#pragma once

#include <optional>
#include <string>

namespace evax::inference {

struct ComputeBackend {
  std::string libtorch_version;             // "2.15.0"
  std::optional<std::string> cuda_version;  // the CUDA LibTorch was built with ("13.2"); none: CPU-only
  int cuda_devices = 0;                     // devices the NVIDIA driver shows
  std::string cuda_unusable_reason;         // empty when CUDA can be used; otherwise the cause, e.g.
                                            // "this build's LibTorch 1.13.0 is CPU-only",
                                            // "no NVIDIA driver (libcuda.so.1 cannot be loaded: ...)",
                                            // "the NVIDIA driver sees no CUDA device"
  bool cuda_usable() const { return cuda_unusable_reason.empty(); }
};

// Asks LibTorch and, in a CUDA build, the NVIDIA driver (cheap after the first call).
ComputeBackend probe_compute_backend();

// "libtorch 2.15.0, cuda 13.2" or "libtorch 1.13.0, cpu only".
std::string describe_libtorch(const ComputeBackend& backend);

}  // namespace evax::inference
