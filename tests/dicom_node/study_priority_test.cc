// A received dataset's priority: RequestedProcedurePriority at the top level and in the
// request items, DICOM's values mapped onto stat / high / routine, and the configured rules,
// the highest winning. Datasets built with DCMTK, read by the same function the SCP calls.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>

#include "dataset_priority.h"
#include "evax/dicom_node/study_priority.h"

namespace evax::dicom_node {
namespace {

using storage::Priority;

PriorityRules rules_of(const std::vector<config::PriorityRule>& rules, bool requested = true) {
  config::PrioritySettings settings;
  settings.requested_procedure_priority = requested;
  settings.rules = rules;
  auto created = PriorityRules::create(settings);
  EXPECT_TRUE(created) << (created ? "" : config::describe(created.error()));
  return created ? *created : PriorityRules{};
}

void add_request_item(DcmDataset& d, const char* priority) {
  DcmItem* item = nullptr;
  ASSERT_TRUE(d.findOrCreateSequenceItem(DCM_RequestAttributesSequence, item, -2).good());
  if (priority) item->putAndInsertString(DCM_RequestedProcedurePriority, priority);
  item->putAndInsertString(DCM_RequestedProcedureID, "RP1");
}

TEST(StudyPriority, DicomsFiveValuesMapOntoThreeInAnyCaseAndPadding) {
  EXPECT_EQ(requested_priority("STAT"), Priority::stat);
  EXPECT_EQ(requested_priority("stat "), Priority::stat);
  EXPECT_EQ(requested_priority(" High"), Priority::high);
  EXPECT_EQ(requested_priority("ROUTINE"), Priority::routine);
  EXPECT_EQ(requested_priority("MEDIUM"), Priority::routine);
  EXPECT_EQ(requested_priority("LOW"), Priority::routine);
  EXPECT_EQ(requested_priority(""), Priority::routine);
  EXPECT_EQ(requested_priority("STATX"), Priority::routine);
}

TEST(StudyPriority, TheRequestsPriorityIsReadAtTheTopAndInEveryRequestItem) {
  const PriorityRules rules;
  DcmDataset none;
  EXPECT_EQ(read_priority(none, rules), Priority::routine);

  DcmDataset top;
  top.putAndInsertString(DCM_RequestedProcedurePriority, "HIGH");
  EXPECT_EQ(read_priority(top, rules), Priority::high);

  // The usual place in an image: the request attributes, one item per request; the highest wins.
  DcmDataset items;
  add_request_item(items, "ROUTINE");
  add_request_item(items, nullptr);
  add_request_item(items, "STAT");
  EXPECT_EQ(read_priority(items, rules), Priority::stat);

  DcmDataset low;
  add_request_item(low, "LOW");
  EXPECT_EQ(read_priority(low, rules), Priority::routine);
}

TEST(StudyPriority, TheRequestsPriorityCanBeIgnored) {
  DcmDataset d;
  add_request_item(d, "STAT");
  EXPECT_EQ(read_priority(d, rules_of({}, false)), Priority::routine);
}

TEST(StudyPriority, RulesMatchByKeywordOrTagAndOnlyRaise) {
  const auto rules = rules_of({{"StudyDescription", "", "chest stat", "stat"},
                               {"(0008,1040)", "", "  Emergency ", "high"},
                               {"(0040,0254)", "\\bER\\b|emerg", "", "high"}});

  DcmDataset description;
  description.putAndInsertString(DCM_StudyDescription, "CHEST STAT");  // equals: any case
  EXPECT_EQ(read_priority(description, rules), Priority::stat);

  DcmDataset partial;
  partial.putAndInsertString(DCM_StudyDescription, "CHEST STAT PA");  // equals is the whole value
  EXPECT_EQ(read_priority(partial, rules), Priority::routine);

  DcmDataset department;  // (0008,1040) InstitutionalDepartmentName, trimmed
  department.putAndInsertString(DCM_InstitutionalDepartmentName, "EMERGENCY");
  EXPECT_EQ(read_priority(department, rules), Priority::high);

  DcmDataset step;  // a regular expression, found anywhere, any case
  step.putAndInsertString(DCM_PerformedProcedureStepDescription, "Chest, er bay 3");
  EXPECT_EQ(read_priority(step, rules), Priority::high);
  DcmDataset other_step;
  other_step.putAndInsertString(DCM_PerformedProcedureStepDescription, "Chest, ward 3");
  EXPECT_EQ(read_priority(other_step, rules), Priority::routine);

  // A rule never lowers what the request says.
  DcmDataset stat_request;
  add_request_item(stat_request, "STAT");
  stat_request.putAndInsertString(DCM_InstitutionalDepartmentName, "Emergency");
  EXPECT_EQ(read_priority(stat_request, rules), Priority::stat);
}

TEST(StudyPriority, ARegularExpressionIsSearchedInTheValue) {
  const auto rules = rules_of({{"StudyDescription", "\\bstat\\b|urgent", "", "stat"}});
  DcmDataset hit;
  hit.putAndInsertString(DCM_StudyDescription, "Chest PA (STAT)");
  EXPECT_EQ(read_priority(hit, rules), Priority::stat);
  DcmDataset urgent;
  urgent.putAndInsertString(DCM_StudyDescription, "URGENT chest");
  EXPECT_EQ(read_priority(urgent, rules), Priority::stat);
  DcmDataset miss;
  miss.putAndInsertString(DCM_StudyDescription, "Chest PA statistics");
  EXPECT_EQ(read_priority(miss, rules), Priority::routine);
  DcmDataset absent;
  EXPECT_EQ(read_priority(absent, rules), Priority::routine);
}

TEST(StudyPriority, APrivateTagIsWrittenInHex) {
  const auto rules = rules_of({{"(0029,1010)", "", "YES", "high"}});
  DcmDataset d;
  d.putAndInsertString(DCM_StudyDescription, "Chest");
  ASSERT_TRUE(d.putAndInsertString(DcmTag(0x0029, 0x1010, EVR_LO), "yes").good());
  EXPECT_EQ(read_priority(d, rules), Priority::high);
}

TEST(StudyPriority, AnUnknownKeywordIsRefusedWithItsKeyPath) {
  config::PrioritySettings settings;
  settings.rules = {{"StudyDescription", "", "x", "stat"}, {"StudyDescriptoin", "", "x", "stat"}};
  const auto created = PriorityRules::create(settings);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().key_path, "priority.rules[1].tag");
  EXPECT_NE(created.error().message.find("\"StudyDescriptoin\" is not a DICOM keyword"), std::string::npos)
      << created.error().message;
}

}  // namespace
}  // namespace evax::dicom_node
