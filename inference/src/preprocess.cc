#include "preprocess.h"

#include <cmath>

#include "engine_error.h"  // EngineError

namespace evax::inference {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's 8-bit resampling precision

double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Pillow's precompute_coeffs + normalize_coeffs_8bpc: for each output index, the first input
// index, the tap count and fixed-point weights.
struct Taps {
  int size = 0;  // taps per output (ksize)
  std::vector<int> first, count;
  std::vector<std::int32_t> weights;
};

Taps precompute(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = 2.0 * filter_scale;
  Taps taps;
  taps.size = static_cast<int>(std::ceil(support)) * 2 + 1;
  taps.first.resize(out_size);
  taps.count.resize(out_size);
  taps.weights.assign(static_cast<std::size_t>(out_size) * taps.size, 0);
  std::vector<double> k(taps.size);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filter_scale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double total = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = bicubic((x + xmin - center + 0.5) * ss);
      total += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double w = total != 0.0 ? k[x] / total : k[x];
      taps.weights[static_cast<std::size_t>(xx) * taps.size + x] =
          static_cast<std::int32_t>(w < 0 ? -0.5 + w * (1 << kPrecisionBits) : 0.5 + w * (1 << kPrecisionBits));
    }
    taps.first[xx] = xmin;
    taps.count[xx] = xmax;
  }
  return taps;
}

std::uint8_t clip8(std::int64_t value) {
  if (value >= (static_cast<std::int64_t>(1) << kPrecisionBits << 8)) return 255;
  if (value <= 0) return 0;
  return static_cast<std::uint8_t>(value >> kPrecisionBits);
}

GreyImage resample_rows(const GreyImage& in, int out_width) {
  const Taps taps = precompute(in.width, out_width);
  GreyImage out{out_width, in.height, std::vector<std::uint8_t>(static_cast<std::size_t>(out_width) * in.height)};
  for (int y = 0; y < in.height; ++y) {
    const std::uint8_t* row = &in.pixels[static_cast<std::size_t>(y) * in.width];
    for (int xx = 0; xx < out_width; ++xx) {
      const std::int32_t* k = &taps.weights[static_cast<std::size_t>(xx) * taps.size];
      std::int64_t sum = 1 << (kPrecisionBits - 1);
      for (int x = 0; x < taps.count[xx]; ++x) sum += static_cast<std::int64_t>(row[taps.first[xx] + x]) * k[x];
      out.pixels[static_cast<std::size_t>(y) * out_width + xx] = clip8(sum);
    }
  }
  return out;
}

GreyImage resample_columns(const GreyImage& in, int out_height) {
  const Taps taps = precompute(in.height, out_height);
  GreyImage out{in.width, out_height, std::vector<std::uint8_t>(static_cast<std::size_t>(in.width) * out_height)};
  for (int yy = 0; yy < out_height; ++yy) {
    const std::int32_t* k = &taps.weights[static_cast<std::size_t>(yy) * taps.size];
    for (int x = 0; x < in.width; ++x) {
      std::int64_t sum = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < taps.count[yy]; ++y)
        sum += static_cast<std::int64_t>(in.pixels[static_cast<std::size_t>(taps.first[yy] + y) * in.width + x]) * k[y];
      out.pixels[static_cast<std::size_t>(yy) * in.width + x] = clip8(sum);
    }
  }
  return out;
}

}  // namespace

GreyImage pil_resize_bicubic(const GreyImage& image, int width, int height) {
  // Pillow resamples horizontally first, rounding to 8 bits between the passes.
  GreyImage out = width != image.width ? resample_rows(image, width) : image;
  if (height != out.height) out = resample_columns(out, height);
  return out;
}

CropGeometry evaluation_geometry(int width, int height, int input_size) {
  // torchvision Resize(int): the shorter side to `target`, the longer scaled and truncated
  const int target = input_size == 224 ? 256 : input_size;
  const bool wide = width > height;
  const int shorter = wide ? height : width, longer = wide ? width : height;
  const int scaled_longer = static_cast<int>(static_cast<double>(target) * longer / shorter);
  CropGeometry g;
  g.resized_width = wide ? scaled_longer : target;
  g.resized_height = wide ? target : scaled_longer;
  g.crop_size = input_size;
  // torchvision CenterCrop: int(round((size - crop) / 2.0)), Python rounding half to even
  g.crop_left = static_cast<int>(std::nearbyint((g.resized_width - input_size) / 2.0));
  g.crop_top = static_cast<int>(std::nearbyint((g.resized_height - input_size) / 2.0));
  g.image_width = width;
  g.image_height = height;
  return g;
}

at::Tensor preprocess(const GreyImage& image, int input_size, CropGeometry* geometry) {
  if (!image.valid()) throw EngineError("image is empty or its pixel buffer does not match its size");
  const CropGeometry g = evaluation_geometry(image.width, image.height, input_size);
  if (geometry) *geometry = g;
  const GreyImage resized = pil_resize_bicubic(image, g.resized_width, g.resized_height);

  at::Tensor out = at::empty({3, input_size, input_size}, at::kFloat);
  float* plane = out.data_ptr<float>();
  for (int y = 0; y < input_size; ++y) {
    const std::uint8_t* row = &resized.pixels[static_cast<std::size_t>(y + g.crop_top) * resized.width + g.crop_left];
    for (int x = 0; x < input_size; ++x) {
      // torchvision: ToTensor divides by 255 in float32, Normalize subtracts then divides
      const float scaled = static_cast<float>(row[x]) / 255.0f;
      plane[static_cast<std::size_t>(y) * input_size + x] = (scaled - kPixelMean) / kPixelStd;
    }
  }
  out[1].copy_(out[0]);  // grey replicated to the three channels the model was trained on
  out[2].copy_(out[0]);
  return out;
}

}  // namespace evax::inference
