// The nodes on the node's database as JSON: each node's id, address, version, start, last
// heartbeat, whether it is alive within the lease, and the work it holds. Shared by
// GET /api/v1/nodes, /metrics' node series and `evax-node status`. Internal to the admin module.
#pragma once

#include <string>

#include "job_views.h"

namespace evax::admin {

// [{"id", "address", "version", "started_at", "last_heartbeat", "seconds_since_heartbeat",
//   "alive", "running_jobs": [ids], "sending_deliveries", "self"}], ordered by id; "self" marks
// `self_node_id` (the node answering).
json nodes_json(storage::ReadModel& read, int lease_seconds, const std::string& self_node_id);

}  // namespace evax::admin
