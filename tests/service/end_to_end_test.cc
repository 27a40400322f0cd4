// The service as a PACS meets it: storescu sends a study, the node analyses it.
#include <gtest/gtest.h>

#include "service_test_support.h"

namespace evax::testing {
namespace {

using json = nlohmann::json;

TEST(EndToEnd, FrontalImagesGetFourteenProbabilitiesAndTheLateralIsSkipped) {
  NodeHarness node;
  node.start();
  const std::string study = new_uid(SITE_STUDY_UID_ROOT);
  SyntheticImage with_window = frontal(study, "PA");              // 16-bit MONOCHROME2, VOI window
  SyntheticImage inverted = frontal(study, "AP");                 // 16-bit MONOCHROME1, no VOI
  inverted.photometric = "MONOCHROME1";
  inverted.window.reset();
  SyntheticImage plain = frontal(study, "PA");                    // 16-bit MONOCHROME2, no VOI
  plain.window.reset();
  SyntheticImage inverted_window = frontal(study, "PA");          // MONOCHROME1 with a window
  inverted_window.photometric = "MONOCHROME1";
  SyntheticImage lateral = frontal(study, "LL");
  const auto files = write_images(node.dir(), "study", {with_window, inverted, plain, inverted_window, lateral});

  const CommandResult sent = node.storescu(files);
  ASSERT_EQ(store_successes(sent.output), 5) << sent.output;

  const json status = node.wait_for([](const json& s) { return all_jobs_final(s, 1); }, std::chrono::seconds(120));
  ASSERT_EQ(status["jobs"].size(), 1u) << status.dump(2);
  const json& job = status["jobs"][0];
  EXPECT_EQ(job["state"], "done") << job.dump(2);
  EXPECT_EQ(job["study_instance_uid"], study);
  for (const char* stage : {"received", "complete", "queued", "started", "inferred", "finished"})
    EXPECT_FALSE(job["times"][stage].is_null()) << stage;

  int analysed = 0, skipped = 0;
  for (const auto& image : job["images"]) {
    if (image["decision"] == "analysed") {
      ++analysed;
      ASSERT_EQ(image["findings"].size(), 14u);
      EXPECT_EQ(image["findings"][0]["label"], "Atelectasis");
      for (const auto& f : image["findings"]) {
        EXPECT_GT(f["probability"].get<double>(), 0.0);
        EXPECT_LT(f["probability"].get<double>(), 1.0);
      }
      EXPECT_EQ(image["demo"], true);
      ASSERT_EQ(image["cams"].size(), 1u);  // cam_top_k = 1 in the harness
      EXPECT_EQ(image["cams"][0]["map"].size(), 196u);
    } else {
      ++skipped;
      EXPECT_EQ(image["decision"], "skipped");
      EXPECT_EQ(image["reason_code"], "lateral-view");
    }
  }
  EXPECT_EQ(analysed, 4);
  EXPECT_EQ(skipped, 1);
  // The same facts straight from SQLite.
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM job_images WHERE decision = 'analysed' AND probabilities_json LIKE '%probabilities%'"), "4");
  EXPECT_EQ(node.sql("SELECT reason_code FROM job_images WHERE decision = 'skipped'"), "lateral-view");
  EXPECT_EQ(node.stop(), 0);
}

TEST(EndToEnd, TheSameStudySentThreeTimesIsAnalysedOnce) {
  NodeHarness node;
  node.start();
  const std::string study = new_uid(SITE_STUDY_UID_ROOT);
  const auto files = write_images(node.dir(), "dup", {frontal(study), frontal(study, "AP")});
  EXPECT_EQ(store_successes(node.storescu(files).output), 2);
  node.wait_for([](const json& s) { return all_jobs_final(s, 1); }, std::chrono::seconds(120));
  for (int again = 0; again < 2; ++again) EXPECT_EQ(store_successes(node.storescu(files).output), 2);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // well past the 1 s quiet period
  const json status = node.status();
  EXPECT_EQ(status["jobs"].size(), 1u);
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM instances"), "2");
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM job_images"), "2");
}

TEST(EndToEnd, AnInstanceArrivingAfterAnalysisStartsASupersedingAnalysis) {
  NodeHarness node;
  node.start();
  const std::string study = new_uid(SITE_STUDY_UID_ROOT);
  EXPECT_EQ(store_successes(node.storescu(write_images(node.dir(), "first", {frontal(study)})).output), 1);
  node.wait_for([](const json& s) { return all_jobs_final(s, 1); }, std::chrono::seconds(120));
  EXPECT_EQ(store_successes(node.storescu(write_images(node.dir(), "later", {frontal(study, "AP")})).output), 1);
  const json status = node.wait_for([](const json& s) { return all_jobs_final(s, 2); }, std::chrono::seconds(120));
  ASSERT_EQ(status["jobs"].size(), 2u) << status.dump(2);
  const json& newest = status["jobs"][0];
  EXPECT_EQ(newest["supersedes_job"], status["jobs"][1]["id"]);
  EXPECT_EQ(newest["images"].size(), 2u);  // the new analysis covers the whole study
}

TEST(EndToEnd, AKnownSopInstanceUidFromAnotherStudyIsQuarantinedNotMerged) {
  NodeHarness node;
  node.start();
  SyntheticImage original = frontal(new_uid(SITE_STUDY_UID_ROOT));
  original.sop_uid = new_uid();
  SyntheticImage impostor = frontal(new_uid(SITE_STUDY_UID_ROOT));
  impostor.sop_uid = original.sop_uid;
  EXPECT_EQ(store_successes(node.storescu(write_images(node.dir(), "orig", {original})).output), 1);
  EXPECT_EQ(store_successes(node.storescu(write_images(node.dir(), "imp", {impostor})).output), 1);
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM instances"), "1");
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM studies WHERE study_instance_uid = '" + impostor.study_uid + "'"), "0");
  EXPECT_EQ(node.sql("SELECT claimed_study_instance_uid || ' ' || known_study_instance_uid FROM quarantine"),
            impostor.study_uid + " " + original.study_uid);
  const std::string quarantined = node.sql("SELECT file_path FROM quarantine");
  EXPECT_TRUE(std::filesystem::exists(quarantined));
  EXPECT_NE(quarantined.find("/quarantine/"), std::string::npos);
  EXPECT_NE(node.log().find("instance-quarantined"), std::string::npos);
}

TEST(EndToEnd, ForProcessingAndNonChestImagesAreStoredButNeverAnalysed) {
  NodeHarness node;
  node.start();
  const std::string study = new_uid(SITE_STUDY_UID_ROOT);
  SyntheticImage processing = frontal(study);
  processing.sop_class_uid = UID_DigitalXRayImageStorageForProcessing;
  processing.presentation_intent = "FOR PROCESSING";
  SyntheticImage knee = frontal(study);
  knee.body_part = "KNEE";
  EXPECT_EQ(store_successes(node.storescu(write_images(node.dir(), "skip", {processing, knee})).output), 2);
  const json status = node.wait_for([](const json& s) { return all_jobs_final(s, 1); }, std::chrono::seconds(120));
  const json& job = status["jobs"][0];
  EXPECT_EQ(job["state"], "skipped");
  EXPECT_NE(job["reason"].get<std::string>().find("no-analysable-image"), std::string::npos);
  std::set<std::string> reasons;
  for (const auto& image : job["images"]) reasons.insert(image["reason_code"].get<std::string>());
  EXPECT_EQ(reasons, (std::set<std::string>{"for-processing", "not-chest"}));
}

TEST(EndToEnd, VerificationAndCleanStop) {
  NodeHarness node;
  node.start();
  EXPECT_EQ(node.echoscu().status, 0);
  EXPECT_EQ(node.stop(), 0);
  EXPECT_NE(node.log().find("node stopped cleanly"), std::string::npos);
}

}  // namespace
}  // namespace evax::testing
