// The heartbeat: this node recorded as alive, and a silent node's running job queued again for
// the others, with the local workers woken. Two nodes on a real PostgreSQL.
#include "evax/pipeline/node_heartbeat.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "postgres_server.h"

namespace evax::pipeline {
namespace {

namespace fs = std::filesystem;

TEST(NodeHeartbeat, ASilentNodesJobIsQueuedAgainAndTheWorkersAreWoken) {
  testing::PostgresServer server("heartbeat");
  char pattern[] = "/tmp/evax-heartbeat-test-XXXXXX";
  const fs::path dir = ::mkdtemp(pattern);
  const storage::FileStore files((dir / "data").string());
  const auto node = [&](const std::string& id) {
    storage::BackendSettings settings;
    settings.kind = storage::BackendSettings::Kind::postgresql;
    settings.dsn = server.dsn();
    settings.node_id = id;
    return storage::make_storage_backend(settings, files);
  };
  auto a = node("node-a");
  auto b = node("node-b");
  logging::Logger log{logging::Level::error, logging::Logger::Format::text, [](const std::string&) {}};
  int woken = 0;
  NodeHeartbeat a_beat(*a, {"node-a", "host-a", "0.1.0", "2026-12-02T00:00:00.000Z"}, std::chrono::seconds(1),
                       std::chrono::seconds(3), log, nullptr);
  NodeHeartbeat b_beat(*b, {"node-b", "host-b", "0.1.0", "2026-12-02T00:00:00.000Z"}, std::chrono::seconds(1),
                       std::chrono::seconds(3), log, [&] { ++woken; });
  EXPECT_EQ(a_beat.beat(), 0);
  EXPECT_EQ(b_beat.beat(), 0);

  storage::StoreRequest r;
  r.attributes.sop_instance_uid = "1.2.3.4.5";
  r.attributes.study_instance_uid = "1.2.3.9";
  r.temp_path = files.new_temp_path();
  std::ofstream(r.temp_path) << "bytes";
  a->open_instance_index()->store(r);
  auto a_jobs = a->open_job_queue();
  const std::int64_t job_id = a_jobs->enqueue(a_jobs->studies_awaiting_analysis().at(0));
  ASSERT_TRUE(a_jobs->claim_next({}));

  // node-a stops beating (killed); node-b keeps on and, past the 3 s lease, takes over.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int taken = 0;
  while (taken == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    taken = b_beat.beat();
  }
  EXPECT_EQ(taken, 1);
  EXPECT_EQ(woken, 1);
  const auto job = b->open_read_model()->job(job_id);
  EXPECT_EQ(job->state, storage::JobState::queued);
  EXPECT_NE(job->last_error.find("node-a"), std::string::npos) << job->last_error;
  EXPECT_THROW(a_jobs->finish(job_id, storage::JobState::done, "", {}), storage::LostClaim);  // a woke up too late
  const auto nodes = b->open_read_model()->nodes(3);
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_FALSE(nodes[0].alive);
  EXPECT_TRUE(nodes[1].alive);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace evax::pipeline
