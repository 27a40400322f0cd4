#include "cuda_graph.h"

#include <c10/core/InferenceMode.h>

#include <mutex>

#include "engine_error.h"  // EngineError
#include "evax_build_config.h"

#if EVAX_WITH_CUDA_GRAPHS
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace evax::inference {

#if EVAX_WITH_CUDA_GRAPHS

struct CudaGraph::Impl {
  Forward forward;
  at::Tensor static_input, static_output;
  at::cuda::CUDAGraph graph;
  std::mutex replay;
};

bool CudaGraph::available() { return true; }

CudaGraph::CudaGraph(Forward forward, const at::Tensor& example) : impl_(std::make_unique<Impl>()) {
  if (!example.is_cuda()) throw EngineError("CUDA graphs need an input on a CUDA device");
  c10::InferenceMode inference;
  impl_->forward = std::move(forward);
  impl_->static_input = at::zeros_like(example);

  // Capture must not run on the legacy default stream; warm up on the capture stream first so
  // that cuBLAS / cuDNN workspaces and kernel choices exist before capture begins.
  c10::cuda::CUDAStream stream = c10::cuda::getStreamFromPool(false, example.device().index());
  c10::cuda::device_synchronize();
  {
    c10::cuda::CUDAStreamGuard guard(stream);
    for (int i = 0; i < 3; ++i) (void)impl_->forward(impl_->static_input);
    stream.synchronize();
    impl_->graph.capture_begin();
    impl_->static_output = impl_->forward(impl_->static_input);
    impl_->graph.capture_end();
  }
  stream.synchronize();
}

at::Tensor CudaGraph::run(const at::Tensor& input) {
  c10::InferenceMode inference;
  std::lock_guard lock(impl_->replay);
  impl_->static_input.copy_(input, /*non_blocking=*/true);
  impl_->graph.replay();
  return impl_->static_output.clone();
}

#else  // a LibTorch without CUDA, or EVAX_CUDA_GRAPHS=OFF

struct CudaGraph::Impl {};

bool CudaGraph::available() { return false; }

CudaGraph::CudaGraph(Forward, const at::Tensor&) { throw EngineError("this build of the engine has no CUDA graph support"); }

at::Tensor CudaGraph::run(const at::Tensor&) { return {}; }

#endif

CudaGraph::~CudaGraph() = default;

std::map<std::int64_t, std::unique_ptr<CudaGraph>> capture_graphs(const CudaGraph::Forward& forward, const std::vector<int>& batches,
                                                                  int side, const at::TensorOptions& options,
                                                                  std::vector<std::string>& notes) {
  std::map<std::int64_t, std::unique_ptr<CudaGraph>> graphs;
  if (!CudaGraph::available()) {
    notes.emplace_back("CUDA graphs not built in: every batch runs eagerly");
    return graphs;
  }
  for (int batch : batches) {
    if (batch < 1 || graphs.count(batch)) continue;
    try {
      graphs[batch] = std::make_unique<CudaGraph>(forward, at::zeros({batch, 3, side, side}, options));
      notes.push_back("batch " + std::to_string(batch) + " runs as a captured CUDA graph");
    } catch (const std::exception& e) {
      notes.push_back("CUDA graph capture for batch " + std::to_string(batch) + " failed, running eagerly: " + e.what());
    }
  }
  return graphs;
}

}  // namespace evax::inference
