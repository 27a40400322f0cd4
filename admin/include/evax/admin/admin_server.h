// AdminServer: the node's admin HTTP interface (Poco): the JSON API under /api/v1, /healthz,
// /readyz, /metrics (Prometheus text) and the status page at /. It reads the node's state from
// storage, acts on it only through the storage modules' admin actions (retry, cancel, re-send),
// and learns what only the running node knows through the plain LiveState callback.
// Access: bearer tokens from the config, stored as SHA-256 digests, with a role (read: GET;
// admin: also POST; store: only STOW-RS uploads, which admin may make too); optional TLS. Bounded threads, queue, timeouts and request sizes, and a
// separate port, so slow or many clients cannot starve DICOM ingest.
// Owns its threads: serving starts in the constructor, stop() / the destructor join them.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "evax/admin/retrieval_hooks.h"
#include "evax/config/node_config.h"
#include "evax/logging/audit_log.h"
#include "evax/logging/logger.h"
#include "evax/storage/file_store.h"
#include "evax/storage/storage_backend.h"

namespace evax::admin {

// A loaded model, as /api/v1/models and /metrics describe it.
struct ModelDescription {
  std::string role;               // "classifier" or "segmenter"
  std::string name;               // "EVA-X-S", "EVA-X-S UperNet"
  std::string size;               // "tiny", "small", "base", "custom"
  std::string task;               // "cxr14", ..., "lungs"
  std::string checkpoint;         // as configured
  std::string checkpoint_format;  // "pytorch-zip", "safetensors", "demo"
  std::string sha256;             // "" for demo weights
  std::int64_t checkpoint_bytes = 0;
  std::string device;             // "cpu", "cuda:0"
  std::string device_note;        // why device auto runs on the CPU; "" otherwise
  std::string precision;          // "fp32", "bf16", "fp16"
  int input_size = 0;
  bool demo = false;
  std::vector<std::string> labels;
};

// What only the running node knows, read at each request.
struct LiveState {
  bool listener_up = false;  // the DICOM port is open
  std::uint64_t associations_accepted = 0, associations_refused = 0;
  int associations_active = 0;
  std::uint64_t instances_received = 0, bytes_received = 0;  // since this start
  std::uint64_t inference_batches = 0, inference_images = 0;
  std::map<int, std::uint64_t> batches_by_size;
  std::vector<std::pair<double, std::uint64_t>> batch_seconds_buckets;  // (upper bound, cumulative count)
  double batch_seconds_sum = 0;
};

// An upload the server streams to a receiver instead of holding its body: STOW-RS, POST
// /dicomweb/studies[/{study_instance_uid}]. The server authenticates the caller (role store or
// admin) and checks the framing and the size before it reads any of the body.
struct UploadHead {
  std::string study_instance_uid;  // from the path; "" for /dicomweb/studies
  std::string content_type;        // the Content-Type header, "" if none
  std::string accept;              // the Accept header, "" if none
  std::string client;              // the peer's address
  std::string caller;              // the token's name
};

struct UploadAnswer {
  int status = 200;
  std::string content_type;
  std::string body;
};

// One request's body, handed over as it arrives. Used by one connection thread.
class UploadReceiver {
 public:
  virtual ~UploadReceiver() = default;
  // The next bytes; an answer ends the request at once (the rest of the body is not read).
  virtual std::optional<UploadAnswer> write(std::string_view bytes) = 0;
  // The whole body has arrived.
  virtual UploadAnswer finish() = 0;
};

struct UploadRoute {
  std::int64_t max_body_bytes = 0;  // larger is refused (413) before it is read
  int timeout_s = 300;              // for the whole request to arrive
  // Called by many connection threads at once: a receiver, or the answer that refuses the
  // request before its body is read.
  std::function<std::expected<std::unique_ptr<UploadReceiver>, UploadAnswer>(const UploadHead&)> open;
};

struct AdminContext {
  const config::NodeConfig& config;
  const storage::FileStore& files;
  storage::StorageBackend& storage;
  logging::Logger& log;
  logging::AuditLog* audit = nullptr;
  std::vector<ModelDescription> models;
  std::function<LiveState()> live;
  std::string node_id;  // this node's id in the nodes view and the metrics (cluster.node_id or its default)
  std::optional<UploadRoute> stow;  // STOW-RS intake; without it, POST /dicomweb/studies answers 503
  RetrievalHooks retrieval;  // pulling studies from the sources (POST /api/v1/studies/retrieve, /api/v1/sweeps)
};

class AdminServer {
 public:
  // Binds config.http.listen_address:port (TLS when configured) and starts serving; throws
  // std::runtime_error naming the problem (port taken, unreadable certificate or key).
  explicit AdminServer(AdminContext context);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Stops accepting and waits for the requests in progress. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What is wrong with monitoring.baseline_file (it cannot be read, or a line or cell is not as
// README "Watching the model in production" says), naming the line and column; "" when it
// reads or none is configured. For `check-config` and the start; AdminServer reads it again.
std::string baseline_file_problem(const config::MonitoringSettings& monitoring);

// What `evax-node status` prints: {"jobs": [<full job>...], "nodes": [...]}: each job as the API
// gives it (images, decisions, findings, lungs, stage times, outputs, deliveries and attempts),
// and the nodes on the database as GET /api/v1/nodes gives them (alive within `lease_seconds`,
// "self" for `self_node_id`).
std::string status_report_json(storage::StorageBackend& storage, const std::vector<std::int64_t>& job_ids,
                               int lease_seconds, const std::string& self_node_id);
// The newest `limit` jobs' ids, newest first.
std::vector<std::int64_t> recent_job_ids(storage::StorageBackend& storage, int limit);

}  // namespace evax::admin
