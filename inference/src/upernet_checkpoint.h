// The lung segmentation model's weights in canonical form: the EVA-X backbone (timm names, no
// fc_norm) plus the EVA-X feature pyramid and mmsegmentation's UPerHead, keyed as mmseg saves
// them (`backbone.fpn1.0.weight`, `decode_head.bottleneck.conv.weight`, ...). Built from an
// mmsegmentation 0.x checkpoint or the deterministic demo formula. Plain values.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "evax_checkpoint.h"

namespace evax::inference {

struct UperNetSpec {
  int channels = 256;                       // UPerHead width
  std::vector<int> pool_scales{1, 2, 3, 6};  // the PPM's adaptive pooling sizes
  int out_channels = 1;                     // one sigmoid map: the lung
};

struct UperNetWeights {
  EvaXWeights backbone;                     // the ViT part
  UperNetSpec head_spec;
  std::map<std::string, at::Tensor> dense;  // pyramid and head, mmseg key names, float32 CPU
  std::string format;                       // "pytorch-zip", "safetensors", "demo"
  std::vector<std::string> notes;
};

// Loads `{'meta', 'state_dict'[, 'optimizer']}` as mmcv saves it (or a bare state dict):
// `backbone.` and `decode_head.` keys, EVA-02 names, BatchNorm buffers; the auxiliary head and
// `num_batches_tracked` are ignored. Throws EngineError naming what does not fit.
UperNetWeights load_upernet_checkpoint(const std::string& path);

// EVA-X-S at 512 with a 256-wide head, every tensor the fixtures' deterministic value of its
// full mmseg key (timm names in the backbone). UNTRAINED.
UperNetWeights demo_upernet_weights();

// The pyramid and head tensors a model of this width has, with their shapes.
std::vector<std::pair<std::string, std::vector<std::int64_t>>> expected_dense_tensors(int embed_dim, const UperNetSpec& spec);

}  // namespace evax::inference
