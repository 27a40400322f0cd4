#include "evax/dicom_node/intake_rules.h"

#include <gtest/gtest.h>

namespace evax::dicom_node {
namespace {

storage::InstanceAttributes chest(const std::string& view) {
  storage::InstanceAttributes a;
  a.sop_class_uid = std::string(kDxForPresentation);
  a.modality = "DX";
  a.body_part_examined = "CHEST";
  a.view_position = view;
  return a;
}

std::string reason(const storage::InstanceAttributes& a, IntakeSettings settings = {}) {
  const auto d = decide_intake(a, settings);
  return d.analyse ? "analyse" : d.reason_code;
}

TEST(IntakeRules, FrontalChestRadiographsAreAnalysed) {
  EXPECT_EQ(reason(chest("PA")), "analyse");
  EXPECT_EQ(reason(chest("AP")), "analyse");
  EXPECT_EQ(reason(chest(" ap ")), "analyse");
  auto cr = chest("PA");
  cr.modality = "CR";
  cr.sop_class_uid = std::string(kCrImageStorage);
  EXPECT_EQ(reason(cr), "analyse");
}

TEST(IntakeRules, EachRefusalHasItsReasonCode) {
  auto ct = chest("PA");
  ct.modality = "CT";
  EXPECT_EQ(reason(ct), "not-cr-dx");
  EXPECT_EQ(reason(chest("LL")), "lateral-view");
  EXPECT_EQ(reason(chest("RL")), "lateral-view");
  EXPECT_EQ(reason(chest("LLD")), "decubitus-view");
  EXPECT_EQ(reason(chest("")), "view-unknown");
  auto knee = chest("PA");
  knee.body_part_examined = "KNEE";
  EXPECT_EQ(reason(knee), "not-chest");
  auto processing = chest("PA");
  processing.sop_class_uid = std::string(kDxForProcessing);
  EXPECT_EQ(reason(processing), "for-processing");
  auto intent = chest("PA");
  intent.presentation_intent = "FOR PROCESSING";
  EXPECT_EQ(reason(intent), "for-processing");
  auto own = chest("PA");
  own.manufacturer = "evax-node";
  EXPECT_EQ(reason(own), "own-output");
}

TEST(IntakeRules, EmptyBodyPartFollowsTheSetting) {
  auto unknown = chest("PA");
  unknown.body_part_examined = "";
  EXPECT_EQ(reason(unknown), "analyse");
  EXPECT_EQ(reason(unknown, {.accept_empty_body_part = false}), "not-chest");
}

TEST(IntakeRules, ViewCodeSequenceDecidesWhenViewPositionIsSilent) {
  auto pa = chest("");
  pa.view_code = "272479007";
  EXPECT_EQ(reason(pa), "analyse");
  auto lateral = chest("");
  lateral.view_code = "399198007";
  EXPECT_EQ(reason(lateral), "lateral-view");
  auto other = chest("");
  other.view_code = "123456";
  EXPECT_EQ(reason(other), "view-unknown");
}

}  // namespace
}  // namespace evax::dicom_node
