// The .deb: what it holds and declares, that the unpacked binary runs and accepts the installed
// configuration, and that the systemd unit is valid and hardened.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "process.h"

namespace evax::testing {
namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class DebPackage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char pattern[] = "/tmp/evax-deb-test-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    const auto built = run_command("cd " + std::string(EVAX_BUILD_DIR) + " && cpack -G DEB -B " + dir_.string() + " 2>&1",
                                   std::chrono::seconds(300));
    build_output_ = built.output;
    deb_ = dir_ / ("evax-node_" + std::string(EVAX_VERSION) + "_amd64.deb");
    if (built.status != 0 || !fs::exists(deb_)) return;
    run_command("dpkg-deb -x " + deb_.string() + " " + (dir_ / "root").string());
    run_command("dpkg-deb -e " + deb_.string() + " " + (dir_ / "control").string());
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  void SetUp() override { ASSERT_TRUE(fs::exists(deb_)) << build_output_; }

  static fs::path root() { return dir_ / "root"; }

  static inline fs::path dir_;
  static inline fs::path deb_;
  static inline std::string build_output_;
};

TEST_F(DebPackage, HoldsTheBinaryConfigUnitDocsAndDataDirectory) {
  const std::string listing = run_command("dpkg-deb -c " + deb_.string()).output;
  for (const char* path : {"./usr/bin/evax-node", "./etc/evax-node/evax-node.json", "./lib/systemd/system/evax-node.service",
                           "./usr/share/doc/evax-node/README.md", "./usr/share/doc/evax-node/results.md", "./var/lib/evax-node/"})
    EXPECT_NE(listing.find(path), std::string::npos) << path << "\n" << listing;
  EXPECT_NE(listing.find("-rwxr-xr-x root/root"), std::string::npos);  // the binary is executable
  EXPECT_EQ(listing.find("/tmp/"), std::string::npos) << "a build path leaked into the package";
}

TEST_F(DebPackage, DeclaresItsDebianDependenciesAndConfigFile) {
  const std::string info = run_command("dpkg-deb -I " + deb_.string()).output;
  EXPECT_NE(info.find("Package: evax-node"), std::string::npos) << info;
  EXPECT_NE(info.find("Version: " + std::string(EVAX_VERSION)), std::string::npos) << info;
  for (const char* dependency : {"libtorch1.13", "libdcmtk17", "libopenblas0-pthread", "libsqlite3-0", "libpocofoundation80",
                                 "libopencv-imgproc406", "adduser"})
    EXPECT_NE(info.find(dependency), std::string::npos) << dependency << "\n" << info;
  EXPECT_EQ(read_text(dir_ / "control" / "conffiles"), "/etc/evax-node/evax-node.json\n");
  for (const char* script : {"postinst", "prerm", "postrm"}) {
    const fs::path path = dir_ / "control" / script;
    ASSERT_TRUE(fs::exists(path)) << script;
    EXPECT_NE(fs::status(path).permissions() & fs::perms::owner_exec, fs::perms::none) << script;
    EXPECT_EQ(run_command("sh -n " + path.string() + " 2>&1").status, 0) << script;  // parses
  }
  // The service user is created, and purging never deletes received data.
  EXPECT_NE(read_text(dir_ / "control" / "postinst").find("adduser --system"), std::string::npos);
  EXPECT_EQ(read_text(dir_ / "control" / "postrm").find("rm -rf /var/lib"), std::string::npos);
}

TEST_F(DebPackage, TheUnpackedBinaryRunsAndAcceptsTheInstalledConfig) {
  const auto version = run_command((root() / "usr/bin/evax-node").string() + " --version 2>&1");
  EXPECT_EQ(version.status, 0) << version.output;
  EXPECT_NE(version.output.find("evax-node " + std::string(EVAX_VERSION)), std::string::npos) << version.output;
  const auto checked = run_command((root() / "usr/bin/evax-node").string() + " check-config " +
                                   (root() / "etc/evax-node/evax-node.json").string() + " 2>&1");
  EXPECT_EQ(checked.status, 0) << checked.output;
  EXPECT_NE(checked.output.find("valid"), std::string::npos) << checked.output;
  EXPECT_NE(checked.output.find("data in /var/lib/evax-node"), std::string::npos) << checked.output;
}

TEST_F(DebPackage, TheSystemdUnitIsValidAndHardened) {
  const std::string unit = read_text(root() / "lib/systemd/system/evax-node.service");
  for (const char* line : {"User=evax-node", "NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/evax-node",
                           "PrivateTmp=yes", "ProtectHome=yes", "CapabilityBoundingSet=\n", "KillSignal=SIGTERM",
                           "ExecStart=/usr/bin/evax-node serve --config /etc/evax-node/evax-node.json"})
    EXPECT_NE(unit.find(line), std::string::npos) << line;
  // PrivateDevices would hide /dev/nvidia* from a CUDA LibTorch.
  EXPECT_EQ(unit.find("\nPrivateDevices="), std::string::npos);
  if (run_command("command -v systemd-analyze").status != 0) GTEST_SKIP() << "systemd-analyze is not installed";
  // Verified with the commands pointing at the unpacked binary (it is not installed here).
  const fs::path copy = dir_ / "unit" / "evax-node.service";
  fs::create_directories(copy.parent_path());
  const std::string installed = "/usr/bin/evax-node", unpacked = (root() / "usr/bin/evax-node").string();
  std::string rewritten = unit;
  for (std::size_t at = 0; (at = rewritten.find(installed, at)) != std::string::npos; at += unpacked.size())
    rewritten.replace(at, installed.size(), unpacked);
  std::ofstream(copy) << rewritten;
  const auto verified = run_command("systemd-analyze verify " + copy.string() + " 2>&1");
  EXPECT_EQ(verified.status, 0) << verified.output;
  EXPECT_EQ(verified.output, "") << "systemd-analyze warned";
}

}  // namespace
}  // namespace evax::testing
