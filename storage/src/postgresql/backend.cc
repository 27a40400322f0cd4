// PgBackend: several nodes on one PostgreSQL database. Connecting and migrating happen here, at
// start, so a wrong DSN or a newer schema stops the node before it accepts anything.
#include "backend.h"

#include "schema.h"
#include "stores.h"

namespace evax::storage::postgresql {
namespace {

class PgBackend final : public StorageBackend {
 public:
  PgBackend(const BackendSettings& settings, const FileStore& files)
      : files_(files), min_free_bytes_(settings.min_free_bytes), identity_{settings.dsn, settings.node_id, settings.pool_size} {
    try {
      Connection connection(identity_.dsn);
      migrate(connection);
    } catch (const PostgresError& e) {
      throw StorageError(std::string("PostgreSQL: ") + e.what());
    }
  }

  std::unique_ptr<InstanceIndex> open_instance_index() override {
    return std::make_unique<PgInstanceIndex>(files_, min_free_bytes_, identity_);
  }
  std::unique_ptr<JobQueue> open_job_queue() override { return std::make_unique<PgJobQueue>(identity_); }
  std::unique_ptr<Outbox> open_outbox() override { return std::make_unique<PgOutbox>(identity_); }
  std::unique_ptr<ReadModel> open_read_model() override { return std::make_unique<PgReadModel>(identity_); }
  std::unique_ptr<FeedbackStore> open_feedback_store() override { return std::make_unique<PgFeedbackStore>(identity_); }
  std::unique_ptr<NodeRegistry> open_node_registry() override { return std::make_unique<PgNodeRegistry>(identity_); }
  std::unique_ptr<RetrievalLog> open_retrieval_log() override { return make_retrieval_log(identity_); }
  std::string description() const override { return "postgresql " + redact_dsn(identity_.dsn); }

 private:
  const FileStore& files_;
  const std::int64_t min_free_bytes_;
  const Identity identity_;
};

}  // namespace

std::unique_ptr<StorageBackend> make_backend(const BackendSettings& settings, const FileStore& files) {
  return std::make_unique<PgBackend>(settings, files);
}

}  // namespace evax::storage::postgresql
