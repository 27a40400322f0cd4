// The backends the storage behaviour suite runs against: each makes a fresh, empty backend on a
// test's FileStore.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "evax/storage/storage_backend.h"

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
         return make_storage_backend(settings, files);
       }},
  };
}

}  // namespace evax::storage
