// The operating-points fragment as a site uses it: `evax-node check-config` on the file that
// `--write-operating-points` writes says it is valid. Label model: it runs the evax-node binary.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "evax/evaluation/evaluation.h"
#include "process.h"
#include "synthetic_scores.h"

namespace evax::evaluation {
namespace {

namespace fs = std::filesystem;

TEST(EvaluationFragment, EvaxNodeCheckConfigAcceptsIt) {
  ASSERT_TRUE(fs::exists(EVAX_NODE_BINARY)) << EVAX_NODE_BINARY << " is not built";
  const std::string fragment = operating_points_fragment(evaluate(testing::synthetic_set()));
  ASSERT_NE(fragment.find("\"Effusion\": 0.42"), std::string::npos) << fragment;  // not an empty fragment
  const fs::path file = fs::temp_directory_path() / ("evax-operating-points-" + std::to_string(::getpid()) + ".json");
  std::ofstream(file) << fragment;
  const evax::testing::CommandResult checked =
      evax::testing::run_command(std::string(EVAX_NODE_BINARY) + " check-config " + file.string(), std::chrono::seconds(60));
  fs::remove(file);
  EXPECT_EQ(checked.status, 0) << checked.output;
  EXPECT_NE(checked.output.find(": valid;"), std::string::npos) << checked.output;
}

}  // namespace
}  // namespace evax::evaluation
