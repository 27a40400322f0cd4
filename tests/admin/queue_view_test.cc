// GET /api/v1/queue and the evax_queued_jobs metric on a real SQLite store: queued jobs in the
// order workers claim them (stat, high, routine; first queued first within one), each with its
// priority and position, and the counts by priority. Through AdminApi::handle, the function
// the HTTP server calls.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "api.h"
#include "metrics.h"

namespace evax::admin {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr const char* kToken = "queue-test-token";  // its SHA-256 below

class QueueView : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/evax-queue-view-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    files_ = std::make_unique<storage::FileStore>((dir_ / "data").string());
    storage::BackendSettings settings;
    settings.node_id = "node-a";
    backend_ = storage::make_storage_backend(settings, *files_);
    config_.http.tokens.push_back({"cf152f86894c9d1fe973e441b8bd7620342466cdb394fd90a0da797586b90df6", "read", "viewer"});
    // AdminApi keeps a reference to its context: it lives as long as the fixture.
    context_ = std::make_unique<AdminContext>(AdminContext{config_, *files_, *backend_, log_, nullptr, {}, {}, "node-a"});
    api_ = std::make_unique<AdminApi>(*context_);
  }
  void TearDown() override {
    api_.reset();
    backend_.reset();
    fs::remove_all(dir_);
  }

  // A study of one instance with `priority`, queued as a job; returns the job id.
  std::int64_t queue_study(const std::string& uid, storage::Priority priority) {
    const std::string temp = files_->new_temp_path();
    std::ofstream(temp) << "DICM-ish bytes";
    storage::StoreRequest r;
    r.attributes.sop_class_uid = "1.2.840.10008.5.1.4.1.1.1.1";
    r.attributes.sop_instance_uid = uid + ".1";
    r.attributes.study_instance_uid = uid;
    r.attributes.series_instance_uid = uid + ".2";
    r.attributes.priority = priority;
    r.from = {"PACS", "127.0.0.1"};
    r.temp_path = temp;
    const auto stored = backend_->open_instance_index()->store(r);
    const auto jobs = backend_->open_job_queue();
    return jobs->enqueue(jobs->studies_awaiting_analysis({stored.study_id}).at(0));
  }

  HttpResponse get(const std::string& path, std::vector<std::pair<std::string, std::string>> query = {}) {
    return api_->handle({"GET", path, std::move(query), std::string("Bearer ") + kToken, "127.0.0.1"});
  }

  fs::path dir_;
  std::unique_ptr<storage::FileStore> files_;
  std::unique_ptr<storage::StorageBackend> backend_;
  config::NodeConfig config_;
  logging::Logger log_{logging::Level::error, logging::Logger::Format::text};
  std::unique_ptr<AdminContext> context_;
  std::unique_ptr<AdminApi> api_;
};

TEST_F(QueueView, ListsQueuedJobsInClaimOrderWithPositionsAndCounts) {
  const auto routine1 = queue_study("1.5.1", storage::Priority::routine);
  const auto stat1 = queue_study("1.5.2", storage::Priority::stat);
  const auto high1 = queue_study("1.5.3", storage::Priority::high);
  const auto routine2 = queue_study("1.5.4", storage::Priority::routine);
  const auto stat2 = queue_study("1.5.5", storage::Priority::stat);
  const auto routine3 = queue_study("1.5.6", storage::Priority::routine);
  // The first claim takes stat1; the queue view no longer lists it.
  ASSERT_EQ(backend_->open_job_queue()->claim_next({})->id, stat1);

  const HttpResponse response = get("/api/v1/queue");
  ASSERT_EQ(response.status, 200) << response.body;
  const json body = json::parse(response.body);
  std::vector<std::int64_t> ids;
  for (const auto& job : body["jobs"]) {
    ids.push_back(job["id"].get<std::int64_t>());
    EXPECT_EQ(job["position"].get<std::size_t>(), ids.size());
    EXPECT_EQ(job["state"], "queued");
  }
  EXPECT_EQ(ids, (std::vector<std::int64_t>{stat2, high1, routine1, routine2, routine3}));
  EXPECT_EQ(body["jobs"][0]["priority"], "stat");
  EXPECT_EQ(body["jobs"][1]["priority"], "high");
  EXPECT_EQ(body["jobs"][2]["priority"], "routine");
  EXPECT_EQ(body["queued"], json({{"stat", 1}, {"high", 1}, {"routine", 3}}));

  const json limited = json::parse(get("/api/v1/queue", {{"limit", "2"}}).body);
  ASSERT_EQ(limited["jobs"].size(), 2u);
  EXPECT_EQ(limited["jobs"][1]["id"], high1);
  EXPECT_EQ(limited["queued"]["routine"], 3) << "the counts cover the whole queue";

  // The job views carry the priority too.
  EXPECT_EQ(json::parse(get("/api/v1/jobs/" + std::to_string(stat1)).body)["priority"], "stat");
  EXPECT_EQ(json::parse(get("/api/v1/jobs").body)["jobs"][0]["priority"], "routine");  // newest first
}

TEST_F(QueueView, RefusesUnknownParametersAndBadLimits) {
  EXPECT_EQ(get("/api/v1/queue", {{"limit", "0"}}).status, 400);
  EXPECT_EQ(get("/api/v1/queue", {{"limit", "201"}}).status, 400);
  EXPECT_EQ(get("/api/v1/queue", {{"state", "queued"}}).status, 400);
  EXPECT_EQ(api_->handle({"GET", "/api/v1/queue", {}, "", "127.0.0.1"}).status, 401);
  const json empty = json::parse(get("/api/v1/queue").body);
  EXPECT_TRUE(empty["jobs"].empty());
  EXPECT_EQ(empty["queued"], json({{"stat", 0}, {"high", 0}, {"routine", 0}}));
}

TEST(QueueMetric, CountsQueuedJobsByPriorityWithZeroesForTheAbsent) {
  storage::NodeStatisticsSnapshot stats;
  stats.queued_by_priority = {{"stat", 2}, {"routine", 7}};
  const std::string text = prometheus_text(stats, {}, {}, {}, {}, {"node-a", "", "", 1, 0}, {});
  EXPECT_NE(text.find("# TYPE evax_queued_jobs gauge"), std::string::npos) << text;
  EXPECT_NE(text.find("evax_queued_jobs{node=\"node-a\",priority=\"stat\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("evax_queued_jobs{node=\"node-a\",priority=\"high\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("evax_queued_jobs{node=\"node-a\",priority=\"routine\"} 7\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace evax::admin
