// The .deb of this build's flavour (evax-node, or evax-node-cuda with its bundled CUDA
// LibTorch): what it holds and declares, that the unpacked binary runs from a scratch root in a
// clean environment (the bundled LibTorch, nothing from the build), accepts the installed
// configuration and classifies the example image, and that the systemd unit is valid and hardened.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "process.h"

namespace evax::testing {
namespace {

namespace fs = std::filesystem;

constexpr bool kCudaPackage = EVAX_TEST_LIBTORCH_CUDA_MAJOR != 0;

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The package was built and unpacked once by the CTest fixture `deb_package` (package_and_unpack.sh).
class DebPackage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = EVAX_PACKAGE_TEST_DIR;
    deb_ = dir_ / (std::string(EVAX_PACKAGE_NAME) + "_" + EVAX_VERSION + "_amd64.deb");
    build_output_ = read_text(dir_ / "cpack.log");
  }

  void SetUp() override { ASSERT_TRUE(fs::exists(deb_) && fs::exists(root())) << build_output_; }

  static fs::path root() { return dir_ / "root"; }
  // The unpacked binary with nothing of this machine's environment (no LD_LIBRARY_PATH).
  static std::string unpacked_node(const std::string& arguments) {
    return "env -i PATH=/usr/bin:/bin " + (root() / "usr/bin/evax-node").string() + " " + arguments;
  }

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
  EXPECT_NE(info.find("Package: " EVAX_PACKAGE_NAME "\n"), std::string::npos) << info;
  EXPECT_NE(info.find("Version: " + std::string(EVAX_VERSION)), std::string::npos) << info;
  for (const char* dependency : {"libdcmtk17", "libsqlite3-0", "libpocofoundation80", "libopencv-imgproc406", "adduser"})
    EXPECT_NE(info.find(dependency), std::string::npos) << dependency << "\n" << info;
  if (kCudaPackage) {
    // LibTorch is inside; the CPU package's place is taken, never shared.
    EXPECT_EQ(info.find("libtorch"), std::string::npos) << info;
    EXPECT_EQ(info.find("libopenblas"), std::string::npos) << info;
    for (const char* field : {"Conflicts: evax-node\n", "Replaces: evax-node\n", "Provides: evax-node\n"})
      EXPECT_NE(info.find(field), std::string::npos) << field << info;
  } else {
    for (const char* dependency : {"libtorch1.13", "libopenblas0-pthread"})
      EXPECT_NE(info.find(dependency), std::string::npos) << dependency << "\n" << info;
  }
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
  const auto version = run_command(unpacked_node("--version 2>&1"));
  EXPECT_EQ(version.status, 0) << version.output;
  EXPECT_NE(version.output.find("evax-node " + std::string(EVAX_VERSION) + " (libtorch " EVAX_TEST_LIBTORCH_VERSION),
            std::string::npos) << version.output;
  EXPECT_NE(version.output.find(kCudaPackage ? ", cuda " : ", cpu only"), std::string::npos) << version.output;
  const auto checked = run_command(unpacked_node("check-config " + (root() / "etc/evax-node/evax-node.json").string() + " 2>&1"));
  EXPECT_EQ(checked.status, 0) << checked.output;
  EXPECT_NE(checked.output.find("valid"), std::string::npos) << checked.output;
  EXPECT_NE(checked.output.find("data in /var/lib/evax-node"), std::string::npos) << checked.output;
}

// The example image classified by the unpacked binary on the CPU gives what the build's own
// binary gives: the packaged LibTorch is complete and is the one in use.
TEST_F(DebPackage, TheUnpackedBinaryClassifiesTheExampleImageOnTheCpu) {
  const std::string arguments = "infer --checkpoint demo:tiny --device cpu " EVAX_SOURCE_DIR "/examples/synthetic_chest_pa.dcm 2>/dev/null";
  const auto unpacked = run_command(unpacked_node(arguments), std::chrono::seconds(120));
  ASSERT_EQ(unpacked.status, 0) << unpacked.output;
  const auto built = run_command(std::string(EVAX_NODE_BINARY) + " " + arguments, std::chrono::seconds(120));
  ASSERT_EQ(built.status, 0) << built.output;
  const nlohmann::json ours = nlohmann::json::parse(unpacked.output), reference = nlohmann::json::parse(built.output);
  EXPECT_EQ(ours["model"]["device"], "cpu");
  const auto& findings = ours["results"][0]["findings"];
  ASSERT_EQ(findings.size(), 14u) << unpacked.output;
  for (std::size_t i = 0; i < findings.size(); ++i) {
    EXPECT_EQ(findings[i]["label"], reference["results"][0]["findings"][i]["label"]);
    EXPECT_NEAR(findings[i]["probability"].get<double>(), reference["results"][0]["findings"][i]["probability"].get<double>(), 1e-6);
  }
}

// evax-node-cuda: every LibTorch and CUDA library resolves inside the unpacked root (nothing
// from the build's venv, the CUDA toolkit or Debian's LibTorch), Python's parts stay out, and
// the size stays what a GPU LibTorch costs.
TEST_F(DebPackage, TheCudaPackageCarriesItsLibTorchAndNothingElse) {
  if (!kCudaPackage) GTEST_SKIP() << "the Debian flavour's package depends on Debian's LibTorch";
  const std::string runpath = run_command("readelf -d " + (root() / "usr/bin/evax-node").string()).output;
  EXPECT_NE(runpath.find("[$ORIGIN/../../opt/evax-node-cuda/torch/lib:$ORIGIN/../../opt/evax-node-cuda/nvidia/cu"), std::string::npos)
      << runpath;
  const std::string libraries = run_command("env -i PATH=/usr/bin:/bin ldd " + (root() / "usr/bin/evax-node").string()).output;
  EXPECT_EQ(libraries.find("not found"), std::string::npos) << libraries;
  std::istringstream lines(libraries);
  int bundled = 0;
  for (std::string line; std::getline(lines, line);) {
    const std::string name = line.substr(line.find_first_not_of(" \t"));
    bool torch_or_cuda = false;
    for (const char* prefix : {"libtorch", "libc10", "libcudart", "libcudnn", "libcublas", "libcufft", "libcufile", "libcupti",
                               "libcusparse", "libcusolver", "libnvrtc", "libnvJitLink", "libnvshmem", "libnccl", "libgomp"})
      torch_or_cuda = torch_or_cuda || name.rfind(prefix, 0) == 0;
    if (!torch_or_cuda) continue;
    EXPECT_NE(line.find(root().string() + "/usr/bin/../../opt/evax-node-cuda/"), std::string::npos) << line;
    ++bundled;
  }
  EXPECT_GE(bundled, 15) << libraries;  // LibTorch's, cuBLAS, cuDNN, NCCL, NVRTC, ...
  const std::string listing = run_command("dpkg-deb -c " + deb_.string()).output;
  for (const char* needed : {"/opt/evax-node-cuda/torch/lib/libtorch_cuda.so", "/opt/evax-node-cuda/nvidia/cudnn/lib/libcudnn_graph.so.9",
                             "/opt/evax-node-cuda/nvidia/cudnn/lib/libcudnn_engines_precompiled.so.9", "/opt/evax-node-cuda/torch/lib/libtorch_cuda_linalg.so"})
    EXPECT_NE(listing.find(needed), std::string::npos) << needed;  // loaded by name at run time, so no ldd shows them
  for (const char* absent : {"libtorch_python", "/include/", ".a\n", "libcufftw", "libnvblas"})
    EXPECT_EQ(listing.find(absent), std::string::npos) << absent;
  const auto size = fs::file_size(deb_);
  std::printf("%s: %llu bytes (%.2f GB)\n", deb_.filename().c_str(), static_cast<unsigned long long>(size), size / 1e9);
  EXPECT_LT(size, 3'000'000'000ull) << "the package grew past what its LibTorch and CUDA libraries need";
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
  char scratch[] = "/tmp/evax-unit-XXXXXX";
  const fs::path copy = fs::path(::mkdtemp(scratch)) / "evax-node.service";
  fs::create_directories(copy.parent_path());
  const std::string installed = "/usr/bin/evax-node", unpacked = (root() / "usr/bin/evax-node").string();
  std::string rewritten = unit;
  for (std::size_t at = 0; (at = rewritten.find(installed, at)) != std::string::npos; at += unpacked.size())
    rewritten.replace(at, installed.size(), unpacked);
  std::ofstream(copy) << rewritten;
  const auto verified = run_command("systemd-analyze verify " + copy.string() + " 2>&1");
  EXPECT_EQ(verified.status, 0) << verified.output;
  EXPECT_EQ(verified.output, "") << "systemd-analyze warned";
  fs::remove_all(copy.parent_path());
}

}  // namespace
}  // namespace evax::testing
