#include "opencv_resize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "engine_error.h"  // EngineError

namespace evax::inference {
namespace {

constexpr float kWeightScale = 1 << 11;  // OpenCV's INTER_RESIZE_COEF_SCALE

// One output index along one axis: the two source indices and their fixed-point weights.
struct Tap {
  int first = 0, second = 0;
  std::int32_t weight0 = 0, weight1 = 0;
};

// saturate_cast<short>(float): rounded to nearest, ties to even (the weights lie in 0..2048).
std::int32_t fixed_weight(float weight) { return static_cast<std::int32_t>(std::lrint(weight * kWeightScale)); }

// hal::resize's tables: source position float((d + 0.5) * scale - 0.5), scale = 1 / (out / in)
// in double. Horizontally a position past an edge becomes the edge pixel at full weight;
// vertically the rows are clipped to the image but keep their weights, as OpenCV does.
std::vector<Tap> axis_taps(int in_size, int out_size, bool horizontal) {
  const double scale = 1.0 / (static_cast<double>(out_size) / in_size);
  std::vector<Tap> taps(static_cast<std::size_t>(out_size));
  for (int d = 0; d < out_size; ++d) {
    float fraction = static_cast<float>((d + 0.5) * scale - 0.5);
    int source = static_cast<int>(std::floor(fraction));
    fraction -= static_cast<float>(source);
    if (horizontal && source < 0) fraction = 0, source = 0;
    if (horizontal && source >= in_size - 1) fraction = 0, source = in_size - 1;
    Tap& tap = taps[static_cast<std::size_t>(d)];
    tap.first = std::clamp(source, 0, in_size - 1);
    tap.second = std::clamp(source + 1, 0, in_size - 1);
    tap.weight0 = fixed_weight(1.0f - fraction);
    tap.weight1 = fixed_weight(fraction);
  }
  return taps;
}

// OpenCV turns INTER_LINEAR at exactly half size into INTER_AREA: each 2x2 block's mean, ties up.
GreyImage halve(const GreyImage& image) {
  GreyImage out{image.width / 2, image.height / 2, {}};
  out.pixels.resize(static_cast<std::size_t>(out.width) * out.height);
  for (int y = 0; y < out.height; ++y) {
    const std::uint8_t* top = &image.pixels[static_cast<std::size_t>(2 * y) * image.width];
    const std::uint8_t* bottom = top + image.width;
    for (int x = 0; x < out.width; ++x)
      out.pixels[static_cast<std::size_t>(y) * out.width + x] =
          static_cast<std::uint8_t>((top[2 * x] + top[2 * x + 1] + bottom[2 * x] + bottom[2 * x + 1] + 2) >> 2);
  }
  return out;
}

}  // namespace

GreyImage opencv_resize_linear(const GreyImage& image, int width, int height) {
  if (!image.valid() || width <= 0 || height <= 0)
    throw EngineError("cannot resize a " + std::to_string(image.width) + " x " + std::to_string(image.height) + " image to " +
                      std::to_string(width) + " x " + std::to_string(height));
  if (width == image.width && height == image.height) return image;
  if (image.width == 2 * width && image.height == 2 * height) return halve(image);

  const std::vector<Tap> columns = axis_taps(image.width, width, /*horizontal=*/true);
  const std::vector<Tap> rows = axis_taps(image.height, height, /*horizontal=*/false);
  // The horizontal pass (sums scaled by 2^11) of each source row an output row uses, done once.
  std::vector<int> slot(static_cast<std::size_t>(image.height), -1);
  std::vector<std::int32_t> sums;
  auto horizontal_pass = [&](int y) {
    if (slot[static_cast<std::size_t>(y)] >= 0) return;
    slot[static_cast<std::size_t>(y)] = static_cast<int>(sums.size() / static_cast<std::size_t>(width));
    const std::uint8_t* source = &image.pixels[static_cast<std::size_t>(y) * image.width];
    for (const Tap& tap : columns) sums.push_back(source[tap.first] * tap.weight0 + source[tap.second] * tap.weight1);
  };

  GreyImage out{width, height, std::vector<std::uint8_t>(static_cast<std::size_t>(width) * height)};
  for (int y = 0; y < height; ++y) {
    const Tap& tap = rows[static_cast<std::size_t>(y)];
    horizontal_pass(tap.first);
    horizontal_pass(tap.second);
    const std::int32_t* upper = &sums[static_cast<std::size_t>(slot[static_cast<std::size_t>(tap.first)]) * width];
    const std::int32_t* lower = &sums[static_cast<std::size_t>(slot[static_cast<std::size_t>(tap.second)]) * width];
    std::uint8_t* target = &out.pixels[static_cast<std::size_t>(y) * width];
    // VResizeLinear<uchar, int, short>: each product's high 16 bits, as its SIMD form computes them.
    for (int x = 0; x < width; ++x) {
      const int value = (((tap.weight0 * (upper[x] >> 4)) >> 16) + ((tap.weight1 * (lower[x] >> 4)) >> 16) + 2) >> 2;
      target[x] = static_cast<std::uint8_t>(std::min(value, 255));
    }
  }
  return out;
}

}  // namespace evax::inference
