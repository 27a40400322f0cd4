// The RIS notifications as built: the study-level summary, the ORU^R01 message read back by the
// `hl7` package (tests/tools/mllp_peer.py --check) and the FHIR Bundle validated by
// fhir.resources (tests/tools/fhir_receiver.py --check), the same checks the network peers make.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "evax/reporting/study_notification.h"
#include "validator_tools.h"

namespace evax::reporting {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

AlgorithmIdentity demo_algorithm() {
  AlgorithmIdentity a;
  a.software_version = "0.1.0";
  a.model_name = "EVA-X-S";
  a.model_task = "cxr14";
  a.demo = true;
  return a;
}

StudyIdentifiers identifiers() {
  StudyIdentifiers s;
  s.patient_id = "PAT|001";  // delimiters in every field the message copies
  s.issuer_of_patient_id = "HOSP&1";
  s.patient_name = "Doe^Jane^Q^Dr^III";
  s.patient_birth_date = "19700101";
  s.patient_sex = "F";
  s.study_instance_uid = "1.2.826.0.1.3680043.10.1.1";
  s.accession_number = "ACC~42";
  s.study_description = "CHEST PA\\LAT";
  return s;
}

// Two images; the study takes each label's highest probability.
StudyNotification summary(const std::vector<std::string>& urgent) {
  const std::vector<std::vector<FindingResult>> images{
      {{"Effusion", 0.30, 0.5}, {"Pneumothorax", 0.10, 0.2}, {"Nodule", 0.70, 0.6}},
      {{"Effusion", 0.80, 0.5}, {"Pneumothorax", 0.05, 0.2}, {"Nodule", 0.20, 0.6}}};
  return summarise_study(identifiers(), demo_algorithm(), images, 0, urgent);
}

json check_with(const std::string& tool, const std::string& text) {
  const fs::path file = fs::temp_directory_path() / ("evax-notification-" + std::to_string(::getpid()) + "-" + tool);
  std::ofstream(file, std::ios::binary) << text;
  const auto run = testing::run_tool(std::string(EVAX_TOOLS_PYTHON) + " " + EVAX_SOURCE_DIR + "/tests/tools/" + tool +
                                     " --check " + file.string());
  fs::remove(file);
  EXPECT_EQ(run.exit_status, 0) << run.output;
  const json out = json::parse(run.output, nullptr, false);
  EXPECT_TRUE(out.is_object() && out.value("checked", false)) << "the checker did not run: " << run.output;
  return out.is_object() ? out : json::object();
}

TEST(StudyNotificationTest, SummaryTakesEachLabelsHighestProbabilityAgainstItsOperatingPoint) {
  const auto n = summary({"Pneumothorax", "Effusion"});
  ASSERT_EQ(n.findings.size(), 3u);
  EXPECT_EQ(n.findings[0].label, "Effusion");
  EXPECT_DOUBLE_EQ(n.findings[0].probability, 0.80);
  EXPECT_TRUE(n.findings[0].present);
  EXPECT_TRUE(n.findings[0].urgent);  // present and listed
  EXPECT_EQ(n.findings[0].code_value, "60046008");
  EXPECT_FALSE(n.findings[1].present);  // Pneumothorax: listed but 0.10 < 0.2
  EXPECT_FALSE(n.findings[1].urgent);
  EXPECT_TRUE(n.findings[2].present);  // Nodule 0.70 >= 0.6, not listed
  EXPECT_FALSE(n.findings[2].urgent);
  EXPECT_TRUE(n.urgent);
  EXPECT_FALSE(summary({"Pneumothorax", "Mass"}).urgent);
}

TEST(StudyNotificationTest, Hl7EscapesEveryDelimiterAndDropsControlCharacters) {
  EXPECT_EQ(hl7_escape("a|b^c&d~e\\f"), "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f");
  EXPECT_EQ(hl7_escape("line1\r\nline2\x01"), "line1\\X0D\\\\X0A\\line2");
}

TEST(StudyNotificationTest, OruR01ReadsBackWithEveryFieldAndTheUrgentFlag) {
  Hl7Parties parties{"EVAX", "RADIOLOGY", "RIS", "HOSPITAL"};
  const auto message = build_oru_r01(summary({"Effusion"}), parties, "EVAX-7-1", "20261202121500");
  const json got = check_with("mllp_peer.py", message);
  ASSERT_TRUE(got.value("valid", false)) << got.dump(2);
  EXPECT_EQ(got["control_id"], "EVAX-7-1");
  EXPECT_EQ(got["priority"], "S");
  EXPECT_EQ(got["result_status"], "F");
  EXPECT_EQ(got["patient_id"], "PAT\\F\\001");  // escaped on the wire (PID-3.1 as the parser splits it)
  EXPECT_EQ(got["accession_number"], "ACC~42");   // unescaped back to the value
  EXPECT_EQ(got["study_instance_uid"], "1.2.826.0.1.3680043.10.1.1");
  EXPECT_EQ(got["patient_name"], "Doe^Jane^Q^III^Dr");  // DICOM PN order turned into XPN's
  ASSERT_EQ(got["findings"].size(), 3u);
  EXPECT_EQ(got["findings"][0]["flag"], "AA");
  EXPECT_EQ(got["findings"][0]["code"], "60046008");
  EXPECT_DOUBLE_EQ(got["findings"][0]["probability"].get<double>(), 0.8);
  EXPECT_EQ(got["findings"][0]["reference_range"], "<0.5000");
  EXPECT_EQ(got["findings"][1]["flag"], "N");
  EXPECT_EQ(got["findings"][2]["flag"], "A");
  ASSERT_EQ(got["notes"].size(), 2u);
  EXPECT_NE(got["notes"][0].get<std::string>().find("DEMO MODEL - UNTRAINED WEIGHTS"), std::string::npos);
  EXPECT_NE(got["notes"][1].get<std::string>().find("AI-GENERATED"), std::string::npos);
}

TEST(StudyNotificationTest, OruR01WithoutUrgentFindingHasNoPriorityAndPartialStudyIsPreliminary) {
  auto n = summary({"Mass"});
  n.unanalysed_images = 1;
  const json got = check_with("mllp_peer.py", build_oru_r01(n, {}, "C2", "20261202121500"));
  ASSERT_TRUE(got.value("valid", false)) << got.dump(2);
  EXPECT_EQ(got["priority"], "");
  EXPECT_EQ(got["result_status"], "P");
  for (const auto& f : got["findings"]) EXPECT_NE(f["flag"], "AA");
}

TEST(StudyNotificationTest, CheckerRefusesAMessageMissingItsFindings) {
  // The validator itself must catch a broken message, or its "valid" proves nothing.
  std::string message = build_oru_r01(summary({}), {}, "C3", "20261202121500");
  message = message.substr(0, message.find("OBX|"));
  const json got = check_with("mllp_peer.py", message);
  EXPECT_FALSE(got.value("valid", true));
}

TEST(StudyNotificationTest, FhirBundleValidatesWithObservationsPerFinding) {
  const auto text = build_fhir_bundle(summary({"Effusion"}), "EVAX-7-2", "2026-12-02T12:15:00Z");
  const json got = check_with("fhir_receiver.py", text);
  ASSERT_TRUE(got.value("valid", false)) << got.dump(2);
  const json bundle = json::parse(text);
  ASSERT_EQ(bundle["entry"].size(), 4u);
  const auto& report = bundle["entry"][3]["resource"];
  EXPECT_EQ(report["resourceType"], "DiagnosticReport");
  EXPECT_EQ(report["status"], "final");
  EXPECT_EQ(report["subject"]["identifier"]["value"], "PAT|001");  // JSON needs no HL7 escaping
  EXPECT_EQ(report["subject"]["display"], "Dr Jane Q Doe III");
  EXPECT_EQ(report["imagingStudy"][0]["identifier"]["value"], "urn:oid:1.2.826.0.1.3680043.10.1.1");
  EXPECT_EQ(report["basedOn"][0]["identifier"]["value"], "ACC~42");
  EXPECT_EQ(report["result"].size(), 3u);
  EXPECT_NE(report["conclusion"].get<std::string>().find("DEMO MODEL - UNTRAINED WEIGHTS"), std::string::npos);
  const auto& effusion = bundle["entry"][0]["resource"];
  EXPECT_DOUBLE_EQ(effusion["valueQuantity"]["value"].get<double>(), 0.8);
  EXPECT_EQ(effusion["interpretation"][0]["coding"][0]["code"], "POS");
  EXPECT_EQ(effusion["interpretation"][1]["coding"][0]["code"], "AA");
  EXPECT_EQ(bundle["entry"][1]["resource"]["interpretation"][0]["coding"][0]["code"], "NEG");
  // The same report id gives the same bundle (a resend is recognised by its identifiers).
  EXPECT_EQ(text, build_fhir_bundle(summary({"Effusion"}), "EVAX-7-2", "2026-12-02T12:15:00Z"));
}

TEST(StudyNotificationTest, FhirCheckerRefusesAReportWithoutDisclaimer) {
  json bundle = json::parse(build_fhir_bundle(summary({}), "EVAX-7-3", "2026-12-02T12:15:00Z"));
  bundle["entry"].back()["resource"]["conclusion"] = "nothing";
  const json got = check_with("fhir_receiver.py", bundle.dump());
  EXPECT_FALSE(got.value("valid", true));
}

}  // namespace
}  // namespace evax::reporting
