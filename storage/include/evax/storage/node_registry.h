// NodeRegistry: the nodes sharing one database. Each node records itself at start and at every
// heartbeat (the database's clock stamps it); a node whose heartbeat is older than the lease is
// taken for dead, and the job queue and the outbox hand its unfinished work to the living
// (JobQueue::take_over_from_silent_nodes, Outbox::take_over_from_silent_nodes).
// Owns the table nodes. Used by one thread at a time (the node's heartbeat thread).
#pragma once

#include <string>

namespace evax::storage {

// What a node says about itself.
struct NodeAnnouncement {
  std::string id;        // cluster.node_id
  std::string address;   // where it runs (host), for people
  std::string version;   // evax-node's version
  std::string started_at;  // ISO 8601 UTC
};

class NodeRegistry {
 public:
  virtual ~NodeRegistry() = default;
  // Records the node as alive now (inserting or updating its row).
  virtual void heartbeat(const NodeAnnouncement& self) = 0;
};

}  // namespace evax::storage
