// The `evax-node` command line as a user runs it: the real binary, real files, JSON parsed.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>

#include "synthetic_dicom.h"

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

struct CommandResult {
  int status = -1;
  std::string out, err;
};

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("evax_cli_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  CommandResult run(const std::string& arguments) {
    const std::string err_path = (dir_ / "stderr.txt").string();
    const std::string command = std::string(EVAX_NODE_BINARY) + " " + arguments + " 2>" + err_path;
    CommandResult result;
    FILE* pipe = ::popen(command.c_str(), "r");
    std::array<char, 4096> buffer{};
    for (std::size_t n; (n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0;) result.out.append(buffer.data(), n);
    const int raw = ::pclose(pipe);
    result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    std::ifstream err(err_path);
    result.err.assign(std::istreambuf_iterator<char>(err), {});
    return result;
  }

  static std::string run_command_output(const std::string& command) {
    std::string out;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    std::array<char, 4096> buffer{};
    for (std::size_t n; (n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0;) out.append(buffer.data(), n);
    ::pclose(pipe);
    return out;
  }

  // A deterministic 8-bit grey test picture (a smooth pattern with some structure).
  static cv::Mat pattern(int width, int height) {
    cv::Mat image(height, width, CV_8UC1);
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x)
        image.at<std::uint8_t>(y, x) = static_cast<std::uint8_t>(128 + 100 * std::sin(x * 0.05) * std::cos(y * 0.03));
    return image;
  }
  std::string write_png(const std::string& name, const cv::Mat& image) {
    const std::string path = (dir_ / name).string();
    cv::imwrite(path, image);
    return path;
  }

  fs::path dir_;
};

TEST_F(Cli, InferOnAPngPrintsTheContractJsonWithDemoWarning) {
  const std::string png = write_png("chest.png", pattern(300, 360));
  const CommandResult r = run("infer --checkpoint demo:tiny --device cpu " + png);
  ASSERT_EQ(r.status, 0) << r.err;
  const json doc = json::parse(r.out);
  const json& model = doc["model"];
  EXPECT_EQ(model["name"], "EVA-X-Ti");
  EXPECT_EQ(model["size"], "tiny");
  EXPECT_EQ(model["task"], "cxr14");
  EXPECT_EQ(model["checkpoint"], "demo:tiny");
  EXPECT_TRUE(model["sha256"].is_null());
  EXPECT_EQ(model["input_size"], 224);
  EXPECT_EQ(model["demo"], true);
  EXPECT_NE(model["warning"].get<std::string>().find("UNTRAINED"), std::string::npos);
  EXPECT_NE(r.err.find("UNTRAINED"), std::string::npos);

  ASSERT_EQ(doc["results"].size(), 1u);
  const json& result = doc["results"][0];
  EXPECT_EQ(result["file"], png);
  ASSERT_EQ(result["findings"].size(), 14u);
  EXPECT_EQ(result["findings"][0]["label"], "Atelectasis");
  EXPECT_EQ(result["findings"][13]["label"], "Hernia");
  for (const auto& finding : result["findings"]) {
    EXPECT_GT(finding["probability"].get<double>(), 0.0);
    EXPECT_LT(finding["probability"].get<double>(), 1.0);
    EXPECT_FALSE(finding.contains("cam"));
  }
}

TEST_F(Cli, DicomAndPngOfTheSamePixelsGiveTheSameProbabilities) {
  const cv::Mat image = pattern(200, 240);
  const std::string png = write_png("same.png", image);
  evax::testing::SyntheticImage dicom{.width = 200, .height = 240, .bits_stored = 8};
  dicom.values.assign(image.begin<std::uint8_t>(), image.end<std::uint8_t>());
  const std::string dcm = (dir_ / "same.dcm").string();
  evax::testing::write_synthetic_dicom(dcm, dicom);

  const CommandResult r = run("infer --checkpoint demo:tiny --device cpu " + png + " " + dcm);
  ASSERT_EQ(r.status, 0) << r.err;
  const json doc = json::parse(r.out);
  ASSERT_EQ(doc["results"].size(), 2u);
  EXPECT_EQ(doc["results"][0]["format"], "png");
  EXPECT_EQ(doc["results"][1]["format"], "dicom");
  EXPECT_EQ(doc["results"][1]["grey_mapping"], "as stored");
  for (int c = 0; c < 14; ++c)
    EXPECT_DOUBLE_EQ(doc["results"][0]["findings"][c]["probability"].get<double>(),
                     doc["results"][1]["findings"][c]["probability"].get<double>());
}

TEST_F(Cli, CamAddsMapsAndWritesOverlayImages) {
  const std::string png = write_png("cam.png", pattern(256, 300));
  const std::string out_dir = (dir_ / "maps").string();
  const CommandResult r = run("infer --checkpoint demo:tiny --device cpu --cam-classes Cardiomegaly,7 --cam-dir " + out_dir + " " + png);
  ASSERT_EQ(r.status, 0) << r.err;
  const json findings = json::parse(r.out)["results"][0]["findings"];
  for (int c : {1, 7}) {
    const json& cam = findings[c]["cam"];
    EXPECT_EQ(cam["grid_side"], 14);
    ASSERT_EQ(cam["map"].size(), 14u);
    EXPECT_EQ(cam["map"][0].size(), 14u);
    const cv::Mat overlay = cv::imread(cam["png"].get<std::string>(), cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(overlay.empty());
    EXPECT_EQ(overlay.cols, 256);  // the source resolution
    EXPECT_EQ(overlay.rows, 300);
    EXPECT_EQ(overlay.channels(), 3);
  }
  EXPECT_FALSE(findings[0].contains("cam"));
}

TEST_F(Cli, CheckpointFileIsIdentifiedBySha256) {
  const CommandResult r = run("infer --checkpoint " + std::string(EVAX_TEST_DATA_DIR) + "/evax/minibase_ft.pth --device cpu " +
                    write_png("x.png", pattern(64, 64)));
  ASSERT_EQ(r.status, 0) << r.err;
  const json model = json::parse(r.out)["model"];
  EXPECT_EQ(model["sha256"], "534e159dd1b7b524fc3a582bca1dd7095aeb1b7582625487a1b85ba12c0bcdce");
  EXPECT_EQ(model["demo"], false);
  EXPECT_FALSE(model.contains("warning"));
  EXPECT_EQ(model["size"], "custom");
}

TEST_F(Cli, UnreadableImagesAreReportedWhileTheOthersAreClassified) {
  const std::string good = write_png("good.png", pattern(64, 64));
  cv::Mat colour(32, 32, CV_8UC3, cv::Scalar(10, 20, 30));
  const std::string rgb = write_png("colour.png", colour);
  const std::string missing = (dir_ / "missing.dcm").string();
  const CommandResult r = run("infer --checkpoint demo:tiny --device cpu " + rgb + " " + good + " " + missing);
  EXPECT_EQ(r.status, 3);
  const json results = json::parse(r.out)["results"];
  ASSERT_EQ(results.size(), 3u);
  EXPECT_NE(results[0]["error"].get<std::string>().find("3 channels"), std::string::npos);
  EXPECT_EQ(results[1]["findings"].size(), 14u);
  EXPECT_NE(results[2]["error"].get<std::string>().find("cannot open"), std::string::npos);
  EXPECT_NE(r.err.find("colour.png"), std::string::npos);
}

TEST_F(Cli, HostileCheckpointIsRefusedWithTheGlobalNamed) {
  fs::remove("/tmp/evax_fixture_pickle_executed");
  const CommandResult r = run("infer --checkpoint " + std::string(EVAX_TEST_DATA_DIR) + "/evax/evil_reduce.pth " +
                    write_png("x.png", pattern(32, 32)));
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(r.err.find("posix.system"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists("/tmp/evax_fixture_pickle_executed"));
}

TEST_F(Cli, UsageErrorsExitWithTwoAndSayWhatIsWrong) {
  EXPECT_EQ(run("infer --checkpoint demo:tiny").status, 2);  // no image
  const CommandResult bad_flag = run("infer --checkpoint demo:tiny --colour x.png");
  EXPECT_EQ(bad_flag.status, 2);
  EXPECT_NE(bad_flag.err.find("unknown option --colour"), std::string::npos);
  const CommandResult bad_task = run("infer --checkpoint demo:tiny --task lungs x.png");
  EXPECT_EQ(bad_task.status, 2);
  EXPECT_NE(bad_task.err.find("cxr14|chexpert"), std::string::npos);
  const CommandResult bad_cam = run("infer --checkpoint demo:tiny --cam-classes Lungs " + write_png("x.png", pattern(32, 32)));
  EXPECT_EQ(bad_cam.status, 2);
  EXPECT_NE(bad_cam.err.find("'Lungs'"), std::string::npos);
  EXPECT_EQ(run("frobnicate").status, 2);
}

TEST_F(Cli, MissingCheckpointExitsWithOne) {
  const CommandResult r = run("infer --checkpoint /nonexistent.pth " + write_png("x.png", pattern(32, 32)));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("cannot open checkpoint file /nonexistent.pth"), std::string::npos) << r.err;
}

// The build contract other checks rely on: the LibTorch version and whether it has CUDA.
TEST_F(Cli, VersionNamesLibTorchItsCudaAndDcmtk) {
  const CommandResult r = run("--version");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out.rfind("evax-node " EVAX_VERSION " (libtorch " EVAX_TEST_LIBTORCH_VERSION ", ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("; DCMTK 3."), std::string::npos) << r.out;
  if (EVAX_TEST_LIBTORCH_CUDA_MAJOR == 0) {
    EXPECT_NE(r.out.find(", cpu only; "), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("cuda"), std::string::npos) << r.out;
  } else {
    // LibTorch's CUDA has the toolkit's major version; the second line says whether a GPU is usable.
    EXPECT_NE(r.out.find(", cuda " + std::to_string(EVAX_TEST_LIBTORCH_CUDA_MAJOR) + "."), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\ncuda: "), std::string::npos) << r.out;
  }
}

// The binary runs on the LibTorch it was built against: the CUDA flavour's libtorch_cuda and
// CUDA runtime from the pinned wheel (never the toolkit's or Debian's), Debian's flavour on
// Debian's CPU-only LibTorch.
TEST_F(Cli, TheBinaryLoadsTheLibTorchOfItsFlavour) {
  const std::string libraries = run_command_output("ldd " EVAX_NODE_BINARY);
  const std::string lib_dir = EVAX_TEST_LIBTORCH_LIB_DIR;
  if (EVAX_TEST_LIBTORCH_CUDA_MAJOR == 0) {
    // Debian's versioned libraries, found through the loader's cache (/lib is /usr/lib on Debian 12).
    EXPECT_NE(libraries.find("libtorch_cpu.so." EVAX_TEST_LIBTORCH_MAJOR_MINOR " => /lib/x86_64-linux-gnu/"), std::string::npos)
        << libraries;
    EXPECT_EQ(libraries.find("libtorch_cuda"), std::string::npos) << libraries;
    EXPECT_EQ(libraries.find("libcudart"), std::string::npos) << libraries;
  } else {
    std::printf("%s", libraries.c_str());  // the linkage, in the test log
    EXPECT_NE(libraries.find("libtorch_cpu.so => " + lib_dir + "/libtorch_cpu.so"), std::string::npos) << libraries;
    EXPECT_NE(libraries.find("libtorch_cuda.so => " + lib_dir + "/libtorch_cuda.so"), std::string::npos) << libraries;
    const auto cudart = libraries.find("libcudart.so.");
    ASSERT_NE(cudart, std::string::npos) << libraries;
    const std::string cudart_line = libraries.substr(cudart, libraries.find('\n', cudart) - cudart);
    EXPECT_NE(cudart_line.find("/nvidia/"), std::string::npos) << cudart_line;  // the wheel's, not /usr/local/cuda's
    EXPECT_EQ(libraries.find("/usr/local/cuda"), std::string::npos) << libraries;
    EXPECT_EQ(libraries.find("/usr/lib/x86_64-linux-gnu/libtorch"), std::string::npos) << libraries;
  }
}

// --device cuda where CUDA cannot be used: exit 1 and the cause, never a silent CPU run.
TEST_F(Cli, InferOnCudaWithoutAUsableGpuFailsNamingTheCause) {
  if (run("--version").out.find("device(s) usable") != std::string::npos) GTEST_SKIP() << "this machine has a usable GPU";
  const CommandResult r = run("infer --checkpoint demo:tiny --device cuda " + write_png("x.png", pattern(64, 64)));
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("device cuda was asked for, but CUDA cannot be used: "), std::string::npos) << r.err;
  const std::string cause = EVAX_TEST_LIBTORCH_CUDA_MAJOR == 0 ? "is CPU-only" : "NVIDIA driver";
  EXPECT_NE(r.err.find(cause), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("\"findings\""), std::string::npos) << r.out;
}

TEST_F(Cli, BenchmarkPrintsJsonTimings) {
  const CommandResult r = run("benchmark --checkpoint demo:tiny --batch 2 --iterations 2 --warmup 1");
  ASSERT_EQ(r.status, 0) << r.err;
  const json report = json::parse(r.out);
  EXPECT_EQ(report["model"], "EVA-X-Ti");
  EXPECT_EQ(report["batch"], 2);
  EXPECT_EQ(report["device"], "cpu");
  EXPECT_GT(report["median_ms"].get<double>(), 0.0);
  EXPECT_GT(report["images_per_second"].get<double>(), 0.0);
  EXPECT_EQ(run("benchmark --batch zero").status, 2);
}

}  // namespace

namespace {

TEST_F(Cli, CheckConfigExplainsEachErrorByKeyPathAndAcceptsTheShippedExample) {
  const CommandResult good = run("check-config " + std::string(EVAX_SOURCE_DIR) + "/packaging/evax-node.example.json");
  EXPECT_EQ(good.status, 0) << good.out << good.err;
  EXPECT_NE(good.out.find("valid"), std::string::npos);

  const std::string bad = (dir_ / "bad.json").string();
  std::ofstream(bad) << R"({"dicom": {"port": 0, "ae_titel": "X"},
                            "model": {"classifier": {"checkpoint": "demo:huge", "task": "lungs"}}})";
  const CommandResult result = run("check-config " + bad);
  EXPECT_EQ(result.status, 1);
  for (const char* line : {"dicom.port: must be an integer from 1 to 65535", "dicom.ae_titel: unknown key"})
    EXPECT_NE(result.out.find(line), std::string::npos) << result.out;

  const std::string model_errors = (dir_ / "model.json").string();
  std::ofstream(model_errors) << R"({"model": {"classifier": {"checkpoint": "demo:huge", "task": "lungs"}}})";
  const CommandResult model = run("check-config " + model_errors);
  EXPECT_EQ(model.status, 1);
  EXPECT_NE(model.out.find("model.classifier.checkpoint: demo weights come as"), std::string::npos) << model.out;
  EXPECT_NE(model.out.find("model.classifier.task: must be one of"), std::string::npos) << model.out;

  const CommandResult serve = run("serve --config " + bad);
  EXPECT_EQ(serve.status, 2);
  EXPECT_NE(serve.err.find("dicom.port"), std::string::npos);

  // What only the running parts can check: labels of the heads, files of a destination's TLS.
  const std::string beyond = (dir_ / "beyond.json").string();
  std::ofstream(beyond) << R"({"reporting": {"operating_points": {"Effusion": 0.3, "Lung cancer": 0.4}, "outputs": ["sr", "gsps"]},
                               "destinations": [{"name": "pacs", "ae_title": "PACS", "host": "10.1.2.3", "port": 104,
                                                 "tls": {"trusted_certificates": ["/nonexistent/ca.pem"]}}]})";
  const CommandResult checked = run("check-config " + beyond);
  EXPECT_EQ(checked.status, 1);
  EXPECT_NE(checked.out.find("reporting.operating_points.Lung cancer: is not a label of any supported head"), std::string::npos)
      << checked.out;
  EXPECT_EQ(checked.out.find("operating_points.Effusion"), std::string::npos) << checked.out;
  EXPECT_NE(checked.out.find("reporting.outputs: \"gsps\" is not an output kind of this node (seg, sr, sc, pmap, kos)"), std::string::npos)
      << checked.out;
  EXPECT_NE(checked.out.find("destinations[0].tls.trusted_certificates[0]: no such file: /nonexistent/ca.pem"), std::string::npos) << checked.out;
}

}  // namespace

namespace {

// monitoring.baseline_file is read by check-config and at start: a missing file and a bad cell
// are each named under the key, with the line and column; a good one passes.
TEST_F(Cli, CheckConfigReadsTheDriftBaselineFile) {
  const auto config_with = [&](const std::string& name, const std::string& baseline) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << R"({"monitoring": {"baseline_file": ")" << baseline << R"("}})";
    return path;
  };
  std::ofstream(dir_ / "good.csv") << "file,Effusion,Mass\na.png,0.1,0.9\n";
  std::ofstream(dir_ / "bad.csv") << "file,Effusion,Mass\na.png,0.1,0.9\nb.png,high,0.2\n";
  const CommandResult good = run("check-config " + config_with("good.json", (dir_ / "good.csv").string()));
  EXPECT_EQ(good.status, 0) << good.out << good.err;
  const CommandResult bad = run("check-config " + config_with("bad.json", (dir_ / "bad.csv").string()));
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.out.find("monitoring.baseline_file: " + (dir_ / "bad.csv").string() +
                         ", line 3, column 'Effusion': must be a probability from 0 to 1, not 'high'"),
            std::string::npos)
      << bad.out;
  const CommandResult missing = run("check-config " + config_with("missing.json", "/nonexistent/baseline.csv"));
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.out.find("monitoring.baseline_file: cannot open the baseline file /nonexistent/baseline.csv"), std::string::npos)
      << missing.out;
}

// Every file a config names is read by check-config and at start, and each problem is named by
// its key: missing files, files that are not what their key says, a key of another certificate,
// an audit log in a directory that does not exist. Nothing of OpenSSL's leaks to the terminal.
TEST_F(Cli, CheckConfigReadsEveryFileTheConfigNamesAndNamesEachProblemByItsKey) {
  const fs::path pki = dir_ / "pki";
  fs::create_directories(pki);
  for (const char* name : {"node", "other"}) {
    const std::string out = run_command_output("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=" +
                                               std::string(name) + " -keyout " + (pki / (std::string(name) + ".key")).string() +
                                               " -out " + (pki / (std::string(name) + ".pem")).string());
    ASSERT_TRUE(fs::exists(pki / (std::string(name) + ".pem"))) << out;
  }
  std::ofstream(pki / "notes.txt") << "not a certificate\n";
  const std::string node_pem = (pki / "node.pem").string(), node_key = (pki / "node.key").string();
  const std::string other_key = (pki / "other.key").string(), notes = (pki / "notes.txt").string();

  auto write_config = [&](const std::string& name, const std::string& dicom_tls, const std::string& http_tls,
                          const std::string& destination_tls, const std::string& audit) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << R"({"dicom": {"tls": )" << dicom_tls << R"(}, "http": {"tls": )" << http_tls
                        << R"(}, "logging": {"audit_file": ")" << audit << R"("},
      "destinations": [{"name": "pacs", "ae_title": "PACS", "host": "10.1.2.3", "port": 104, "tls": )"
                        << destination_tls << "}]}";
    return path;
  };

  const std::string missing = write_config(
      "missing.json",
      R"({"certificate": "/nonexistent/c.pem", "private_key": "/nonexistent/k.pem", "trusted_certificates": ["/nonexistent/t.pem"]})",
      R"({"certificate": "/nonexistent/h.pem", "key": "/nonexistent/h.key"})",
      R"({"certificate": "/nonexistent/dc.pem", "private_key": "/nonexistent/dk.pem", "trusted_certificates": ["/nonexistent/ca.pem"]})",
      "/nonexistent/dir/audit.log");
  const CommandResult absent = run("check-config " + missing);
  EXPECT_EQ(absent.status, 1);
  for (const char* line : {"dicom.tls.certificate: no such file: /nonexistent/c.pem", "dicom.tls.private_key: no such file: /nonexistent/k.pem",
                           "dicom.tls.trusted_certificates[0]: no such file: /nonexistent/t.pem",
                           "http.tls.certificate: no such file: /nonexistent/h.pem", "http.tls.key: no such file: /nonexistent/h.key",
                           "destinations[0].tls.certificate: no such file: /nonexistent/dc.pem",
                           "destinations[0].tls.private_key: no such file: /nonexistent/dk.pem",
                           "destinations[0].tls.trusted_certificates[0]: no such file: /nonexistent/ca.pem",
                           "logging.audit_file: its directory does not exist: /nonexistent/dir"})
    EXPECT_NE(absent.out.find(line), std::string::npos) << line << "\n" << absent.out;
  for (const std::string& text : {absent.out, absent.err}) {
    EXPECT_EQ(text.find("OpenSSL"), std::string::npos) << text;
    EXPECT_EQ(text.find("unknown error"), std::string::npos) << text;
  }
  EXPECT_EQ(absent.out.find("valid;"), std::string::npos);

  // serve refuses the same config with the same words, before it opens anything.
  const CommandResult serve = run("serve --config " + missing);
  EXPECT_EQ(serve.status, 2);
  EXPECT_NE(serve.err.find("dicom.tls.certificate: no such file: /nonexistent/c.pem"), std::string::npos) << serve.err;
  EXPECT_NE(serve.err.find("logging.audit_file: its directory does not exist"), std::string::npos) << serve.err;

  const std::string wrong = write_config(
      "wrong.json",
      R"({"certificate": ")" + notes + R"(", "private_key": ")" + node_pem + R"(", "trusted_certificates": [")" + node_key + R"("]})",
      R"({"certificate": ")" + node_pem + R"(", "key": ")" + other_key + R"("})",
      R"({"certificate": ")" + node_pem + R"(", "private_key": ")" + node_key + R"(", "trusted_certificates": [")" + pki.string() + R"("]})",
      pki.string());
  const CommandResult misread = run("check-config " + wrong);
  EXPECT_EQ(misread.status, 1);
  for (const std::string line : {"dicom.tls.certificate: not a PEM certificate file (no BEGIN CERTIFICATE block that parses): " + notes,
                                 "dicom.tls.private_key: not an unencrypted PEM private key: " + node_pem,
                                 "dicom.tls.trusted_certificates[0]: not a PEM certificate file (no BEGIN CERTIFICATE block that parses): " + node_key,
                                 "http.tls.key: does not belong to the certificate " + node_pem,
                                 "destinations[0].tls.trusted_certificates[0]: not a regular file: " + pki.string(),
                                 "logging.audit_file: not a regular file: " + pki.string()})
    EXPECT_NE(misread.out.find(line), std::string::npos) << line << "\n" << misread.out;
  EXPECT_EQ(misread.out.find("destinations[0].tls.private_key"), std::string::npos) << misread.out;
  EXPECT_EQ(misread.err.find("OpenSSL"), std::string::npos) << misread.err;

  const std::string sound = write_config(
      "sound.json",
      R"({"certificate": ")" + node_pem + R"(", "private_key": ")" + node_key + R"(", "trusted_certificates": [")" + node_pem + R"("]})",
      R"({"certificate": ")" + node_pem + R"(", "key": ")" + node_key + R"("})",
      R"({"trusted_certificates": [")" + node_pem + R"("]})", (dir_ / "audit.log").string());
  const CommandResult good = run("check-config " + sound);
  EXPECT_EQ(good.status, 0) << good.out << good.err;
  EXPECT_NE(good.out.find("valid;"), std::string::npos) << good.out;
  EXPECT_FALSE(fs::exists(dir_ / "audit.log")) << "check-config must not create the audit log";
}

}  // namespace

namespace {

// A destination that is the node itself would feed every result back in as a new study.
TEST_F(Cli, CheckConfigRefusesADestinationThatIsTheNodeItself) {
  std::vector<std::string> own_hosts = {"127.0.0.1", "localhost", "::1", "127.0.1.1"};
  // One of the machine's own non-loopback addresses, where it has one.
  std::istringstream addresses(run_command_output("hostname -I"));
  for (std::string address; addresses >> address;)
    if (address.find(':') == std::string::npos) {
      own_hosts.push_back(address);
      break;
    }
  for (const std::string& host : own_hosts) {
    const std::string path = (dir_ / "self.json").string();
    std::ofstream(path) << R"({"dicom": {"port": 11300},
      "destinations": [{"name": "elsewhere", "ae_title": "PACS", "host": ")" << host << R"(", "port": 11301},
                       {"name": "self", "ae_title": "PACS", "host": ")" << host << R"(", "port": 11300}]})";
    const CommandResult checked = run("check-config " + path);
    EXPECT_EQ(checked.status, 1) << host << "\n" << checked.out;
    EXPECT_NE(checked.out.find("destinations[1]: " + host + ":11300 is this node's own DICOM port"), std::string::npos)
        << host << "\n" << checked.out;
    EXPECT_EQ(checked.out.find("destinations[0]"), std::string::npos) << checked.out;
  }
  const std::string elsewhere = (dir_ / "elsewhere.json").string();
  std::ofstream(elsewhere) << R"({"dicom": {"port": 11300},
    "destinations": [{"name": "pacs", "ae_title": "PACS", "host": "192.0.2.10", "port": 11300}]})";
  const CommandResult good = run("check-config " + elsewhere);
  EXPECT_EQ(good.status, 0) << good.out;
}

}  // namespace

// `evax-node segment` on the example chest DICOM: masks as PNGs, lungs with their areas from
// PixelSpacing (0.7 mm), and the demo warning; at mmseg's 0.3 the untrained map is rejected.
TEST_F(Cli, SegmentWritesMasksAndReportsLungsWithAreas) {
  const std::string chest = std::string(EVAX_SOURCE_DIR) + "/examples/synthetic_chest_pa.dcm";
  const std::string out_dir = (dir_ / "masks").string();
  const CommandResult r = run("segment --checkpoint demo --device cpu --threshold 0.93 --out " + out_dir + " " + chest);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("DEMO MODEL - UNTRAINED WEIGHTS"), std::string::npos);
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["model"]["name"], "EVA-X-S UperNet");
  EXPECT_EQ(doc["model"]["demo"], true);
  EXPECT_DOUBLE_EQ(doc["model"]["threshold"].get<double>(), 0.93);
  const auto& result = doc["results"][0];
  EXPECT_EQ(result["width"], 512);
  EXPECT_EQ(result["height"], 608);
  EXPECT_EQ(result["spacing"]["source"], "PixelSpacing");
  ASSERT_EQ(result["lungs"].size(), 2u) << result.dump(2);
  EXPECT_EQ(result["lungs"][0]["laterality"], "right");
  for (const auto& lung : result["lungs"])
    EXPECT_NEAR(lung["area_mm2"].get<double>(), lung["pixels"].get<double>() * 0.49, 1e-6);
  const cv::Mat lungs = cv::imread(result["lungs_png"].get<std::string>(), cv::IMREAD_UNCHANGED);
  const cv::Mat mask = cv::imread(result["mask_png"].get<std::string>(), cv::IMREAD_UNCHANGED);
  ASSERT_FALSE(lungs.empty());
  ASSERT_EQ(lungs.size(), cv::Size(512, 608));
  EXPECT_EQ(cv::countNonZero(lungs == 255), result["lungs"][0]["pixels"].get<int>());  // the right lung
  EXPECT_EQ(cv::countNonZero(lungs == 128), result["lungs"][1]["pixels"].get<int>());
  EXPECT_EQ(cv::countNonZero(mask), result["mask_pixels"].get<int>());
  // The right lung is on the image's left (radiographic convention, said in side_basis).
  const cv::Moments right = cv::moments(lungs == 255, true);
  EXPECT_LT(right.m10 / right.m00, 256);
  EXPECT_EQ(result["side_basis"].get<std::string>().rfind("assumed", 0), 0u);

  const CommandResult rejected = run("segment --checkpoint demo --device cpu " + chest);
  ASSERT_EQ(rejected.status, 0) << rejected.err;
  const auto rejected_doc = nlohmann::json::parse(rejected.out);
  EXPECT_NE(rejected_doc["results"][0]["rejected"].get<std::string>().find("one connected region"), std::string::npos);
  EXPECT_TRUE(rejected_doc["results"][0]["lungs"].empty());
}

TEST_F(Cli, SegmentRefusesBadUsageAndClassifierCheckpoints) {
  const std::string png = write_png("x.png", pattern(64, 64));
  const CommandResult no_checkpoint = run("segment " + png);
  EXPECT_EQ(no_checkpoint.status, 2);
  EXPECT_NE(no_checkpoint.err.find("--checkpoint is required"), std::string::npos);
  const CommandResult bad_threshold = run("segment --checkpoint demo --threshold 2 " + png);
  EXPECT_EQ(bad_threshold.status, 2);
  EXPECT_NE(bad_threshold.err.find("--threshold must be a number from 0 to 1"), std::string::npos);
  const CommandResult classifier = run("segment --checkpoint " + std::string(EVAX_TEST_DATA_DIR) + "/evax/minibase_ft.pth " + png);
  EXPECT_EQ(classifier.status, 1);
  EXPECT_NE(classifier.err.find("not an mmsegmentation EncoderDecoder"), std::string::npos) << classifier.err;
  const CommandResult mini = run("segment --checkpoint " + std::string(EVAX_TEST_DATA_DIR) + "/evax-seg/mini_upernet_mmseg.pth --device cpu " +
                                 png + " " + (dir_ / "missing.png").string());
  EXPECT_EQ(mini.status, 3) << mini.err;  // one unreadable image; the other has its result
  const auto doc = nlohmann::json::parse(mini.out);
  EXPECT_EQ(doc["model"]["input_size"], 64);
  EXPECT_TRUE(doc["model"]["sha256"].is_string());
  EXPECT_TRUE(doc["results"][1].contains("error"));
  EXPECT_EQ(doc["results"][0]["width"], 64);
}
