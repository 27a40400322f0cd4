// priority: the request's own priority on or off, and the rules on other attributes, each
// problem reported under its key path. (Whether a keyword names a DICOM attribute is the
// dicom_node module's check: tests/dicom_node/study_priority_test.cc.)
#include <gtest/gtest.h>

#include "evax/config/node_config.h"

namespace evax::config {
namespace {

std::vector<std::string> errors_of(const std::string& json) {
  auto result = parse_config(json);
  std::vector<std::string> out;
  if (!result)
    for (const auto& e : result.error()) out.push_back(describe(e));
  return out;
}

bool mentions(const std::vector<std::string>& errors, const std::string& text) {
  for (const auto& e : errors)
    if (e.find(text) != std::string::npos) return true;
  return false;
}

TEST(PriorityConfig, DefaultsReadTheRequestsPriorityWithNoRules) {
  const auto config = parse_config("{}");
  ASSERT_TRUE(config);
  EXPECT_TRUE(config->priority.requested_procedure_priority);
  EXPECT_TRUE(config->priority.rules.empty());
}

TEST(PriorityConfig, RulesAreReadAsWrittenAndShownInTheEffectiveConfig) {
  const auto config = parse_config(R"j({"priority": {"requested_procedure_priority": false, "rules": [
    {"tag": "(0008,1030)", "matches": "\\bSTAT\\b|urgent", "priority": "stat"},
    {"tag": "InstitutionalDepartmentName", "equals": "Emergency", "priority": "high"}]}})j");
  ASSERT_TRUE(config) << describe(config.error().front());
  EXPECT_FALSE(config->priority.requested_procedure_priority);
  ASSERT_EQ(config->priority.rules.size(), 2u);
  EXPECT_EQ(config->priority.rules[0].tag, "(0008,1030)");
  EXPECT_EQ(config->priority.rules[0].matches, "\\bSTAT\\b|urgent");
  EXPECT_EQ(config->priority.rules[0].priority, "stat");
  EXPECT_EQ(config->priority.rules[1].tag, "InstitutionalDepartmentName");
  EXPECT_EQ(config->priority.rules[1].equals, "Emergency");
  EXPECT_EQ(config->priority.rules[1].priority, "high");
  const std::string shown = to_redacted_json(*config);
  EXPECT_NE(shown.find("\"requested_procedure_priority\": false"), std::string::npos) << shown;
  EXPECT_NE(shown.find("\"equals\": \"Emergency\""), std::string::npos) << shown;
}

TEST(PriorityConfig, EachBadRuleIsNamedByItsKeyPath) {
  const auto errors = errors_of(R"j({"priority": {"requested_procedure_priority": "yes", "rules": [
    {"tag": "(0008,103)", "equals": "x", "priority": "stat"},
    {"tag": "StudyDescription", "priority": "high"},
    {"tag": "StudyDescription", "equals": "a", "matches": "b", "priority": "high"},
    {"tag": "StudyDescription", "matches": "(unclosed", "priority": "stat"},
    {"tag": "StudyDescription", "equals": "x", "priority": "urgent"},
    {"tag": "StudyDescription", "equals": "x"},
    {"tag": "Study Description", "equals": "x", "priority": "stat", "colour": "red"},
    "StudyDescription"]}})j");
  EXPECT_TRUE(mentions(errors, "priority.requested_procedure_priority: must be true or false"));
  EXPECT_TRUE(mentions(errors, "priority.rules[0].tag: must be (gggg,eeee) in hex or a DICOM keyword"));
  EXPECT_TRUE(mentions(errors, "priority.rules[1]: needs exactly one of matches and equals"));
  EXPECT_TRUE(mentions(errors, "priority.rules[2]: needs exactly one of matches and equals"));
  EXPECT_TRUE(mentions(errors, "priority.rules[3].matches: is not a valid regular expression"));
  EXPECT_TRUE(mentions(errors, "priority.rules[4].priority: must be one of stat, high"));
  EXPECT_TRUE(mentions(errors, "priority.rules[5].priority: must be one of stat, high"));
  EXPECT_TRUE(mentions(errors, "priority.rules[6].tag: must be (gggg,eeee)"));
  EXPECT_TRUE(mentions(errors, "priority.rules[6].colour: unknown key"));
  EXPECT_TRUE(mentions(errors, "priority.rules[7]: must be an object"));
  EXPECT_EQ(errors.size(), 10u) << "one error per problem";
  EXPECT_TRUE(mentions(errors_of(R"({"priority": {"rules": {"tag": "StudyDescription"}}})"), "priority.rules: must be a list"));
  EXPECT_TRUE(mentions(errors_of(R"({"priority": {"rule": []}})"), "priority.rule: unknown key"));
}

TEST(PriorityConfig, AtMost64RulesAndPatternsOfAtMost256Characters) {
  std::string rules;
  for (int i = 0; i < 65; ++i) rules += std::string(i ? "," : "") + R"({"tag": "StudyDescription", "equals": "x", "priority": "stat"})";
  EXPECT_TRUE(mentions(errors_of(R"({"priority": {"rules": [)" + rules + "]}}"), "priority.rules: must hold at most 64 rules"));
  const std::string long_pattern(257, 'a');
  EXPECT_TRUE(mentions(errors_of(R"({"priority": {"rules": [{"tag": "StudyDescription", "matches": ")" + long_pattern +
                                 R"(", "priority": "stat"}]}})"),
                       "priority.rules[0].matches: must be at most 256 characters"));
}

}  // namespace
}  // namespace evax::config
