#include "evax_model.h"

#include <torch/version.h>

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>

#include "engine_error.h"  // EngineError
#include "rope_split.h"

// at::scaled_dot_product_attention with an explicit scale exists from PyTorch 2.1 on.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define EVAX_HAVE_SDPA 1
#else
#define EVAX_HAVE_SDPA 0
#endif

namespace evax::inference {
namespace {

constexpr double kLayerNormEps = 1e-6;
constexpr double kAttentionScale = 0.125;  // 1/sqrt(64); a power of two, so folding it into q is exact

const at::Tensor& get(const EvaXWeights& weights, const std::string& name) {
  auto it = weights.tensors.find(name);
  if (it == weights.tensors.end()) throw EngineError("weights lack '" + name + "'");
  return it->second;
}

// Swaps the members of each (even, odd) pair of the last dimension: the `rot` of RoPE up to
// signs, which rope_tables folds into the sine table.
at::Tensor swap_pairs(const at::Tensor& x) {
  auto sizes = x.sizes().vec();
  auto paired = sizes;
  paired.back() /= 2;
  paired.push_back(2);
  return x.reshape(paired).flip({-1}).reshape(sizes);
}

}  // namespace

at::Tensor resample_pos_embed(const at::Tensor& pos_embed, int new_side, bool antialias) {
  const auto dim = pos_embed.size(2);
  const auto old_side = static_cast<std::int64_t>(std::lround(std::sqrt(static_cast<double>(pos_embed.size(1) - 1))));
  const at::Tensor cls = pos_embed.narrow(1, 0, 1);
  at::Tensor grid = pos_embed.narrow(1, 1, old_side * old_side).reshape({1, old_side, old_side, dim}).permute({0, 3, 1, 2});
  grid = grid.to(at::kFloat).contiguous();
  const std::vector<std::int64_t> size{new_side, new_side};
  grid = antialias ? at::_upsample_bicubic2d_aa(grid, size, false, c10::nullopt, c10::nullopt)
                   : at::upsample_bicubic2d(grid, size, false, c10::nullopt, c10::nullopt);
  grid = grid.permute({0, 2, 3, 1}).reshape({1, static_cast<std::int64_t>(new_side) * new_side, dim});
  return at::cat({cls.to(at::kFloat), grid}, 1).contiguous();
}

std::pair<at::Tensor, at::Tensor> rope_tables(int side, double reference_grid) {
  const std::int64_t tokens = 1 + static_cast<std::int64_t>(side) * side;
  at::Tensor cos = at::ones({tokens, 64}, at::kFloat);
  at::Tensor sin = at::zeros({tokens, 64}, at::kFloat);
  auto c = cos.accessor<float, 2>();
  auto s = sin.accessor<float, 2>();
  for (int row = 0; row < side; ++row) {
    for (int col = 0; col < side; ++col) {
      const std::int64_t token = 1 + static_cast<std::int64_t>(row) * side + col;
      for (int half = 0; half < 2; ++half) {  // dims 0..31 follow the row, 32..63 the column
        const double position = (half == 0 ? row : col) * reference_grid / side;
        for (int k = 0; k < 16; ++k) {
          const double angle = position * std::pow(10000.0, -k / 16.0);
          const int even = half * 32 + 2 * k;
          c[token][even] = c[token][even + 1] = static_cast<float>(std::cos(angle));
          // rot(x)[2j] = -x[2j+1], rot(x)[2j+1] = x[2j]: the sign lives in the table
          s[token][even] = static_cast<float>(-std::sin(angle));
          s[token][even + 1] = static_cast<float>(std::sin(angle));
        }
      }
    }
  }
  return {cos, sin};
}

EvaXModel::EvaXModel(const EvaXWeights& weights, const ModelOptions& options)
    : spec_(weights.spec), options_(options) {
  if (options_.input_size <= 0 || options_.input_size % spec_.patch_size != 0)
    throw EngineError("input size " + std::to_string(options_.input_size) + " is not a positive multiple of the patch size " +
                          std::to_string(spec_.patch_size));
  if (options_.device.is_cpu() && options_.dtype != at::kFloat)
    throw EngineError("bf16 and fp16 need a CUDA device; on CPU the engine runs float32");
  // Which CPU matrix multiply: Debian's LibTorch multiplies with OpenBLAS, whose sgemm reaches
  // ~40 GFLOP/s on these shapes where oneDNN reaches ~100 (2-core CI machine), so its weights
  // are packed once for oneDNN. PyPI's LibTorch multiplies with MKL (~270 GFLOP/s there), which
  // beats oneDNN and its layout conversions; its weights are packed once for MKL.
  use_onednn_ = options_.device.is_cpu() && at::hasMKLDNN() && !at::hasMKL();
  cpu_float_ = options_.device.is_cpu() && options_.dtype == at::kFloat;
  if (cpu_float_ && at::hasMKL()) {
    auto& dispatcher = c10::Dispatcher::singleton();
    auto linear = dispatcher.findSchema({"mkl::_mkl_linear", ""});
    auto reorder = dispatcher.findSchema({"mkl::_mkl_reorder_linear_weight", ""});
    if (linear && reorder) {
      mkl_linear_ = linear->typed<MklLinearSignature>();
      mkl_reorder_ = reorder->typed<MklReorderSignature>();
    }
  }
  if (options_.device.is_cuda() && options_.dtype == at::kFloat) {
    // fp32 means fp32: LibTorch lets cuDNN use TF32 by default, ~1e-3 relative per layer.
    // (Process-wide; a CUDA fp32 engine is the only LibTorch user in the node.)
    at::globalContext().setFloat32MatmulPrecision("highest");
    at::globalContext().setAllowTF32CuDNN(false);
  }

  const at::TensorOptions target = at::TensorOptions().device(options_.device).dtype(options_.dtype);
  auto to_target = [&](const at::Tensor& t) { return t.to(target).contiguous(); };

  patch_weight_ = to_target(get(weights, "patch_embed.proj.weight"));
  patch_bias_ = to_target(get(weights, "patch_embed.proj.bias"));
  cls_token_ = to_target(get(weights, "cls_token"));
  at::Tensor pos = get(weights, "pos_embed");
  if (grid_side() != spec_.pos_embed_grid) pos = resample_pos_embed(pos, grid_side(), options_.antialiased_pos_embed);
  pos_embed_ = to_target(pos);
  auto [cos, sin] = rope_tables(grid_side(), spec_.rope_ref_grid);
  rope_cos_ = to_target(cos);
  rope_sin_ = to_target(sin);

  const std::int64_t d = spec_.embed_dim;
  const std::int64_t tokens = 1 + static_cast<std::int64_t>(grid_side()) * grid_side();
  for (int i = 0; i < spec_.depth; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    Block block;
    block.norm1 = make_norm(get(weights, b + "norm1.weight"), get(weights, b + "norm1.bias"));
    block.norm2 = make_norm(get(weights, b + "norm2.weight"), get(weights, b + "norm2.bias"));

    at::Tensor qkv_weight, q_bias, v_bias;
    if (spec_.fused_qkv) {
      qkv_weight = get(weights, b + "attn.qkv.weight").clone();
      q_bias = get(weights, b + "attn.q_bias");
      v_bias = get(weights, b + "attn.v_bias");
    } else {
      qkv_weight = at::cat({get(weights, b + "attn.q_proj.weight"), get(weights, b + "attn.k_proj.weight"),
                            get(weights, b + "attn.v_proj.weight")});
      q_bias = get(weights, b + "attn.q_proj.bias");
      v_bias = get(weights, b + "attn.v_proj.bias");
    }
    qkv_weight.narrow(0, 0, d).mul_(kAttentionScale);
    at::Tensor qkv_bias = at::cat({q_bias * kAttentionScale, at::zeros_like(q_bias), v_bias});
    block.qkv = make_linear(qkv_weight, qkv_bias, tokens);
    block.proj = make_linear(get(weights, b + "attn.proj.weight"), get(weights, b + "attn.proj.bias"), tokens);

    if (spec_.scale_mlp) {
      block.fc1 = make_linear(at::cat({get(weights, b + "mlp.fc1_g.weight"), get(weights, b + "mlp.fc1_x.weight")}),
                              at::cat({get(weights, b + "mlp.fc1_g.bias"), get(weights, b + "mlp.fc1_x.bias")}), tokens);
      block.mlp_norm = make_norm(get(weights, b + "mlp.norm.weight"), get(weights, b + "mlp.norm.bias"));
    } else {
      block.fc1 = make_linear(get(weights, b + "mlp.fc1.weight"), get(weights, b + "mlp.fc1.bias"), tokens);
    }
    block.fc2 = make_linear(get(weights, b + "mlp.fc2.weight"), get(weights, b + "mlp.fc2.bias"), tokens);
    blocks_.push_back(std::move(block));
  }
  if (spec_.has_fc_norm) fc_norm_ = make_norm(get(weights, "fc_norm.weight"), get(weights, "fc_norm.bias"));
  if (spec_.num_classes > 0) head_ = make_linear(get(weights, "head.weight"), get(weights, "head.bias"), 1);
}

EvaXModel::Linear EvaXModel::make_linear(at::Tensor weight, at::Tensor bias, std::int64_t rows) const {
  const at::TensorOptions target = at::TensorOptions().device(options_.device).dtype(options_.dtype);
  Linear layer{weight.to(target).contiguous(), bias.to(target).contiguous(), {}, {}, {}, 0};
  if (mkl_reorder_) {
    layer.mkl_packed = mkl_reorder_->call(layer.weight, rows);
    layer.mkl_rows = rows;
  }
  if (use_onednn_) {  // see the constructor
    layer.packed_weight = layer.weight.to_mkldnn();
    layer.packed_bias = layer.bias.to_mkldnn();
  }
  return layer;
}

EvaXModel::Norm EvaXModel::make_norm(const at::Tensor& weight, const at::Tensor& bias) const {
  const at::TensorOptions target = at::TensorOptions().device(options_.device).dtype(options_.dtype);
  return {weight.to(target).contiguous(), bias.to(target).contiguous()};
}

at::Tensor EvaXModel::apply_linear(const Linear& layer, const at::Tensor& x) const {
  // The packed paths have no autograd; Grad-CAM's backward takes the plain one.
  if (layer.mkl_packed.defined() && !at::GradMode::is_enabled())
    return mkl_linear_->call(x, layer.mkl_packed, layer.weight, layer.bias, layer.mkl_rows);
  if (layer.packed_weight.defined() && !at::GradMode::is_enabled()) {
    auto out_sizes = x.sizes().vec();
    out_sizes.back() = layer.weight.size(0);
    const at::Tensor flat = x.reshape({-1, x.size(-1)}).contiguous().to_mkldnn();
    return at::mkldnn_linear(flat, layer.packed_weight, layer.packed_bias).to_dense().view(out_sizes);
  }
  return at::linear(x, layer.weight, layer.bias);
}

at::Tensor EvaXModel::embed(const at::Tensor& images) const {
  if (images.dim() != 4 || images.size(1) != 3 || images.size(2) != options_.input_size || images.size(3) != options_.input_size)
    throw EngineError("model input must be (B, 3, " + std::to_string(options_.input_size) + ", " +
                          std::to_string(options_.input_size) + ")");
  const at::Tensor x = images.to(patch_weight_.options());
  at::Tensor patches = at::conv2d(x, patch_weight_, patch_bias_, {spec_.patch_size, spec_.patch_size});
  patches = patches.flatten(2).transpose(1, 2);  // (B, S*S, D), row-major patches
  const at::Tensor cls = cls_token_.expand({images.size(0), 1, spec_.embed_dim});
  return at::cat({cls, patches}, 1).add_(pos_embed_);
}

at::Tensor EvaXModel::attention(const Block& block, const at::Tensor& normed) const {
  const auto batch = normed.size(0), tokens = normed.size(1);
  const std::int64_t heads = spec_.num_heads;
  const at::Tensor projected = apply_linear(block.qkv, normed);
  at::Tensor q, k, v;
  if (cpu_float_ && !at::GradMode::is_enabled()) {
    auto split = split_heads_with_rope(projected.contiguous(), heads, rope_cos_, rope_sin_);
    q = std::move(split[0]), k = std::move(split[1]), v = std::move(split[2]);
  } else {  // on a GPU, and on Grad-CAM's autograd path
    // (B, T, 3, H, 64) -> (3, B, H, T, 64)
    const at::Tensor qkv = projected.view({batch, tokens, 3, heads, 64}).permute({2, 0, 3, 1, 4});
    const at::Tensor qk = qkv.narrow(0, 0, 2);
    const at::Tensor rotated = qk * rope_cos_ + swap_pairs(qk) * rope_sin_;
    q = rotated[0], k = rotated[1], v = qkv[2];
  }

  at::Tensor context;
#if EVAX_HAVE_SDPA
  context = at::scaled_dot_product_attention(q, k, v, {}, 0.0, false, /*scale=*/1.0);
#else
  context = at::matmul(at::softmax(at::matmul(q, k.transpose(-2, -1)), -1), v);
#endif
  context = context.transpose(1, 2).reshape({batch, tokens, spec_.embed_dim});
  return apply_linear(block.proj, context);
}

at::Tensor EvaXModel::mlp(const Block& block, const at::Tensor& x) const {
  const at::Tensor packed = apply_linear(block.fc1, x);
  const std::int64_t hidden = spec_.mlp_hidden;
  at::Tensor gated = at::silu(packed.narrow(-1, 0, hidden)) * packed.narrow(-1, hidden, hidden);
  if (spec_.scale_mlp) gated = at::layer_norm(gated, {hidden}, block.mlp_norm.weight, block.mlp_norm.bias, kLayerNormEps);
  return apply_linear(block.fc2, gated);
}

at::Tensor EvaXModel::block_forward(const Block& block, const at::Tensor& x) const {
  const std::int64_t d = spec_.embed_dim;
  at::Tensor y = x + attention(block, at::layer_norm(x, {d}, block.norm1.weight, block.norm1.bias, kLayerNormEps));
  return y + mlp(block, at::layer_norm(y, {d}, block.norm2.weight, block.norm2.bias, kLayerNormEps));
}

at::Tensor EvaXModel::forward_tokens(const at::Tensor& images) const {
  at::Tensor x = embed(images);
  for (const auto& block : blocks_) x = block_forward(block, x);
  return x;
}

at::Tensor EvaXModel::pooled(const at::Tensor& tokens) const {
  if (!spec_.has_fc_norm) throw EngineError("this backbone has no fc_norm: it serves a dense head, not a classifier");
  const at::Tensor mean = tokens.narrow(1, 1, tokens.size(1) - 1).mean(1);
  return at::layer_norm(mean, {spec_.embed_dim}, fc_norm_.weight, fc_norm_.bias, kLayerNormEps);
}

at::Tensor EvaXModel::logits(const at::Tensor& pooled_features) const {
  if (spec_.num_classes == 0) throw EngineError("this model has no classification head (a MIM backbone)");
  return apply_linear(head_, pooled_features);
}

std::pair<at::Tensor, at::Tensor> EvaXModel::up_to_last_block(const at::Tensor& images) const {
  at::NoGradGuard no_grad;
  const Block& last = blocks_.back();
  at::Tensor before_last = embed(images);
  for (std::size_t i = 0; i + 1 < blocks_.size(); ++i) before_last = block_forward(blocks_[i], before_last);
  at::Tensor activations = at::layer_norm(before_last, {spec_.embed_dim}, last.norm1.weight, last.norm1.bias, kLayerNormEps);
  return {before_last, activations};
}

EvaXModel::GradCam EvaXModel::explain_last_block(const at::Tensor& before_last, const at::Tensor& activations,
                                                 const std::vector<std::int64_t>& class_index, std::int64_t k) const {
  const std::int64_t batch = activations.size(0);
  const std::int64_t d = spec_.embed_dim;
  const Block& last = blocks_.back();
  at::AutoGradMode grad_mode(true);
  // Replica (b, j) of image b serves class_index[b * k + j]; one backward pass yields every gradient.
  const at::Tensor replicated = activations.unsqueeze(1).expand({batch, k, activations.size(1), d})
                                    .reshape({batch * k, activations.size(1), d}).detach().requires_grad_(true);
  const at::Tensor residual = before_last.repeat_interleave(k, 0);
  at::Tensor y = residual + attention(last, replicated);
  y = y + mlp(last, at::layer_norm(y, {d}, last.norm2.weight, last.norm2.bias, kLayerNormEps));
  const at::Tensor all_logits = logits(pooled(y));  // (B*K, classes)

  const at::Tensor index = at::tensor(class_index, at::kLong).to(all_logits.device()).unsqueeze(1);
  const at::Tensor selected = all_logits.gather(1, index).sum();
  const at::Tensor gradient = torch::autograd::grad({selected}, {replicated})[0];

  GradCam out;
  at::NoGradGuard no_grad;
  const std::int64_t patches = activations.size(1) - 1;
  out.weights = gradient.narrow(1, 1, patches).to(at::kFloat).mean(1).view({batch, k, d});
  const at::Tensor patch_activations = activations.narrow(1, 1, patches).to(at::kFloat);  // (B, N, D)
  out.raw_maps = at::bmm(out.weights, patch_activations.transpose(1, 2)).view({batch, k, grid_side(), grid_side()});
  out.logits = all_logits.detach().view({batch, k, -1}).select(1, 0).to(at::kFloat);
  return out;
}

EvaXModel::GradCam EvaXModel::grad_cam(const at::Tensor& images, const std::vector<int>& classes) const {
  if (spec_.num_classes == 0) throw EngineError("Grad-CAM needs a classification head");
  if (classes.empty()) throw EngineError("Grad-CAM needs at least one class");
  for (int c : classes)
    if (c < 0 || c >= spec_.num_classes) throw EngineError("Grad-CAM class index " + std::to_string(c) + " out of range");
  // Tensors made under InferenceMode cannot enter autograd: this path runs in normal mode.
  c10::InferenceMode normal_mode(false);
  const auto [before_last, activations] = up_to_last_block(images);
  std::vector<std::int64_t> class_index;
  for (std::int64_t b = 0; b < images.size(0); ++b)
    for (int c : classes) class_index.push_back(c);
  return explain_last_block(before_last, activations, class_index, static_cast<std::int64_t>(classes.size()));
}

EvaXModel::TopGradCam EvaXModel::grad_cam_top_k(const at::Tensor& images, int k) const {
  if (spec_.num_classes == 0) throw EngineError("Grad-CAM needs a classification head");
  if (k < 1 || k > spec_.num_classes) throw EngineError("Grad-CAM top-k must be from 1 to the number of classes");
  c10::InferenceMode normal_mode(false);
  const auto [before_last, activations] = up_to_last_block(images);
  at::Tensor top;
  {
    // The last block once without autograd: probabilities are monotonic in the logits, so the
    // K largest logits are the K most probable findings.
    at::NoGradGuard no_grad;
    const Block& last = blocks_.back();
    at::Tensor y = before_last + attention(last, activations);
    y = y + mlp(last, at::layer_norm(y, {spec_.embed_dim}, last.norm2.weight, last.norm2.bias, kLayerNormEps));
    top = std::get<1>(logits(pooled(y)).to(at::kFloat).topk(k, 1, /*largest=*/true, /*sorted=*/true)).cpu().contiguous();
  }
  const std::vector<std::int64_t> class_index(top.data_ptr<std::int64_t>(), top.data_ptr<std::int64_t>() + top.numel());
  return {explain_last_block(before_last, activations, class_index, k), top};
}

}  // namespace evax::inference
