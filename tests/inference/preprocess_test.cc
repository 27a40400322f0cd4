// The evaluation transform against the fixtures' PIL + torchvision outputs.
#include "preprocess.h"
#include "test_support.h"

namespace evax::inference {
namespace {

using testing::max_abs_difference;
using testing::oracle_image;
using testing::reference;

TEST(Preprocess, Image1And2At224MatchPilWithinOneGreyLevel) {
  for (int i = 0; i < 2; ++i) {
    const GreyImage image = oracle_image(i == 0 ? "image1_u8" : "image2_u8");
    const double error = max_abs_difference(preprocess(image, 224), reference("input224")[i]);
    std::printf("image%d at 224: max |error| %.2e (one grey level is 0.0138)\n", i + 1, error);
    // The bar is one grey level (0.015 in normalised units); Pillow's arithmetic is
    // reproduced exactly, so only float rounding remains.
    EXPECT_LT(error, 1e-6);
  }
}

TEST(Preprocess, Image1At480MatchesPil) {
  const double error = max_abs_difference(preprocess(oracle_image("image1_u8"), 480), reference("input480")[0]);
  std::printf("image1 at 480: max |error| %.2e\n", error);
  EXPECT_LT(error, 1e-6);
}

TEST(Preprocess, GeometryFollowsTorchvisionResizeAndCenterCrop) {
  // image1 is 370 wide, 300 high: shorter side to 256 gives 315 x 256 (int truncation),
  // and the crop starts at round(45.5) = 46 (Python rounds half to even).
  const CropGeometry g = evaluation_geometry(370, 300, 224);
  EXPECT_EQ(g.resized_width, 315);
  EXPECT_EQ(g.resized_height, 256);
  EXPECT_EQ(g.crop_left, 46);
  EXPECT_EQ(g.crop_top, 16);
  const CropGeometry portrait = evaluation_geometry(420, 512, 480);
  EXPECT_EQ(portrait.resized_width, 480);
  EXPECT_EQ(portrait.resized_height, 585);
  EXPECT_EQ(portrait.crop_top, 52);
}

TEST(Preprocess, ResizeToTheSameSizeIsTheIdentity) {
  GreyImage image{3, 2, {0, 50, 100, 150, 200, 250}};
  EXPECT_EQ(pil_resize_bicubic(image, 3, 2).pixels, image.pixels);
}

TEST(Preprocess, InvalidImageIsRefused) {
  GreyImage broken{10, 10, std::vector<std::uint8_t>(5)};
  EXPECT_ANY_THROW(preprocess(broken, 224));
}

}  // namespace
}  // namespace evax::inference
