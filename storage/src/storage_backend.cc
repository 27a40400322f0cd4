#include "evax/storage/storage_backend.h"

#include "postgresql/backend.h"
#include "sqlite/backend.h"

namespace evax::storage {

std::unique_ptr<StorageBackend> make_storage_backend(const BackendSettings& settings, const FileStore& files) {
  switch (settings.kind) {
    case BackendSettings::Kind::sqlite: return sqlite::make_backend(settings, files);
    case BackendSettings::Kind::postgresql: return postgresql::make_backend(settings, files);
  }
  throw StorageError("unknown storage backend");
}

}  // namespace evax::storage
