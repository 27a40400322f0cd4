#include "upernet_model.h"

#include <c10/core/InferenceMode.h>

#include "engine_error.h"  // EngineError
#include "upsampled_conv.h"

namespace evax::inference {
namespace {

constexpr double kBatchNormEps = 1e-5;  // mmcv's BN default

const at::Tensor& get(const UperNetWeights& weights, const std::string& name) {
  auto it = weights.dense.find(name);
  if (it == weights.dense.end()) throw EngineError("segmentation weights lack '" + name + "'");
  return it->second;
}

// Eval BatchNorm as a per-channel scale and shift: y = x * scale + shift.
std::pair<at::Tensor, at::Tensor> batch_norm_affine(const UperNetWeights& weights, const std::string& bn) {
  const at::Tensor gamma = get(weights, bn + ".weight").to(at::kDouble), beta = get(weights, bn + ".bias").to(at::kDouble);
  const at::Tensor mean = get(weights, bn + ".running_mean").to(at::kDouble);
  const at::Tensor var = get(weights, bn + ".running_var").to(at::kDouble);
  const at::Tensor scale = gamma / (var + kBatchNormEps).sqrt();
  return {scale, beta - mean * scale};
}

// "prefix<i><suffix>" (built by appending: GCC 12 warns falsely on `"literal" + std::string`).
std::string numbered(const char* prefix, std::size_t index, const char* suffix = "") {
  std::string name(prefix);
  name.append(std::to_string(index)).append(suffix);
  return name;
}

}  // namespace

at::Tensor resize_bilinear(const at::Tensor& x, std::int64_t height, std::int64_t width) {
  if (x.size(-2) == height && x.size(-1) == width) return x;
  return at::upsample_bilinear2d(x, {height, width}, /*align_corners=*/false, c10::nullopt, c10::nullopt);
}

UperNetModel::UperNetModel(const UperNetWeights& weights, const ModelOptions& options)
    : backbone_(std::make_unique<EvaXModel>(weights.backbone, options)), head_spec_(weights.head_spec),
      target_(at::TensorOptions().device(options.device).dtype(options.dtype)) {
  if (options.input_size % (2 * weights.backbone.spec.patch_size) != 0)
    throw EngineError("segmentation input size " + std::to_string(options.input_size) +
                      " must be a multiple of 32: the pyramid's smallest level halves the patch grid");
  // fpn1 = ConvT -> BN -> GELU -> ConvT: the BN folds into the first ConvT's output channels
  // (ConvT weights are (in, out, 2, 2), so the scale runs along dim 1).
  const auto [scale, shift] = batch_norm_affine(weights, "backbone.fpn1.1");
  const at::Tensor first = get(weights, "backbone.fpn1.0.weight").to(at::kDouble);
  pyramid_.up4_first_weight = (first * scale.view({1, -1, 1, 1})).to(target_).contiguous();
  pyramid_.up4_first_bias = (get(weights, "backbone.fpn1.0.bias").to(at::kDouble) * scale + shift).to(target_).contiguous();
  pyramid_.up4_second_weight = get(weights, "backbone.fpn1.3.weight").to(target_).contiguous();
  pyramid_.up4_second_bias = get(weights, "backbone.fpn1.3.bias").to(target_).contiguous();
  pyramid_.up2_weight = get(weights, "backbone.fpn2.0.weight").to(target_).contiguous();
  pyramid_.up2_bias = get(weights, "backbone.fpn2.0.bias").to(target_).contiguous();

  for (std::size_t i = 0; i < head_spec_.pool_scales.size(); ++i)
    psp_.push_back(conv_module(weights, numbered("decode_head.psp_modules.", i, ".1"), 0));
  bottleneck_ = conv_module(weights, "decode_head.bottleneck", 1);
  for (std::size_t i = 0; i < 3; ++i) {
    lateral_[i] = conv_module(weights, numbered("decode_head.lateral_convs.", i), 0);
    fpn_[i] = conv_module(weights, numbered("decode_head.fpn_convs.", i), 1);
  }
  fpn_bottleneck_ = conv_module(weights, "decode_head.fpn_bottleneck", 1);
  upsampled_taps_ = options.device.is_cpu() && options.dtype == at::kFloat;
  if (upsampled_taps_) {
    const std::int64_t channels = head_spec_.channels;
    fpn_bottleneck_first_ = {fpn_bottleneck_.weight.narrow(1, 0, channels).contiguous(at::MemoryFormat::ChannelsLast),
                             fpn_bottleneck_.bias, 1};
    for (std::int64_t i = 0; i < 3; ++i)
      fpn_bottleneck_taps_[static_cast<std::size_t>(i)] = taps_matrix(fpn_bottleneck_.weight.narrow(1, (i + 1) * channels, channels));
  }
  seg_weight_ = get(weights, "decode_head.conv_seg.weight").to(target_).contiguous(at::MemoryFormat::ChannelsLast);
  seg_bias_ = get(weights, "decode_head.conv_seg.bias").to(target_).contiguous();
}

UperNetModel::Conv UperNetModel::conv_module(const UperNetWeights& weights, const std::string& name, std::int64_t padding) const {
  const auto [scale, shift] = batch_norm_affine(weights, name + ".bn");
  const at::Tensor weight = get(weights, name + ".conv.weight").to(at::kDouble) * scale.view({-1, 1, 1, 1});
  return {weight.to(target_).contiguous(at::MemoryFormat::ChannelsLast), shift.to(target_).contiguous(), padding};
}

at::Tensor UperNetModel::apply(const Conv& conv, const at::Tensor& x) const {
  return at::relu(at::conv2d(x, conv.weight, conv.bias, {1, 1}, {conv.padding, conv.padding}));
}

std::array<at::Tensor, 4> UperNetModel::pyramid(const at::Tensor& tokens) const {
  const std::int64_t batch = tokens.size(0), side = backbone_->grid_side();
  // Patch tokens (B, S*S, D) -> (B, D, S, S) channels-last, which is the tokens' own order;
  // EVA-X takes the raw block output, no final norm.
  const at::Tensor grid = tokens.narrow(1, 1, side * side)
                              .reshape({batch, side, side, tokens.size(2)})
                              .permute({0, 3, 1, 2})
                              .contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor up4 = at::conv_transpose2d(grid, pyramid_.up4_first_weight, pyramid_.up4_first_bias, {2, 2});
  up4 = at::conv_transpose2d(at::gelu(up4), pyramid_.up4_second_weight, pyramid_.up4_second_bias, {2, 2});
  const at::Tensor up2 = at::conv_transpose2d(grid, pyramid_.up2_weight, pyramid_.up2_bias, {2, 2});
  const at::Tensor down2 = at::max_pool2d(grid, {2, 2}, {2, 2});
  return {up4, up2, grid, down2};
}

at::Tensor UperNetModel::decode(const std::array<at::Tensor, 4>& levels, at::Tensor* psp_out, at::Tensor* fused_out,
                                const StageMark& mark) const {
  auto done = [&](const char* stage) {
    if (mark) mark(stage);
  };
  // PPM on the smallest level; pooled maps go back to its size (bilinear, no antialias).
  const at::Tensor& top = levels[3];
  std::vector<at::Tensor> pooled{top};
  for (std::size_t i = 0; i < psp_.size(); ++i) {
    const std::int64_t scale = head_spec_.pool_scales[i];
    pooled.push_back(resize_bilinear(apply(psp_[i], at::adaptive_avg_pool2d(top, {scale, scale})), top.size(2), top.size(3)));
  }
  std::array<at::Tensor, 4> laterals;
  laterals[3] = apply(bottleneck_, at::cat(pooled, 1));
  if (psp_out) *psp_out = laterals[3];
  done("ppm");
  for (int i = 0; i < 3; ++i) laterals[i] = apply(lateral_[i], levels[i]);
  for (int i = 3; i > 0; --i)  // top-down, cumulative
    laterals[i - 1] = laterals[i - 1] + resize_bilinear(laterals[i], laterals[i - 1].size(2), laterals[i - 1].size(3));
  done("laterals");

  const std::int64_t height = laterals[0].size(2), width = laterals[0].size(3);
  // The FPN outputs at their own sizes; fpn_bottleneck takes them all upsampled to the largest.
  std::array<at::Tensor, 4> outs;
  for (int i = 0; i < 3; ++i) outs[i] = apply(fpn_[i], laterals[i]);
  outs[3] = laterals[3];
  done("fpn_convs");
  at::Tensor fused;
  if (upsampled_taps_) {
    fused = at::conv2d(outs[0], fpn_bottleneck_first_.weight, fpn_bottleneck_first_.bias, {1, 1}, {1, 1})
                .contiguous(at::MemoryFormat::ChannelsLast);
    for (std::size_t i = 0; i < 3; ++i) add_conv3x3_of_upsampled(fused, outs[i + 1], fpn_bottleneck_taps_[i]);
    fused = at::relu_(fused);
  } else {
    std::vector<at::Tensor> upsampled;
    for (const at::Tensor& out : outs) upsampled.push_back(resize_bilinear(out, height, width));
    fused = apply(fpn_bottleneck_, at::cat(upsampled, 1));
  }
  if (fused_out) *fused_out = fused;
  done("fpn_bottleneck");
  at::Tensor logits = at::conv2d(fused, seg_weight_, seg_bias_);  // Dropout2d is the identity in eval
  done("conv_seg");
  return logits;
}

UperNetModel::Stages UperNetModel::forward_stages(const at::Tensor& images) const {
  c10::InferenceMode inference;
  Stages stages;
  stages.tokens = backbone_->forward_tokens(images);
  stages.pyramid = pyramid(stages.tokens);
  stages.logits = decode(stages.pyramid, &stages.psp_out, &stages.fused, {});
  return stages;
}

at::Tensor UperNetModel::logits(const at::Tensor& images, const StageMark& mark) const {
  c10::InferenceMode inference;
  const at::Tensor tokens = backbone_->forward_tokens(images);
  if (mark) mark("backbone");
  const std::array<at::Tensor, 4> levels = pyramid(tokens);
  if (mark) mark("pyramid");
  return decode(levels, nullptr, nullptr, mark);
}

}  // namespace evax::inference
