// The Grad-CAM maps of an analysed image's leading findings as a DICOM Parametric Map: one float
// frame per finding (0..1), on the source image's grid or an integer downsampling of it, with
// Real World Value Mapping (the finding's code as the quantity), a Derivation Image reference
// to the source and a palette hint. Built with DCMTK's dcmpmap and read back before it is
// returned; a failed check is an error value. Stateless; thread-safe.
#pragma once

#include <expected>
#include <string>
#include <vector>

#include "evax/reporting/result_objects.h"

namespace evax::reporting {

// A 2048 x 2500 radiograph gives 256 x 313 frames (a 3-frame map of 966,204 bytes), still far
// finer than the model's patch grid the Grad-CAM map comes from (docs/results.md).
inline constexpr int kDefaultHeatmapDownsampling = 8;

struct HeatmapFrame {
  std::string label;          // the head's label, "Effusion"
  std::vector<float> values;  // 0..1, map_width * map_height, row-major
};

struct ParametricMapRequest {
  AlgorithmIdentity algorithm;
  std::string source_path;              // the received DICOM file (patient/study copied, derivation ref)
  int downsampling = kDefaultHeatmapDownsampling;  // integer factor: the map is ceil(cols/d) x ceil(rows/d)
  std::vector<HeatmapFrame> frames;     // the leading findings' maps, most probable first
  std::string series_instance_uid;      // "" makes a new series
  int series_number = 9904;
  int instance_number = 1;
};

// The map's size for a source image and a downsampling factor: ceil(columns / d), ceil(rows / d).
struct HeatmapSize {
  int width = 0, height = 0;
};
HeatmapSize heatmap_size(int columns, int rows, int downsampling);

// A full-resolution map (columns * rows, row-major) reduced to the Parametric Map's grid: each
// map pixel is the mean of the d x d source pixels it covers (fewer at the right and bottom
// edges). With d = 1 the values are returned unchanged.
std::vector<float> downsample_heatmap(const std::vector<float>& full, int columns, int rows, int downsampling);

// The Parametric Map (1.2.840.10008.5.1.4.1.1.30), kind "pmap".
std::expected<DicomObject, std::string> build_parametric_map(const ParametricMapRequest& request);

}  // namespace evax::reporting
