#include "upernet_checkpoint.h"

#include <set>

#include "checkpoint_file.h"
#include "deterministic_weights.h"
#include "engine_error.h"  // EngineError

namespace evax::inference {
namespace {

using Shape = std::vector<std::int64_t>;

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }
bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_text(const Shape& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

void add_conv_module(std::vector<std::pair<std::string, Shape>>& out, const std::string& name, Shape weight) {
  const std::int64_t channels = weight[0];
  out.push_back({name + ".conv.weight", std::move(weight)});
  for (const char* part : {"weight", "bias", "running_mean", "running_var"}) out.push_back({name + ".bn." + part, {channels}});
}

bool is_dense_key(const std::string& key) {
  return starts_with(key, "decode_head.") || starts_with(key, "backbone.fpn");
}

// The head's width and output count from conv_seg, the one layer whose shape gives both.
UperNetSpec infer_head_spec(const std::map<std::string, at::Tensor>& dense) {
  auto seg = dense.find("decode_head.conv_seg.weight");
  if (seg == dense.end()) throw EngineError("checkpoint has no 'decode_head.conv_seg.weight': not an UPerHead segmentation model");
  UperNetSpec spec;
  spec.out_channels = static_cast<int>(seg->second.size(0));
  spec.channels = static_cast<int>(seg->second.size(1));
  if (spec.out_channels != 1)
    throw EngineError("the segmentation head has " + std::to_string(spec.out_channels) +
                      " outputs; the lung model has one sigmoid output (out_channels=1)");
  return spec;
}

void check_dense(int embed_dim, const UperNetSpec& spec, const std::map<std::string, at::Tensor>& dense) {
  std::vector<std::string> problems;
  std::set<std::string> expected;
  for (const auto& [name, shape] : expected_dense_tensors(embed_dim, spec)) {
    expected.insert(name);
    auto it = dense.find(name);
    if (it == dense.end()) problems.push_back("missing " + name);
    else if (it->second.sizes().vec() != shape)
      problems.push_back(name + " is " + shape_text(it->second.sizes().vec()) + ", expected " + shape_text(shape));
  }
  for (const auto& [name, tensor] : dense)
    if (!expected.count(name)) problems.push_back("unexpected " + name);
  if (problems.empty()) return;
  std::string message = "the segmentation pyramid and head do not match an UPerHead of width " + std::to_string(spec.channels) +
                        " on a " + std::to_string(embed_dim) + "-wide backbone:";
  for (std::size_t i = 0; i < problems.size() && i < 12; ++i) message += (i ? "; " : " ") + problems[i];
  if (problems.size() > 12) message += "; ... (" + std::to_string(problems.size()) + " in all)";
  throw EngineError(message);
}

}  // namespace

std::vector<std::pair<std::string, Shape>> expected_dense_tensors(int embed_dim, const UperNetSpec& spec) {
  const std::int64_t d = embed_dim, c = spec.channels;
  std::vector<std::pair<std::string, Shape>> out{{"backbone.fpn1.0.weight", {d, d, 2, 2}}, {"backbone.fpn1.0.bias", {d}}};
  for (const char* part : {"weight", "bias", "running_mean", "running_var"}) out.push_back({std::string("backbone.fpn1.1.") + part, {d}});
  out.push_back({"backbone.fpn1.3.weight", {d, d, 2, 2}});
  out.push_back({"backbone.fpn1.3.bias", {d}});
  out.push_back({"backbone.fpn2.0.weight", {d, d, 2, 2}});
  out.push_back({"backbone.fpn2.0.bias", {d}});
  for (std::size_t i = 0; i < spec.pool_scales.size(); ++i)
    add_conv_module(out, "decode_head.psp_modules." + std::to_string(i) + ".1", {c, d, 1, 1});
  add_conv_module(out, "decode_head.bottleneck", {c, d + static_cast<std::int64_t>(spec.pool_scales.size()) * c, 3, 3});
  for (int i = 0; i < 3; ++i) add_conv_module(out, "decode_head.lateral_convs." + std::to_string(i), {c, d, 1, 1});
  for (int i = 0; i < 3; ++i) add_conv_module(out, "decode_head.fpn_convs." + std::to_string(i), {c, c, 3, 3});
  add_conv_module(out, "decode_head.fpn_bottleneck", {c, 4 * c, 3, 3});
  out.push_back({"decode_head.conv_seg.weight", {spec.out_channels, c, 1, 1}});
  out.push_back({"decode_head.conv_seg.bias", {spec.out_channels}});
  return out;
}

UperNetWeights load_upernet_checkpoint(const std::string& path) {
  // mmcv keeps the weights under 'state_dict'; 'meta' (with its numpy palette) and 'optimizer'
  // are never read into tensors.
  NamedTensors raw = read_checkpoint_file(path, {"state_dict", "model", "module"});
  UperNetWeights weights;
  weights.format = raw.format;
  if (!raw.wrapper.empty()) weights.notes.push_back("state dict found under '" + raw.wrapper + "'");

  std::vector<std::pair<std::string, at::Tensor>> backbone;
  std::size_t auxiliary = 0;
  std::vector<std::string> foreign;
  for (auto& [raw_key, tensor] : raw.tensors) {
    const std::string key = starts_with(raw_key, "module.") ? raw_key.substr(7) : raw_key;
    if (ends_with(key, "num_batches_tracked")) continue;  // BatchNorm's training counter
    if (starts_with(key, "auxiliary_head.")) {
      ++auxiliary;
    } else if (is_dense_key(key)) {
      weights.dense[key] = tensor.to(at::kFloat).contiguous();
    } else if (starts_with(key, "backbone.")) {
      backbone.emplace_back(key, tensor);
    } else {
      foreign.push_back(key);
    }
  }
  if (!foreign.empty())
    throw EngineError("checkpoint key '" + foreign.front() + "' is neither backbone., decode_head. nor auxiliary_head. (" +
                      std::to_string(foreign.size()) + " such keys): not an mmsegmentation EncoderDecoder");
  if (backbone.empty()) throw EngineError("checkpoint has no backbone. tensors: not an mmsegmentation EVA-X model");
  if (auxiliary) weights.notes.push_back("auxiliary head ignored (" + std::to_string(auxiliary) + " tensors, training only)");

  weights.backbone = evax_weights_from_state_dict(std::move(backbone), BackboneUse::dense_features);
  weights.backbone.format = raw.format;
  weights.head_spec = infer_head_spec(weights.dense);
  check_dense(weights.backbone.spec.embed_dim, weights.head_spec, weights.dense);
  weights.notes.insert(weights.notes.end(), weights.backbone.notes.begin(), weights.backbone.notes.end());
  return weights;
}

UperNetWeights demo_upernet_weights() {
  ModelSpec spec;
  spec.embed_dim = 384;
  spec.depth = 12;
  spec.num_heads = 6;
  spec.mlp_hidden = 1024;
  spec.pos_embed_grid = 32;  // trained at 512
  spec.has_fc_norm = false;

  UperNetWeights weights;
  weights.format = weights.backbone.format = "demo";
  weights.backbone.spec = spec;
  // The fixtures key every value by its full name, the backbone's with `backbone.` and timm names.
  for (const auto& [name, shape] : expected_tensors(spec)) weights.backbone.tensors[name] = deterministic_tensor("backbone." + name, shape);
  for (const auto& [name, shape] : expected_dense_tensors(spec.embed_dim, weights.head_spec))
    weights.dense[name] = deterministic_tensor(name, shape);
  weights.notes.emplace_back("deterministic demo weights: UNTRAINED, the masks carry no clinical meaning");
  return weights;
}

}  // namespace evax::inference
