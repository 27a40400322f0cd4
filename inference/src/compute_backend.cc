#include "evax/inference/compute_backend.h"

#include <torch/cuda.h>
#include <torch/version.h>

#include "evax_build_config.h"

#if EVAX_LIBTORCH_WITH_CUDA
#include <ATen/detail/CUDAHooksInterface.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#endif

namespace evax::inference {
namespace {

#if EVAX_LIBTORCH_WITH_CUDA

std::string cuda_version_name(long version) {  // 13020 -> "13.2"
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}

// Why the CUDA LibTorch cannot use a GPU here, or "" when it can. The driver library is looked
// for first: without it the CUDA runtime only says "insufficient driver", which misleads.
std::string cuda_unusable_reason(const std::string& libtorch_cuda, int& devices) {
  devices = 0;
  if (void* driver = ::dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL)) {
    ::dlclose(driver);
  } else {
    const char* why = ::dlerror();
    return std::string("no NVIDIA driver (libcuda.so.1 cannot be loaded: ") + (why ? why : "not found") + ")";
  }
  int driver_version = 0;
  (void)cudaDriverGetVersion(&driver_version);
  const cudaError_t status = cudaGetDeviceCount(&devices);
  (void)cudaGetLastError();  // the query's error must not surface in LibTorch's next check
  switch (status) {
    case cudaSuccess: break;
    case cudaErrorNoDevice: devices = 0; break;
    case cudaErrorInsufficientDriver:
      devices = 0;
      return "the NVIDIA driver supports CUDA " + cuda_version_name(driver_version) + ", older than the CUDA " + libtorch_cuda +
             " this LibTorch needs";
    default:
      devices = 0;
      return std::string("CUDA could not start: ") + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")";
  }
  if (devices == 0) return "the NVIDIA driver sees no CUDA device (check nvidia-smi and CUDA_VISIBLE_DEVICES)";
  if (!torch::cuda::is_available()) return "LibTorch cannot use the " + std::to_string(devices) + " CUDA device(s) the driver shows";
  return "";
}

#endif

}  // namespace

ComputeBackend probe_compute_backend() {
  ComputeBackend backend;
  backend.libtorch_version = TORCH_VERSION;
#if EVAX_LIBTORCH_WITH_CUDA
  try {
    backend.cuda_version = cuda_version_name(at::detail::getCUDAHooks().versionCUDART());
  } catch (const std::exception&) {  // LibTorch's CUDA part did not register: unknown, still CUDA
    backend.cuda_version = "unknown";
  }
  backend.cuda_unusable_reason = cuda_unusable_reason(*backend.cuda_version, backend.cuda_devices);
#else
  backend.cuda_unusable_reason = "this build's LibTorch " + backend.libtorch_version + " is CPU-only";
#endif
  return backend;
}

std::string describe_libtorch(const ComputeBackend& backend) {
  return "libtorch " + backend.libtorch_version + (backend.cuda_version ? ", cuda " + *backend.cuda_version : ", cpu only");
}

}  // namespace evax::inference
