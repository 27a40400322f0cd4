// Database: one SQLite connection (the embedded backend) (WAL, synchronous=FULL, a 30 s busy wait, foreign keys) with the
// node's schema migrated to the current version. Statement and Transaction are RAII handles;
// a Transaction rolls back unless committed. Internal to the storage module.
// Thread-safety: a Database serialises its users with its mutex; components that run in
// parallel (receivers, workers, readers) each open their own.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include "evax/logging/logger.h"
#include "evax/storage/storage_backend.h"

namespace evax::storage::sqlite {

class Database;

// The database is unavailable for now (busy or locked past the busy wait, or cannot be opened):
// what a store reports as StoreOutcome::unavailable.
struct UnavailableError : StorageError {
  using StorageError::StorageError;
};

class Statement {
 public:
  Statement(Database& db, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  Statement& bind(int index, const std::string& value);
  Statement& bind(int index, double value);
  Statement& bind(int index, const char* value) { return bind(index, std::string(value)); }
  Statement& bind_null(int index);
  Statement& bind_optional(int index, const std::optional<std::int64_t>& value) {
    return value ? bind(index, *value) : bind_null(index);
  }

  // Advances; true while a row is available.
  bool step();
  void run() { while (step()) {} }

  std::int64_t integer(int column) const;
  double real(int column) const;
  std::string text(int column) const;  // "" for NULL
  bool is_null(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* statement_ = nullptr;
};

// The schema version this node migrates a database to (the number of migrations).
int latest_schema_version();

class Database {
 public:
  // Opens (creating if needed) and migrates to the latest schema, or only up to `migrate_to`
  // (the migration tests build an older database). Throws StorageError.
  static constexpr int kLatest = -1;
  explicit Database(const std::string& path, int migrate_to = kLatest);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  sqlite3* handle() { return db_; }
  std::mutex& mutex() { return mutex_; }
  void execute(const char* sql);
  std::int64_t last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
  int schema_version();
  // Rows changed by the last statement.
  int changes() const { return sqlite3_changes(db_); }

 private:
  void migrate(int migrate_to);
  static int wait_while_busy(void* unused, int attempts);
  sqlite3* db_ = nullptr;
  std::mutex mutex_;  // one user of the connection at a time (Transaction takes it)
};

// A write transaction is BEGIN IMMEDIATE: it takes SQLite's write lock up front, so a busy
// database is waited for here (within the busy timeout) and never surfaces at COMMIT. A read
// transaction is BEGIN DEFERRED: one consistent snapshot. Rolls back in the destructor unless
// commit() ran. Holds the Database's mutex throughout.
class Transaction {
 public:
  enum class Mode { write, read };
  explicit Transaction(Database& db, Mode mode = Mode::write);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Database& db_;
  std::unique_lock<std::mutex> lock_;
  bool done_ = false;
};

using logging::utc_now_iso;

}  // namespace evax::storage::sqlite
