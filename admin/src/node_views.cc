#include "node_views.h"

namespace evax::admin {

json nodes_json(storage::ReadModel& read, int lease_seconds, const std::string& self_node_id) {
  json list = json::array();
  for (const auto& n : read.nodes(lease_seconds))
    list.push_back({{"id", n.id},
                    {"address", n.address},
                    {"version", n.version},
                    {"started_at", n.started_at},
                    {"last_heartbeat", n.last_heartbeat},
                    {"seconds_since_heartbeat", n.seconds_since_heartbeat},
                    {"alive", n.alive},
                    {"running_jobs", n.running_jobs},
                    {"sending_deliveries", n.sending_deliveries},
                    {"self", n.id == self_node_id}});
  return list;
}

}  // namespace evax::admin
