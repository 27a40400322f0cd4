// The container image of packaging/Dockerfile, built once by the CTest fixture `container_image`
// (container_image.sh: podman, no daemon, no registry, on bases debootstrapped from the Debian
// mirror): its metadata, the binary through it, and the node serving in it: healthy by the
// image's own health check, analysing the example study sent by DCMTK's storescu, delivering
// SR, SC and SEG to a storescp, and stopping cleanly on `podman stop`.
//
// The serving container shares a network namespace of the test's own (ip netns) with storescu
// and storescp: all on a loopback nobody else uses, at the image's own ports (11112, and 8080,
// which its health check asks).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cctype>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <thread>

#include "process.h"

namespace evax::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string kExample = EVAX_SOURCE_DIR "/examples/synthetic_chest_pa.dcm";
const std::map<std::string, std::string> kResultClasses = {{"1.2.840.10008.5.1.4.1.1.88.34", "SR (comprehensive 3D)"},
                                                           {"1.2.840.10008.5.1.4.1.1.7", "SC"},
                                                           {"1.2.840.10008.5.1.4.1.1.66.4", "SEG"},
                                                           {"1.2.840.10008.5.1.4.1.1.30", "Parametric Map"},
                                                           {"1.2.840.10008.5.1.4.1.1.88.59", "KOS"}};

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string trimmed(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text;
}

// One element's value as dcmdump prints it ("[value]"; -Un: UIDs as numbers, not names), empty
// when absent.
std::string element(const fs::path& file, const std::string& tag) {
  const std::string dump = run_command("dcmdump -q -Un +P " + tag + " " + file.string()).output;
  const auto open = dump.find('['), close = dump.find(']');
  return open == std::string::npos || close == std::string::npos ? "" : dump.substr(open + 1, close - open - 1);
}

class ContainerImage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = EVAX_CONTAINER_TEST_DIR;
    skipped_ = trimmed(read_text(dir_ / "skipped"));
    image_ = trimmed(read_text(dir_ / "image"));
  }

  void SetUp() override {
    if (!skipped_.empty()) GTEST_SKIP() << "no container image: " << skipped_;
    ASSERT_TRUE(fs::exists(dir_ / "build.txt")) << "the fixture container_image_build built no image; see its output";
  }

  // podman on the fixture's image store.
  static CommandResult podman(const std::string& arguments, std::chrono::seconds timeout = 120s) {
    return run_command((dir_ / "podman").string() + " " + arguments + " 2>&1", timeout);
  }

  static inline fs::path dir_;
  static inline std::string skipped_;
  static inline std::string image_;
};

TEST_F(ContainerImage, RunsAsTheServiceUserWithAHealthCheckAndAStopSignal) {
  const CommandResult inspected = podman("image inspect --format '{{json .Config}}' " + image_);
  ASSERT_EQ(inspected.status, 0) << inspected.output;
  const json config = json::parse(inspected.output);
  EXPECT_EQ(config.value("User", ""), "evax-node") << config.dump(2);
  EXPECT_EQ(config.value("StopSignal", ""), "SIGTERM") << config.dump(2);
  EXPECT_EQ(config["Entrypoint"], json::array({"/usr/bin/evax-node"})) << config.dump(2);
  EXPECT_TRUE(config["ExposedPorts"].contains("11112/tcp") && config["ExposedPorts"].contains("8080/tcp")) << config.dump(2);
  EXPECT_TRUE(config["Volumes"].contains("/var/lib/evax-node")) << config.dump(2);
  // The health check survives only in the docker format (podman's OCI default drops it).
  const CommandResult health = podman("image inspect --format '{{json .HealthCheck}}' " + image_);
  ASSERT_EQ(health.status, 0) << health.output;
  EXPECT_NE(health.output.find("curl -fsS http://127.0.0.1:8080/healthz"), std::string::npos) << health.output;
  // The process really runs as that user, not root. (One-off runs go without the health check,
  // whose timer wants systemd and would log an error about it here.)
  const CommandResult user = podman("run --rm --no-healthcheck --entrypoint id " + image_ + " -un");
  EXPECT_EQ(user.status, 0) << user.output;
  EXPECT_EQ(trimmed(user.output), "evax-node");
}

TEST_F(ContainerImage, AnswersVersionAndChecksItsInstalledConfig) {
  const CommandResult version = podman("run --rm --no-healthcheck " + image_ + " --version");
  EXPECT_EQ(version.status, 0) << version.output;
  EXPECT_NE(version.output.find("evax-node " EVAX_VERSION " (libtorch " EVAX_TEST_LIBTORCH_VERSION), std::string::npos) << version.output;
  EXPECT_NE(version.output.find(", cpu only"), std::string::npos) << version.output;
  const CommandResult checked = podman("run --rm --no-healthcheck " + image_ + " check-config /etc/evax-node/evax-node.json");
  EXPECT_EQ(checked.status, 0) << checked.output;
  EXPECT_NE(checked.output.find("/etc/evax-node/evax-node.json: valid; AE EVAX on port 11112, data in /var/lib/evax-node"),
            std::string::npos) << checked.output;
  // A bad mounted config is refused with its key path, before anything starts.
  char scratch[] = "/tmp/evax-container-XXXXXX";
  const fs::path dir = ::mkdtemp(scratch);
  json config = json::parse(read_text(EVAX_SOURCE_DIR "/packaging/evax-node.example.json"));
  config["dicom"]["port"] = 0;
  std::ofstream(dir / "bad.json") << config.dump(2);
  fs::permissions(dir, fs::perms::owner_all | fs::perms::others_read | fs::perms::others_exec);
  const CommandResult refused =
      podman("run --rm --no-healthcheck -v " + (dir / "bad.json").string() + ":/etc/evax-node/evax-node.json:ro " + image_);
  EXPECT_EQ(refused.status, 2) << refused.output;
  EXPECT_NE(refused.output.find("dicom.port"), std::string::npos) << refused.output;
  fs::remove_all(dir);
}

// A network namespace of the test's own, with its loopback up; removed at the end.
class NetworkNamespace {
 public:
  NetworkNamespace() : name_("evax-container-test-" + std::to_string(::getpid())) {
    run_command("ip netns delete " + name_);
    const CommandResult made = run_command("ip netns add " + name_ + " && ip netns exec " + name_ + " ip link set lo up");
    if (made.status != 0) throw std::runtime_error("ip netns: " + made.output);
  }
  ~NetworkNamespace() { run_command("ip netns delete " + name_); }
  NetworkNamespace(const NetworkNamespace&) = delete;
  NetworkNamespace& operator=(const NetworkNamespace&) = delete;
  const std::string& name() const { return name_; }
  std::string exec(const std::string& command) const { return "ip netns exec " + name_ + " " + command; }

 private:
  std::string name_;
};

TEST_F(ContainerImage, ServesTheExampleStudyHealthyAndStopsCleanly) {
  char scratch[] = "/tmp/evax-container-XXXXXX";
  const fs::path dir = ::mkdtemp(scratch);
  fs::permissions(dir, fs::perms::owner_all | fs::perms::others_read | fs::perms::others_exec);
  fs::create_directories(dir / "received");
  const NetworkNamespace network;

  // The shipped example config with a storescp as its one destination, the lung model on (its
  // untrained demo weights split the example's lungs at 0.93) and a short quiet period.
  json config = json::parse(read_text(EVAX_SOURCE_DIR "/packaging/evax-node.example.json"));
  config["storage"]["data_dir"] = "/var/lib/evax-node";
  config["storage"]["min_free_mb"] = 64;
  config["study"]["quiet_period_s"] = 2;
  config["model"]["segmenter"]["checkpoint"] = "demo";
  config["model"]["segmenter"]["threshold"] = 0.93;
  config["destinations"] = json::array({{{"name", "host-pacs"}, {"ae_title", "HOSTPACS"}, {"host", "127.0.0.1"}, {"port", 11113}}});
  std::ofstream(dir / "evax-node.json") << config.dump(2);

  BackgroundProcess storescp;
  storescp.start({"/usr/sbin/ip", "netns", "exec", network.name(), "/usr/bin/storescp", "-aet", "HOSTPACS", "--promiscuous", "-od",
                  (dir / "received").string(), "-uf", "11113"},
                 (dir / "storescp.log").string());

  const std::string container = "evax-node-test-" + std::to_string(::getpid());
  podman("rm -f -v " + container);
  struct Removed {
    std::string container;
    ~Removed() { ContainerImage::podman("rm -f -v " + container); }
  } removed{container};
  const CommandResult started = podman("run -d --name " + container + " --label evax-node-test=" + image_ +
                                       " --network ns:/run/netns/" + network.name() + " -v " + (dir / "evax-node.json").string() +
                                       ":/etc/evax-node/evax-node.json:ro " + image_);
  ASSERT_EQ(started.status, 0) << started.output;

  // Healthy by the image's own check (podman runs it on demand; its timer needs systemd).
  CommandResult health;
  for (auto until = std::chrono::steady_clock::now() + 180s; std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(1s)) {
    health = podman("healthcheck run " + container);
    if (health.status == 0) break;
  }
  ASSERT_EQ(health.status, 0) << health.output << podman("logs " + container).output;
  const CommandResult status = podman("inspect --format '{{.State.Health.Status}}' " + container);
  EXPECT_EQ(trimmed(status.output), "healthy") << status.output;

  const CommandResult sent = run_command(network.exec("storescu -v -aec EVAX 127.0.0.1 11112 " + kExample));
  ASSERT_NE(sent.output.find("Received Store Response (Success)"), std::string::npos) << sent.output;

  // The default result set (SR, SC, SEG, Parametric Map, KOS) arrives at the storescp, in the
  // example's study.
  const auto received = [&] { return std::distance(fs::directory_iterator(dir / "received"), fs::directory_iterator()); };
  for (auto until = std::chrono::steady_clock::now() + 300s; std::chrono::steady_clock::now() < until && received() < static_cast<long>(kResultClasses.size());)
    std::this_thread::sleep_for(1s);
  std::this_thread::sleep_for(2s);  // anything more than the five would arrive now
  std::map<std::string, int> arrived;
  for (const auto& file : fs::directory_iterator(dir / "received")) ++arrived[element(file.path(), "SOPClassUID")];
  std::map<std::string, int> expected;
  for (const auto& [uid, name] : kResultClasses) expected[uid] = 1;
  EXPECT_EQ(arrived, expected) << podman("logs " + container).output << read_text(dir / "storescp.log");
  for (const auto& file : fs::directory_iterator(dir / "received"))
    EXPECT_EQ(element(file.path(), "StudyInstanceUID"), element(kExample, "StudyInstanceUID")) << file.path();

  // podman stop sends the image's STOPSIGNAL; the node finishes its work and exits 0, well
  // before podman's 30 s would turn to SIGKILL (137).
  const CommandResult stopped = podman("stop -t 30 " + container, 60s);
  EXPECT_EQ(stopped.status, 0) << stopped.output;
  const CommandResult exit_code = podman("inspect --format '{{.State.ExitCode}}' " + container);
  EXPECT_EQ(trimmed(exit_code.output), "0");
  const std::string log = podman("logs " + container).output;
  EXPECT_NE(log.find("stopping on a signal signal=15"), std::string::npos) << log;
  EXPECT_NE(log.find("node stopped cleanly"), std::string::npos) << log;

  storescp.signal(SIGKILL);
  storescp.wait(10s);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace evax::testing
