// The lung model's input resize against OpenCV itself: mmseg resizes through mmcv's cv2 backend,
// cv2.resize(img, (w, h), INTER_LINEAR), whose 8-bit arithmetic is fixed point. PyPI's
// opencv-python-headless (tests/tools/cv2_resize.py, in the tools venv) resizes the same
// deterministic images; every pixel must be equal.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "evax/inference/grey_image.h"
#include "opencv_resize.h"
#include "preprocess.h"  // kPixelMean, kPixelStd
#include "segmenter_internal.h"

namespace evax::inference {
namespace {

namespace fs = std::filesystem;

struct Size {
  int width, height;
};

// Smooth shading (where rounding ties are common, as in a radiograph) with a little hashed texture.
GreyImage test_image(Size size) {
  GreyImage image{size.width, size.height, std::vector<std::uint8_t>(static_cast<std::size_t>(size.width) * size.height)};
  for (int y = 0; y < size.height; ++y)
    for (int x = 0; x < size.width; ++x) {
      std::uint32_t hash = static_cast<std::uint32_t>(x) * 73856093u ^ static_cast<std::uint32_t>(y) * 19349663u;
      hash = (hash ^ (hash >> 13)) * 0x5bd1e995u;
      const int shade = (x * 255 / size.width + y * 255 / size.height) / 2;
      image.pixels[static_cast<std::size_t>(y) * size.width + x] = static_cast<std::uint8_t>(std::min(255, shade + static_cast<int>((hash >> 24) % 12)));
    }
  return image;
}

class InputResize : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("evax-resize-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // cv2.resize of each image to its output size, in one Python run.
  std::vector<GreyImage> cv2_resize(const std::vector<GreyImage>& images, const std::vector<Size>& outputs) {
    std::string command = std::string(EVAX_TOOLS_PYTHON) + " " EVAX_SOURCE_DIR "/tests/tools/cv2_resize.py";
    for (std::size_t i = 0; i < images.size(); ++i) {
      const fs::path in = dir_ / ("in" + std::to_string(i) + ".raw"), out = dir_ / ("out" + std::to_string(i) + ".raw");
      std::ofstream(in, std::ios::binary).write(reinterpret_cast<const char*>(images[i].pixels.data()), static_cast<std::streamsize>(images[i].pixels.size()));
      command += " " + in.string() + ":" + std::to_string(images[i].width) + ":" + std::to_string(images[i].height) + ":" +
                 std::to_string(outputs[i].width) + ":" + std::to_string(outputs[i].height) + ":" + out.string();
    }
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
    std::vector<GreyImage> resized;
    for (std::size_t i = 0; i < images.size(); ++i) {
      std::ifstream file(dir_ / ("out" + std::to_string(i) + ".raw"), std::ios::binary);
      resized.push_back({outputs[i].width, outputs[i].height, {std::istreambuf_iterator<char>(file), {}}});
    }
    return resized;
  }

  fs::path dir_;
};

std::int64_t differing_pixels(const GreyImage& a, const GreyImage& b) {
  if (a.pixels.size() != b.pixels.size()) return -1;
  std::int64_t count = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) count += a.pixels[i] != b.pixels[i];
  return count;
}

// The segmenter's network input back in grey levels (the normalisation is exact to far below one).
GreyImage grey_levels_of_input(const GreyImage& image, int input_size) {
  const at::Tensor input = segmentation_input(image, input_size)[0];
  const at::Tensor levels = (input.to(at::kDouble) * (kPixelStd * 255.0) + kPixelMean * 255.0).round().clamp(0, 255).to(at::kByte).contiguous();
  return {input_size, input_size, {levels.data_ptr<std::uint8_t>(), levels.data_ptr<std::uint8_t>() + levels.numel()}};
}

// Down (portrait and landscape radiograph sizes, odd sizes), up (smaller than the input), and
// exactly half (OpenCV's 2x2-mean shortcut).
const std::vector<Size> kImageSizes = {{1736, 2140}, {2140, 1736}, {1025, 1023}, {517, 1201}, {301, 199}, {97, 480}, {1024, 1024}};

TEST_F(InputResize, SegmenterInputIsCv2ResizeOnEveryPixel) {
  constexpr int kInputSize = 512;
  std::vector<GreyImage> images;
  for (Size size : kImageSizes) images.push_back(test_image(size));
  const std::vector<GreyImage> expected = cv2_resize(images, std::vector<Size>(images.size(), Size{kInputSize, kInputSize}));
  for (std::size_t i = 0; i < images.size(); ++i)
    EXPECT_EQ(differing_pixels(grey_levels_of_input(images[i], kInputSize), expected[i]), 0)
        << "pixels differing from cv2.resize for " << images[i].width << " x " << images[i].height << " -> " << kInputSize;
}

TEST_F(InputResize, NonSquareOutputsMatchCv2) {
  const std::vector<std::pair<Size, Size>> cases = {
      {{1736, 2140}, {517, 13}}, {{301, 199}, {700, 31}}, {{97, 480}, {1000, 999}}, {{2140, 1736}, {1070, 868}}, {{5, 7}, {3, 2}}};
  std::vector<GreyImage> images;
  std::vector<Size> outputs;
  for (const auto& [in, out] : cases) images.push_back(test_image(in)), outputs.push_back(out);
  const std::vector<GreyImage> expected = cv2_resize(images, outputs);
  for (std::size_t i = 0; i < images.size(); ++i)
    EXPECT_EQ(differing_pixels(opencv_resize_linear(images[i], outputs[i].width, outputs[i].height), expected[i]), 0)
        << "pixels differing from cv2.resize for " << images[i].width << " x " << images[i].height << " -> " << outputs[i].width
        << " x " << outputs[i].height;
}

}  // namespace
}  // namespace evax::inference
