// Engine: an EVA-X classifier ready to run, loaded from a published checkpoint or the demo
// weights. It takes 8-bit grey images and returns probabilities in the head's label order,
// optionally with Grad-CAM maps. LibTorch stays behind this header.
// Thread-safe: classify() may be called from several threads at once.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "evax/inference/grey_image.h"
#include "evax/inference/segmentation_map.h"
#include "evax/inference/task.h"

namespace evax::inference {

struct EngineInternals;  // the module's own benchmark reaches past this interface

enum class DeviceChoice { cpu, cuda, automatic };
enum class Precision { fp32, bf16, fp16 };

std::optional<DeviceChoice> parse_device(std::string_view name);   // cpu | cuda | auto
std::optional<Precision> parse_precision(std::string_view name);   // fp32 | bf16 | fp16
std::string_view precision_name(Precision precision);

struct EngineOptions {
  std::string checkpoint;            // a file path, or "demo:tiny" / "demo:small" / "demo:base"
  std::optional<Task> task;          // default: the task whose label count matches the head
                                     // (demo weights: cxr14)
  std::optional<int> input_size;     // default: the checkpoint's training resolution
                                     // (pos_embed grid x 16; 480 for a COVIDx demo)
  DeviceChoice device = DeviceChoice::automatic;
  Precision precision = Precision::fp32;  // bf16 / fp16 need CUDA
  bool legacy_pos_embed_resampling = false;  // EVA-02 / mmseg bicubic without antialias
  // On CUDA, batch sizes whose plain forward is captured as a CUDA graph at start-up (batch 1
  // is launch-bound without one). Ignored on CPU; a capture that fails falls back to eager.
  std::vector<int> cuda_graph_batches = {1};
};

struct ModelInfo {
  std::string name;               // "EVA-X-S"
  std::string size;               // "tiny", "small", "base" or "custom"
  Task task = Task::cxr14;
  std::string checkpoint;         // as given in the options
  std::string checkpoint_format;  // "pytorch-zip", "safetensors" or "demo"
  bool demo = false;              // deterministic, untrained weights
  int input_size = 224;
  int embed_dim = 0, depth = 0, num_heads = 0, num_classes = 0;
  int rope_reference_grid = 14;
  std::string device;             // "cpu", "cuda:0"
  std::string device_note;        // why device auto runs on the CPU ("" when it was not asked to choose)
  Precision precision = Precision::fp32;
  std::vector<std::string> labels;
  std::vector<std::string> notes;  // what loading inferred or adapted
};

// Where the model's square input came from: the image was resized to resized_width x
// resized_height, then the crop_size square at (crop_left, crop_top) was taken.
struct CropGeometry {
  int image_width = 0, image_height = 0;
  int resized_width = 0, resized_height = 0;
  int crop_left = 0, crop_top = 0, crop_size = 0;
};

// The crop's rectangle in original image pixels (half-open: [left, right) x [top, bottom)).
struct ImageRect {
  int left = 0, top = 0, right = 0, bottom = 0;
};
ImageRect crop_in_image(const CropGeometry& geometry);

struct CamMap {
  int grid_side = 0;
  std::vector<float> raw;         // grid_side^2, row-major, before ReLU
  std::vector<float> normalised;  // after ReLU and min-max scaling to [0, 1] (all 0 if flat)
};

struct Finding {
  std::string label;
  double probability = 0.0;
  std::optional<CamMap> cam;
};

struct ImageResult {
  std::vector<Finding> findings;  // head order; empty for the features task
  std::vector<float> features;    // fc_norm(mean of patch tokens), for the features task
  CropGeometry geometry;
  std::optional<SegmentationMap> lungs;  // from a ClassifierWithLungs model (a BatchingClassifier
                                         // with a Segmenter), when asked
};

struct ClassifyRequest {
  GreyImage image;
  std::vector<int> cam_classes;   // head indices to explain; empty: no Grad-CAM
  int cam_top_k = 0;              // or: explain the image's k most probable findings (same
                                  // single pass; not together with cam_classes)
  bool segment_lungs = false;     // also segment the lungs in the same batch: served by a
                                  // ClassifierWithLungs model (Engine ignores it)
};

class Engine {
 public:
  // Loads and prepares the model; a bad checkpoint, option or device is an error value.
  static std::expected<std::unique_ptr<Engine>, std::string> create(const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const ModelInfo& info() const;

  // One batch: every image is preprocessed, run through the model together, and explained for
  // its cam_classes. An invalid image or a runtime failure is an error value for the batch.
  std::expected<std::vector<ImageResult>, std::string> classify(const std::vector<ClassifyRequest>& requests) const;
  // The same over the callers' requests where they lie (a batcher's queue: nothing is copied).
  std::expected<std::vector<ImageResult>, std::string> classify(std::span<const ClassifyRequest* const> requests) const;

  // Runs one batch of each size up to `max_batch` so the first real request pays no warm-up.
  void warm_up(int max_batch) const;

 private:
  friend struct EngineInternals;
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The normalised map bilinearly upsampled to the whole original image (as in the paper's
// recipe, align_corners=False), 0..1; pixels outside the crop are 0. Row-major, image_width *
// image_height. What the Parametric Map carries.
std::vector<float> render_cam_values(const CamMap& cam, const CropGeometry& geometry);
// The same scaled to 0..255 (rounded): what the Secondary Capture draws.
std::vector<std::uint8_t> render_cam(const CamMap& cam, const CropGeometry& geometry);

// Process-wide: LibTorch's intra-op CPU threads (0 leaves LibTorch's default); where LibTorch
// uses OpenBLAS, OpenBLAS computes on the calling thread (its own pool would oversubscribe).
// Call it once before the first model runs.
void set_cpu_threads(int threads);
int cpu_threads();

}  // namespace evax::inference
