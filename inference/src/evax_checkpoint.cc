#include "evax_checkpoint.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "checkpoint_file.h"
#include "deterministic_weights.h"
#include "engine_error.h"  // EngineError

namespace evax::inference {
namespace {

using Shape = std::vector<std::int64_t>;

std::vector<std::string> split(const std::string& key) {
  std::vector<std::string> parts;
  std::stringstream in(key);
  for (std::string part; std::getline(in, part, '.');) parts.push_back(part);
  return parts;
}

std::string join(const std::vector<std::string>& parts) {
  std::string key;
  for (const auto& part : parts) key += (key.empty() ? "" : ".") + part;
  return key;
}

std::string shape_text(const Shape& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

std::string strip_wrapping_prefixes(std::string key) {
  static const char* const prefixes[] = {"module.", "backbone.", "visual.trunk.", "visual."};
  for (bool stripped = true; stripped;) {
    stripped = false;
    for (const char* prefix : prefixes) {
      if (key.rfind(prefix, 0) == 0) {
        key.erase(0, std::string(prefix).size());
        stripped = true;
      }
    }
  }
  return key;
}

// EVA-02 module names -> timm's, matched on whole path segments.
std::string timm_name(const std::string& key, bool separate_qkv) {
  static const std::map<std::pair<std::string, std::string>, std::vector<std::string>> renames{
      {{"mlp", "w12"}, {"mlp", "fc1"}},     {{"mlp", "w3"}, {"mlp", "fc2"}},
      {{"mlp", "w1"}, {"mlp", "fc1_g"}},    {{"mlp", "w2"}, {"mlp", "fc1_x"}},
      {{"mlp", "ffn_ln"}, {"mlp", "norm"}}, {{"attn", "inner_attn_ln"}, {"attn", "norm"}},
  };
  std::vector<std::string> parts = split(key);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i + 1 < parts.size()) {
      if (auto it = renames.find({parts[i], parts[i + 1]}); it != renames.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        ++i;
        continue;
      }
      if (separate_qkv && parts[i] == "attn" && (parts[i + 1] == "q_bias" || parts[i + 1] == "v_bias")) {
        out.insert(out.end(), {"attn", parts[i + 1] == "q_bias" ? "q_proj" : "v_proj", "bias"});
        ++i;
        continue;
      }
    }
    out.push_back(parts[i]);
  }
  return join(out);
}

bool mentions_rope(const std::string& key) {
  for (const auto& part : split(key))
    if (part.find("rope") != std::string::npos) return true;
  return false;
}

// pt from a RoPE table: token 1 is row 0, column 1, whose column angle at the lowest frequency
// (dim 62) is (pt / S) * 10000^(-15/16). atan2 there stays valid where acos at dim 32 would not.
double rope_reference_grid(const at::Tensor& cos_table, const at::Tensor& sin_table) {
  const at::Tensor cos2d = cos_table.to(at::kDouble).reshape({-1, cos_table.size(-1)});
  const at::Tensor sin2d = sin_table.to(at::kDouble).reshape({-1, sin_table.size(-1)});
  if (cos2d.size(1) != 64 || cos2d.size(0) < 2 || !cos2d.sizes().equals(sin2d.sizes()))
    throw EngineError("RoPE tables have an unexpected shape " + shape_text(cos_table.sizes().vec()));
  const double side = std::sqrt(static_cast<double>(cos2d.size(0)));
  const double angle = std::atan2(sin2d[1][62].item<double>(), cos2d[1][62].item<double>());
  return side * angle / std::pow(10000.0, -15.0 / 16.0);
}

int block_count(const std::map<std::string, at::Tensor>& tensors) {
  int depth = 0;
  for (const auto& [key, tensor] : tensors) {
    if (key.rfind("blocks.", 0) != 0) continue;
    const auto parts = split(key);
    try {
      depth = std::max(depth, std::stoi(parts.at(1)) + 1);
    } catch (const std::exception&) {
      throw EngineError("checkpoint key '" + key + "' has no block index");
    }
  }
  return depth;
}

const at::Tensor& require(const std::map<std::string, at::Tensor>& tensors, const std::string& key, const char* why) {
  auto it = tensors.find(key);
  if (it == tensors.end()) throw EngineError("checkpoint has no '" + key + "': " + why);
  return it->second;
}

ModelSpec infer_spec(const std::map<std::string, at::Tensor>& tensors) {
  ModelSpec spec;
  const at::Tensor& cls = require(tensors, "cls_token", "not an EVA-X / ViT state dict");
  if (cls.dim() != 3) throw EngineError("cls_token has shape " + shape_text(cls.sizes().vec()) + ", expected [1, 1, D]");
  spec.embed_dim = static_cast<int>(cls.size(2));
  if (spec.embed_dim % 64 != 0)
    throw EngineError("embedding width " + std::to_string(spec.embed_dim) + " is not a multiple of the 64-wide EVA-X heads");
  spec.num_heads = spec.embed_dim / 64;
  spec.depth = block_count(tensors);
  if (spec.depth == 0) throw EngineError("checkpoint has no transformer blocks");
  spec.fused_qkv = tensors.count("blocks.0.attn.qkv.weight") > 0;
  spec.scale_mlp = tensors.count("blocks.0.mlp.fc1_g.weight") > 0;
  const at::Tensor& fc2 = require(tensors, "blocks.0.mlp.fc2.weight", "cannot tell the MLP width");
  spec.mlp_hidden = static_cast<int>(fc2.size(-1));
  if (auto head = tensors.find("head.weight"); head != tensors.end()) spec.num_classes = static_cast<int>(head->second.size(0));
  const at::Tensor& patch = require(tensors, "patch_embed.proj.weight", "cannot tell the patch size");
  spec.patch_size = static_cast<int>(patch.size(-1));
  const at::Tensor& pos = require(tensors, "pos_embed", "EVA-X has learned absolute positions");
  const auto grid_tokens = pos.size(1) - 1;
  spec.pos_embed_grid = static_cast<int>(std::lround(std::sqrt(static_cast<double>(grid_tokens))));
  if (static_cast<std::int64_t>(spec.pos_embed_grid) * spec.pos_embed_grid != grid_tokens)
    throw EngineError("pos_embed has " + std::to_string(grid_tokens) + " patch positions, not a square grid");
  return spec;
}

// Missing, unexpected and mis-shaped tensors, all named in one error.
void check_against_spec(const ModelSpec& spec, const std::map<std::string, at::Tensor>& tensors) {
  std::vector<std::string> missing, wrong_shape;
  std::set<std::string> expected_names;
  for (const auto& [name, shape] : expected_tensors(spec)) {
    expected_names.insert(name);
    auto it = tensors.find(name);
    if (it == tensors.end()) missing.push_back(name);
    else if (it->second.sizes().vec() != shape)
      wrong_shape.push_back(name + " is " + shape_text(it->second.sizes().vec()) + ", expected " + shape_text(shape));
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, tensor] : tensors)
    if (!expected_names.count(name)) unexpected.push_back(name);
  if (missing.empty() && unexpected.empty() && wrong_shape.empty()) return;

  auto list = [](const std::vector<std::string>& names) {
    std::string text;
    for (std::size_t i = 0; i < names.size() && i < 12; ++i) text += (i ? ", " : "") + names[i];
    if (names.size() > 12) text += ", ... (" + std::to_string(names.size()) + " in all)";
    return text;
  };
  std::string message = "checkpoint does not match the " + spec.display_name() + " it describes:";
  if (!missing.empty()) message += " missing tensors: " + list(missing) + ";";
  if (!unexpected.empty()) message += " unexpected tensors: " + list(unexpected) + ";";
  if (!wrong_shape.empty()) message += " wrong shapes: " + list(wrong_shape) + ";";
  message.pop_back();
  throw EngineError(message);
}

}  // namespace

std::string ModelSpec::size_name() const {
  if (depth == 12 && embed_dim == 192) return "tiny";
  if (depth == 12 && embed_dim == 384) return "small";
  if (depth == 12 && embed_dim == 768) return "base";
  return "custom";
}

std::string ModelSpec::display_name() const {
  const std::string size = size_name();
  if (size == "tiny") return "EVA-X-Ti";
  if (size == "small") return "EVA-X-S";
  if (size == "base") return "EVA-X-B";
  return "EVA-X (D=" + std::to_string(embed_dim) + ", depth " + std::to_string(depth) + ")";
}

std::vector<std::pair<std::string, Shape>> expected_tensors(const ModelSpec& spec) {
  const std::int64_t d = spec.embed_dim, h = spec.mlp_hidden, p = spec.patch_size;
  const std::int64_t positions = 1 + static_cast<std::int64_t>(spec.pos_embed_grid) * spec.pos_embed_grid;
  std::vector<std::pair<std::string, Shape>> out{
      {"cls_token", {1, 1, d}}, {"pos_embed", {1, positions, d}},
      {"patch_embed.proj.weight", {d, 3, p, p}}, {"patch_embed.proj.bias", {d}}};
  for (int i = 0; i < spec.depth; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    out.push_back({b + "norm1.weight", {d}});
    out.push_back({b + "norm1.bias", {d}});
    if (spec.fused_qkv) {
      out.push_back({b + "attn.q_bias", {d}});
      out.push_back({b + "attn.v_bias", {d}});
      out.push_back({b + "attn.qkv.weight", {3 * d, d}});
    } else {
      out.push_back({b + "attn.q_proj.weight", {d, d}});
      out.push_back({b + "attn.q_proj.bias", {d}});
      out.push_back({b + "attn.k_proj.weight", {d, d}});
      out.push_back({b + "attn.v_proj.weight", {d, d}});
      out.push_back({b + "attn.v_proj.bias", {d}});
    }
    out.push_back({b + "attn.proj.weight", {d, d}});
    out.push_back({b + "attn.proj.bias", {d}});
    out.push_back({b + "norm2.weight", {d}});
    out.push_back({b + "norm2.bias", {d}});
    if (spec.scale_mlp) {
      out.push_back({b + "mlp.fc1_g.weight", {h, d}});
      out.push_back({b + "mlp.fc1_g.bias", {h}});
      out.push_back({b + "mlp.fc1_x.weight", {h, d}});
      out.push_back({b + "mlp.fc1_x.bias", {h}});
      out.push_back({b + "mlp.norm.weight", {h}});
      out.push_back({b + "mlp.norm.bias", {h}});
    } else {
      out.push_back({b + "mlp.fc1.weight", {2 * h, d}});
      out.push_back({b + "mlp.fc1.bias", {2 * h}});
    }
    out.push_back({b + "mlp.fc2.weight", {d, h}});
    out.push_back({b + "mlp.fc2.bias", {d}});
  }
  if (spec.has_fc_norm) {
    out.push_back({"fc_norm.weight", {d}});
    out.push_back({"fc_norm.bias", {d}});
  }
  if (spec.num_classes > 0) {
    out.push_back({"head.weight", {spec.num_classes, d}});
    out.push_back({"head.bias", {spec.num_classes}});
  }
  return out;
}

EvaXWeights load_evax_checkpoint(const std::string& path) {
  NamedTensors raw = read_checkpoint_file(path, {"model_ema", "model", "module", "state_dict"});
  std::vector<std::string> notes;
  if (!raw.wrapper.empty()) notes.push_back("state dict found under '" + raw.wrapper + "'");
  EvaXWeights weights = evax_weights_from_state_dict(std::move(raw.tensors), BackboneUse::classifier);
  weights.format = raw.format;
  weights.notes.insert(weights.notes.begin(), notes.begin(), notes.end());
  return weights;
}

EvaXWeights evax_weights_from_state_dict(std::vector<std::pair<std::string, at::Tensor>> state_dict, BackboneUse use) {
  EvaXWeights weights;
  std::map<std::string, at::Tensor> stripped;
  for (auto& [key, tensor] : state_dict) stripped[strip_wrapping_prefixes(key)] = tensor;

  // RoPE buffers are derived data: read pt from them, then drop them.
  at::Tensor rope_cos, rope_sin;
  for (const auto& [key, tensor] : stripped) {
    const bool is_cos = key.size() >= 9 && key.compare(key.size() - 9, 9, "freqs_cos") == 0;
    if (mentions_rope(key) && is_cos && !rope_cos.defined()) {
      auto sin = stripped.find(key.substr(0, key.size() - 3) + "sin");
      if (sin != stripped.end()) {
        rope_cos = tensor;
        rope_sin = sin->second;
      }
    }
  }

  const bool mim = stripped.count("mask_token") > 0;
  const bool separate_qkv = stripped.count("blocks.0.attn.q_proj.weight") > 0;
  for (auto& [key, tensor] : stripped) {
    if (mentions_rope(key) || key.find("relative_position_index") != std::string::npos) continue;
    std::string name = timm_name(key, separate_qkv);
    if (mim) {
      if (name == "mask_token" || name.rfind("lm_head.", 0) == 0) continue;
      if (name.rfind("norm.", 0) == 0) name = "fc_" + name;  // the MIM final norm serves as fc_norm
    }
    weights.tensors[name] = tensor.to(at::kFloat).contiguous();
  }
  if (mim) weights.notes.push_back("MIM pre-training checkpoint: mask_token and lm_head dropped, norm used as fc_norm");

  weights.spec = infer_spec(weights.tensors);
  weights.spec.has_fc_norm = use == BackboneUse::classifier;
  if (rope_cos.defined()) {
    const double pt = rope_reference_grid(rope_cos, rope_sin);
    weights.spec.rope_ref_grid = std::round(pt);
    weights.notes.push_back("RoPE reference grid pt=" + std::to_string(static_cast<int>(weights.spec.rope_ref_grid)) +
                            " read from the checkpoint's rope tables");
  } else {
    weights.notes.push_back("no RoPE tables in the checkpoint: pt=14, the EVA-X default");
  }
  check_against_spec(weights.spec, weights.tensors);
  return weights;
}

EvaXWeights demo_evax_weights(const std::string& size, int num_classes) {
  ModelSpec spec;
  spec.depth = 12;
  if (size == "tiny") spec.embed_dim = 192;
  else if (size == "small") spec.embed_dim = 384;
  else if (size == "base") spec.embed_dim = 768;
  else throw EngineError("unknown demo model size '" + size + "' (tiny, small or base)");
  spec.num_heads = spec.embed_dim / 64;
  spec.mlp_hidden = spec.embed_dim * 8 / 3;
  spec.num_classes = num_classes;
  spec.fused_qkv = size != "base";
  spec.scale_mlp = size == "base";

  EvaXWeights weights;
  weights.spec = spec;
  weights.format = "demo";
  for (const auto& [name, shape] : expected_tensors(spec)) weights.tensors[name] = deterministic_tensor(name, shape);
  weights.notes.push_back("deterministic demo weights: UNTRAINED, outputs carry no clinical meaning");
  return weights;
}

}  // namespace evax::inference
