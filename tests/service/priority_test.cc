// Priority, as a PACS and an admin meet it: a STAT study queued behind 20 routine ones is
// analysed first. The studies go to a real node by C-STORE (storescu), with the request's
// RequestedProcedurePriority in RequestAttributesSequence (and one study raised by a
// configured rule on StudyDescription); the node, one worker, is stopped before their quiet
// period ends, so that on its restart all 22 become jobs in one pass, the STAT one last.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>

#include <map>
#include <thread>

#include "http_client.h"
#include "service_test_support.h"

namespace evax::testing {
namespace {

using json = nlohmann::json;

constexpr const char* kReadToken = "priority-read-token-3c7d";

// Adds a request item with RequestedProcedurePriority (and StudyDescription) to a file.
void set_request(const std::string& path, const std::string& priority, const std::string& description) {
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(path.c_str()).good()) << path;
  // Values over 4 KiB are read lazily from the file, which saveFile below overwrites.
  ASSERT_TRUE(file.loadAllDataIntoMemory().good()) << path;
  DcmDataset* d = file.getDataset();
  DcmItem* item = nullptr;
  ASSERT_TRUE(d->findOrCreateSequenceItem(DCM_RequestAttributesSequence, item, -2).good());
  item->putAndInsertString(DCM_RequestedProcedureID, "RP1");
  item->putAndInsertString(DCM_RequestedProcedurePriority, priority.c_str());
  d->putAndInsertString(DCM_StudyDescription, description.c_str());
  ASSERT_TRUE(file.saveFile(path.c_str(), EXS_LittleEndianExplicit).good()) << path;
}

// A job's stage time; "~" (after every time) when it has not been reached.
std::string at(const json& job, const char* stage) {
  return job["times"][stage].is_null() ? "~" : job["times"][stage].get<std::string>();
}

TEST(Priority, AStatStudyQueuedBehindTwentyRoutineOnesIsAnalysedFirst) {
  NodeHarness node;
  node.config()["study"]["quiet_period_s"] = 300;  // nothing is queued during the first run
  node.config()["priority"] = {{"rules", json::array({{{"tag", "StudyDescription"}, {"matches", "\\burgent\\b"}, {"priority", "high"}}})}};
  node.config()["http"]["tokens"] = json::array(
      {{{"sha256", run_command(std::string("printf %s '") + kReadToken + "' | sha256sum").output.substr(0, 64)}, {"role", "read"}}});
  node.start();

  std::vector<std::string> files;
  std::vector<std::string> routine_studies;
  for (int i = 0; i < 20; ++i) {
    routine_studies.push_back(new_uid(SITE_STUDY_UID_ROOT));
    const auto written = write_images(node.dir(), "routine" + std::to_string(i) + "-", {frontal(routine_studies.back())});
    set_request(written[0], i % 2 ? "ROUTINE" : "LOW", "Chest PA");
    files.push_back(written[0]);
  }
  const std::string urgent_study = new_uid(SITE_STUDY_UID_ROOT);
  const auto urgent = write_images(node.dir(), "urgent-", {frontal(urgent_study)});
  set_request(urgent[0], "ROUTINE", "Chest PA urgent");  // routine request, raised to high by the rule
  files.push_back(urgent[0]);
  const std::string stat_study = new_uid(SITE_STUDY_UID_ROOT);
  const auto stat = write_images(node.dir(), "stat-", {frontal(stat_study)});
  set_request(stat[0], "STAT", "Chest PA");
  files.push_back(stat[0]);

  const CommandResult sent = node.storescu(files);
  ASSERT_EQ(store_successes(sent.output), 22) << sent.output << node.log();
  ASSERT_EQ(node.stop(), 0);
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM jobs"), "0");
  EXPECT_EQ(node.sql("SELECT priority FROM studies ORDER BY id DESC LIMIT 2"), "2\n1") << "stat, then high, as received";

  node.config()["study"]["quiet_period_s"] = 1;
  node.start();
  // The queue as the admin API shows it, while the worker drains it: always in claim order.
  std::vector<json> snapshots;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  for (;;) {
    const HttpAnswer answer = http_call(node.config()["http"]["port"].get<int>(), {"GET", "/api/v1/queue", kReadToken});
    ASSERT_EQ(answer.status, 200) << answer.body;
    const json queue = json::parse(answer.body);
    if (!queue["jobs"].empty()) snapshots.push_back(queue);
    if (std::stoi(node.sql("SELECT COUNT(*) FROM jobs WHERE state IN ('done', 'skipped', 'failed')")) == 22) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the 22 jobs did not finish";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  const json status = node.status();
  ASSERT_EQ(status["jobs"].size(), 22u);
  json stat_job, urgent_job;
  std::vector<json> routine_jobs;
  for (const auto& job : status["jobs"]) {
    EXPECT_EQ(job["state"], "done") << job.dump(2);
    if (job["study_instance_uid"] == stat_study) stat_job = job;
    else if (job["study_instance_uid"] == urgent_study) urgent_job = job;
    else routine_jobs.push_back(job);
  }
  ASSERT_EQ(routine_jobs.size(), 20u);
  EXPECT_EQ(stat_job["priority"], "stat");
  EXPECT_EQ(urgent_job["priority"], "high");
  for (const auto& job : routine_jobs) EXPECT_EQ(job["priority"], "routine");
  EXPECT_GT(stat_job["id"].get<std::int64_t>(), urgent_job["id"].get<std::int64_t>()) << "the STAT study was queued last";

  // Every routine job still queued when the STAT one was queued started after the STAT one
  // finished (one worker: claimed later, finished later); so did every such high one.
  const std::string stat_queued = at(stat_job, "queued");
  int behind = 0;
  for (const auto& job : routine_jobs) {
    if (at(job, "started") <= stat_queued) continue;  // claimed before the STAT job existed
    ++behind;
    EXPECT_GT(at(job, "started"), at(stat_job, "finished")) << "job " << job["id"] << " overtook the STAT job";
    EXPECT_GT(at(job, "started"), at(urgent_job, "finished")) << "job " << job["id"] << " overtook the high one";
  }
  EXPECT_GE(behind, 18) << "the STAT job was queued behind at most a couple of claimed routine ones";
  if (at(urgent_job, "started") > stat_queued) EXPECT_GT(at(urgent_job, "started"), at(stat_job, "finished"));

  // Every view of the queue listed stat, then high, then routine, oldest first within each.
  ASSERT_FALSE(snapshots.empty()) << "the queue was never seen with a job in it";
  const std::map<std::string, int> rank{{"stat", 0}, {"high", 1}, {"routine", 2}};
  for (const auto& queue : snapshots) {
    const auto& jobs = queue["jobs"];
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      EXPECT_EQ(jobs[i]["position"].get<std::size_t>(), i + 1);
      EXPECT_EQ(jobs[i]["state"], "queued");
      if (i == 0) continue;
      const int a = rank.at(jobs[i - 1]["priority"].get<std::string>()), b = rank.at(jobs[i]["priority"].get<std::string>());
      EXPECT_TRUE(a < b || (a == b && jobs[i - 1]["id"].get<std::int64_t>() < jobs[i]["id"].get<std::int64_t>())) << queue.dump(2);
    }
  }
  const HttpAnswer metrics = http_call(node.config()["http"]["port"].get<int>(), {"GET", "/metrics", kReadToken});
  EXPECT_NE(metrics.body.find(",priority=\"stat\"} 0\n"), std::string::npos) << metrics.body;  // all drained
  EXPECT_NE(metrics.body.find(",priority=\"routine\"} 0\n"), std::string::npos) << metrics.body;
}

}  // namespace
}  // namespace evax::testing
