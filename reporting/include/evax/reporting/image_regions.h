// The regions the Structured Report places on the source image: a finding's Grad-CAM attention,
// the part of the image the model analysed, a lung's outline. Plain values in and out (OpenCV
// stays inside); pure and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "evax/reporting/result_objects.h"

namespace evax::reporting {

// A rectangle of source pixels, half-open: [left, right) x [top, bottom).
struct PixelRect {
  int left = 0, top = 0, right = 0, bottom = 0;
};

// One finding's Grad-CAM map over the part of the image the model analysed.
struct AttentionMap {
  int grid_side = 0;
  std::vector<float> values;  // grid_side^2, row-major, after ReLU and min-max scaling to [0, 1]
  PixelRect analysed;         // where the map lies on the source image
};

// The region of a finding's strongest attention: the outline of the connected area where the
// map (bilinearly interpolated, as the Secondary Capture draws it) is at least half its peak and
// which holds the peak. The peak as a point when that area is too small to outline (under about
// a pixel across), and the whole analysed area when the map is flat (no positive attention).
ImageRegion attention_region(const AttentionMap& map);

// The analysed area as an outline: for a finding without a Grad-CAM map.
ImageRegion rectangle_region(const PixelRect& rect, std::string basis);

// The outline of a binary mask's largest region (width x height, non-zero = inside), simplified
// to within about a pixel of the mask's edge; nullopt for an empty mask.
std::optional<ImageRegion> mask_outline(const std::vector<std::uint8_t>& mask, int width, int height, std::string basis);

}  // namespace evax::reporting
