// Post-processing of the segmentation mask: two largest regions, holes filled, sides, and the
// plausibility rules that turn a bad mask into a reported rejection.
#include <gtest/gtest.h>

#include "evax/inference/lung_mask.h"

namespace evax::inference {
namespace {

struct Canvas {
  int width, height;
  std::vector<std::uint8_t> pixels;
  Canvas(int w, int h) : width(w), height(h), pixels(static_cast<std::size_t>(w) * h, 0) {}
  void ellipse(double cx, double cy, double rx, double ry, std::uint8_t value = 1) {
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x)
        if ((x - cx) * (x - cx) / (rx * rx) + (y - cy) * (y - cy) / (ry * ry) <= 1.0) at(x, y) = value;
  }
  std::uint8_t& at(int x, int y) { return pixels[static_cast<std::size_t>(y) * width + x]; }
};

TEST(LungMask, KeepsTheTwoLargestRegionsFillsHolesAndNamesSides) {
  Canvas canvas(200, 160);
  canvas.ellipse(55, 80, 30, 60);   // image-left lung
  canvas.ellipse(145, 80, 28, 55);  // image-right lung
  canvas.ellipse(55, 80, 6, 6, 0);  // a hole inside the left one
  canvas.at(100, 5) = 1;            // a speck between them
  canvas.ellipse(100, 150, 4, 4);   // a small blob below
  const LungMasks lungs = extract_lungs(canvas.pixels, canvas.width, canvas.height);
  ASSERT_FALSE(lungs.rejection) << *lungs.rejection;
  ASSERT_EQ(lungs.regions.size(), 2u);
  const LungRegion& left = lungs.regions[0];
  const LungRegion& right = lungs.regions[1];
  EXPECT_EQ(left.side, ImageSide::left);
  EXPECT_EQ(right.side, ImageSide::right);
  EXPECT_LT(left.centroid_x, 100);
  EXPECT_GT(right.centroid_x, 100);
  EXPECT_EQ(left.mask[80 * 200 + 55], 1);   // the hole is filled
  EXPECT_EQ(left.mask[80 * 200 + 145], 0);  // the other lung is not in this region's mask
  EXPECT_EQ(left.mask[5 * 200 + 100] + right.mask[5 * 200 + 100], 0);  // the speck is gone
  EXPECT_EQ(left.mask[150 * 200 + 100] + right.mask[150 * 200 + 100], 0);
  std::int64_t counted = 0;
  for (auto v : left.mask) counted += v;
  EXPECT_EQ(counted, left.pixel_count);
  EXPECT_GT(lungs.raw_pixel_count, 0);
}

TEST(LungMask, RejectsEmptySingleLopsidedTinyAndOversizedMasks) {
  Canvas empty(50, 50);
  EXPECT_NE(extract_lungs(empty.pixels, 50, 50).rejection.value_or("").find("empty"), std::string::npos);

  Canvas one(100, 100);
  one.ellipse(50, 50, 40, 40);
  const LungMasks single = extract_lungs(one.pixels, 100, 100);
  EXPECT_TRUE(single.regions.empty());
  EXPECT_NE(single.rejection.value_or("").find("one connected region"), std::string::npos);

  Canvas same_side(200, 100);
  same_side.ellipse(30, 30, 15, 20);
  same_side.ellipse(60, 70, 15, 20);
  EXPECT_NE(extract_lungs(same_side.pixels, 200, 100).rejection.value_or("").find("same side"), std::string::npos);

  Canvas tiny(200, 100);
  tiny.ellipse(50, 50, 30, 40);
  tiny.ellipse(150, 50, 3, 3);
  EXPECT_NE(extract_lungs(tiny.pixels, 200, 100).rejection.value_or("").find("only"), std::string::npos);

  Canvas full(100, 100);
  full.pixels.assign(full.pixels.size(), 1);
  for (int y = 0; y < 100; ++y) full.at(50, y) = 0;  // two halves that cover nearly everything
  EXPECT_NE(extract_lungs(full.pixels, 100, 100).rejection.value_or("").find("at most"), std::string::npos);

  EXPECT_TRUE(extract_lungs(std::vector<std::uint8_t>(10, 1), 5, 5).rejection);  // size mismatch
}

// One filled region can enclose the other: their coverage is the union, never the sum.
TEST(LungMask, CoverageOfAFrameWithARegionInsideIsTheUnion) {
  Canvas canvas(100, 100);
  for (int i = 0; i < 100; ++i) canvas.at(i, 0) = canvas.at(i, 99) = canvas.at(0, i) = canvas.at(99, i) = 1;  // a frame
  for (int y = 30; y < 60; ++y)
    for (int x = 20; x < 70; ++x) canvas.at(x, y) = 1;  // 1500 pixels inside it, not touching it
  const LungMasks lungs = extract_lungs(canvas.pixels, 100, 100);
  // The frame filled covers the whole image; the sum would be 115.0%.
  EXPECT_EQ(lungs.rejection.value_or(""), "the lung regions cover 100.0% of the image (at most 80.0% expected)");
}

TEST(LungMask, UnionUnderTheLimitIsNotRejectedForCoverage) {
  Canvas canvas(200, 100);
  for (int y = 10; y < 90; ++y)
    for (int x = 10; x < 190; ++x)
      if (y < 12 || y >= 88 || x < 12 || x >= 188) canvas.at(x, y) = 1;  // a ring: 72% filled
  for (int y = 20; y < 80; ++y)
    for (int x = 20; x < 120; ++x) canvas.at(x, y) = 1;  // 30% inside it: 102% summed
  const LungMasks lungs = extract_lungs(canvas.pixels, 200, 100);
  EXPECT_EQ(lungs.rejection.value_or("").find("cover"), std::string::npos) << *lungs.rejection;
  EXPECT_EQ(lungs.rejection.value_or(""), "both lung regions lie on the same side of the image");
}

}  // namespace
}  // namespace evax::inference
