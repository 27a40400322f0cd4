// /metrics: the node's counters and gauges in the Prometheus text exposition format (0.0.4).
// Internal to the admin module.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "drift.h"
#include "evax/admin/admin_server.h"
#include "evax/storage/read_model.h"

namespace evax::admin {

struct DiskState {
  std::int64_t free_bytes = 0;
  std::int64_t watermark_bytes = 0;
};

// Which node reports, and the cluster it sees on its database.
struct NodeState {
  std::string id;       // the `node` label of every series
  std::string address;  // from its own heartbeat row ("" before the first heartbeat)
  std::string version;
  int alive_nodes = 0;
  int silent_nodes = 0;
};

std::string prometheus_text(const storage::NodeStatisticsSnapshot& stats, const LiveState& live,
                            const std::vector<ModelDescription>& models, const DiskState& disk,
                            const std::vector<std::string>& destinations, const NodeState& node, const DriftSnapshot& drift);

// At most this many sending AE titles get their own series in evax_intake_skipped_images_total
// (those with the most skipped images); the others are summed under calling_ae="_other".
inline constexpr std::size_t kMaxSkippedAeSeries = 20;

}  // namespace evax::admin
