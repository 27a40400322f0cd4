// What the config means to the engine and pipeline: the checks only modules beyond config can
// make (task names, demo sizes, checkpoint files), and the translation of config sections into
// their settings structs. Shared by `serve` and `check-config`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "evax/admin/admin_server.h"
#include "evax/config/node_config.h"
#include "evax/inference/batcher.h"
#include "evax/inference/engine.h"
#include "evax/inference/segmenter.h"
#include "evax/pipeline/analysis_workers.h"
#include "evax/pipeline/delivery_workers.h"
#include "evax/storage/storage_backend.h"

namespace evax::app {

// What only the modules can check (task names, demo sizes, checkpoint files, operating-point
// labels, destinations' TLS files), as errors with key paths, e.g.
// "model.classifier.task: must be one of cxr14|chexpert|...".
std::vector<config::ConfigError> check_node_settings(const config::NodeConfig& config);

inference::EngineOptions engine_options(const config::ModelSettings& model);
// Empty when no segmentation model is configured.
std::optional<inference::SegmenterOptions> segmenter_options(const config::ModelSettings& model);
inference::BatchingOptions batching_options(const config::ModelSettings& model);
// The segmentation model as loaded, for the results' algorithm identity.
struct LoadedSegmenter {
  const inference::SegmenterInfo& info;
  std::string checkpoint_sha256;  // "" for demo weights
};

// The intake rules of the config: the analysis and the assembler's re-analysis decision share them.
dicom_node::IntakeSettings intake_settings(const config::NodeConfig& config);

// `model` is the loaded model (its name and task go into every result); `checkpoint_sha256`
// identifies the checkpoint file ("" for demo weights).
pipeline::AnalysisSettings analysis_settings(const config::NodeConfig& config, const inference::ModelInfo& model,
                                             const std::string& checkpoint_sha256,
                                             const std::optional<LoadedSegmenter>& segmenter = std::nullopt);
// The outbox's senders: every destination, then every RIS target (notifications[]) by its name.
pipeline::DeliverySettings delivery_settings(const config::NodeConfig& config);
// Each sender's transport: the notification clients for a RIS target's name, C-STORE with `scu`
// for a DICOM destination. `config` must outlive the factory.
pipeline::TransportFactory transport_factory(const config::NodeConfig& config, const dicom_node::ScuSettings& scu);
// Which database the node keeps its index and queues in, as which node, and the free-space watermark.
storage::BackendSettings backend_settings(const config::NodeConfig& config);
// This node's id in a cluster: cluster.node_id, or <hostname>:<dicom.port>.
std::string node_id(const config::NodeConfig& config);
// What this node tells the others about itself (the nodes view), started now.
storage::NodeAnnouncement node_announcement(const config::NodeConfig& config);
// The node's files; on PostgreSQL (a shared data_dir) with a temp folder of the node's own.
storage::FileStore node_files(const config::NodeConfig& config);

// The loaded models as the admin API describes them.
std::vector<admin::ModelDescription> model_descriptions(const inference::ModelInfo& model, const std::string& checkpoint_sha256,
                                                        const std::optional<LoadedSegmenter>& segmenter);

// Where the audit log goes: logging.audit_file, or audit.log in the data directory.
std::string audit_log_path(const config::NodeConfig& config);

// A UID that names this installation as the SR's device observer: 2.25 and a number derived
// from the data directory and AE title, so it stays the same across restarts.
std::string device_observer_uid(const std::string& data_dir, const std::string& ae_title);

}  // namespace evax::app
