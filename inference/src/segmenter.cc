#include "evax/inference/segmenter.h"

#include <c10/core/InferenceMode.h>
#include <torch/cuda.h>

#include <map>

#include "cuda_graph.h"
#include "device_choice.h"
#include "engine_error.h"
#include "opencv_resize.h"
#include "preprocess.h"  // kPixelMean, kPixelStd
#include "segmenter_internal.h"
#include "upernet_checkpoint.h"
#include "upernet_model.h"

namespace evax::inference {

struct Segmenter::Impl {
  SegmenterInfo info;
  std::unique_ptr<UperNetModel> model;
  std::map<std::int64_t, std::unique_ptr<CudaGraph>> graphs;  // captured logits by batch size

  at::Tensor logits(const at::Tensor& batch) const {
    if (auto it = graphs.find(batch.size(0)); it != graphs.end()) return it->second->run(batch);
    return model->logits(batch);
  }
};

const UperNetModel& SegmenterInternals::model(const Segmenter& segmenter) { return *segmenter.impl_->model; }

at::Tensor SegmenterInternals::logits(const Segmenter& segmenter, const at::Tensor& images) {
  c10::InferenceMode inference;
  return segmenter.impl_->logits(images);
}

at::Tensor segmentation_input(const GreyImage& image, int input_size) {
  // mmseg's Resize through mmcv's cv2 backend: OpenCV's fixed-point INTER_LINEAR on the 8-bit image.
  const bool same_size = image.width == input_size && image.height == input_size;
  const GreyImage resized = same_size ? GreyImage{} : opencv_resize_linear(image, input_size, input_size);
  const GreyImage& source = same_size ? image : resized;
  const at::Tensor pixels =
      at::from_blob(const_cast<std::uint8_t*>(source.pixels.data()), {1, input_size, input_size}, at::kByte).to(at::kDouble);
  const at::Tensor normalised = ((pixels - static_cast<double>(kPixelMean) * 255.0) / (static_cast<double>(kPixelStd) * 255.0)).to(at::kFloat);
  return normalised.expand({3, input_size, input_size}).contiguous();
}

Segmenter::Segmenter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Segmenter::~Segmenter() = default;

const SegmenterInfo& Segmenter::info() const { return impl_->info; }

std::expected<std::unique_ptr<Segmenter>, std::string> Segmenter::create(const SegmenterOptions& options) {
  return error_boundary([&]() -> std::expected<std::unique_ptr<Segmenter>, std::string> {
    if (!(options.threshold > 0.0 && options.threshold < 1.0))
      throw EngineError("segmentation threshold " + std::to_string(options.threshold) + " must lie strictly between 0 and 1");
    const bool demo = options.checkpoint == "demo";
    const UperNetWeights weights = demo ? demo_upernet_weights() : load_upernet_checkpoint(options.checkpoint);
    const ModelSpec& spec = weights.backbone.spec;

    ModelOptions model_options;
    model_options.input_size = options.input_size.value_or(spec.pos_embed_grid * spec.patch_size);
    model_options.antialiased_pos_embed = false;  // mmseg / EVA-02 resample without antialias
    const ResolvedDevice device = resolve_device(options.device);
    model_options.device = device.device;
    model_options.dtype = scalar_type(options.precision);

    auto impl = std::make_unique<Impl>();
    impl->model = std::make_unique<UperNetModel>(weights, model_options);
    SegmenterInfo& info = impl->info;
    info.name = spec.display_name() + " UperNet";
    info.checkpoint = options.checkpoint;
    info.checkpoint_format = weights.format;
    info.demo = demo;
    info.input_size = model_options.input_size;
    info.embed_dim = spec.embed_dim;
    info.depth = spec.depth;
    info.head_channels = weights.head_spec.channels;
    info.rope_reference_grid = static_cast<int>(spec.rope_ref_grid);
    info.threshold = options.threshold;
    info.device = model_options.device.str();
    info.device_note = device.note;
    info.precision = options.precision;
    info.notes = weights.notes;
    if (model_options.input_size != spec.pos_embed_grid * spec.patch_size)
      info.notes.push_back("pos_embed resampled from " + std::to_string(spec.pos_embed_grid) + "x" + std::to_string(spec.pos_embed_grid) +
                           " to " + std::to_string(impl->model->backbone().grid_side()) + "x" +
                           std::to_string(impl->model->backbone().grid_side()) + " (bicubic without antialias, as mmseg)");
    if (model_options.device.is_cuda()) {
      const UperNetModel& model = *impl->model;
      impl->graphs = capture_graphs([&model](const at::Tensor& x) { return model.logits(x); }, options.cuda_graph_batches,
                                    model_options.input_size, at::TensorOptions().device(model_options.device).dtype(model_options.dtype),
                                    info.notes);
    }
    return std::unique_ptr<Segmenter>(new Segmenter(std::move(impl)));
  });
}

std::expected<std::vector<SegmentationMap>, std::string> Segmenter::segment(const std::vector<GreyImage>& images,
                                                                           bool keep_probability) const {
  std::vector<const GreyImage*> batch;
  batch.reserve(images.size());
  for (const auto& image : images) batch.push_back(&image);
  return segment(std::span<const GreyImage* const>(batch), keep_probability);
}

std::expected<std::vector<SegmentationMap>, std::string> Segmenter::segment(std::span<const GreyImage* const> images,
                                                                           bool keep_probability) const {
  std::vector<SegmentationMap> maps(images.size());
  if (images.empty()) return maps;
  return error_boundary([&]() -> std::expected<std::vector<SegmentationMap>, std::string> {
    const UperNetModel& model = *impl_->model;
    const int size = model.input_size();
    std::vector<at::Tensor> inputs;
    for (std::size_t i = 0; i < images.size(); ++i) {
      if (!images[i]->valid()) return std::unexpected("image " + std::to_string(i) + " is empty or its pixel buffer does not match its size");
      inputs.push_back(segmentation_input(*images[i], size));
    }
    c10::InferenceMode inference;
    const at::Device device = model.backbone().options().device;
    at::Tensor batch = at::stack(inputs);
    if (device.is_cuda()) batch = batch.pin_memory().to(device, /*non_blocking=*/true);
    // mmseg 0.29.1 EncoderDecoder: logits to the network input, then to the image, then sigmoid.
    const at::Tensor at_input = resize_bilinear(impl_->logits(batch).to(at::kFloat), size, size);
    for (std::size_t i = 0; i < images.size(); ++i) {
      const GreyImage& image = *images[i];
      const at::Tensor probability = resize_bilinear(at_input.narrow(0, static_cast<std::int64_t>(i), 1), image.height, image.width).sigmoid();
      const at::Tensor mask = probability.gt(impl_->info.threshold).to(at::kByte).cpu().contiguous();
      SegmentationMap& map = maps[i];
      map.width = image.width;
      map.height = image.height;
      map.mask.assign(mask.data_ptr<std::uint8_t>(), mask.data_ptr<std::uint8_t>() + mask.numel());
      if (keep_probability) {
        const at::Tensor cpu = probability.cpu().contiguous();
        map.probability.assign(cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel());
      }
    }
    return maps;
  });
}

void Segmenter::warm_up(int max_batch) const {
  const int size = impl_->info.input_size;
  const GreyImage blank{size, size, std::vector<std::uint8_t>(static_cast<std::size_t>(size) * size, 128)};
  for (int batch : {1, std::max(1, max_batch)}) (void)segment(std::vector<GreyImage>(static_cast<std::size_t>(batch), blank));
}

}  // namespace evax::inference
