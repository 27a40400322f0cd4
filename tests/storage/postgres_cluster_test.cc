// Several nodes on one PostgreSQL database, at the storage level: each "node" is a backend with
// its own node id on the same database (a real server, tests/support/postgres_server.h).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "evax/storage/storage_backend.h"
#include "postgres_server.h"
#include "postgresql/connection.h"
#include "postgresql/schema.h"

namespace evax::storage {
namespace {

namespace fs = std::filesystem;

class PostgresCluster : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new testing::PostgresServer("cluster"); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    char pattern[] = "/tmp/evax-pg-cluster-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    static int databases = 0;
    dsn_ = server_->create_database("cluster_" + std::to_string(++databases));
    files_ = std::make_unique<FileStore>((dir_ / "data").string());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<StorageBackend> node(const std::string& id) {
    BackendSettings settings;
    settings.kind = BackendSettings::Kind::postgresql;
    settings.dsn = dsn_;
    settings.node_id = id;
    return make_storage_backend(settings, *files_);
  }
  StoreRequest request(const std::string& sop, const std::string& study) {
    StoreRequest r;
    r.attributes.sop_instance_uid = sop;
    r.attributes.study_instance_uid = study;
    r.attributes.modality = "DX";
    r.temp_path = files_->new_temp_path();
    std::ofstream(r.temp_path) << "bytes";
    return r;
  }
  // Makes `node_id`'s last heartbeat `seconds` old, as if it had stopped then.
  void silence(const std::string& node_id, int seconds) {
    postgresql::Connection db(dsn_);
    db.execute("UPDATE nodes SET last_heartbeat = clock_timestamp() - make_interval(secs => $1::int) WHERE id = $2",
               {seconds, node_id});
  }

  static testing::PostgresServer* server_;
  fs::path dir_;
  std::string dsn_;
  std::unique_ptr<FileStore> files_;
};
testing::PostgresServer* PostgresCluster::server_ = nullptr;

TEST_F(PostgresCluster, NodesStartingTogetherMigrateTheSchemaOnce) {
  std::vector<std::thread> starting;
  std::atomic<int> started{0};
  for (int i = 0; i < 4; ++i)
    starting.emplace_back([&, i] {
      try {
        if (node("node-" + std::to_string(i))) ++started;
      } catch (const std::exception& e) {
        ADD_FAILURE() << "node-" << i << " could not start: " << e.what();
      }
    });
  for (auto& t : starting) t.join();
  EXPECT_EQ(started.load(), 4);
  postgresql::Connection db(dsn_);
  EXPECT_EQ(db.execute("SELECT COUNT(*) FROM evax_schema").integer(0, 0), 1);
  EXPECT_EQ(db.execute("SELECT version FROM evax_schema").integer(0, 0), postgresql::latest_schema_version());
}

TEST_F(PostgresCluster, ASilentNodesRunningJobIsTakenOverByAnotherNode) {
  auto a = node("node-a");
  auto b = node("node-b");
  a->open_node_registry()->heartbeat({"node-a", "host-a", "0.1.0", "2026-12-02T00:00:00.000Z"});
  b->open_node_registry()->heartbeat({"node-b", "host-b", "0.1.0", "2026-12-02T00:00:00.000Z"});
  a->open_instance_index()->store(request("1.2.3.4.5", "1.2.3.9"));
  auto a_jobs = a->open_job_queue();
  const std::int64_t job_id = a_jobs->enqueue(a_jobs->studies_awaiting_analysis().at(0));
  ASSERT_TRUE(a_jobs->claim_next({}));
  auto b_jobs = b->open_job_queue();
  EXPECT_FALSE(b_jobs->claim_next({}));                 // held by a
  EXPECT_EQ(b_jobs->take_over_from_silent_nodes(15), 0);  // a is alive
  EXPECT_EQ(b_jobs->requeue_running(), 0);              // b's restart does not touch a's work
  silence("node-a", 16);
  const auto nodes = b->open_read_model()->nodes(15);
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_FALSE(nodes[0].alive);
  EXPECT_EQ(nodes[0].running_jobs, std::vector<std::int64_t>{job_id});
  EXPECT_TRUE(nodes[1].alive);
  EXPECT_EQ(b_jobs->take_over_from_silent_nodes(15), 1);
  const auto taken = b_jobs->claim_next({});
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->id, job_id);
  EXPECT_EQ(taken->attempts, 2);
  EXPECT_EQ(b->open_read_model()->nodes(15)[1].running_jobs, std::vector<std::int64_t>{job_id});
}

TEST_F(PostgresCluster, ASilentNodesDeliveriesAreSentByAnotherNode) {
  auto a = node("node-a");
  auto b = node("node-b");
  a->open_node_registry()->heartbeat({"node-a", "host-a", "0.1.0", "2026-12-02T00:00:00.000Z"});
  const auto stored = a->open_instance_index()->store(request("1.2.3.4.5", "1.2.3.9"));
  auto jobs = a->open_job_queue();
  const std::int64_t job_id = jobs->enqueue(jobs->studies_awaiting_analysis().at(0));
  jobs->claim_next({});
  Output sr;
  sr.kind = "sr";
  sr.sop_class_uid = "1.2.840.10008.5.1.4.1.1.88.33";
  sr.sop_instance_uid = "1.2.3.4.5.100";
  sr.series_instance_uid = "1.2.3.100";
  sr.study_instance_uid = "1.2.3.9";
  sr.file_path = files_->write_durably({'D'}, FileArea::outputs, sr.sop_instance_uid).value();
  jobs->finish_with_outputs(job_id, {{job_id, {stored.instance_id, "1.2.3.4.5", "analysed", "", "", results::ImageAnalysis{}}}}, {sr}, {{"pacs"}});
  const auto sending = a->open_outbox()->claim_due("pacs", {}, 10);
  ASSERT_EQ(sending.size(), 1u);
  auto b_outbox = b->open_outbox();
  EXPECT_TRUE(b_outbox->claim_due("pacs", {}, 10).empty());
  EXPECT_EQ(b_outbox->take_over_from_silent_nodes(15), 0);
  silence("node-a", 60);
  EXPECT_EQ(b_outbox->take_over_from_silent_nodes(15), 1);
  const auto resent = b_outbox->claim_due("pacs", {}, 10);
  ASSERT_EQ(resent.size(), 1u);
  EXPECT_EQ(resent[0].output.sop_instance_uid, "1.2.3.4.5.100");  // the same object, so the PACS keeps one
  const auto attempts = b->open_read_model()->attempts_of(resent[0].id);
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].outcome, "interrupted");
}

TEST_F(PostgresCluster, NodesEnqueuingOneStudyAtOnceMakeOneJob) {
  std::vector<std::unique_ptr<StorageBackend>> nodes;
  for (const char* id : {"node-a", "node-b", "node-c"}) nodes.push_back(node(id));
  for (int i = 0; i < 6; ++i)
    nodes[i % 3]->open_instance_index()->store(request("1.2.3.4." + std::to_string(i), "1.2.3.9"));
  std::mutex mutex;
  std::set<std::int64_t> jobs;
  std::vector<std::thread> assemblers;
  for (auto& n : nodes)
    assemblers.emplace_back([&, backend = n.get()] {
      auto queue = backend->open_job_queue();
      for (const auto& study : queue->studies_awaiting_analysis())
        if (const std::int64_t job = queue->enqueue(study); job != 0) {
          std::lock_guard lock(mutex);
          jobs.insert(job);
        }
    });
  for (auto& t : assemblers) t.join();
  EXPECT_EQ(jobs.size(), 1u);
  auto read = nodes[0]->open_read_model();
  EXPECT_EQ(read->jobs_of_study("1.2.3.9").size(), 1u);
  EXPECT_EQ(read->jobs_of_study("1.2.3.9").at(0).max_instance_id, 6);
}

TEST_F(PostgresCluster, OneInstanceStoredByTwoNodesAtOnceIsKeptOnce) {
  auto a = node("node-a");
  auto b = node("node-b");
  auto a_index = a->open_instance_index();
  auto b_index = b->open_instance_index();
  for (int round = 0; round < 20; ++round) {
    const std::string sop = "1.2.3.4." + std::to_string(round);
    StoreResult first, second;
    std::thread one([&] { first = a_index->store(request(sop, "1.2.3.9")); });
    std::thread two([&] { second = b_index->store(request(sop, "1.2.3.9")); });
    one.join();
    two.join();
    const std::multiset<StoreOutcome> outcomes{first.outcome, second.outcome};
    EXPECT_EQ(outcomes, (std::multiset<StoreOutcome>{StoreOutcome::stored, StoreOutcome::duplicate})) << "round " << round;
    EXPECT_EQ(first.instance_id, second.instance_id);
  }
  EXPECT_EQ(a->open_read_model()->statistics().instances, 20);
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir_ / "data" / "instances"))
    if (entry.is_regular_file()) ++files;
  EXPECT_EQ(files, 20);
}

TEST_F(PostgresCluster, RetentionRunsOnOneNodeAtATime) {
  auto a = node("node-a");
  auto index = a->open_instance_index();
  index->store(request("1.2.3.4.5", "1.2.3.9"));
  auto jobs = a->open_job_queue();
  const std::int64_t job_id = jobs->enqueue(jobs->studies_awaiting_analysis().at(0));
  jobs->claim_next({});
  jobs->finish(job_id, JobState::done, "", {});
  const std::string future = "9999-12-31T00:00:00.000Z";
  {
    postgresql::Connection other_node(dsn_);  // another node's retention round in progress
    ASSERT_TRUE(other_node.try_advisory_lock(postgresql::kRetentionLock));
    EXPECT_EQ(index->purge_instances_before(future), 0);
    EXPECT_EQ(a->open_outbox()->purge_outputs_before(future), 0);
    // Released now (closing the session releases it too, but the server may finish that after
    // the next attempt).
    ASSERT_TRUE(other_node.advisory_unlock(postgresql::kRetentionLock));
  }
  EXPECT_EQ(index->purge_instances_before(future), 1);
}

TEST(PostgresTls, TheBackendTalksTlsToTheDatabaseWhenTheDsnSaysSo) {
  testing::PostgresServer server("tls");
  const fs::path certificate = server.enable_tls();
  const std::string dsn = server.dsn() + " sslmode=verify-full sslrootcert=" + certificate.string();
  char pattern[] = "/tmp/evax-pg-tls-XXXXXX";
  const fs::path dir = ::mkdtemp(pattern);
  const FileStore files((dir / "data").string());
  BackendSettings settings;
  settings.kind = BackendSettings::Kind::postgresql;
  settings.dsn = dsn;
  const auto backend = make_storage_backend(settings, files);  // migrates over TLS
  EXPECT_TRUE(backend->open_read_model()->database_writable().first);
  postgresql::Connection connection(dsn);
  EXPECT_EQ(connection.execute("SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()").text(0, 0), "true");
  // A client that insists on a certificate the server does not have is refused.
  BackendSettings wrong_ca = settings;
  wrong_ca.dsn = server.dsn() + " sslmode=verify-full sslrootcert=/etc/ssl/certs/ca-certificates.crt";
  EXPECT_THROW(make_storage_backend(wrong_ca, files), StorageError);
  fs::remove_all(dir);
}

// Version 2 records how a destination that refused an output's SOP class got it instead;
// deliveries made before it were sent as made.
TEST_F(PostgresCluster, MigrationTwoGivesEveryExistingDeliveryNoSubstitution) {
  {
    postgresql::Connection v1(dsn_);
    postgresql::migrate(v1, 1);
    EXPECT_EQ(v1.execute("SELECT version FROM evax_schema").integer(0, 0), 1);
    v1.execute("INSERT INTO studies (id, study_instance_uid, instance_count, first_received_at, last_received_at) "
               "VALUES (1, '1.2.3.9', 1, '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z')");
    v1.execute("INSERT INTO jobs (id, study_id, state, max_instance_id, received_at, complete_at, queued_at) "
               "VALUES (1, 1, 'done', 1, '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z')");
    v1.execute("INSERT INTO outputs (id, job_id, kind, sop_class_uid, sop_instance_uid, series_instance_uid, "
               "study_instance_uid, file_path, size_bytes, created_at) VALUES (1, 1, 'sr', '1.2.840.10008.5.1.4.1.1.88.33', "
               "'1.2.3.9.1', '1.2.3.9.2', '1.2.3.9', NULL, 4, '2026-11-01T00:00:00.000Z')");
    v1.execute("INSERT INTO deliveries (id, output_id, destination, state, created_at) "
               "VALUES (1, 1, 'pacs', 'delivered', '2026-11-01T00:00:00.000Z')");
  }
  const auto a = node("node-a");
  const auto delivery = a->open_read_model()->delivery(1);
  ASSERT_TRUE(delivery);
  EXPECT_EQ(delivery->state, DeliveryState::delivered);
  EXPECT_EQ(delivery->substitution, "");
  postgresql::Connection db(dsn_);
  EXPECT_EQ(db.execute("SELECT version FROM evax_schema").integer(0, 0), postgresql::latest_schema_version());
}

TEST_F(PostgresCluster, ANewerSchemaIsRefusedAndTheDsnPasswordIsNotShown) {
  node("node-a");
  {
    postgresql::Connection db(dsn_);
    db.execute("UPDATE evax_schema SET version = 99");
  }
  try {
    node("node-b");
    FAIL() << "a schema newer than the node was used";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("newer than this node"), std::string::npos) << e.what();
  }
  BackendSettings wrong;
  wrong.kind = BackendSettings::Kind::postgresql;
  wrong.dsn = "host=127.0.0.1 port=1 dbname=x user=evax password=hunter2 connect_timeout=2";
  try {
    make_storage_backend(wrong, *files_);
    FAIL() << "an unreachable database was accepted";
  } catch (const StorageError& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace evax::storage
