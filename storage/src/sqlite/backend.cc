// SqliteBackend: the embedded default. One database file under the data directory; every store
// opens its own connection to it (WAL lets readers and one writer work at once).
#include "backend.h"

#include "stores.h"

namespace evax::storage::sqlite {
namespace {

class SqliteBackend final : public StorageBackend {
 public:
  SqliteBackend(const BackendSettings& settings, const FileStore& files)
      : files_(files), min_free_bytes_(settings.min_free_bytes), node_id_(settings.node_id) {
    Database migrate_now(files_.database_path());  // a refused schema stops the node here, not in a worker
  }

  std::unique_ptr<InstanceIndex> open_instance_index() override {
    return std::make_unique<SqliteInstanceIndex>(files_, min_free_bytes_);
  }
  std::unique_ptr<JobQueue> open_job_queue() override {
    return std::make_unique<SqliteJobQueue>(files_.database_path(), node_id_);
  }
  std::unique_ptr<Outbox> open_outbox() override { return std::make_unique<SqliteOutbox>(files_.database_path(), node_id_); }
  std::unique_ptr<NodeRegistry> open_node_registry() override {
    return std::make_unique<SqliteNodeRegistry>(files_.database_path());
  }
  std::unique_ptr<FeedbackStore> open_feedback_store() override {
    return std::make_unique<SqliteFeedbackStore>(files_.database_path());
  }
  std::unique_ptr<RetrievalLog> open_retrieval_log() override { return make_retrieval_log(files_.database_path(), node_id_); }
  std::unique_ptr<ReadModel> open_read_model() override { return std::make_unique<SqliteReadModel>(files_.database_path()); }
  std::string description() const override { return "sqlite " + files_.database_path(); }

 private:
  const FileStore& files_;
  const std::int64_t min_free_bytes_;
  const std::string node_id_;
};

}  // namespace

std::unique_ptr<StorageBackend> make_backend(const BackendSettings& settings, const FileStore& files) {
  return std::make_unique<SqliteBackend>(settings, files);
}

}  // namespace evax::storage::sqlite
