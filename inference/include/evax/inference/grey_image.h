// GreyImage: an 8-bit greyscale picture, the only image type the engine accepts.
// A plain value type; copy it or move it freely.
#pragma once

#include <cstdint>
#include <vector>

namespace evax::inference {

struct GreyImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // row-major, width * height bytes, 0 = black

  bool valid() const {
    return width > 0 && height > 0 &&
           pixels.size() == static_cast<std::size_t>(width) * static_cast<std::size_t>(height);
  }
};

}  // namespace evax::inference
