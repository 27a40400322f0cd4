// model.device on a machine without a usable GPU (this one, and CI's): `cuda` stops the start,
// naming the cause; `auto` runs on the CPU and says why in the log and in /readyz. The cause
// differs by flavour: Debian's LibTorch is CPU-only; the CUDA flavour finds no NVIDIA driver
// (or no device, where a driver is installed without a GPU).
#include <gtest/gtest.h>

#include <fstream>

#include "http_client.h"
#include "node_harness.h"

namespace evax::testing {
namespace {

bool gpu_usable() { return run_command(std::string(EVAX_NODE_BINARY) + " --version").output.find("device(s) usable") != std::string::npos; }

std::string expected_cause() {
  if (EVAX_TEST_LIBTORCH_CUDA_MAJOR == 0) return "this build's LibTorch " EVAX_TEST_LIBTORCH_VERSION " is CPU-only";
  const bool driver_installed = run_command("ldconfig -p | grep -q 'libcuda.so.1 '").status == 0;
  return driver_installed ? "the NVIDIA driver sees no CUDA device" : "no NVIDIA driver (libcuda.so.1 cannot be loaded";
}

TEST(DeviceChoice, CudaWithoutAUsableGpuStopsTheStartAndNamesTheCause) {
  if (gpu_usable()) GTEST_SKIP() << "this machine has a usable GPU";
  NodeHarness node;
  node.config()["model"]["device"] = "cuda";
  std::ofstream(node.config_path()) << node.config().dump(2);
  const auto started = std::chrono::steady_clock::now();
  const CommandResult result = run_command(std::string(EVAX_NODE_BINARY) + " serve --config " + node.config_path() + " 2>&1",
                                           std::chrono::seconds(60));
  EXPECT_EQ(result.status, 1) << result.output;
  EXPECT_NE(result.output.find("device-unavailable"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("model.device is cuda, but CUDA cannot be used: " + expected_cause()), std::string::npos)
      << result.output;
  // It fails before it scans storage, loads a model or opens the DICOM port.
  EXPECT_EQ(result.output.find("model-loaded"), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("listening"), std::string::npos) << result.output;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

TEST(DeviceChoice, AutoWithoutAUsableGpuRunsOnTheCpuAndSaysWhyInTheLogAndReadyz) {
  if (gpu_usable()) GTEST_SKIP() << "this machine has a usable GPU";
  NodeHarness node;
  node.config()["model"]["device"] = "auto";
  // /readyz shows its checks only with a token: "ready-token" (sha256 below).
  node.config()["http"]["tokens"] = nlohmann::json::array(
      {{{"sha256", run_command("printf %s ready-token | sha256sum").output.substr(0, 64)}, {"role", "read"}, {"name", "test"}}});
  node.start();
  const std::string note = "device auto runs on the CPU: " + expected_cause();
  const std::string log = node.log();
  EXPECT_NE(log.find("device-fallback"), std::string::npos) << log;
  EXPECT_NE(log.find(note), std::string::npos) << log;
  // A CUDA build without its GPU is a problem worth a warning; a CPU-only build is not.
  const std::string level = EVAX_TEST_LIBTORCH_CUDA_MAJOR == 0 ? "info" : "warn";
  EXPECT_NE(log.find(level + " node device-fallback"), std::string::npos) << log;

  const HttpAnswer ready = http_call(node.config()["http"]["port"].get<int>(), {"GET", "/readyz", "ready-token"});
  ASSERT_EQ(ready.status, 200) << ready.body << ready.error;
  const nlohmann::json body = nlohmann::json::parse(ready.body);
  std::string model_detail;
  for (const auto& check : body["checks"])
    if (check["name"] == "model") model_detail = check["detail"];
  EXPECT_EQ(model_detail.rfind("EVA-X-Ti on cpu (" + note, 0), 0u) << ready.body;
  EXPECT_EQ(node.stop(), 0);
}

}  // namespace
}  // namespace evax::testing
