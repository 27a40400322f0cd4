// The regions the SR places on the image: a Grad-CAM map's strongest attention, the analysed
// area, a lung mask's outline, all in DICOM image coordinates.
#include <gtest/gtest.h>

#include <cmath>

#include "evax/reporting/image_regions.h"

namespace evax::reporting {
namespace {

// The shoelace area of a closed outline.
double area(const ImageRegion& region) {
  double twice = 0;
  for (std::size_t i = 0; i + 1 < region.points.size(); ++i)
    twice += region.points[i].column * region.points[i + 1].row - region.points[i + 1].column * region.points[i].row;
  return std::abs(twice) / 2;
}

bool closed(const ImageRegion& r) {
  return r.points.size() >= 4 && r.points.front().column == r.points.back().column && r.points.front().row == r.points.back().row;
}

TEST(AttentionRegion, OutlinesTheHotCellsWhereTheMapLiesOnTheImage) {
  // 14 x 14 map over the analysed square [100, 548) x [50, 498): cells (row 3, columns 9-10) hot.
  AttentionMap map{14, std::vector<float>(196, 0.05f), {100, 50, 548, 498}};
  map.values[3 * 14 + 9] = 1.0f;
  map.values[3 * 14 + 10] = 0.9f;
  const ImageRegion region = attention_region(map);
  ASSERT_EQ(region.shape, ImageRegion::Shape::outline) << region.basis;
  EXPECT_TRUE(closed(region));
  EXPECT_NE(region.basis.find("Grad-CAM"), std::string::npos);
  // A cell is 32 pixels: the outline lies around columns 100 + 9..11 cells, row 50 + 3..4 cells.
  float left = 1e9f, right = 0, top = 1e9f, bottom = 0;
  for (const ImagePoint& p : region.points) {
    left = std::min(left, p.column), right = std::max(right, p.column);
    top = std::min(top, p.row), bottom = std::max(bottom, p.row);
  }
  EXPECT_GT(left, 100 + 8 * 32) << left;
  EXPECT_LT(right, 100 + 12 * 32) << right;
  EXPECT_GT(top, 50 + 2 * 32) << top;
  EXPECT_LT(bottom, 50 + 5 * 32) << bottom;
  // About the two cells at half the peak and above: 2 x 32 x 32 pixels, give or take the slopes.
  EXPECT_GT(area(region), 0.5 * 2048);
  EXPECT_LT(area(region), 3.0 * 2048);
}

TEST(AttentionRegion, OnlyTheAreaHoldingThePeakNotEveryHotSpot) {
  AttentionMap map{14, std::vector<float>(196, 0.0f), {0, 0, 224, 224}};
  map.values[2 * 14 + 2] = 1.0f;    // the peak, top left
  map.values[11 * 14 + 11] = 0.8f;  // above half the peak, bottom right, not connected
  const ImageRegion region = attention_region(map);
  ASSERT_EQ(region.shape, ImageRegion::Shape::outline);
  for (const ImagePoint& p : region.points) {
    EXPECT_LT(p.column, 7 * 16);
    EXPECT_LT(p.row, 7 * 16);
  }
}

TEST(AttentionRegion, AFlatMapGivesTheAnalysedAreaAndATinyAreaItsPeak) {
  const AttentionMap flat{14, std::vector<float>(196, 0.0f), {10, 20, 330, 340}};
  const ImageRegion whole = attention_region(flat);
  ASSERT_EQ(whole.shape, ImageRegion::Shape::outline);
  ASSERT_EQ(whole.points.size(), 5u);
  EXPECT_EQ(whole.points[0].column, 10);
  EXPECT_EQ(whole.points[0].row, 20);
  EXPECT_EQ(whole.points[2].column, 330);
  EXPECT_EQ(whole.points[2].row, 340);
  EXPECT_NE(whole.basis.find("no positive attention"), std::string::npos);

  // The same hot cell over an analysed area of 14 x 14 pixels: under a pixel across, a point.
  AttentionMap tiny{14, std::vector<float>(196, 0.0f), {40, 40, 54, 54}};
  tiny.values[5 * 14 + 6] = 1.0f;
  const ImageRegion point = attention_region(tiny);
  ASSERT_EQ(point.shape, ImageRegion::Shape::point);
  ASSERT_EQ(point.points.size(), 1u);
  EXPECT_NEAR(point.points[0].column, 40 + 6.5, 1.0);
  EXPECT_NEAR(point.points[0].row, 40 + 5.5, 1.0);

  // A map that does not fit its grid is treated as flat, never read out of bounds.
  const AttentionMap broken{14, std::vector<float>(10, 1.0f), {0, 0, 100, 100}};
  EXPECT_EQ(attention_region(broken).points.size(), 5u);
}

TEST(MaskOutline, FollowsTheLargestRegionWithinAPixel) {
  const int width = 200, height = 160;
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(width) * height, 0);
  std::size_t inside = 0;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      if (std::hypot(x - 80.0, y - 70.0) <= 40.0) mask[static_cast<std::size_t>(y) * width + x] = 1, ++inside;
  mask[5 * width + 190] = 1;  // a stray pixel: not the largest region
  const auto outline = mask_outline(mask, width, height, "lung");
  ASSERT_TRUE(outline);
  EXPECT_TRUE(closed(*outline));
  EXPECT_EQ(outline->basis, "lung");
  // Through the boundary pixels' centres: the area is the disk's less about half a pixel all round.
  EXPECT_NEAR(area(*outline), static_cast<double>(inside), 0.06 * inside);
  for (const ImagePoint& p : outline->points) EXPECT_LE(std::hypot(p.column - 80.5, p.row - 70.5), 41.5);

  EXPECT_FALSE(mask_outline(std::vector<std::uint8_t>(100, 0), 10, 10, "empty"));
  EXPECT_FALSE(mask_outline(mask, width + 1, height, "wrong size"));
}

TEST(RectangleRegion, IsAClosedOutlineOfItsCorners) {
  const ImageRegion r = rectangle_region({1, 2, 30, 40}, "analysed");
  ASSERT_EQ(r.points.size(), 5u);
  EXPECT_TRUE(closed(r));
  EXPECT_EQ(area(r), 29.0 * 38.0);
}

}  // namespace
}  // namespace evax::reporting
