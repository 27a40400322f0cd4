// The cluster as a whole (issue 14): scripts/cluster_chaos.py's 3-trial version: 3 nodes on one
// PostgreSQL behind HAProxy, senders storing through it while 3 random nodes are killed with
// SIGKILL and restarted; the script checks the end state from the database and the destination.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "process.h"

namespace evax::testing {
namespace {

// A figure the script printed as "<name>: <number>", or -1 when it is missing.
double printed(const std::string& output, const std::string& name) {
  std::smatch match;
  if (!std::regex_search(output, match, std::regex("(^|\\n)" + name + ": ([0-9.]+)"))) return -1;
  return std::stod(match[2]);
}

TEST(Cluster, ThreeKillsLoseNothingDuplicateNoJobAndDeliverEveryResult) {
  const std::string command = std::string("timeout -s TERM 170 /usr/bin/python3 ") + EVAX_SOURCE_DIR +
                              "/scripts/cluster_chaos.py --node " + EVAX_NODE_BINARY + " --test-scp " +
                              EVAX_TEST_SCP_BINARY +
                              " --nodes 3 --studies 8 --senders 4 --kills 3 --restart-after 5 --settle-timeout 90 2>&1";
  const CommandResult result = run_command(command, std::chrono::seconds(180));
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_NE(result.output.find("RESULT: PASS"), std::string::npos) << result.output;
  EXPECT_EQ(printed(result.output, "instances acknowledged"), 16) << result.output;
  EXPECT_EQ(printed(result.output, "acknowledged-but-lost"), 0) << result.output;
  EXPECT_EQ(printed(result.output, "duplicate done jobs \\(same study version\\)"), 0) << result.output;
  EXPECT_EQ(printed(result.output, "acknowledged instances not covered by a done job"), 0) << result.output;
  EXPECT_EQ(printed(result.output, "results missing at the destination"), 0) << result.output;
  EXPECT_EQ(printed(result.output, "results at the destination that no output row names"), 0) << result.output;
  EXPECT_EQ(printed(result.output, "duplicate results without an interrupted send"), 0) << result.output;
  EXPECT_EQ(printed(result.output, "images analysed \\(done jobs\\)"), 16) << result.output;
  // Work a killed node held comes back within a lease (4 s) plus heartbeats, not after minutes.
  if (printed(result.output, "take-overs timed") > 0) {
    EXPECT_GT(printed(result.output, "takeover p99"), 0) << result.output;
    EXPECT_LT(printed(result.output, "takeover p99"), 15) << result.output;
  }
}

}  // namespace
}  // namespace evax::testing
