#include "upsampled_conv.h"

#include <algorithm>
#include <vector>

#include "engine_error.h"

namespace evax::inference {
namespace {

// One output coordinate's two source indices and weights, as upsample_bilinear2d computes them
// on the CPU (align_corners=False, no scale given: float ratio, half-pixel centres, clamped at 0).
struct Interpolation {
  int low = 0, high = 0;
  float low_weight = 1, high_weight = 0;
};

std::vector<Interpolation> interpolation(int input_size, int output_size) {
  std::vector<Interpolation> out(static_cast<std::size_t>(output_size));
  const float ratio = static_cast<float>(input_size) / static_cast<float>(output_size);
  for (int i = 0; i < output_size; ++i) {
    const float source = std::max(ratio * (static_cast<float>(i) + 0.5f) - 0.5f, 0.0f);
    Interpolation& p = out[static_cast<std::size_t>(i)];
    p.low = static_cast<int>(source);
    p.high = p.low + (p.low < input_size - 1 ? 1 : 0);
    p.high_weight = std::min(std::max(source - static_cast<float>(p.low), 0.0f), 1.0f);
    p.low_weight = 1.0f - p.high_weight;
  }
  return out;
}

// out[c] += a * x[c] + b * y[c]: the inner loop, cloned per instruction set and picked at run
// time, so that a generic x86-64 build still uses AVX2 or AVX-512 where the CPU has them.
__attribute__((target_clones("avx512f", "avx2", "default")))
void add_two(float* __restrict out, const float* __restrict x, float a, const float* __restrict y, float b, int count) {
  for (int c = 0; c < count; ++c) out[c] += a * x[c] + b * y[c];
}

}  // namespace

at::Tensor taps_matrix(const at::Tensor& weight) {
  // (out, in, 3, 3) -> (3, 3, out, in) -> (9 * out, in)
  return weight.permute({2, 3, 0, 1}).reshape({9 * weight.size(0), weight.size(1)}).contiguous();
}

void add_conv3x3_of_upsampled(at::Tensor& acc, const at::Tensor& y, const at::Tensor& taps) {
  if (acc.device().is_cuda() || y.device().is_cuda() || acc.scalar_type() != at::kFloat || y.scalar_type() != at::kFloat ||
      acc.dim() != 4 || y.dim() != 4 || !acc.is_contiguous(at::MemoryFormat::ChannelsLast))
    throw EngineError("add_conv3x3_of_upsampled takes float32 CPU maps, the accumulator channels-last");
  const int n_images = static_cast<int>(acc.size(0)), channels = static_cast<int>(acc.size(1));
  const int height = static_cast<int>(acc.size(2)), width = static_cast<int>(acc.size(3));
  const int h = static_cast<int>(y.size(2)), w = static_cast<int>(y.size(3));
  if (taps.size(0) != 9 * channels || taps.size(1) != y.size(1) || y.size(0) != acc.size(0))
    throw EngineError("add_conv3x3_of_upsampled: the taps do not fit the maps");

  // Channel mixing at the small size: (N*h*w, in) x (in, 9*out) -> [n][r][q][k][o].
  const at::Tensor mixed = at::linear(y.permute({0, 2, 3, 1}).reshape({-1, y.size(1)}), taps).contiguous();
  const std::vector<Interpolation> rows = interpolation(h, height), columns = interpolation(w, width);
  const std::int64_t tap_stride = channels, column_stride = 9 * tap_stride, row_stride = w * column_stride;
  // Columns first, at the small height: A[dy][r][X] = sum over dx of the column-interpolated
  // tap (dy, dx) at X + dx - 1 (zero outside the image, the convolution's padding). Then rows,
  // at the full size: acc[Y][X] += sum over dy of the row-interpolated A[dy] at Y + dy - 1.
  // On the calling thread: the mixing GEMM above, on LibTorch's threads, is most of the work.
  std::vector<float> partial(static_cast<std::size_t>(3) * h * width * channels);
  for (int n = 0; n < n_images; ++n) {
    const float* image_taps = mixed.data_ptr<float>() + static_cast<std::int64_t>(n) * h * row_stride;
    std::fill(partial.begin(), partial.end(), 0.0f);
    for (int dy = 0; dy < 3; ++dy) {
      for (int r = 0; r < h; ++r) {
        for (int x = 0; x < width; ++x) {
          float* target = partial.data() + ((static_cast<std::int64_t>(dy) * h + r) * width + x) * channels;
          for (int dx = 0; dx < 3; ++dx) {
            const int column = x + dx - 1;
            if (column < 0 || column >= width) continue;
            const Interpolation& c = columns[static_cast<std::size_t>(column)];
            const float* tap = image_taps + r * row_stride + (3 * dy + dx) * tap_stride;
            add_two(target, tap + c.low * column_stride, c.low_weight, tap + c.high * column_stride, c.high_weight, channels);
          }
        }
      }
    }
    float* image_out = acc.data_ptr<float>() + static_cast<std::int64_t>(n) * height * width * channels;
    for (int y_out = 0; y_out < height; ++y_out) {
      float* target = image_out + static_cast<std::int64_t>(y_out) * width * channels;
      for (int dy = 0; dy < 3; ++dy) {
        const int row = y_out + dy - 1;
        if (row < 0 || row >= height) continue;
        const Interpolation& p = rows[static_cast<std::size_t>(row)];
        const float* low = partial.data() + (static_cast<std::int64_t>(dy) * h + p.low) * width * channels;
        const float* high = partial.data() + (static_cast<std::int64_t>(dy) * h + p.high) * width * channels;
        for (int x = 0; x < width; ++x)
          add_two(target + x * channels, low + x * channels, p.low_weight, high + x * channels, p.high_weight, channels);
      }
    }
  }
}

}  // namespace evax::inference
