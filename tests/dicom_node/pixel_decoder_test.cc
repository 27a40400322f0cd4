// The DICOM pixel path on synthetic images: Modality LUT, VOI LUT / window / min-max,
// MONOCHROME1, 8-bit as stored, and clear errors for what cannot be decoded.
#include "evax/dicom_node/pixel_decoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "evax/dicom_node/codecs.h"
#include "synthetic_dicom.h"

namespace evax::dicom_node {
namespace {

using testing::SyntheticImage;

class PixelDecoder : public ::testing::Test {
 protected:
  std::string write(const SyntheticImage& image, const std::string& name = "image.dcm") {
    const std::string path = (dir_ / name).string();
    testing::write_synthetic_dicom(path, image);
    return path;
  }
  DecodedPixels decode(const SyntheticImage& image) {
    auto decoded = decode_dicom_file(write(image));
    if (!decoded) ADD_FAILURE() << decoded.error();
    return decoded.value_or(DecodedPixels{});
  }
  static std::uint8_t at(const DecodedPixels& d, int x, int y) { return d.pixels[static_cast<std::size_t>(y) * d.width + x]; }

  // DICOM PS3.3 C.11.2.1.2 linear window, to 0..255.
  static double windowed(double value, double centre, double width) {
    if (value <= centre - 0.5 - (width - 1) / 2) return 0;
    if (value > centre - 0.5 + (width - 1) / 2) return 255;
    return ((value - (centre - 0.5)) / (width - 1) + 0.5) * 255;
  }

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("evax_pixels_" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  DicomCodecs codecs_;
  std::filesystem::path dir_;
};

TEST_F(PixelDecoder, WindowFromTheFileIsApplied) {
  SyntheticImage image;
  image.window = {{1500.0, 1000.0}};
  const DecodedPixels d = decode(image);
  EXPECT_EQ(d.grey_mapping, "window");
  EXPECT_EQ(d.width, 64);
  EXPECT_EQ(d.height, 48);
  for (int y = 0; y < image.height; y += 7)
    for (int x = 0; x < image.width; x += 5)
      EXPECT_NEAR(at(d, x, y), windowed(testing::ramp_value(image, x, y), 1500, 1000), 1.0) << x << "," << y;
}

TEST_F(PixelDecoder, WindowAppliesToModalityValuesAfterRescale) {
  SyntheticImage image;
  image.rescale = {{2.0, -1000.0}};
  image.window = {{2000.0, 3000.0}};
  const DecodedPixels d = decode(image);
  for (int y = 0; y < image.height; y += 11)
    for (int x = 0; x < image.width; x += 9) {
      const double modality = 2.0 * testing::ramp_value(image, x, y) - 1000.0;
      EXPECT_NEAR(at(d, x, y), windowed(modality, 2000, 3000), 1.0) << x << "," << y;
    }
}

TEST_F(PixelDecoder, WithoutVoiTheStoredRangeIsStretched) {
  SyntheticImage image;
  image.values.assign(static_cast<std::size_t>(image.width) * image.height, 1000);
  image.values[0] = 200;     // the minimum
  image.values[100] = 3200;  // the maximum
  const DecodedPixels d = decode(image);
  EXPECT_EQ(d.grey_mapping, "min-max");
  EXPECT_EQ(at(d, 0, 0), 0);
  EXPECT_EQ(d.pixels[100], 255);
  EXPECT_NEAR(at(d, 5, 5), 255.0 * 800 / 3000, 1.0);
}

TEST_F(PixelDecoder, PaddingIsLeftOutOfTheWindowAndShownBlack) {
  // A collimated image: a border of padding value 4095 around values 1000..2000.
  SyntheticImage image;
  image.padding = 4095;
  image.values.assign(static_cast<std::size_t>(image.width) * image.height, 4095);
  for (int y = 8; y < 40; ++y)
    for (int x = 8; x < 56; ++x) image.values[static_cast<std::size_t>(y) * image.width + x] = static_cast<std::uint16_t>(1000 + (x - 8) * 1000 / 47);
  const DecodedPixels d = decode(image);
  EXPECT_EQ(d.grey_mapping, "min-max (padding excluded)");
  EXPECT_EQ(at(d, 0, 0), 0);     // padding: black, not white
  EXPECT_EQ(at(d, 8, 20), 0);    // the lowest real value
  EXPECT_EQ(at(d, 55, 20), 255); // the highest real value
  EXPECT_NEAR(at(d, 31, 20), 255.0 * 489 / 1000, 1.5);
}

TEST_F(PixelDecoder, Monochrome1IsInvertedSoDenseIsBright) {
  SyntheticImage image;
  image.photometric = "MONOCHROME1";
  const DecodedPixels d = decode(image);
  EXPECT_EQ(d.photometric, "MONOCHROME1");
  EXPECT_EQ(at(d, 0, 0), 255);                                 // lowest stored value
  EXPECT_EQ(at(d, image.width - 1, image.height - 1), 0);      // highest stored value
}

TEST_F(PixelDecoder, Monochrome1WithWindowIsInvertedToo) {
  SyntheticImage image;
  image.photometric = "MONOCHROME1";
  image.window = {{2048.0, 4096.0}};
  const DecodedPixels d = decode(image);
  const int x = 20, y = 30;
  EXPECT_NEAR(at(d, x, y), 255 - windowed(testing::ramp_value(image, x, y), 2048, 4096), 1.0);
}

TEST_F(PixelDecoder, EightBitWithoutVoiIsUsedAsStored) {
  SyntheticImage image;
  image.bits_stored = 8;
  image.values.resize(static_cast<std::size_t>(image.width) * image.height);
  for (std::size_t i = 0; i < image.values.size(); ++i) image.values[i] = static_cast<std::uint16_t>(40 + i % 150);
  const DecodedPixels d = decode(image);
  EXPECT_EQ(d.grey_mapping, "as stored");
  for (std::size_t i = 0; i < image.values.size(); ++i) ASSERT_EQ(d.pixels[i], image.values[i]) << i;
}

TEST_F(PixelDecoder, VoiLutWinsOverAWindow) {
  SyntheticImage image;
  image.window = {{100.0, 10.0}};  // would make nearly everything white
  for (int v = 0; v < 4096; ++v) image.voi_lut.push_back(static_cast<std::uint16_t>(65535 - v * 16));  // an inverting LUT
  const DecodedPixels d = decode(image);
  EXPECT_EQ(d.grey_mapping, "VOI LUT");
  EXPECT_GT(at(d, 0, 0), 250);
  EXPECT_LT(at(d, image.width - 1, image.height - 1), 5);
}

TEST_F(PixelDecoder, ColourImageIsRefusedWithItsPhotometricInterpretation) {
  SyntheticImage image;
  image.photometric = "RGB";
  auto decoded = decode_dicom_file(write(image));
  ASSERT_FALSE(decoded);
  EXPECT_NE(decoded.error().find("RGB"), std::string::npos) << decoded.error();
}

TEST_F(PixelDecoder, MissingPixelDataIsAClearError) {
  SyntheticImage image;
  image.omit_pixel_data = true;
  auto decoded = decode_dicom_file(write(image));
  ASSERT_FALSE(decoded);
  EXPECT_NE(decoded.error().find("no pixel data"), std::string::npos);
}

TEST_F(PixelDecoder, NonDicomAndTruncatedFilesAreErrorsNotCrashes) {
  const std::string junk = (dir_ / "junk.dcm").string();
  std::ofstream(junk) << "this is not DICOM at all";
  EXPECT_FALSE(decode_dicom_file(junk));

  const std::string whole = write(SyntheticImage{.width = 256, .height = 256});
  const auto size = std::filesystem::file_size(whole);
  for (double fraction : {0.1, 0.5, 0.9, 0.999}) {
    const std::string cut = (dir_ / ("cut" + std::to_string(fraction) + ".dcm")).string();
    std::filesystem::copy_file(whole, cut);
    std::filesystem::resize_file(cut, static_cast<std::uintmax_t>(size * fraction));
    auto decoded = decode_dicom_file(cut);
    EXPECT_FALSE(decoded) << "fraction " << fraction;
  }
  EXPECT_FALSE(decode_dicom_file((dir_ / "absent.dcm").string()));
}

}  // namespace
}  // namespace evax::dicom_node
