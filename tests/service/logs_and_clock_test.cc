// What the node writes about itself: no patient identifiers at any level (reliability.md #15);
// and its timers run on the monotonic clock, whatever the wall clock does (#13).
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "destination.h"
#include "http_client.h"
#include "service_test_support.h"

namespace evax::testing {
namespace {

using json = nlohmann::json;

class PatientDataInLogs : public ::testing::TestWithParam<const char*> {};

TEST_P(PatientDataInLogs, ASyntheticPatientNeverAppearsInTheLog) {
  NodeHarness node;
  Destination pacs(node.dir());
  pacs.start_storescp();
  node.config()["destinations"] = json::array({pacs.config_entry()});  // sends are logged and audited too
  node.config()["logging"] = {{"level", "trace"}, {"format", GetParam()}};
  const std::string token = "phi-test-token";
  node.config()["http"]["tokens"] = json::array(
      {{{"sha256", run_command("printf %s " + token + " | sha256sum").output.substr(0, 64)}, {"role", "admin"}}});
  node.start();
  const std::string name = "PHISENTINEL^ZELDA", id = "PHIID93751";
  const std::string study = new_uid(SITE_STUDY_UID_ROOT);
  SyntheticImage frontal_image = frontal(study);
  frontal_image.patient_name = name;
  frontal_image.patient_id = id;
  SyntheticImage lateral = frontal_image;
  lateral.view_position = "LL";
  SyntheticImage no_pixels = frontal_image;
  no_pixels.omit_pixel_data = true;  // refused at ingest: an error path with the patient in the file
  const auto files = write_images(node.dir(), "phi", {frontal_image, lateral, no_pixels});
  EXPECT_EQ(store_successes(node.storescu(files).output), 2);
  node.storescu(files);                            // duplicates
  node.storescu(files, "-aet INTRUDER -aec WRONG");  // refused association
  node.wait_for([](const json& s) {
    if (!all_jobs_final(s, 1)) return false;
    for (const auto& o : s["jobs"][0]["outputs"])
      if (o["deliveries"][0]["state"] != "delivered") return false;
    return true;
  }, std::chrono::seconds(120));
  // The admin API reads and acts on the study too (its answers may carry UIDs, not patients).
  const int http_port = node.config()["http"]["port"];
  for (const char* path : {"/api/v1/jobs", "/api/v1/jobs/1", "/metrics", "/api/v1/destinations"})
    EXPECT_EQ(http_call(http_port, {"GET", path, token}).status, 200) << path;
  EXPECT_EQ(http_call(http_port, {"POST", "/api/v1/jobs/1/retry", token}).status, 409);
  EXPECT_EQ(http_call(http_port, {"GET", "/api/v1/jobs", "wrong"}).status, 401);
  node.stop();
  const std::string log = node.log();
  std::ifstream audit_file(node.data_dir() / "audit.log");
  const std::string audit((std::istreambuf_iterator<char>(audit_file)), {});
  EXPECT_GT(log.size(), 1000u);  // it did log, at trace level
  EXPECT_NE(log.find("job-done"), std::string::npos);
  EXPECT_NE(audit.find("\"event\":\"send\""), std::string::npos);  // and audited stores, sends, admin actions
  EXPECT_NE(audit.find("\"event\":\"admin\""), std::string::npos);
  for (const std::string& secret : {name, std::string("PHISENTINEL"), std::string("ZELDA"), id}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << secret << " found in the log";
    EXPECT_EQ(audit.find(secret), std::string::npos) << secret << " found in the audit log";
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, PatientDataInLogs, ::testing::Values("text", "json"));

// libfaketime moves the node's wall clock (not its monotonic clock) while a study waits out
// its quiet period; the study must become a job after the quiet period, neither sooner (a
// jump forward) nor never (a jump back).
class WallClockJump : public ::testing::TestWithParam<const char*> {};

TEST_P(WallClockJump, TheQuietPeriodRunsOnTheMonotonicClock) {
  const std::string library = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
  if (!std::filesystem::exists(library)) GTEST_SKIP() << "libfaketime is not installed";
  NodeHarness node;
  node.config()["study"]["quiet_period_s"] = 4;
  const std::string offset_file = (node.dir() / "faketime").string();
  std::ofstream(offset_file) << "+0\n";
  node.start({"LD_PRELOAD=" + library, "FAKETIME_TIMESTAMP_FILE=" + offset_file, "FAKETIME_NO_CACHE=1",
              "FAKETIME_DONT_FAKE_MONOTONIC=1"});
  EXPECT_EQ(store_successes(node.storescu(write_images(node.dir(), "jump", {frontal(new_uid(SITE_STUDY_UID_ROOT))})).output), 1);
  const auto stored = std::chrono::steady_clock::now();
  std::ofstream(offset_file) << GetParam() << "\n";  // the jump

  std::this_thread::sleep_until(stored + std::chrono::milliseconds(2000));
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM jobs"), "0") << "queued before the quiet period ended";
  std::this_thread::sleep_until(stored + std::chrono::milliseconds(6500));
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM jobs"), "1") << "not queued after the quiet period";
  // The wall clock did jump, as the stored timestamps show.
  const std::string received = node.sql("SELECT received_at FROM jobs");
  const std::string complete = node.sql("SELECT complete_at FROM jobs");
  EXPECT_NE(received.substr(11, 2), complete.substr(11, 2)) << received << " vs " << complete;
}

INSTANTIATE_TEST_SUITE_P(Jumps, WallClockJump, ::testing::Values("+1h", "-1h"),
                         [](const auto& info) { return std::string(info.param[0] == '+' ? "Forward" : "Backward"); });

TEST(KillNine, ShortRunLosesNothingAcknowledgedAndLeavesNoTempFiles) {
  const auto result = run_command(std::string(EVAX_PYTHON) + " " + EVAX_SOURCE_DIR + "/scripts/kill9_trials.py --node " +
                                      EVAX_NODE_BINARY + " --trials 5 --senders 3",
                                  std::chrono::seconds(600));
  std::printf("%s", result.output.c_str());
  EXPECT_EQ(result.status, 0);
  EXPECT_NE(result.output.find("acknowledged-but-lost: 0"), std::string::npos);
  EXPECT_NE(result.output.find("orphan temp files after restart: 0"), std::string::npos);
}

}  // namespace
}  // namespace evax::testing
