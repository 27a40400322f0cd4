// From the segmentation map to reported lungs: which side is the patient's right, which spacing
// the areas rest on, and the numbering of the SEG's segments.
#include "evax/pipeline/lung_findings.h"

#include <gtest/gtest.h>

namespace evax::pipeline {
namespace {

// Two rectangles: 30 x 50 on the image's left, 20 x 40 on its right, in a 100 x 60 map.
inference::SegmentationMap two_regions() {
  inference::SegmentationMap map{100, 60, std::vector<std::uint8_t>(6000, 0), {}};
  for (int y = 5; y < 55; ++y)
    for (int x = 10; x < 40; ++x) map.mask[static_cast<std::size_t>(y) * 100 + x] = 1;
  for (int y = 10; y < 50; ++y)
    for (int x = 70; x < 90; ++x) map.mask[static_cast<std::size_t>(y) * 100 + x] = 1;
  return map;
}

TEST(LungFindings, PatientOrientationDecidesTheSideAndPixelSpacingTheArea) {
  const dicom_node::PixelSpacing spacing{0.2, 0.3, "PixelSpacing"};
  const LungFindings standard = assess_lungs(two_regions(), spacing, "L", {});
  ASSERT_TRUE(standard.rejection.empty()) << standard.rejection;
  ASSERT_EQ(standard.measurements.size(), 2u);
  // "L": columns run towards the patient's left, so the image's left region is the right lung.
  EXPECT_EQ(standard.measurements[0].laterality, reporting::Laterality::right);
  EXPECT_EQ(standard.measurements[0].pixel_count, 1500);
  EXPECT_NEAR(*standard.measurements[0].area_mm2, 1500 * 0.06, 1e-9);
  EXPECT_EQ(standard.measurements[0].spacing_source, "PixelSpacing");
  EXPECT_EQ(standard.measurements[0].segment_number, 1);
  EXPECT_EQ(standard.measurements[1].laterality, reporting::Laterality::left);
  EXPECT_EQ(standard.measurements[1].pixel_count, 800);
  EXPECT_EQ(standard.measurements[1].segment_number, 2);
  EXPECT_EQ(standard.masks[0].laterality, reporting::Laterality::right);
  EXPECT_EQ(standard.masks[0].mask[20 * 100 + 20], 1);
  EXPECT_EQ(standard.side_basis, "PatientOrientation L");

  // "R": a flipped display; the image's right region is now the right lung, listed first.
  const LungFindings flipped = assess_lungs(two_regions(), spacing, "R", {});
  ASSERT_TRUE(flipped.rejection.empty());
  EXPECT_EQ(flipped.measurements[0].laterality, reporting::Laterality::right);
  EXPECT_EQ(flipped.measurements[0].pixel_count, 800);
  EXPECT_EQ(flipped.masks[0].mask[20 * 100 + 80], 1);

  // No usable orientation: the convention, and the basis says it was assumed.
  const LungFindings assumed = assess_lungs(two_regions(), std::nullopt, "", {});
  EXPECT_EQ(assumed.measurements[0].pixel_count, 1500);
  EXPECT_FALSE(assumed.measurements[0].area_mm2);
  EXPECT_EQ(assumed.side_basis.rfind("assumed", 0), 0u);
  const LungFindings detector = assess_lungs(two_regions(), dicom_node::PixelSpacing{0.15, 0.15, "ImagerPixelSpacing"}, "A", {});
  EXPECT_EQ(detector.measurements[1].spacing_source, "ImagerPixelSpacing");
  EXPECT_EQ(detector.side_basis.rfind("assumed", 0), 0u);
}

TEST(LungFindings, ARejectedMaskHasNoLungs) {
  inference::SegmentationMap map = two_regions();
  const LungFindings tight = assess_lungs(map, std::nullopt, "L", {.min_region_fraction = 0.2, .max_total_fraction = 0.8});
  EXPECT_NE(tight.rejection.find("second lung region covers only"), std::string::npos) << tight.rejection;
  EXPECT_TRUE(tight.masks.empty());
  EXPECT_TRUE(tight.measurements.empty());
}

}  // namespace
}  // namespace evax::pipeline
