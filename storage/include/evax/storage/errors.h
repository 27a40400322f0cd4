// What the storage interfaces throw: the database cannot be opened, migrated or used; or this
// node no longer holds the job or delivery it is finishing (another node took it over after this
// node's lease ran out, or it was queued again): the caller drops its result.
#pragma once

#include <stdexcept>

namespace evax::storage {

struct StorageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct LostClaim : StorageError {
  using StorageError::StorageError;
};

}  // namespace evax::storage
