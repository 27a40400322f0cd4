// CudaGraph: a model's forward for one fixed input shape, captured once as a CUDA graph and
// replayed, which removes the hundreds of kernel launches that make batch 1 launch-bound on a
// GPU. Used by the classifier (tokens, pooling, head) and the segmenter (backbone, pyramid,
// UPerHead). Only in builds against a CUDA LibTorch with EVAX_CUDA_GRAPHS on.
// Thread-safe: replays are serialised by the graph's own mutex.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace evax::inference {

class CudaGraph {
 public:
  using Forward = std::function<at::Tensor(const at::Tensor&)>;

  // Whether this build can capture CUDA graphs at all.
  static bool available();

  // Captures `forward` (which must stay valid as long as this object) on an input shaped and
  // typed like `example`, which must live on a CUDA device. Throws c10::Error or EngineError
  // when capture is impossible.
  CudaGraph(Forward forward, const at::Tensor& example);
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  // `input` shaped like the example, on any device; returns the forward's output as a fresh
  // tensor on the graph's device.
  at::Tensor run(const at::Tensor& input);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One CudaGraph per batch size in `batches` for (batch, 3, side, side) inputs with `options`
// (on CUDA), each noted in `notes`; a size whose capture fails is noted and runs eagerly.
std::map<std::int64_t, std::unique_ptr<CudaGraph>> capture_graphs(const CudaGraph::Forward& forward, const std::vector<int>& batches,
                                                                  int side, const at::TensorOptions& options,
                                                                  std::vector<std::string>& notes);

}  // namespace evax::inference
