// EvaXModel: the EVA-X vision transformer (Ti, S, B and custom widths) as plain LibTorch
// operations on weights prepared once: q/k/v and SwiGLU matrices fused, the attention scale
// folded into q, RoPE tables built for the input grid, pos_embed resampled to it.
// Immutable after construction; forward passes are safe from several threads at once.
#pragma once

#include <utility>
#include <vector>

#include <optional>

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include "evax_checkpoint.h"

namespace evax::inference {

struct ModelOptions {
  int input_size = 224;               // multiple of the patch size
  bool antialiased_pos_embed = true;  // timm's resampling; false: the EVA-02 / mmseg legacy mode
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;  // kFloat, or kBFloat16 / kHalf on CUDA
};

class EvaXModel {
 public:
  EvaXModel(const EvaXWeights& weights, const ModelOptions& options);

  const ModelSpec& spec() const { return spec_; }
  const ModelOptions& options() const { return options_; }
  int grid_side() const { return options_.input_size / spec_.patch_size; }
  const at::Tensor& pos_embed() const { return pos_embed_; }  // as used, after resampling

  // `images`: (B, 3, input, input) normalised, any float dtype, any device.
  // Returns every token after the last block, (B, 1 + S*S, D), in the model's dtype.
  at::Tensor forward_tokens(const at::Tensor& images) const;
  at::Tensor pooled(const at::Tensor& tokens) const;  // fc_norm(mean of patch tokens), (B, D)
  at::Tensor logits(const at::Tensor& pooled) const;  // (B, classes); needs a head

  struct GradCam {
    at::Tensor logits;    // (B, classes), float32
    at::Tensor weights;   // (B, K, D): mean over patch tokens of d logit_k / d A
    at::Tensor raw_maps;  // (B, K, S, S): sum over channels of A * weights, before ReLU
  };
  // The paper's Grad-CAM, A = output of the last block's norm1. All K classes of the batch
  // share one backward pass through the last block (the batch is replicated K times there).
  GradCam grad_cam(const at::Tensor& images, const std::vector<int>& classes) const;

  // The same for each image's own K most probable classes, in one pass: the classes are picked
  // from a plain run of the last block (the blocks before it run once, as above).
  struct TopGradCam {
    GradCam cam;
    at::Tensor classes;   // (B, K) int64, most probable first
  };
  TopGradCam grad_cam_top_k(const at::Tensor& images, int k) const;

 private:
  struct Linear {
    at::Tensor weight, bias;
    at::Tensor packed_weight, packed_bias;  // oneDNN layout, CPU float32 inference only
    at::Tensor mkl_packed;                  // MKL's packed layout for mkl_rows input rows (one image)
    std::int64_t mkl_rows = 0;
  };
  struct Norm {
    at::Tensor weight, bias;
  };
  struct Block {
    Norm norm1, norm2, mlp_norm;  // mlp_norm only for scale_mlp (EVA-X-B)
    Linear qkv, proj, fc1, fc2;   // qkv = [q * 1/8; k; v], fc1 = [gate; value]
  };

  // Grad-CAM through the last block for replica (b, j) explaining class_index[b * k + j].
  GradCam explain_last_block(const at::Tensor& before_last, const at::Tensor& activations,
                             const std::vector<std::int64_t>& class_index, std::int64_t k) const;
  // Every token before the last block, and the last block's norm1 of them (no autograd).
  std::pair<at::Tensor, at::Tensor> up_to_last_block(const at::Tensor& images) const;

  // `rows`: the input rows for one image (tokens, or 1 for the head), for MKL's packed weights.
  Linear make_linear(at::Tensor weight, at::Tensor bias, std::int64_t rows) const;
  Norm make_norm(const at::Tensor& weight, const at::Tensor& bias) const;
  at::Tensor apply_linear(const Linear& layer, const at::Tensor& x) const;
  at::Tensor embed(const at::Tensor& images) const;
  at::Tensor attention(const Block& block, const at::Tensor& normed) const;
  at::Tensor mlp(const Block& block, const at::Tensor& x) const;
  at::Tensor block_forward(const Block& block, const at::Tensor& x) const;
  at::Tensor head_from_tokens(const at::Tensor& tokens) const;

  ModelSpec spec_;
  ModelOptions options_;
  bool use_onednn_ = false;
  // PyPI's LibTorch: MKL's packed GEMM (mkl::_mkl_linear), which skips repacking the weights on
  // every call (~16% of a batch-1 forward); its own fallback covers other row counts. The plain
  // weights stay too, for that fallback and Grad-CAM's autograd.
  using MklLinearSignature = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const c10::optional<at::Tensor>&,
                                        std::int64_t);
  using MklReorderSignature = at::Tensor(const at::Tensor&, std::int64_t);
  std::optional<c10::TypedOperatorHandle<MklLinearSignature>> mkl_linear_;
  std::optional<c10::TypedOperatorHandle<MklReorderSignature>> mkl_reorder_;
  bool cpu_float_ = false;  // float32 on the CPU: the attention's input comes from split_heads_with_rope
  at::Tensor patch_weight_, patch_bias_, cls_token_, pos_embed_;
  at::Tensor rope_cos_, rope_sin_;  // (1 + S*S, 64); the cls row is the identity rotation
  std::vector<Block> blocks_;
  Norm fc_norm_;
  Linear head_;
};

// pos_embed (1, 1 + G*G, D) resampled to (1, 1 + S*S, D), the cls entry kept, bicubic with
// align_corners=False; antialiased as timm does, or without antialias (EVA-02 / mmseg).
at::Tensor resample_pos_embed(const at::Tensor& pos_embed, int new_side, bool antialias);

// The 2-D RoPE tables for an S x S grid with reference grid pt, prefixed by an identity row for
// the cls token: cos (1 + S*S, 64) and sin (1 + S*S, 64) with the rotation's signs folded in.
std::pair<at::Tensor, at::Tensor> rope_tables(int side, double reference_grid);

}  // namespace evax::inference
