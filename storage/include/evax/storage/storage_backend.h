// StorageBackend: where the node keeps its index and queues. serve() makes one from the config
// (make_storage_backend) and hands it to every component, which opens the stores it needs: one
// per thread, each with its own connection. Every backend implements the same behaviour; the
// storage behaviour tests run against each.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "evax/storage/errors.h"
#include "evax/storage/feedback_store.h"
#include "evax/storage/file_store.h"
#include "evax/storage/instance_index.h"
#include "evax/storage/job_queue.h"
#include "evax/storage/node_registry.h"
#include "evax/storage/outbox.h"
#include "evax/storage/read_model.h"
#include "evax/storage/retrieval_log.h"

namespace evax::storage {

// The storage settings a backend is built from (the validated config's storage section).
struct BackendSettings {
  enum class Kind { sqlite, postgresql };
  Kind kind = Kind::sqlite;
  std::int64_t min_free_bytes = 0;  // below this much free space, stores answer out of space
  std::string dsn;                  // postgresql: libpq's keyword/value or URI form (TLS via sslmode)
  std::string node_id = "local";    // marks this node's claims, unique in the cluster
  int pool_size = 4;                // postgresql: connections ingest commits on in parallel
};

class StorageBackend {
 public:
  virtual ~StorageBackend() = default;

  // Each opens a new connection (StorageError when it cannot).
  virtual std::unique_ptr<InstanceIndex> open_instance_index() = 0;
  virtual std::unique_ptr<JobQueue> open_job_queue() = 0;
  virtual std::unique_ptr<Outbox> open_outbox() = 0;
  virtual std::unique_ptr<ReadModel> open_read_model() = 0;
  virtual std::unique_ptr<NodeRegistry> open_node_registry() = 0;
  virtual std::unique_ptr<FeedbackStore> open_feedback_store() = 0;
  virtual std::unique_ptr<RetrievalLog> open_retrieval_log() = 0;

  // For logs and the admin API, without secrets: "sqlite /var/lib/evax-node/evax-node.sqlite".
  virtual std::string description() const = 0;
};

// The backend `settings` name, on `files` (which must outlive it). Creates or migrates its
// schema; throws StorageError when the database cannot be opened or is newer than this node.
std::unique_ptr<StorageBackend> make_storage_backend(const BackendSettings& settings, const FileStore& files);


}  // namespace evax::storage
