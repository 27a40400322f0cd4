// What only the SQLite backend has: its file's schema version, WAL, and the migrations that
// carry a running node's database forward.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "evax/storage/storage_backend.h"
#include "sqlite/database.h"

namespace evax::storage {
namespace {

namespace fs = std::filesystem;

class SqliteSchema : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/evax-sqlite-schema-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    files_ = std::make_unique<FileStore>((dir_ / "data").string());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string text(const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(files_->database_path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* statement = nullptr;
    std::string value = "(no statement)";
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr) == SQLITE_OK) {
      value = "(no row)";
      if (sqlite3_step(statement) == SQLITE_ROW)
        value = sqlite3_column_text(statement, 0) ? reinterpret_cast<const char*>(sqlite3_column_text(statement, 0)) : "";
    }
    sqlite3_finalize(statement);
    sqlite3_close(db);
    return value;
  }
  std::unique_ptr<StorageBackend> backend() { return make_storage_backend(BackendSettings{}, *files_); }

  fs::path dir_;
  std::unique_ptr<FileStore> files_;
};

TEST_F(SqliteSchema, TheSchemaIsVersionedAndANewerDatabaseIsRefused) {
  backend();
  EXPECT_EQ(text("PRAGMA user_version"), std::to_string(sqlite::latest_schema_version()));
  EXPECT_EQ(text("PRAGMA journal_mode"), "wal");
  sqlite3* db = nullptr;
  sqlite3_open(files_->database_path().c_str(), &db);
  sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  try {
    backend();
    FAIL() << "a database newer than the node was opened";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("newer than this node"), std::string::npos) << e.what();
  }
}

// Version 4 (kept by 5) moved which instances a job covers and why a late arrival started no re-analysis
// from the instance index's tables to the job queue's; a version-3 database keeps both.
TEST_F(SqliteSchema, MigrationFourKeepsCoverageAndNotReanalysedReasons) {
  {
    sqlite::Database v3(files_->database_path(), 3);
    v3.execute(
        "INSERT INTO studies (id, study_instance_uid, instance_count, covered_instance_id, first_received_at, last_received_at) "
        "VALUES (1, '1.2.3.9', 3, 2, '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z')");
    for (int id = 1; id <= 3; ++id)
      v3.execute(("INSERT INTO instances (id, study_id, sop_instance_uid, sop_class_uid, series_instance_uid, "
                  "transfer_syntax_uid, modality, body_part_examined, view_position, view_code, presentation_intent, "
                  "manufacturer, image_type, rows, columns, file_path, size_bytes, calling_ae_title, peer_address, received_at, "
                  "not_reanalysed_reason) VALUES (" + std::to_string(id) + ", 1, '1.2.3.4." + std::to_string(id) +
                  "', '1.2', '1.2.3', '1.2.840.10008.1.2.1', 'DX', 'CHEST', 'PA', '', '', '', '', 1, 1, NULL, 1, 'PACS', "
                  "'127.0.0.1', '2026-11-01T00:00:00.000Z', " + (id == 2 ? "'lateral-view: LL'" : "NULL") + ")")
                     .c_str());
    v3.execute(
        "INSERT INTO jobs (id, study_id, state, max_instance_id, received_at, complete_at, queued_at) "
        "VALUES (1, 1, 'done', 1, '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z')");
  }
  const auto storage = backend();
  EXPECT_EQ(text("PRAGMA user_version"), std::to_string(sqlite::latest_schema_version()));
  const auto late = storage->open_read_model()->not_reanalysed_of_study("1.2.3.9");
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].sop_instance_uid, "1.2.3.4.2");
  EXPECT_EQ(late[0].reason, "lateral-view: LL");
  // Instances 1 and 2 were covered; only 3 waits for a job.
  const auto pending = storage->open_job_queue()->studies_awaiting_analysis();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].max_instance_id, 3);
  EXPECT_EQ(text("SELECT covered_instance_id FROM study_coverage WHERE study_id = 1"), "2");
  EXPECT_EQ(text("SELECT COUNT(*) FROM pragma_table_info('studies') WHERE name = 'covered_instance_id'"), "0");
  EXPECT_EQ(text("SELECT COUNT(*) FROM pragma_table_info('instances') WHERE name = 'not_reanalysed_reason'"), "0");
}

// Version 6 records how a destination that refused an output's SOP class got it instead;
// deliveries made before it were sent as made.
TEST_F(SqliteSchema, MigrationSixGivesEveryExistingDeliveryNoSubstitution) {
  {
    sqlite::Database v5(files_->database_path(), 5);
    v5.execute(
        "INSERT INTO studies (id, study_instance_uid, instance_count, first_received_at, last_received_at) "
        "VALUES (1, '1.2.3.9', 1, '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z')");
    v5.execute(
        "INSERT INTO jobs (id, study_id, state, max_instance_id, received_at, complete_at, queued_at) "
        "VALUES (1, 1, 'done', 1, '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z')");
    v5.execute(
        "INSERT INTO outputs (id, job_id, kind, sop_class_uid, sop_instance_uid, series_instance_uid, study_instance_uid, "
        "file_path, size_bytes, created_at) VALUES (1, 1, 'sr', '1.2.840.10008.5.1.4.1.1.88.33', '1.2.3.9.1', '1.2.3.9.2', "
        "'1.2.3.9', NULL, 4, '2026-11-01T00:00:00.000Z')");
    v5.execute(
        "INSERT INTO deliveries (id, output_id, destination, state, created_at) "
        "VALUES (1, 1, 'pacs', 'delivered', '2026-11-01T00:00:00.000Z')");
  }
  const auto storage = backend();
  EXPECT_EQ(text("PRAGMA user_version"), std::to_string(sqlite::latest_schema_version()));
  const auto delivery = storage->open_read_model()->delivery(1);
  ASSERT_TRUE(delivery);
  EXPECT_EQ(delivery->state, DeliveryState::delivered);
  EXPECT_EQ(delivery->substitution, "");
  EXPECT_EQ(text("SELECT COUNT(*) FROM pragma_table_info('deliveries') WHERE name = 'substitution'"), "1");
}

}  // namespace
}  // namespace evax::storage
