// The PostgreSQL backend's entry point for the factory (storage_backend.cc).
#pragma once

#include <memory>

#include "evax/storage/storage_backend.h"

namespace evax::storage::postgresql {

std::unique_ptr<StorageBackend> make_backend(const BackendSettings& settings, const FileStore& files);

}  // namespace evax::storage::postgresql
