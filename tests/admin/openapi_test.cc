// The OpenAPI document in docs/ and the route table the server dispatches by (AdminApi::routes()
// reads that table, so it cannot drift from what is served) say the same: every route served
// is documented with its method, and every documented operation is served.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <set>

#include "api.h"

namespace evax::admin {
namespace {

TEST(OpenApi, DocumentAndServerAgreeOnEveryRoute) {
  std::ifstream in(std::string(EVAX_SOURCE_DIR) + "/docs/openapi.json");
  ASSERT_TRUE(in) << "docs/openapi.json is missing";
  const nlohmann::json document = nlohmann::json::parse(in);
  std::set<std::string> documented;
  for (const auto& [path, operations] : document["paths"].items())
    for (const auto& [method, operation] : operations.items()) {
      std::string upper = method;
      std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      documented.insert(upper + " " + path);
      EXPECT_TRUE(operation.contains("responses")) << path;
      if (path.rfind("/api/v1/", 0) == 0) {
        EXPECT_TRUE(operation["responses"].contains("401")) << method << " " << path;
      }
    }
  const auto served_list = AdminApi::routes();
  const std::set<std::string> served(served_list.begin(), served_list.end());
  EXPECT_EQ(documented, served);
}

}  // namespace
}  // namespace evax::admin
