// EVA-X weights in one canonical form: timm key names, float32, with the architecture
// inferred from the tensors. Built from a published checkpoint (any of the layouts the spec
// lists) or from the deterministic demo formula. Plain values; thread-safe to share read-only.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace evax::inference {

struct ModelSpec {
  int embed_dim = 0;
  int depth = 0;
  int num_heads = 0;          // embed_dim / 64: EVA-X heads are always 64 wide
  int mlp_hidden = 0;         // H = int(D * 8 / 3) in the published models
  int num_classes = 0;        // 0: a backbone without head (MIM checkpoints)
  int patch_size = 16;
  int pos_embed_grid = 14;    // side of the checkpoint's pos_embed grid (14 = trained at 224)
  bool fused_qkv = true;      // Ti, S: one qkv matrix; B: separate q/k/v
  bool scale_mlp = false;     // B: SwiGLU with separate gate/value and a LayerNorm before fc2
  double rope_ref_grid = 14;  // RoPE `pt`: positions are i * pt / S
  bool has_fc_norm = true;    // false for a segmentation backbone, which uses the raw last block

  // "tiny", "small", "base" for the published widths, else "custom".
  std::string size_name() const;
  // "EVA-X-Ti", "EVA-X-S", "EVA-X-B", or "EVA-X (D=128, depth 2)".
  std::string display_name() const;
};

struct EvaXWeights {
  ModelSpec spec;
  std::map<std::string, at::Tensor> tensors;  // timm names, float32, CPU
  std::string format;                          // "pytorch-zip", "safetensors", "demo"
  std::vector<std::string> notes;              // what the loader inferred or adapted, for the log
};

// Loads a checkpoint file; throws EngineError naming the problem (refused pickle global,
// damaged file, missing / unexpected tensors, wrong shapes).
EvaXWeights load_evax_checkpoint(const std::string& path);

// What a backbone state dict feeds: a classifier (fc_norm required, head optional) or a dense
// head such as the segmentation pyramid (the last block's tokens are used raw: no fc_norm).
enum class BackboneUse { classifier, dense_features };

// The canonical weights from a backbone's state dict (prefixes such as `module.` or `backbone.`
// already allowed, EVA-02 names mapped, RoPE buffers read for pt and dropped). Throws
// EngineError when the tensors do not form an EVA-X of the inferred size.
EvaXWeights evax_weights_from_state_dict(std::vector<std::pair<std::string, at::Tensor>> state_dict, BackboneUse use);

// The deterministic demo model ("tiny", "small" or "base") with a head of `num_classes`
// (0 = none). Throws EngineError for an unknown size.
EvaXWeights demo_evax_weights(const std::string& size, int num_classes);

// The timm key names and shapes a model of `spec` has, in module order.
std::vector<std::pair<std::string, std::vector<std::int64_t>>> expected_tensors(const ModelSpec& spec);

}  // namespace evax::inference
