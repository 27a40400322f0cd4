#include "cuda_graph_forward.h"

#include <c10/core/InferenceMode.h>

#include "engine_error.h"  // EngineError

#if EVAX_WITH_CUDA_GRAPHS
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace evax::inference {

#if EVAX_WITH_CUDA_GRAPHS

namespace {

at::Tensor head_output(const EvaXModel& model, const at::Tensor& images) {
  const at::Tensor pooled = model.pooled(model.forward_tokens(images));
  return model.spec().num_classes > 0 ? model.logits(pooled) : pooled;
}

}  // namespace

struct CudaGraphForward::Impl {
  const EvaXModel& model;
  int batch;
  at::Tensor static_input, static_output;
  at::cuda::CUDAGraph graph;
};

bool CudaGraphForward::available() { return true; }

CudaGraphForward::CudaGraphForward(const EvaXModel& model, int batch) {
  if (!model.options().device.is_cuda()) throw EngineError("CUDA graphs need a model on a CUDA device");
  c10::InferenceMode inference;
  const int side = model.options().input_size;
  at::Tensor input = at::zeros({batch, 3, side, side}, at::TensorOptions().device(model.options().device).dtype(model.options().dtype));
  impl_.reset(new Impl{model, batch, input, {}, {}});

  // Capture must not run on the legacy default stream; warm up on the capture stream first so
  // that cuBLAS / cuDNN workspaces and kernel choices exist before capture begins.
  c10::cuda::CUDAStream stream = c10::cuda::getStreamFromPool(false, model.options().device.index());
  stream.synchronize();
  c10::cuda::device_synchronize();
  {
    c10::cuda::CUDAStreamGuard guard(stream);
    for (int i = 0; i < 3; ++i) (void)head_output(model, impl_->static_input);
    stream.synchronize();
    impl_->graph.capture_begin();
    impl_->static_output = head_output(model, impl_->static_input);
    impl_->graph.capture_end();
  }
  stream.synchronize();
}

at::Tensor CudaGraphForward::run(const at::Tensor& images) {
  c10::InferenceMode inference;
  impl_->static_input.copy_(images, /*non_blocking=*/true);
  impl_->graph.replay();
  return impl_->static_output.clone();
}

int CudaGraphForward::batch() const { return impl_->batch; }

#else  // a LibTorch without CUDA, or EVAX_CUDA_GRAPHS=OFF

struct CudaGraphForward::Impl {};

bool CudaGraphForward::available() { return false; }

CudaGraphForward::CudaGraphForward(const EvaXModel&, int) {
  throw EngineError("this build of the engine has no CUDA graph support");
}

at::Tensor CudaGraphForward::run(const at::Tensor&) { return {}; }

int CudaGraphForward::batch() const { return 0; }

#endif

CudaGraphForward::~CudaGraphForward() = default;

}  // namespace evax::inference
