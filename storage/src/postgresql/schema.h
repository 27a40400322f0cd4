// The PostgreSQL backend's schema: versioned migrations applied at start by one node at a time
// (under an advisory lock, so nodes starting together do not race), and a refusal to touch a
// schema newer than this node. Internal to the storage module.
#pragma once

#include "connection.h"

namespace evax::storage::postgresql {

// The schema version this node writes.
int latest_schema_version();

// Migrates the database to `target_version` (tests make older schemas with a lower one); throws
// StorageError when the database's schema is newer than this node, PostgresError when the
// database cannot be reached.
void migrate(Connection& connection, int target_version = latest_schema_version());

// Advisory lock keys (one number space per database): the migration, the retention singleton.
inline constexpr std::int64_t kMigrationLock = 0x65766178'00000001;  // "evax" 1
inline constexpr std::int64_t kRetentionLock = 0x65766178'00000002;

}  // namespace evax::storage::postgresql
