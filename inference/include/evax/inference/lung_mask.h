// The segmentation mask as lungs: the two largest connected regions (8-connected), each with
// its holes filled, named by their side of the image, and checked for plausibility. An empty or
// implausible mask is a rejection with its reason, never a drawn lung. Pure functions on pixels.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace evax::inference {

enum class ImageSide { left, right };  // as the image is displayed, column 0 on the left

struct LungRegion {
  ImageSide side = ImageSide::left;
  std::vector<std::uint8_t> mask;  // width * height, 0 or 1: this region only, holes filled
  std::int64_t pixel_count = 0;
  double centroid_x = 0, centroid_y = 0;
};

struct LungMaskLimits {
  double min_region_fraction = 0.02;  // each lung at least this share of the image
  double max_total_fraction = 0.80;   // both together at most this share
};

struct LungMasks {
  std::vector<LungRegion> regions;  // two, image-left first; empty when rejected
  std::optional<std::string> rejection;  // why the mask is not two plausible lungs
  std::int64_t raw_pixel_count = 0;      // foreground pixels before post-processing
};

LungMasks extract_lungs(const std::vector<std::uint8_t>& mask, int width, int height, const LungMaskLimits& limits = {});

}  // namespace evax::inference
