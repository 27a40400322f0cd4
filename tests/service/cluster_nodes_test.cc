// The nodes view of a cluster: two real nodes on one real PostgreSQL (and one data directory)
// each list both, alive, in GET /api/v1/nodes, `evax-node status` and /metrics; a node killed
// with SIGKILL turns not alive once its lease has run out.
#include <gtest/gtest.h>

#include <thread>

#include "http_client.h"
#include "postgres_server.h"
#include "service_test_support.h"

namespace evax::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kReadToken = "read-token-nodes-9d3a";

void configure(NodeHarness& node, const std::string& dsn, const std::string& id, const std::string& data_dir) {
  node.config()["storage"]["data_dir"] = data_dir;  // one folder every node sees
  node.config()["storage"]["database"] = {{"kind", "postgresql"}, {"dsn", dsn}};
  node.config()["cluster"] = {{"node_id", id}, {"address", id + ".example"}, {"heartbeat_s", 1}, {"lease_s", 3}};
  node.config()["http"] = {{"port", free_tcp_port()}, {"listen_address", "127.0.0.1"},
                           {"tokens", json::array({{{"sha256", run_command("printf %s " + std::string(kReadToken) +
                                                                           " | sha256sum").output.substr(0, 64)},
                                                    {"role", "read"}, {"name", "viewer"}}})}};
}

HttpAnswer get(NodeHarness& node, const std::string& path) {
  return http_call(node.config()["http"]["port"].get<int>(), {"GET", path, kReadToken});
}

json nodes_of(NodeHarness& node) {
  const HttpAnswer answer = get(node, "/api/v1/nodes");
  EXPECT_EQ(answer.status, 200) << answer.body << answer.error;
  return answer.status == 200 ? json::parse(answer.body) : json::object();
}

TEST(ClusterNodes, TwoNodesOnOnePostgresqlEachListBothAndAKilledOneTurnsSilent) {
  PostgresServer database("nodes");
  NodeHarness a, b;
  configure(a, database.dsn(), "node-a", a.data_dir().string());
  configure(b, database.dsn(), "node-b", a.data_dir().string());
  a.start();
  b.start();

  for (NodeHarness* node : {&a, &b}) {
    const json view = nodes_of(*node);
    EXPECT_EQ(view["lease_s"], 3);
    ASSERT_EQ(view["nodes"].size(), 2u) << view.dump(2);
    for (int i = 0; i < 2; ++i) {
      const json& n = view["nodes"][i];
      const std::string id = i == 0 ? "node-a" : "node-b";  // ordered by id
      EXPECT_EQ(n["id"], id);
      EXPECT_EQ(n["address"], id + ".example");
      EXPECT_EQ(n["alive"], true) << n.dump();
      EXPECT_EQ(n["self"], node->config()["cluster"]["node_id"] == id) << n.dump();
    }
  }
  const json status = a.status();
  ASSERT_EQ(status["nodes"].size(), 2u) << status.dump(2);
  const std::string metrics = get(b, "/metrics").body;
  EXPECT_NE(metrics.find("evax_cluster_nodes{node=\"node-b\",state=\"alive\"} 2\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("evax_node_info{node=\"node-b\",address=\"node-b.example\","), std::string::npos) << metrics;

  // node-b dies: once its lease (3 s) has run out, node-a shows it silent.
  b.kill9();
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  json view;
  do {
    std::this_thread::sleep_for(500ms);
    view = nodes_of(a);
  } while (view["nodes"].size() == 2 && view["nodes"][1]["alive"] == true && std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(view["nodes"].size(), 2u) << view.dump(2);
  EXPECT_EQ(view["nodes"][0]["alive"], true) << view.dump(2);
  EXPECT_EQ(view["nodes"][1]["alive"], false) << view.dump(2);
  EXPECT_GT(view["nodes"][1]["seconds_since_heartbeat"].get<double>(), 3.0) << view.dump(2);
  EXPECT_NE(get(a, "/metrics").body.find("evax_cluster_nodes{node=\"node-a\",state=\"silent\"} 1\n"), std::string::npos);
  EXPECT_EQ(a.stop(), 0);
}

}  // namespace
}  // namespace evax::testing
