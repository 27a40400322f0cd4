// A database the node cannot reach: a store reports StoreOutcome::unavailable (the ingest
// handler answers 0xA700 so that the sender retries), keeps nothing, and stores again once the
// database is back, without reopening the store. PostgreSQL stopped, crashed and restarted (a
// real server, tests/support/postgres_server.h); SQLite locked by another process past its wait.
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "evax/storage/storage_backend.h"
#include "postgres_server.h"

namespace evax::storage {
namespace {

namespace fs = std::filesystem;

class DatabaseUnavailable : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/evax-db-unavailable-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    files_ = std::make_unique<FileStore>((dir_ / "data").string());
  }
  void TearDown() override { fs::remove_all(dir_); }

  StoreRequest request(const std::string& sop) {
    StoreRequest r;
    r.attributes.sop_instance_uid = sop;
    r.attributes.study_instance_uid = "1.2.3.9";
    r.attributes.modality = "DX";
    r.temp_path = files_->new_temp_path();
    std::ofstream(r.temp_path) << "bytes";
    return r;
  }
  int files_under(const std::string& area) const {
    int count = 0;
    for (const auto& entry : fs::recursive_directory_iterator(dir_ / "data" / area))
      count += entry.is_regular_file();
    return count;
  }

  fs::path dir_;
  std::unique_ptr<FileStore> files_;
};

TEST_F(DatabaseUnavailable, PostgresqlStoppedOrCrashedStoresAreUnavailableKeepNothingAndResume) {
  testing::PostgresServer server("outage");
  BackendSettings settings;
  settings.kind = BackendSettings::Kind::postgresql;
  settings.dsn = server.dsn();
  settings.pool_size = 1;  // one session: every store below meets the connection the one before left
  auto backend = make_storage_backend(settings, *files_);
  auto index = backend->open_instance_index();
  ASSERT_EQ(index->store(request("1.2.3.1")).outcome, StoreOutcome::stored);

  server.stop();
  const StoreResult down = index->store(request("1.2.3.2"));  // the pooled connection is gone
  EXPECT_EQ(down.outcome, StoreOutcome::unavailable) << down.detail;
  const StoreResult still_down = index->store(request("1.2.3.2"));  // and no new one opens
  EXPECT_EQ(still_down.outcome, StoreOutcome::unavailable) << still_down.detail;
  EXPECT_EQ(outcome_name(still_down.outcome), "database-unavailable");
  EXPECT_EQ(files_under("tmp"), 0);
  EXPECT_EQ(files_under("instances"), 1);

  server.start();
  EXPECT_EQ(index->store(request("1.2.3.2")).outcome, StoreOutcome::stored);

  server.restart_immediate();
  // The connection opened before the crash is dead: the store notices before writing anything
  // and stores on a new one.
  const StoreResult after_crash = index->store(request("1.2.3.3"));
  EXPECT_EQ(after_crash.outcome, StoreOutcome::stored) << after_crash.detail;
  EXPECT_EQ(files_under("tmp"), 0);
  EXPECT_EQ(files_under("instances"), 3);
}

TEST_F(DatabaseUnavailable, SqliteLockedByAnotherProcessPastTheBusyWaitIsUnavailable) {
  BackendSettings settings;
  settings.kind = BackendSettings::Kind::sqlite;
  auto backend = make_storage_backend(settings, *files_);
  auto index = backend->open_instance_index();
  ASSERT_EQ(index->store(request("1.2.3.1")).outcome, StoreOutcome::stored);

  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(files_->database_path().c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  const StoreResult locked = index->store(request("1.2.3.2"));  // waits out the 30 s busy wait
  EXPECT_EQ(locked.outcome, StoreOutcome::unavailable) << locked.detail;
  EXPECT_EQ(files_under("tmp"), 0);
  EXPECT_EQ(files_under("instances"), 1);
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);

  EXPECT_EQ(index->store(request("1.2.3.2")).outcome, StoreOutcome::stored);
}

}  // namespace
}  // namespace evax::storage
