// /metrics: the node's counters and gauges in the Prometheus text exposition format (0.0.4).
// Internal to the admin module.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "evax/admin/admin_server.h"
#include "evax/storage/read_model.h"

namespace evax::admin {

struct DiskState {
  std::int64_t free_bytes = 0;
  std::int64_t watermark_bytes = 0;
};

std::string prometheus_text(const storage::NodeStatisticsSnapshot& stats, const LiveState& live,
                            const std::vector<ModelDescription>& models, const DiskState& disk,
                            const std::vector<std::string>& destinations);

}  // namespace evax::admin
