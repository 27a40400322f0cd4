// The backends the storage behaviour suite runs against: each makes a fresh, empty backend on a
// test's FileStore. PostgreSQL is a real server (tests/support/postgres_server.h), started once
// per test process, with a new database for each backend made.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "evax/storage/storage_backend.h"
#include "postgres_server.h"

namespace evax::storage {

struct BackendUnderTest {
  std::string name;
  std::function<std::unique_ptr<StorageBackend>(const FileStore& files, std::int64_t min_free_bytes)> make;
};

// Test names and failure messages show the backend's name, not its bytes.
inline void PrintTo(const BackendUnderTest& backend, std::ostream* out) { *out << backend.name; }

inline std::vector<BackendUnderTest> backends_under_test() {
  return {
      {"SQLite",
       [](const FileStore& files, std::int64_t min_free_bytes) {
         BackendSettings settings;
         settings.kind = BackendSettings::Kind::sqlite;
         settings.min_free_bytes = min_free_bytes;
         settings.node_id = "node-a";
         return make_storage_backend(settings, files);
       }},
      {"PostgreSQL",
       [](const FileStore& files, std::int64_t min_free_bytes) {
         static testing::PostgresServer server;  // stopped when the test process exits
         static int databases = 0;
         BackendSettings settings;
         settings.kind = BackendSettings::Kind::postgresql;
         settings.min_free_bytes = min_free_bytes;
         settings.dsn = server.create_database("behaviour_" + std::to_string(++databases));
         settings.node_id = "node-a";
         return make_storage_backend(settings, files);
       }},
  };
}

}  // namespace evax::storage
