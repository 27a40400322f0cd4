// A RIS for the notification service tests: one of the Python peers of tests/tools (the MLLP
// receiver mllp_peer.py, the FHIR server fhir_receiver.py) on a free loopback port, recording
// every message it gets (and whether it validated) as JSON lines in its own directory.
#pragma once

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "process.h"

namespace evax::testing {

class RisPeer {
 public:
  // `script` is a file of tests/tools; `options` its own (e.g. {"--answers", "AE,AA"}).
  RisPeer(const std::filesystem::path& parent, const std::string& script, const std::vector<std::string>& options)
      : dir_(parent / ("ris-" + std::to_string(counter_++))) {
    std::filesystem::create_directories(dir_);
    std::vector<std::string> argv{EVAX_TOOLS_PYTHON, std::string(EVAX_SOURCE_DIR) + "/tests/tools/" + script, "--port-file",
                                  (dir_ / "port").string(), "--record", (dir_ / "record.jsonl").string()};
    argv.insert(argv.end(), options.begin(), options.end());
    process_.start(argv, (dir_ / "peer.log").string());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!std::filesystem::exists(dir_ / "port") && std::chrono::steady_clock::now() < deadline && process_.running())
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream(dir_ / "port") >> port_;
  }
  ~RisPeer() {
    process_.signal(SIGKILL);
    process_.wait(std::chrono::seconds(5));
  }
  RisPeer(const RisPeer&) = delete;
  RisPeer& operator=(const RisPeer&) = delete;

  int port() const { return port_; }
  // What it got so far, one object per message (or HTTP request).
  std::vector<nlohmann::json> records() const {
    std::vector<nlohmann::json> out;
    std::ifstream in(dir_ / "record.jsonl");
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    return out;
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path dir_;
  BackgroundProcess process_;
  int port_ = 0;
};

}  // namespace evax::testing
