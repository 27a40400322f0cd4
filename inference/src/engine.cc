#include "evax/inference/engine.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "cuda_graph.h"
#include "device_choice.h"
#include "engine_internal.h"
#include "engine_error.h"
#include "evax_checkpoint.h"
#include "evax_model.h"
#include "preprocess.h"

namespace evax::inference {

std::optional<DeviceChoice> parse_device(std::string_view name) {
  if (name == "cpu") return DeviceChoice::cpu;
  if (name == "cuda") return DeviceChoice::cuda;
  if (name == "auto") return DeviceChoice::automatic;
  return std::nullopt;
}

std::optional<Precision> parse_precision(std::string_view name) {
  if (name == "fp32") return Precision::fp32;
  if (name == "bf16") return Precision::bf16;
  if (name == "fp16") return Precision::fp16;
  return std::nullopt;
}

std::string_view precision_name(Precision precision) {
  switch (precision) {
    case Precision::fp32: return "fp32";
    case Precision::bf16: return "bf16";
    case Precision::fp16: return "fp16";
  }
  return "fp32";
}

void set_cpu_threads(int threads) {
  if (threads > 0) at::set_num_threads(threads);
  // LibTorch runs its CPU operators on its own OpenMP threads. Debian's LibTorch hands matrix
  // products to OpenBLAS, whose pthread build starts a second pool of one thread per core on
  // top: on 2 cores that made a batch-1 EVA-X-S forward 1.7x slower at 2 threads than at 1.
  // With its pool set to one thread OpenBLAS computes on the calling (OpenMP) thread, which
  // removes the oversubscription (a no-op where LibTorch has no OpenBLAS).
  using SetThreads = void (*)(int);
  if (auto openblas = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) openblas(1);
}

int cpu_threads() { return at::get_num_threads(); }

struct Engine::Impl {
  ModelInfo info;
  std::unique_ptr<EvaXModel> model;
  // Captured forwards by batch size.
  std::map<std::int64_t, std::unique_ptr<CudaGraph>> graphs;

  at::Tensor forward_head(const at::Tensor& images) const {
    c10::InferenceMode inference;
    if (auto it = graphs.find(images.size(0)); it != graphs.end()) return it->second->run(images);
    return eager_head(images);
  }
  at::Tensor eager_head(const at::Tensor& images) const {
    c10::InferenceMode inference;
    const at::Tensor pooled = model->pooled(model->forward_tokens(images));
    return info.task == Task::features || info.num_classes == 0 ? pooled : model->logits(pooled);
  }

  std::vector<double> activate(const at::Tensor& logits_row) const;
  std::vector<float> to_vector(const at::Tensor& t) const {
    const at::Tensor flat = t.to(at::kFloat).cpu().contiguous();
    return {flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel()};
  }
};

namespace {

Task choose_task(const EngineOptions& options, const ModelSpec& spec, bool demo) {
  if (options.task) {
    const TaskInfo& wanted = task_info(*options.task);
    if (*options.task != Task::features && static_cast<int>(wanted.labels.size()) != spec.num_classes) {
      throw EngineError("task " + std::string(wanted.name) + " needs a head of " + std::to_string(wanted.labels.size()) +
                            " outputs, but the checkpoint's head has " + std::to_string(spec.num_classes));
    }
    return *options.task;
  }
  if (demo) return Task::cxr14;
  if (auto task = task_for_class_count(spec.num_classes)) return *task;
  throw EngineError("the checkpoint's head has " + std::to_string(spec.num_classes) +
                        " outputs, which matches no EVA-X task (" + task_names() + ")");
}

std::vector<float> normalise_cam(const std::vector<float>& raw) {
  // pytorch-grad-cam's scaling, as the paper used: ReLU, minus the minimum, over (1e-7 + maximum)
  std::vector<float> out(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) out[i] = std::max(raw[i], 0.0f);
  const float low = out.empty() ? 0.0f : *std::min_element(out.begin(), out.end());
  for (float& v : out) v -= low;
  const float high = out.empty() ? 0.0f : *std::max_element(out.begin(), out.end());
  for (float& v : out) v /= (1e-7f + high);
  return out;
}

}  // namespace

std::vector<double> Engine::Impl::activate(const at::Tensor& logits_row) const {
  const at::Tensor row = logits_row.to(at::kDouble).cpu();
  at::Tensor probabilities;
  switch (task_info(info.task).activation) {
    case Activation::sigmoid: probabilities = row.sigmoid(); break;
    case Activation::softmax: probabilities = row.softmax(-1); break;
    case Activation::none: probabilities = row; break;
  }
  return {probabilities.data_ptr<double>(), probabilities.data_ptr<double>() + probabilities.numel()};
}

const EvaXModel& EngineInternals::model(const Engine& engine) { return *engine.impl_->model; }

at::Tensor EngineInternals::forward_head(const Engine& engine, const at::Tensor& images) {
  return engine.impl_->forward_head(images);
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

const ModelInfo& Engine::info() const { return impl_->info; }

std::expected<std::unique_ptr<Engine>, std::string> Engine::create(const EngineOptions& options) {
  return error_boundary([&]() -> std::expected<std::unique_ptr<Engine>, std::string> {
    const bool demo = options.checkpoint.rfind("demo:", 0) == 0;
    EvaXWeights weights;
    if (demo) {
      const Task task = options.task.value_or(Task::cxr14);
      weights = demo_evax_weights(options.checkpoint.substr(5), static_cast<int>(task_info(task).labels.size()));
    } else {
      weights = load_evax_checkpoint(options.checkpoint);
    }
    const Task task = choose_task(options, weights.spec, demo);

    ModelOptions model_options;
    model_options.input_size = options.input_size.value_or(demo ? task_info(task).default_input_size
                                                                : weights.spec.pos_embed_grid * weights.spec.patch_size);
    model_options.antialiased_pos_embed = !options.legacy_pos_embed_resampling;
    const ResolvedDevice device = resolve_device(options.device);
    model_options.device = device.device;
    model_options.dtype = scalar_type(options.precision);

    auto impl = std::make_unique<Impl>();
    impl->model = std::make_unique<EvaXModel>(weights, model_options);

    ModelInfo& info = impl->info;
    const ModelSpec& spec = weights.spec;
    info.name = spec.display_name();
    info.size = spec.size_name();
    info.task = task;
    info.checkpoint = options.checkpoint;
    info.checkpoint_format = weights.format;
    info.demo = demo;
    info.input_size = model_options.input_size;
    info.embed_dim = spec.embed_dim;
    info.depth = spec.depth;
    info.num_heads = spec.num_heads;
    info.num_classes = spec.num_classes;
    info.rope_reference_grid = static_cast<int>(spec.rope_ref_grid);
    info.device = model_options.device.str();
    info.device_note = device.note;
    info.precision = options.precision;
    for (auto label : task_info(task).labels) info.labels.emplace_back(label);
    info.notes = weights.notes;
    if (model_options.input_size != spec.pos_embed_grid * spec.patch_size) {
      info.notes.push_back("pos_embed resampled from " + std::to_string(spec.pos_embed_grid) + "x" +
                           std::to_string(spec.pos_embed_grid) + " to " + std::to_string(impl->model->grid_side()) + "x" +
                           std::to_string(impl->model->grid_side()) +
                           (model_options.antialiased_pos_embed ? " (bicubic, antialiased as timm)" : " (bicubic, legacy)"));
    }
    if (model_options.device.is_cuda()) {
      const Impl& ready = *impl;
      impl->graphs = capture_graphs([&ready](const at::Tensor& x) { return ready.eager_head(x); }, options.cuda_graph_batches,
                                    model_options.input_size, at::TensorOptions().device(model_options.device).dtype(model_options.dtype),
                                    info.notes);
    }
    return std::unique_ptr<Engine>(new Engine(std::move(impl)));
  });
}

std::expected<std::vector<ImageResult>, std::string> Engine::classify(const std::vector<ClassifyRequest>& requests) const {
  std::vector<const ClassifyRequest*> batch;
  batch.reserve(requests.size());
  for (const auto& request : requests) batch.push_back(&request);
  return classify(std::span<const ClassifyRequest* const>(batch));
}

std::expected<std::vector<ImageResult>, std::string> Engine::classify(std::span<const ClassifyRequest* const> requests) const {
  const ModelInfo& info = impl_->info;
  const EvaXModel& model = *impl_->model;
  std::vector<ImageResult> results(requests.size());
  if (requests.empty()) return results;
  return error_boundary([&]() -> std::expected<std::vector<ImageResult>, std::string> {
    std::vector<std::size_t> plain, explained;
    std::map<int, std::vector<std::size_t>> explained_top;  // by k
    std::set<int> cam_classes;
    std::vector<at::Tensor> inputs;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const auto& request = *requests[i];
      if (!request.image.valid())
        return std::unexpected("image " + std::to_string(i) + " is empty or its pixel buffer does not match its size");
      for (int c : request.cam_classes) {
        if (c < 0 || c >= static_cast<int>(info.labels.size()))
          return std::unexpected("Grad-CAM class " + std::to_string(c) + " is not an output of this head");
        cam_classes.insert(c);
      }
      if (request.cam_top_k != 0) {
        if (!request.cam_classes.empty()) return std::unexpected(std::string("cam_classes and cam_top_k exclude each other"));
        if (request.cam_top_k < 0 || info.task == Task::features) return std::unexpected(std::string("Grad-CAM top-k needs a classification task and k > 0"));
        explained_top[std::min(request.cam_top_k, static_cast<int>(info.labels.size()))].push_back(i);
      } else {
        (request.cam_classes.empty() ? plain : explained).push_back(i);
      }
      inputs.push_back(preprocess(request.image, info.input_size, &results[i].geometry));
    }

    auto batch_of = [&](const std::vector<std::size_t>& members) {
      std::vector<at::Tensor> picked;
      for (std::size_t i : members) picked.push_back(inputs[i]);
      at::Tensor batch = at::stack(picked);
      if (model.options().device.is_cuda()) batch = batch.pin_memory().to(model.options().device, /*non_blocking=*/true);
      return batch;
    };
    auto fill_findings = [&](ImageResult& result, const at::Tensor& logits_row) {
      const std::vector<double> probabilities = impl_->activate(logits_row);
      for (std::size_t c = 0; c < info.labels.size(); ++c) result.findings.push_back({info.labels[c], probabilities[c], {}});
    };

    if (!plain.empty()) {
      const at::Tensor output = impl_->forward_head(batch_of(plain)).to(at::kFloat).cpu();
      for (std::size_t j = 0; j < plain.size(); ++j) {
        if (info.task == Task::features) results[plain[j]].features = impl_->to_vector(output[j]);
        else fill_findings(results[plain[j]], output[j]);
      }
    }

    if (!explained.empty()) {
      if (info.task == Task::features) return std::unexpected(std::string("Grad-CAM needs a classification task"));
      const std::vector<int> classes(cam_classes.begin(), cam_classes.end());
      const EvaXModel::GradCam cam = model.grad_cam(batch_of(explained), classes);
      const at::Tensor logits = cam.logits.cpu();
      const at::Tensor maps = cam.raw_maps.cpu().contiguous();
      for (std::size_t j = 0; j < explained.size(); ++j) {
        ImageResult& result = results[explained[j]];
        fill_findings(result, logits[j]);
        for (int c : requests[explained[j]]->cam_classes) {
          const auto k = std::find(classes.begin(), classes.end(), c) - classes.begin();
          CamMap map;
          map.grid_side = model.grid_side();
          map.raw = impl_->to_vector(maps[j][k]);
          map.normalised = normalise_cam(map.raw);
          result.findings[c].cam = std::move(map);
        }
      }
    }
    for (const auto& [k, members] : explained_top) {
      const EvaXModel::TopGradCam top = model.grad_cam_top_k(batch_of(members), k);
      const at::Tensor logits = top.cam.logits.cpu();
      const at::Tensor maps = top.cam.raw_maps.cpu().contiguous();
      for (std::size_t j = 0; j < members.size(); ++j) {
        ImageResult& result = results[members[j]];
        fill_findings(result, logits[j]);
        for (int slot = 0; slot < k; ++slot) {
          CamMap map;
          map.grid_side = model.grid_side();
          map.raw = impl_->to_vector(maps[j][slot]);
          map.normalised = normalise_cam(map.raw);
          result.findings[static_cast<std::size_t>(top.classes[j][slot].item<std::int64_t>())].cam = std::move(map);
        }
      }
    }
    return results;
  });
}

void Engine::warm_up(int max_batch) const {
  GreyImage blank{impl_->info.input_size, impl_->info.input_size,
                  std::vector<std::uint8_t>(static_cast<std::size_t>(impl_->info.input_size) * impl_->info.input_size, 128)};
  for (int size : {1, std::max(1, max_batch)}) {
    std::vector<ClassifyRequest> requests(static_cast<std::size_t>(size), ClassifyRequest{blank, {}});
    (void)classify(requests);
  }
}

ImageRect crop_in_image(const CropGeometry& g) {
  if (g.resized_width <= 0 || g.resized_height <= 0) return {};
  const double sx = static_cast<double>(g.image_width) / g.resized_width;
  const double sy = static_cast<double>(g.image_height) / g.resized_height;
  return {static_cast<int>(std::lround(g.crop_left * sx)), static_cast<int>(std::lround(g.crop_top * sy)),
          static_cast<int>(std::lround((g.crop_left + g.crop_size) * sx)),
          static_cast<int>(std::lround((g.crop_top + g.crop_size) * sy))};
}

std::vector<float> render_cam_values(const CamMap& cam, const CropGeometry& g) {
  std::vector<float> out(static_cast<std::size_t>(g.image_width) * g.image_height, 0.0f);
  const int side = cam.grid_side;
  if (side <= 0 || cam.normalised.size() != static_cast<std::size_t>(side) * side || g.crop_size <= 0) return out;
  const double to_resized_x = static_cast<double>(g.resized_width) / g.image_width;
  const double to_resized_y = static_cast<double>(g.resized_height) / g.image_height;
  const double cell = static_cast<double>(g.crop_size) / side;
  auto grid_coordinate = [&](double crop_position, int& low, int& high, double& frac) {
    double source = std::clamp(crop_position / cell - 0.5, 0.0, static_cast<double>(side - 1));
    low = static_cast<int>(source);
    high = std::min(low + 1, side - 1);
    frac = source - low;
  };
  for (int y = 0; y < g.image_height; ++y) {
    const double cy = (y + 0.5) * to_resized_y - g.crop_top;
    if (cy < 0 || cy >= g.crop_size) continue;
    int y0, y1;
    double fy;
    grid_coordinate(cy, y0, y1, fy);
    for (int x = 0; x < g.image_width; ++x) {
      const double cx = (x + 0.5) * to_resized_x - g.crop_left;
      if (cx < 0 || cx >= g.crop_size) continue;
      int x0, x1;
      double fx;
      grid_coordinate(cx, x0, x1, fx);
      auto at = [&](int gy, int gx) { return static_cast<double>(cam.normalised[static_cast<std::size_t>(gy) * side + gx]); };
      const double value = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
      out[static_cast<std::size_t>(y) * g.image_width + x] = static_cast<float>(std::clamp(value, 0.0, 1.0));
    }
  }
  return out;
}

std::vector<std::uint8_t> render_cam(const CamMap& cam, const CropGeometry& geometry) {
  const std::vector<float> values = render_cam_values(cam, geometry);
  std::vector<std::uint8_t> out(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) out[i] = static_cast<std::uint8_t>(std::lround(values[i] * 255.0));
  return out;
}

}  // namespace evax::inference
