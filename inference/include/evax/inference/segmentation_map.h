// SegmentationMap: the lung model's answer for one image, at the image's own size. A plain
// value type.
#pragma once

#include <cstdint>
#include <vector>

namespace evax::inference {

struct SegmentationMap {
  int width = 0, height = 0;       // the image's
  std::vector<std::uint8_t> mask;  // probability > threshold, 0 or 1, row-major
  std::vector<float> probability;  // the sigmoid map, only when asked for
};

}  // namespace evax::inference
