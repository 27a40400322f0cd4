// The output kinds the config accepts (destinations[].outputs, reporting.outputs) and the
// builders the pipeline has are one list: a kind added to one and not the other fails here.
#include <gtest/gtest.h>

#include <algorithm>

#include "evax/config/node_config.h"
#include "evax/pipeline/output_builders.h"

namespace evax::pipeline {
namespace {

TEST(OutputBuilders, EveryKindTheConfigNamesHasABuilderInBuildOrder) {
  std::vector<std::string> configured = config::output_kinds(), built = known_output_kinds();
  EXPECT_EQ(built, (std::vector<std::string>{"seg", "sr", "sc", "pmap", "kos"}));  // the KOS lists the others: last
  std::sort(configured.begin(), configured.end());
  std::sort(built.begin(), built.end());
  EXPECT_EQ(configured, built);
  EXPECT_EQ(config::ReportingSettings{}.outputs, known_output_kinds());  // the default: every kind
}

TEST(OutputBuilders, BuildersComeInBuildOrderAndAnUnknownKindIsNamed) {
  const auto builders = make_output_builders({"kos", "sr", "pmap"}, ResultSettings{});
  ASSERT_TRUE(builders) << builders.error();
  std::vector<std::string> kinds;
  for (const auto& b : *builders) kinds.emplace_back(b->kind());
  EXPECT_EQ(kinds, (std::vector<std::string>{"sr", "pmap", "kos"}));
  const auto unknown = make_output_builders({"sr", "gsps"}, ResultSettings{});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().find("\"gsps\""), std::string::npos) << unknown.error();
}

}  // namespace
}  // namespace evax::pipeline
